"""The same commands work against a real `chroma run` server on loopback (QA_CHROMA_URL)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SEED_ID, SEEDS, LiveServer, holds_within, run_qa_in


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, stopped after the module."""
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    path = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("chroma run did not start")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_index_ask_remove_through_a_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    local = tmp_path / "cache"  # only the keyword-index cache lives here; the vectors live in the server
    done = run_qa_in(local, "index", str(SEEDS), QA_CHROMA_URL=chroma_url)
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stdout
    assert not (local / "chroma").exists(), "nothing is stored on local disk"

    # a second machine (another cache dir) sees the same index and rebuilds its keyword index from the server
    other = tmp_path / "other-cache"
    asked = run_qa_in(other, "ask", "--json", "What did Truss demand?", QA_CHROMA_URL=chroma_url)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "troops withdraw" in answer["answer"]
    assert {c["article_id"] for c in answer["citations"]} == {SEED_ID}

    again = run_qa_in(local, "index", str(SEEDS), QA_CHROMA_URL=chroma_url)
    assert "0 added, 0 updated, 1 unchanged" in again.stdout

    removed = run_qa_in(other, "remove", SEED_ID, QA_CHROMA_URL=chroma_url)
    assert removed.returncode == 0, removed.stderr
    listed = run_qa_in(local, "list", "--json", QA_CHROMA_URL=chroma_url)
    assert json.loads(listed.stdout)["articles"] == []
    after = run_qa_in(local, "ask", "--json", "What did Truss demand?", QA_CHROMA_URL=chroma_url)
    assert json.loads(after.stdout)["citations"] == [], "the first machine's keyword index noticed the removal"


GRAIN = {
    "id": "grain-deal",
    "title": "Grain deal talks in Istanbul",
    "text": "Delegations met in Istanbul on Friday.\n\nThey agreed to reopen the port of Odesa for grain exports.",
}
GRAIN_QUESTION = {"question": "Which port will reopen for grain exports?"}


def _cited(server: LiveServer, article_id: str) -> bool:
    answer = httpx.post(f"{server.url}/api/ask", json=GRAIN_QUESTION, timeout=30).json()
    return any(c["article_id"] == article_id for c in answer["citations"])


def test_two_api_servers_over_one_chroma_server_see_each_others_writes(chroma_url: str, tmp_path: Path) -> None:
    """As on two machines behind a load balancer: different data directories, one Chroma server."""
    seeded = run_qa_in(tmp_path / "a", "index", str(SEEDS), QA_CHROMA_URL=chroma_url)
    assert seeded.returncode == 0, seeded.stderr
    first = LiveServer(tmp_path / "a", QA_CHROMA_URL=chroma_url)
    second = LiveServer(tmp_path / "b", QA_CHROMA_URL=chroma_url)
    try:
        assert not _cited(second, "grain-deal")
        assert httpx.post(f"{first.url}/api/articles", json=GRAIN, timeout=60).status_code in (200, 201)
        assert holds_within(1.0, lambda: _cited(second, "grain-deal")), "the other server answers from it"
        listed = httpx.get(f"{second.url}/api/articles", timeout=30).json()
        assert "grain-deal" in [a["id"] for a in listed["articles"]] and listed["total"] == 2

        assert httpx.delete(f"{second.url}/api/articles/grain-deal", timeout=60).status_code == 200
        assert holds_within(1.0, lambda: not _cited(first, "grain-deal")), "and forgets it when removed"
        assert httpx.get(f"{first.url}/api/articles/grain-deal", timeout=30).status_code == 404
    finally:
        first.stop()
        second.stop()


FERRY = {"id": "ferry", "title": "Ferry crews walk out", "text": "Ferry crews in Calais stopped work on Monday."}
FERRY_EDITED = {
    "id": "ferry",
    "title": "Ferry crews walk out",
    "text": "Ferry crews in Calais stopped work on Monday morning, and dozens of lorries queued on the motorway for "
    "hours.\n\nThe union demanded a pay rise of nine per cent, saying fuel and food prices had risen faster than "
    "wages this year.\n\nThe operator said that it would meet union leaders on Wednesday, and that sailings to Dover "
    "were cancelled until then.",
}


def test_a_write_killed_through_a_chroma_server_is_left_to_its_lease_then_finished(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing tells whether another machine's write is alive: its journal entry is left alone for a lease, and
    readers meanwhile see the article as it was; then any writer finishes it."""
    from qa.settings import Settings
    from qa.wiring import open_doctor
    from tests.crash_harness import Step, child, fork_server

    fork = fork_server()
    server = {"chroma_url": chroma_url, "collection": "killed_writes"}
    writer = tmp_path / "writer" / "data"
    assert child(fork, writer, [Step("put", article=FERRY)], **server)[0] == 0
    assert (
        child(fork, writer, [Step("put", article=FERRY_EDITED)], kill_at=3, **server)[0] == 9
    )  # chunks written, not its record

    doctor = open_doctor(Settings(data_dir=tmp_path / "other" / "data", **server))  # another machine
    doctor.replica.sync()
    checkup = doctor.examine()
    assert [(f.kind, f.article_id) for f in checkup.findings] == [("write in progress", "ferry")]
    assert not checkup.problems, "its new chunks are not orphans while it may be alive"
    assert doctor.store.recover() == [], "within its lease"
    assert doctor.store.get_article("ferry")[1] == FERRY["text"], "readers see the article as it was"

    monkeypatch.setattr("qa.store.SERVER_LEASE_S", 0.0)  # as when the lease is over
    assert doctor.store.recover() == ["ferry"]
    doctor.replica.sync()
    assert doctor.examine().findings == []
    assert doctor.store.get_article("ferry")[1] == FERRY["text"]


def test_writers_through_a_server_look_for_abandoned_writes_once_a_minute(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in the journal is abandoned before its lease is over: a look per add was a round trip for nothing."""
    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import open_service

    looks: list[str] = []
    original = ChromaStore.journal
    monkeypatch.setattr(ChromaStore, "journal", lambda self: looks.append("look") or original(self))
    service = open_service(Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="looks"))
    looks.clear()  # (opening looks once, whatever the time)
    for n in range(3):
        service.put_article(ArticleDraft(id=f"note-{n}", title=f"Note {n}", text=f"Ferry crews met union {n}."))
    assert len(looks) == 1, "the first write looks; the next two, within the minute, do not"
    monkeypatch.setattr("qa.store.SERVER_JOURNAL_LOOK_S", 0.0)  # as a minute later
    service.remove_article("note-0")
    assert len(looks) == 2


def test_a_write_through_a_server_cleans_up_in_the_background_and_a_failed_clean_up_is_recovered(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the change log holds a write, deleting the replaced chunks and the intent runs beside the writer's own
    catch-up; the next write or look in the journal waits for it. If it fails, the write stands, the failure is
    logged, and the intent is finished by a recovery once its lease is over."""
    import chromadb

    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import open_service

    service = open_service(Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="cleanups"))
    service.put_article(ArticleDraft(**FERRY))
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
    chunks = client.get_collection("cleanups_chunks")
    edited = service.put_article(ArticleDraft(**FERRY_EDITED))
    assert service.store.journal() == [], "a look in the journal waits for this process's clean-up"
    assert chunks.count() == edited.article.chunks > 1, "the first version's chunk is gone"

    def fail(self: ChromaStore, intent_id: str, leftover: list[str]) -> None:
        raise ConnectionError("the Chroma server went away")

    monkeypatch.setattr(ChromaStore, "_finish_now", fail)
    written = service.put_article(ArticleDraft(**FERRY))  # back to the first version
    assert written.status == "updated" and service.ask("What did the ferry crews do?").citations
    with caplog.at_level("WARNING", logger="qa.store"):
        assert [[a.article_id for a in i.articles] for i in service.store.journal()] == [["ferry"]]
    assert "clean-up" in caplog.text and "the Chroma server went away" in caplog.text
    assert chunks.count() == edited.article.chunks + 1, "the replaced chunks are still there"

    monkeypatch.undo()
    monkeypatch.setattr("qa.store.SERVER_LEASE_S", 0.0)  # as when the lease is over
    assert service.store.recover() == ["ferry"]
    assert service.store.journal() == [] and chunks.count() == 1
    assert service.get_article("ferry").text == FERRY["text"]


def test_a_writer_follows_its_own_add_without_looking_at_the_change_log_again(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add reads the change log's end back as its record lands; the writer's own catch-up takes that end (a
    look of its own was a call into Chroma of every add). Another machine's write after it is seen by the next
    question's look."""
    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import open_service

    service = open_service(Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="own"))
    service.put_article(ArticleDraft(**FERRY))
    looks: list[int] = []
    original = ChromaStore._read_positions

    def recording(self: ChromaStore, start: int, limit: int) -> object:
        looks.append(start)
        return original(self, start, limit)

    monkeypatch.setattr(ChromaStore, "_read_positions", recording)
    grain = ArticleDraft(id="grain", title="Grain talks", text="Grain delegations met in Ankara on Tuesday.")
    written = service.put_article(grain)
    assert len(looks) == 1, "the append's read back, and no look after it"
    assert written.status == "added" and written.article.id == "grain"
    assert [c.article_id for c in service.ask("Where did the grain delegations meet?").citations] == ["grain"]

    other = open_service(Settings(data_dir=tmp_path / "other", chroma_url=chroma_url, collection="own"))
    other.put_article(ArticleDraft(id="port", title="Port strike", text="Dockers in Rotterdam struck on Friday."))
    monkeypatch.setattr("qa.engine.FRESHNESS", 0.0)  # as a question after its look has gone stale
    assert [c.article_id for c in service.ask("Where did the dockers strike?").citations] == ["port"]


def test_an_add_through_a_server_records_its_intent_while_the_model_embeds_and_a_failed_add_withdraws_it(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's write of an add runs beside the model, not after it; an add whose embedding fails leaves
    nothing in the journal and the article as it was."""
    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.wiring import open_service

    service = open_service(Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="ahead"))
    service.put_article(ArticleDraft(**FERRY))
    embedder = service.engine.embedder
    original = embedder.embed_with_spans
    seen_while_embedding: list[list[str]] = []

    def embedding(*args: object, **kwargs: object) -> object:
        intents = lambda: [[a.article_id for a in i.articles] for i in service.store.journal()]  # noqa: E731
        holds_within(10.0, lambda: bool(intents()))
        seen_while_embedding.append([a for ids in intents() for a in ids])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embedder, "embed_with_spans", embedding)
    edited = service.put_article(ArticleDraft(**FERRY_EDITED))
    assert seen_while_embedding == [["ferry"]], "the intent was in the journal before the vectors were made"
    assert edited.status == "updated" and service.store.journal() == []

    def failing(*args: object, **kwargs: object) -> object:
        holds_within(10.0, lambda: bool(service.store.journal()))
        raise RuntimeError("the model ran out of memory")

    monkeypatch.setattr(embedder, "embed_with_spans", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        service.put_article(ArticleDraft(**FERRY))
    assert service.store.journal() == [], "the intent recorded ahead was withdrawn"
    assert service.get_article("ferry").text == FERRY_EDITED["text"]


def test_an_intent_recorded_ahead_is_replaced_when_another_machine_writes_the_article_meanwhile(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned against one version, written over another's: the intent names the version the write replaces,
    so that version's chunks are deleted, none is left behind."""
    import chromadb

    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import open_service

    server = {"chroma_url": chroma_url, "collection": "ahead_raced"}
    service = open_service(Settings(data_dir=tmp_path / "data", **server))
    other = open_service(Settings(data_dir=tmp_path / "other", **server))  # another machine
    service.put_article(ArticleDraft(**FERRY))
    original = ChromaStore.intend_ahead
    raced: list[str] = []

    def racing(self: ChromaStore, planned: object) -> object:
        if self is service.store and not raced:  # planned against FERRY; the other machine writes meanwhile
            raced.append("raced")
            other.put_article(ArticleDraft(**FERRY_EDITED))
            other.store.settle()
        return original(self, planned)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaStore, "intend_ahead", racing)
    third = {**FERRY, "text": "Ferry crews in Calais went back to work on Thursday after a pay offer."}
    written = service.put_article(ArticleDraft(**third))
    service.store.settle()
    assert raced and written.status == "updated"
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
    assert client.get_collection("ahead_raced_chunks").count() == written.article.chunks, "no version left behind"
    assert service.store.journal() == []
    assert service.get_article("ferry").text == third["text"]


def test_an_add_through_a_server_reads_the_records_while_its_chunks_are_written(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With its intent recorded ahead, an add's last look at the records is made beside its chunks' write, not
    before it (a round trip less after the model)."""
    import threading

    from qa.domain import ArticleDraft
    from qa.settings import Settings
    from qa.store import ChromaStore
    from qa.wiring import open_service

    service = open_service(Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, collection="beside"))
    service.put_article(ArticleDraft(**FERRY))
    put_chunks, article_infos = ChromaStore._put_chunks, ChromaStore.article_infos
    writing, read_meanwhile, seen = threading.Event(), threading.Event(), []

    def reading(self: ChromaStore, ids: object) -> object:
        if writing.is_set():
            read_meanwhile.set()
        return article_infos(self, ids)  # type: ignore[arg-type]

    def writing_chunks(self: ChromaStore, *args: object) -> None:
        writing.set()
        seen.append(read_meanwhile.wait(10))
        put_chunks(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaStore, "article_infos", reading)
    monkeypatch.setattr(ChromaStore, "_put_chunks", writing_chunks)
    edited = service.put_article(ArticleDraft(**FERRY_EDITED))
    assert seen == [True], "the records were read while the chunks were being written"
    assert edited.status == "updated" and service.get_article("ferry").text == FERRY_EDITED["text"]
