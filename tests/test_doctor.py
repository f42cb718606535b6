"""`qa doctor` finds what is wrong in a data directory and `qa doctor --fix` repairs it; and a data directory
written before chunk versions opens, answers, passes the doctor and is written to as before.

The damage is done by hand through chromadb and SQLite, as a bug, a hand edit or an earlier release could leave it.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from qa.store import SCHEMA, change_record_id, decode_vectors, pack_chunk
from tests.conftest import (
    REPO,
    SEED_ID,
    SEEDS,
    free_port,
    qa_env,
    run_qa_in,
    schema_4_vectors,
    schema_5_chunk,
    wait_for,
)


def _client(data_dir: Path) -> Any:
    return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))


def _seed_chunk_ids(collections: dict[str, Any]) -> list[str]:
    record = collections["articles_articles_v2"].get(ids=[SEED_ID], include=["metadatas"])["metadatas"][0]
    return [f"{SEED_ID}::{record['version']}::{p}" for p in range(record["chunks"])]


def _damage(data_dir: Path) -> None:
    """One of each inconsistency the doctor knows."""
    client = _client(data_dir)
    names = ("articles_chunks", "articles_articles_v2", "articles_journal", "articles_changes")
    collections = {name: client.get_collection(name, embedding_function=None) for name in names}
    chunks = collections["articles_chunks"]
    ids = _seed_chunk_ids(collections)
    # Offsets that disagree: a chunk's text is no longer the article's text at its offsets.
    vector = chunks.get(ids=[ids[1]], include=["embeddings"])["embeddings"]  # given: Chroma would embed the text
    packed = json.loads(chunks.get(ids=[ids[1]], include=["metadatas"])["metadatas"][0]["chunk"])
    nowhere = pack_chunk(packed | {"text": "Text that is nowhere in the article."})
    chunks.update(ids=[ids[1]], metadatas=[{"chunk": nowhere}], embeddings=vector)
    # A missing chunk.
    chunks.delete(ids=[ids[3]])
    # An orphan: a chunk of an article that has no record.
    got = chunks.get(ids=[ids[0]], include=["metadatas", "embeddings"])
    meta = {**got["metadatas"][0], "article_id": "ghost", "version": "0123456789ab"}  # the first chunk: position 0
    chunks.add(ids=["ghost::0123456789ab::0"], metadatas=[meta], embeddings=got["embeddings"])
    # Another: a chunk of the article under a version its record does not name (a replace killed after its chunks).
    meta = {**got["metadatas"][0], "version": "fedcba987654"}
    chunks.add(ids=[f"{SEED_ID}::fedcba987654::0"], metadatas=[meta], embeddings=got["embeddings"])
    # An unfinished write: the journal names a write of "ferry" that never finished.
    journal = collections["articles_journal"]
    payload = json.dumps([["ferry", None, ["fedcba987654", 1]]])
    journal.add(ids=["00000000000000000001-abc"], embeddings=[[1.0]], metadatas=[{"articles": payload, "began": 1.0}])
    # Another process's write that the replica has not read yet: a change-log record naming the article. The doctor
    # follows it, as any question would, and so finds the damage above in the keyword index too.
    changes = collections["articles_changes"]
    changes.add(
        ids=[change_record_id(changes.count())], embeddings=[[1.0]], metadatas=[{"articles": json.dumps([SEED_ID])}]
    )


def test_doctor_finds_each_inconsistency_and_fix_repairs_them(seeded_copy: Path) -> None:
    clean = run_qa_in(seeded_copy, "doctor")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "1 article(s), 16 chunk(s): no problems" in clean.stdout

    _damage(seeded_copy)
    found = run_qa_in(seeded_copy, "doctor")
    assert found.returncode == 1, found.stdout + found.stderr
    for line in (
        f"offsets disagree: {SEED_ID}: 1 chunk(s)",
        f"missing chunks: {SEED_ID}: 1 of 16",
        "orphan chunks: ghost: 1 chunk(s) no record names (ghost::0123456789ab::0)",
        f"orphan chunks: {SEED_ID}: 1 chunk(s) no record names ({SEED_ID}::fedcba987654::0)",
        "unfinished write: ferry: a writer was killed part way",
        "keyword index differs: it holds 15 chunk(s), the records name 16",
        "6 problem(s); repair them with: qa doctor --fix",
    ):
        assert line in found.stdout, (line, found.stdout)

    fixed = run_qa_in(seeded_copy, "doctor", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "fixed 6 of 6 problem(s)" in fixed.stdout and "1 article(s), 16 chunk(s): no problems" in fixed.stdout
    again = run_qa_in(seeded_copy, "doctor")
    assert again.returncode == 0 and "no problems" in again.stdout, again.stdout

    # The rebuilt chunks are the article's text at their offsets, and found by both retrievals.
    for mode in ("bm25", "dense"):
        asked = run_qa_in(seeded_copy, "ask", "--json", "Who signed the sanctions legislation?", QA_RETRIEVAL=mode)
        assert asked.returncode == 0, asked.stderr
        assert "James Cleverly" in json.loads(asked.stdout)["answer"], mode
    listed = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    assert [a["id"] for a in listed["articles"]] == [SEED_ID]


def _log_a_write(data_dir: Path, record_id: str) -> None:
    """A change-log record naming the seed article, as another process's write of it would leave."""
    changes = _client(data_dir).get_collection("articles_changes", embedding_function=None)
    changes.add(ids=[record_id], embeddings=[[1.0]], metadatas=[{"articles": json.dumps([SEED_ID])}])


def _catalog_applied(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "replica" / "articles" / "catalog.sqlite3") as db:
        return int(db.execute("SELECT value FROM state WHERE key = 'applied'").fetchone()[0])


def test_doctor_follows_another_processs_write_and_reports_no_problem(seeded_copy: Path) -> None:
    applied = _catalog_applied(seeded_copy)
    _log_a_write(seeded_copy, change_record_id(applied))  # the next position: what a writer of this release names
    done = run_qa_in(seeded_copy, "doctor")
    assert done.returncode == 0 and "1 article(s), 16 chunk(s): no problems" in done.stdout, done.stdout
    assert _catalog_applied(seeded_copy) == applied + 1, "the replica followed the write, as a question would"


def test_doctor_follows_a_record_named_as_an_older_release_names_them(seeded_copy: Path) -> None:
    # Named at random, as writers before schema 7 named their records: a process that follows positions does not
    # find it, but the doctor counts the log as it starts, and reads what it has not applied by offset.
    applied = _catalog_applied(seeded_copy)
    _log_a_write(seeded_copy, "00000000000000000001-random")
    done = run_qa_in(seeded_copy, "doctor")
    assert done.returncode == 0 and "no problems" in done.stdout, done.stdout + done.stderr
    assert _catalog_applied(seeded_copy) == applied + 1


def test_doctor_reports_a_replica_never_built_and_fix_builds_it(seeded_copy: Path) -> None:
    shutil.rmtree(seeded_copy / "replica")  # as a new data directory over a shared Chroma server starts
    found = run_qa_in(seeded_copy, "doctor")
    assert found.returncode == 1, found.stdout + found.stderr
    assert "replica behind: not built from this store yet" in found.stdout, found.stdout
    fixed = run_qa_in(seeded_copy, "doctor", "--fix")
    assert fixed.returncode == 0 and "fixed 1 of 1" in fixed.stdout, fixed.stdout
    assert _catalog_applied(seeded_copy) >= 1


def test_doctor_finds_a_catalog_that_differs_from_the_store_and_rebuilds_it(seeded_copy: Path) -> None:
    catalog = seeded_copy / "replica" / "articles" / "catalog.sqlite3"
    with sqlite3.connect(catalog) as db:  # in step with the change log, but wrong
        db.execute("UPDATE articles SET title = 'Wrong', chunks = 3")
        db.execute("INSERT INTO articles (id, title, chunks, content_hash) VALUES ('gone', 'Gone', 1, 'x')")
    found = run_qa_in(seeded_copy, "doctor")
    assert found.returncode == 1
    assert (
        f"catalog differs: {SEED_ID}: differs" in found.stdout
        and "catalog differs: gone: not in the store" in found.stdout
    )
    fixed = run_qa_in(seeded_copy, "doctor", "--fix")
    assert fixed.returncode == 0 and "fixed 2 of 2" in fixed.stdout, fixed.stdout
    listed = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    assert [(a["id"], a["chunks"]) for a in listed["articles"]] == [(SEED_ID, 16)]


def test_doctor_finds_a_vector_file_cut_short_and_builds_the_replica_again(seeded_copy: Path) -> None:
    (vectors,) = (seeded_copy / "replica" / "articles").glob("catalog.vectors.*.f32")
    with vectors.open("r+b") as file:  # as a full disk or a hand could leave it
        file.truncate(100)
    found = run_qa_in(seeded_copy, "doctor")
    assert found.returncode == 1 and "its vector file lacks 1 article(s)' vectors" in found.stdout, found.stdout
    fixed = run_qa_in(seeded_copy, "doctor", "--fix")
    assert fixed.returncode == 0 and "fixed 1 of 1" in fixed.stdout, fixed.stdout
    (rebuilt,) = (seeded_copy / "replica" / "articles").glob("catalog.vectors.*.f32")
    assert rebuilt != vectors and rebuilt.stat().st_size == 16 * 384 * 4, "a new generation, the old one removed"
    filtered = run_qa_in(seeded_copy, "ask", "--json", "--article", SEED_ID, "Who signed the sanctions legislation?")
    assert filtered.returncode == 0 and "James Cleverly" in json.loads(filtered.stdout)["answer"], filtered.stdout


def test_doctor_finds_a_date_the_catalog_marks_inferred_when_the_record_gives_it(seeded_copy: Path) -> None:
    catalog = seeded_copy / "replica" / "articles" / "catalog.sqlite3"
    with sqlite3.connect(catalog) as db:  # the date shown as read from a dateline, though the article gives it
        db.execute("UPDATE articles SET published_inferred = 1")
    found = run_qa_in(seeded_copy, "doctor")
    assert found.returncode == 1 and f"catalog differs: {SEED_ID}: differs" in found.stdout, found.stdout
    fixed = run_qa_in(seeded_copy, "doctor", "--fix")
    assert fixed.returncode == 0 and "fixed 1 of 1" in fixed.stdout, fixed.stdout
    listed = json.loads(run_qa_in(seeded_copy, "list", "--json").stdout)
    assert [a["published_inferred"] for a in listed["articles"]] == [False]


def test_doctor_before_anything_is_indexed_says_so_in_one_line(tmp_path: Path) -> None:
    done = run_qa_in(tmp_path / "empty", "doctor")
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: Nothing is indexed"), done.stderr


def test_an_index_past_the_local_stores_size_says_how_to_serve_it_from_a_chroma_server(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past LOCAL_STORE_CHUNKS, `qa index` and `qa doctor` say how to move the same files to a Chroma server; at
    or under it, and once a server is set, nothing. The limit is lowered to the seed's chunks here: an index of
    100,000 real chunks takes hours to embed on this machine."""
    from typer.testing import CliRunner

    from qa.cli import app, console
    from qa.settings import Settings

    monkeypatch.setenv("QA_DATA_DIR", str(seeded_copy))
    seeded = 16  # the seed article's chunks
    monkeypatch.setattr(console, "LOCAL_STORE_CHUNKS", seeded - 1)
    for command in (["index", str(SEEDS)], ["doctor"]):
        done = CliRunner().invoke(app, command)
        assert done.exit_code == 0, done.output
        assert f"note: {seeded} chunks in the local store" in done.stderr, done.stderr
        assert f"chroma run --path {seeded_copy / 'chroma'} --port 8100" in done.stderr.replace("\n", "")
        assert "QA_CHROMA_URL=http://127.0.0.1:8100" in done.stderr.replace("\n", "")
    monkeypatch.setattr(console, "LOCAL_STORE_CHUNKS", seeded)
    done = CliRunner().invoke(app, ["doctor"])
    assert done.exit_code == 0 and "local store" not in done.stderr, done.stderr
    served = Settings(data_dir=seeded_copy, chroma_url="http://127.0.0.1:8100")
    assert console.local_store_note(10 * seeded, served) is None


@pytest.mark.parametrize("limit", [15, 16])
def test_qa_serve_prints_the_same_note_past_the_local_stores_size(seeded_dir: Path, limit: int) -> None:
    """`qa serve` on a local store of 16 chunks, with the limit lowered to 15 (a note) and to 16 (none), in a
    process of its own: the real server starts either way and answers, and stops at SIGINT."""
    port = free_port()
    code = f"from qa.cli import app, console\nconsole.LOCAL_STORE_CHUNKS = {limit}\napp(['serve', '--port', '{port}'])"
    server = subprocess.Popen(
        [sys.executable, "-c", code], env=qa_env(seeded_dir), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server)
    finally:
        server.send_signal(signal.SIGINT)
        out, errors = (stream.decode() for stream in server.communicate(timeout=60))
    assert server.returncode == 0, errors
    assert "Chat at" in out
    noted = "note: 16 chunks in the local store" in errors
    assert noted == (limit == 15), errors
    if noted:
        assert f"chroma run --path {seeded_dir / 'chroma'} --port 8100" in errors.replace("\n", "")


def _to_the_layout_before_versions(data_dir: Path) -> None:
    """Rewrite a data directory as releases before chunk versions wrote it: chunk ids `article::position`, no
    version in any metadata, chunk and article text as Chroma documents, float16 sentence vectors, no version
    column in the catalog, no journal."""
    client = _client(data_dir)
    chunks = client.get_collection("articles_chunks", embedding_function=None)
    articles = client.get_collection("articles_articles_v2", embedding_function=None)
    got = chunks.get(include=["metadatas", "embeddings"])
    unpacked = [schema_5_chunk(m) for m in got["metadatas"]]
    metas = [
        {k: v for k, v in m.items() if k not in ("version", "text", "chunk")}
        | {"sentence_vectors": schema_4_vectors(decode_vectors(str(m["sentence_vectors"]), 384))}
        for m in unpacked
    ]
    chunks.delete(ids=got["ids"])
    chunks.add(
        ids=[f"{m['article_id']}::{m['position']}" for m in metas],
        documents=[str(m["text"]) for m in unpacked],
        metadatas=metas,
        embeddings=got["embeddings"],
    )
    records = articles.get(include=["metadatas"])
    articles.delete(ids=records["ids"])
    articles.add(
        ids=records["ids"],
        documents=[m["text"] for m in records["metadatas"]],
        metadatas=[{k: v for k, v in m.items() if k not in ("version", "text")} for m in records["metadatas"]],
        embeddings=[[1.0]] * len(records["ids"]),
    )
    client.delete_collection("articles_journal")
    chunks.modify(metadata={k: v for k, v in chunks.metadata.items() if not k.startswith("hnsw:")} | {"schema": 2})
    with sqlite3.connect(data_dir / "replica" / "articles" / "catalog.sqlite3") as db:
        db.execute("ALTER TABLE articles DROP COLUMN version")


def test_a_data_directory_from_before_chunk_versions_is_read_checked_and_written(
    seeded_copy: Path, tmp_path: Path
) -> None:
    _to_the_layout_before_versions(seeded_copy)
    asked = run_qa_in(seeded_copy, "ask", "--json", "What did Truss demand?")
    assert asked.returncode == 0, asked.stderr
    assert {c["article_id"] for c in json.loads(asked.stdout)["citations"]} == {SEED_ID}
    checked = run_qa_in(seeded_copy, "doctor")
    assert checked.returncode == 0 and "16 chunk(s): no problems" in checked.stdout, checked.stdout + checked.stderr

    # An edit replaces the old layout's chunks with versioned ones, leaving none of the old behind.
    folder = tmp_path / "seeds"
    folder.mkdir()
    text = (SEEDS / f"{SEED_ID}.md").read_text(encoding="utf-8")
    (folder / f"{SEED_ID}.md").write_text(text.replace("James Cleverly", "Jane Doe"), encoding="utf-8")
    indexed = run_qa_in(seeded_copy, "index", str(folder))
    assert indexed.returncode == 0 and "1 updated" in indexed.stdout, indexed.stdout + indexed.stderr
    checked = run_qa_in(seeded_copy, "doctor")
    assert checked.returncode == 0 and "16 chunk(s): no problems" in checked.stdout, checked.stdout
    asked = run_qa_in(seeded_copy, "ask", "--json", "Who signed the sanctions legislation?", QA_RETRIEVAL="bm25")
    assert "Jane Doe" in json.loads(asked.stdout)["answer"]
    # Stamped with the new schema on its first write: a release that would not find versioned chunks says so.
    read = "import chromadb, sys; print(chromadb.PersistentClient(sys.argv[1]).get_collection(sys.argv[2]).metadata)"
    meta = subprocess.run(
        [sys.executable, "-c", read, str(seeded_copy / "chroma"), "articles_chunks"], capture_output=True, text=True
    )
    # read anew: this process's view is of before
    assert f"'schema': {SCHEMA}" in meta.stdout, meta.stdout + meta.stderr


_WRITER_BESIDE = """
import json, sys, fcntl
import chromadb
from chromadb.config import Settings
data_dir = sys.argv[1]
client = chromadb.PersistentClient(path=data_dir + "/chroma", settings=Settings(anonymized_telemetry=False))
changes = client.get_collection("articles_changes", embedding_function=None)
print("ready", flush=True)
with open(data_dir + "/chroma.lock", "a") as turn:
    fcntl.flock(turn, fcntl.LOCK_EX)  # the writers' turn, as every writer of the product takes it
    changes.add(ids=[sys.argv[2]], embeddings=[[1.0]], metadatas=[{"articles": json.dumps([sys.argv[3]])}])
print("written", flush=True)
"""


def test_a_write_during_the_examination_waits_for_it_and_is_not_reported(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's write that comes right after the replica's catch-up, before the doctor counts the log,
    waits for the examination (which holds the writers' turn) instead of making the replica look behind."""
    from qa.replica import Replica
    from qa.settings import Settings
    from qa.wiring import open_doctor

    applied = _catalog_applied(seeded_copy)
    writer: list[subprocess.Popen[str]] = []
    written_during: list[bool] = []
    lines: list[str] = []  # what the other writer said after "ready"
    sync = Replica.sync

    def sync_then_another_writes(replica: Replica, probe: bool = True) -> None:
        sync(replica, probe)
        if writer:
            return
        process = subprocess.Popen(
            [sys.executable, "-c", _WRITER_BESIDE, str(seeded_copy), change_record_id(applied), SEED_ID],
            stdout=subprocess.PIPE,
            text=True,
        )
        writer.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"

        def read_line() -> None:
            assert process.stdout is not None
            lines.append(process.stdout.readline().strip())

        said = threading.Thread(target=read_line, daemon=True)
        said.start()
        said.join(timeout=3)  # without the turn held, the record is written well within this (as it was before)
        written_during.append(not said.is_alive())

    monkeypatch.setattr(Replica, "sync", sync_then_another_writes)
    checkup = open_doctor(Settings(data_dir=seeded_copy)).examine()
    assert written_during == [False], "the other writer waited for the writers' turn"
    assert [f.kind for f in checkup.findings] == [], checkup.findings
    writer[0].wait(timeout=60)
    assert writer[0].returncode == 0
    for _ in range(100):  # its last line, read by the thread that waited for it
        if lines:
            break
        time.sleep(0.05)
    assert lines == ["written"]
    monkeypatch.undo()
    done = run_qa_in(seeded_copy, "doctor")  # the write is there, and followed
    assert done.returncode == 0 and "no problems" in done.stdout, done.stdout
    assert _catalog_applied(seeded_copy) == applied + 1
