"""A writer killed at every write boundary leaves, at the next start and after the next run, a clean run's state.

For each kind of write (a first `qa index`, an edit to more chunks and to fewer, a replace through the API's
path, a remove, and `qa index` of a folder whose file was deleted), the write is run once in a child process to
count its Chroma write calls (every upsert page, delete, journal and change-log record), and then again from the
same starting store once per call, the child dying (`os._exit(9)`, as kill -9) at that call. After each death:

- the next start (opening the service) leaves a consistent store: every article whole, as before the write or as
  after it; no chunk its record does not name; every chunk's text is the article's text at the chunk's offsets;
  no write left in the journal; the catalog and the keyword index agree with the records;
- the next run of the same write (the user runs `qa index` again, the client sends its request again) leaves
  exactly the state of a clean run of the final input in a new directory: chunk ids, texts, offsets, metadata and
  vectors, article records, catalog rows and keyword search results.

Real model, real embedded Chroma; the children are forked from a server that has imported everything once.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from qa.embedder import MiniLMEmbedder
from qa.replica import Replica
from qa.service import NewsService
from qa.settings import Settings
from qa.store import decode_vectors, unpack_chunk
from tests.crash_harness import Step, child, fork_server

# Each grain paragraph is one chunk (over 24 word pieces: none is folded into the next); the ferry story is one.
GRAIN_V1 = [
    "Delegations from Ukraine, Russia, Turkey and the United Nations met in Istanbul on Friday to discuss how grain "
    "could leave the blocked ports.",
    "They agreed to reopen the port of Odesa for grain exports, with every ship inspected by joint teams of officials "
    "at sea before it sails.",
]
GRAIN_V2 = [
    GRAIN_V1[0],
    "They agreed to reopen the ports of Mykolaiv and Chornomorsk instead, and every ship will be inspected by joint "
    "teams in Istanbul before it sails.",
    "The first convoy is expected to leave within two weeks, carrying maize, wheat and sunflower oil to buyers in "
    "Egypt, Lebanon and Tunisia.",
    "Farmers in the south welcomed the deal but warned that their storage silos were already full, weeks before this "
    "year's harvest was due to begin.",
]
FERRY = [
    "Ferry crews in Calais stopped work on Monday morning, and dozens of lorries queued on the motorway.",
    "The union demanded a pay rise of nine per cent, saying fuel and food prices had risen faster than wages.",
]
QUERIES = ["port of Odesa grain exports", "Mykolaiv Chornomorsk ports", "ferry union pay rise", "silos harvest"]


def _article(article_id: str, title: str, paragraphs: list[str]) -> dict[str, str]:
    return {"id": article_id, "title": title, "text": "\n\n".join(paragraphs)}


GRAIN_1 = _article("grain", "Grain deal talks in Istanbul", GRAIN_V1)
GRAIN_2 = _article("grain", "Grain deal talks in Istanbul", GRAIN_V2)
FERRY_A = _article("ferry", "Ferry crews walk out", FERRY)


@dataclass(frozen=True)
class Scenario:
    """A write killed at each of its boundaries: from the store `before` builds (with the folder holding
    `files_before`), `write` is run (with the folder holding `files_after`); `clean` builds its final state
    in a new directory."""

    before: list[Step]
    write: Step
    clean: list[Step]
    files_before: list[dict[str, str]] = field(default_factory=list)
    files_after: list[dict[str, str]] = field(default_factory=list)


def _index() -> Step:
    return Step("index", folder="FOLDER")


SCENARIOS = {
    "first index": Scenario([], _index(), [_index()], [], [GRAIN_1, FERRY_A]),
    "edit to more chunks": Scenario([_index()], _index(), [_index()], [GRAIN_1, FERRY_A], [GRAIN_2, FERRY_A]),
    "edit to fewer chunks": Scenario([_index()], _index(), [_index()], [GRAIN_2, FERRY_A], [GRAIN_1, FERRY_A]),
    "api replace": Scenario(
        [Step("put", article=FERRY_A), Step("put", article=GRAIN_1)],
        Step("put", article=GRAIN_2),
        [Step("put", article=FERRY_A), Step("put", article=GRAIN_2)],
    ),
    "remove": Scenario(
        [Step("put", article=FERRY_A), Step("put", article=GRAIN_2)],
        Step("remove", ids=("grain",)),
        [Step("put", article=FERRY_A)],
    ),
    "index after a file was deleted": Scenario([_index()], _index(), [_index()], [GRAIN_2, FERRY_A], [FERRY_A]),
}  # fmt: skip


@dataclass
class Snapshot:
    """Everything a data directory holds, read back: the store's collections, the catalog, keyword results."""

    records: dict[str, tuple[str, dict[str, Any]]]  # article id -> (text, metadata)
    chunks: dict[str, tuple[str, dict[str, Any], np.ndarray, np.ndarray]]  # id -> (text, meta, vector, sentences)
    journal: int
    catalog: list[tuple[Any, ...]]
    keyword: dict[str, list[str]]

    def named(self, article_id: str) -> list[str]:
        """The chunk ids the article's record names (`article::position` before chunk versions)."""
        meta = self.records[article_id][1]
        version = meta.get("version", "")
        return [f"{article_id}::{version}::{p}" if version else f"{article_id}::{p}" for p in range(meta["chunks"])]

    def view(self, article_id: str) -> object:
        """What a reader sees of one article: its record and the chunks it names (None when there is none)."""
        if article_id not in self.records:
            return None
        chunks = [self.chunks.get(i, ("MISSING", {}))[:2] for i in self.named(article_id)]
        return self.records[article_id], chunks


@pytest.fixture(scope="module")
def fork() -> Any:
    """Children forked from a server that imported the harness (chromadb, onnxruntime, the product) once."""
    return fork_server()


@pytest.fixture
def shared_embedder(monkeypatch: pytest.MonkeyPatch, embedder: MiniLMEmbedder) -> None:
    """Services opened in this process embed with the session's model (the children load their own)."""
    monkeypatch.setattr("qa.wiring.build_embedder", lambda settings, *_, **__: embedder)


def _write_folder(folder: Path, articles: list[dict[str, str]]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for a in articles:
        (folder / f"{a['id']}.md").write_text(f"---\nid: {a['id']}\ntitle: {a['title']}\n---\n{a['text']}\n")


def _in(folder: Path, steps: list[Step]) -> list[Step]:
    return [Step(s.kind, str(folder) if s.folder else "", s.article, s.ids) for s in steps]


def _open(data_dir: Path) -> NewsService:
    """The next start: the service as every command and the server open it."""
    from qa.wiring import open_service

    return open_service(Settings(data_dir=data_dir))


def _snapshot(data_dir: Path, embedder: MiniLMEmbedder) -> Snapshot:
    from qa.wiring import open_store

    if not (data_dir / "chroma").exists():
        return Snapshot({}, {}, 0, [], {})
    store = open_store(Settings(data_dir=data_dir), embedder)
    if not store.exists():
        return Snapshot({}, {}, 0, [], {})
    client = store.client
    names = {c.name for c in client.list_collections()}
    got = client.get_collection("articles_articles_v2").get(include=["documents", "metadatas"])
    # when an article was first indexed (it elects a story's id: qa.stories) is the one field a clean run cannot
    # repeat: it is a time
    records = {  # an article's text is in its metadata (schema 5), in its document before
        i: (m.get("text", d), {k: v for k, v in m.items() if k not in ("indexed_at", "text")})
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }
    got = client.get_collection("articles_chunks").get(include=["metadatas", "embeddings"])
    chunks = {}
    for i, m, e in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True):
        meta = unpack_chunk(m)
        sentences = decode_vectors(meta.pop("sentence_vectors"), embedder.dimension)
        chunks[i] = (meta.pop("text"), meta, np.asarray(e, dtype=np.float32), sentences)
    journal = client.get_collection("articles_journal").count() if "articles_journal" in names else 0
    replica = Replica(store, data_dir / "replica" / "articles")
    try:
        replica.sync()  # what every process does before it reads: follow the change log
        rows, cursor = [], None
        while True:
            page = replica.catalog.page(200, cursor)
            rows += [tuple(vars(info).values()) for info in page.articles]
            if not (cursor := page.next_cursor):
                break
        # The chunks found, in order. Not the scores: tantivy counts deleted documents in its statistics until
        # it merges segments, so an index that was updated scores a little apart from one built in one go.
        keyword = {q: [c for c, _ in replica.keyword.search(q, 10)] for q in QUERIES}
    finally:
        replica.close()
    return Snapshot(records, chunks, journal, rows, keyword)


def _assert_consistent(snap: Snapshot) -> None:
    """What any reader may rely on, whatever happened before."""
    for article_id, (text, _) in snap.records.items():
        for position, i in enumerate(snap.named(article_id)):
            assert i in snap.chunks, f"{i}: a chunk the record names is missing"
            chunk_text, meta, _, _ = snap.chunks[i]
            assert (meta["article_id"], meta["position"]) == (article_id, position)
            assert text[meta["start"] : meta["end"]] == chunk_text, f"{i}: offsets disagree with the stored text"
    named = {i for a in snap.records for i in snap.named(a)}
    assert set(snap.chunks) <= named, f"chunks no record names: {sorted(set(snap.chunks) - named)}"
    assert snap.journal == 0, "no write left unfinished"
    catalog = {row[0]: row for row in snap.catalog}
    assert set(catalog) == set(snap.records), "the catalog lists exactly the stored articles"
    for article_id, (_, meta) in snap.records.items():
        assert catalog[article_id][5:7] == (meta["chunks"], meta["content_hash"]), "catalog row is current"
    indexed = {c for hits in snap.keyword.values() for c in hits}
    assert indexed <= named, "the keyword index finds only current chunks"


def _assert_same(snap: Snapshot, clean: Snapshot) -> None:
    """The whole store, the catalog and the keyword index as a clean run of the same input leaves them."""
    assert snap.records == clean.records
    assert sorted(snap.chunks) == sorted(clean.chunks)
    for i, (text, meta, vector, sentences) in clean.chunks.items():
        got = snap.chunks[i]
        assert (got[0], got[1]) == (text, meta), i
        # Vectors reused from an earlier run were embedded in another batch: equal to float rounding.
        assert np.allclose(got[2], vector, atol=1e-4) and np.allclose(got[3], sentences, atol=2e-3), i
    assert snap.journal == clean.journal == 0
    assert snap.catalog == clean.catalog
    assert snap.keyword == clean.keyword


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_write_killed_at_every_boundary_is_repaired_to_the_clean_state(
    name: str, fork: Any, tmp_path: Path, embedder: MiniLMEmbedder, shared_embedder: None
) -> None:
    scenario = SCENARIOS[name]
    folder = tmp_path / "input"
    before, write, clean_steps = (
        _in(folder, scenario.before),
        _in(folder, [scenario.write])[0],
        _in(folder, scenario.clean),
    )
    _write_folder(folder, scenario.files_before)
    base = tmp_path / "base" / "data"
    if before:
        assert child(fork, base, before)[0] == 0
    _write_folder(folder, scenario.files_after)
    clean_dir = tmp_path / "clean" / "data"
    assert child(fork, clean_dir, clean_steps)[0] == 0
    clean, start = _snapshot(clean_dir, embedder), _snapshot(base, embedder)
    _assert_consistent(clean)
    articles = set(clean.records) | set(start.records)

    def fresh_copy(label: str) -> Path:
        work = tmp_path / label / "data"
        if base.exists():
            shutil.copytree(base, work)
        return work

    done, writes = child(fork, fresh_copy("uninterrupted"), [write])
    assert done == 0 and writes >= 4, (done, writes)
    _assert_same(_snapshot(tmp_path / "uninterrupted" / "data", embedder), clean)

    for kill_at in range(1, writes + 1):
        work = fresh_copy(f"killed-{kill_at}")
        assert child(fork, work, [write], kill_at)[0] == 9, f"the child died at write {kill_at}"
        service = _open(work)  # the next start
        try:
            after_start = _snapshot(work, embedder)
            _assert_consistent(after_start)
            for article_id in articles:
                assert after_start.view(article_id) in (start.view(article_id), clean.view(article_id)), (
                    f"killed at write {kill_at} of {writes}: '{article_id}' is neither as before nor as after"
                )
            write.run(service)  # the next run
            _assert_same(_snapshot(work, embedder), clean)
        finally:
            service.close()


def test_opening_while_another_process_writes_neither_waits_for_it_nor_touches_its_write(
    fork: Any, tmp_path: Path
) -> None:
    import fcntl

    from tests.conftest import run_qa_in

    data = tmp_path / "data"
    assert child(fork, data, [Step("put", article=FERRY_A)])[0] == 0
    assert child(fork, data, [Step("put", article=GRAIN_2)], kill_at=3)[0] == 9  # its first chunks are written
    with (data / "chroma.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a writer at work holds it: its journal entry is not abandoned
        listed = run_qa_in(data, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [a["id"] for a in json.loads(listed.stdout)["articles"]] == ["ferry"]
        client = chromadb.PersistentClient(
            path=str(data / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        assert client.get_collection("articles_journal").count() == 1, "a reader left the write to its writer"
    # The writer is gone (its lock released): the next start finishes what it left.
    assert run_qa_in(data, "list").returncode == 0
    checked = run_qa_in(data, "doctor")
    assert checked.returncode == 0 and "1 article(s), 1 chunk(s): no problems" in checked.stdout, checked.stdout
