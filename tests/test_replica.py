"""The replica follows the store's change log: what it reads to catch up is what changed, never the corpus.

A real Chroma in a temporary directory, synthetic vectors (the model is not needed to write and follow a store).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import qa.catalog
import qa.vector_file
from qa.chunking import chunk_id
from qa.domain import Article, Chunk, SearchFilter
from qa.embedder import DIMENSION, MODEL_ID
from qa.replica import Replica
from qa.settings import Settings
from qa.store import ArticleToWrite, ChromaStore, change_record_id
from qa.wiring import chroma_client

RNG = np.random.default_rng(0)


def _store(data_dir: Path) -> ChromaStore:
    client, where = chroma_client(Settings(data_dir=data_dir))
    store = ChromaStore(client, "articles", MODEL_ID, DIMENSION, where)
    store.ensure()
    return store


def _write(
    store: ChromaStore, article_id: str, text: str, source: str = "Wire", published: str | None = "2022-07-15"
) -> None:
    paragraphs = text.split("\n\n")
    chunks, offset = [], 0
    for position, paragraph in enumerate(paragraphs):
        chunks.append(
            Chunk(
                id=chunk_id(article_id, position), article_id=article_id, position=position, start=offset,
                end=offset + len(paragraph), text=paragraph, sentences=[(offset, offset + len(paragraph))],
            )
        )  # fmt: skip
        offset += len(paragraph) + 2
    vectors = RNG.normal(size=(len(chunks), DIMENSION)).astype(np.float32)
    article = Article(id=article_id, title=article_id, text=text, published=published, source=source)
    write = ArticleToWrite(article, f"hash-{text}", "test", chunks, ["h"] * len(chunks), vectors,
                           [RNG.normal(size=(1, DIMENSION)).astype(np.float32) for _ in chunks])  # fmt: skip
    with store.batch():
        store.put_articles([write])


@pytest.fixture
def store(tmp_path: Path) -> ChromaStore:
    store = _store(tmp_path / "shared")
    for n in range(20):
        _write(store, f"old-{n}", f"Routine report number {n} about the weather.\n\nNothing else happened.")
    return store


def test_a_new_replica_is_built_once_from_the_whole_store(store: ChromaStore, tmp_path: Path) -> None:
    replica = Replica(store, tmp_path / "replica-a")
    replica.sync()
    assert replica.catalog.count() == 20 and replica.keyword.documents == 40
    assert replica.catalog.state() == (store.change_count(), store.identity) == (20, store.identity)  # 20 writes


def test_a_replica_built_from_the_store_holds_the_vectors_in_order_of_publication(tmp_path: Path) -> None:
    """Articles written in any order are held in order of publication (undated first), so a window of dates
    reads its vectors in a few runs of the catalog's vector file."""
    store = _store(tmp_path / "shared")
    dates = {"m": "2023-03-01", "k": "2023-01-01", "z": None, "a": "2023-02-01", "b": "2023-01-01"}
    for article_id, published in dates.items():
        _write(store, article_id, f"Report {article_id}.\n\nMore of {article_id}.", published=published)
    replica = Replica(store, tmp_path / "replica")
    replica.sync()
    (catalog_file,) = (tmp_path / "replica").rglob("catalog.sqlite3")
    with sqlite3.connect(catalog_file) as db:
        in_file = [row[0] for row in db.execute("SELECT article_id FROM vector_spans ORDER BY start")]
    assert in_file == ["z", "b", "k", "a", "m"]
    replica.close()


def test_a_replica_following_an_import_in_random_date_order_compacts_it_into_order_of_publication(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caught up write by write (as `qa index` follows its own windows), the vector file is written again in order
    of publication once enough was appended out of it, on a thread of its own: no rebuild, no command."""
    monkeypatch.setattr(qa.catalog, "COMPACT_AT_BYTES", 2 * 2 * DIMENSION * 4)  # two articles' vectors
    store = _store(tmp_path / "shared")
    replica = Replica(store, tmp_path / "replica")
    replica.sync()
    days = [9, 2, 30, 5, 21, 1, 14, 27]
    for n, day in enumerate(days):
        _write(store, f"a{n}", f"Report {n}.\n\nMore of {n}.", published=f"2023-01-{day:02d}")
        replica.sync()
        replica.catalog.settle()  # the compaction it began runs on a thread of its own
    (catalog_file,) = (tmp_path / "replica").rglob("catalog.sqlite3")
    with sqlite3.connect(catalog_file) as db:
        in_file = [int(row[0][1:]) for row in db.execute("SELECT article_id FROM vector_spans ORDER BY start")]
        generation = db.execute("SELECT generation FROM vector_file").fetchone()[0]
    # out of order: 2, 5 (compacted), 21, 1 (compacted), 14 (one article: under the line); the first
    # generation is the empty replica's build
    assert generation == 3
    assert [days[n] for n in in_file] == [1, 2, 5, 9, 21, 30, 14, 27]
    week = SearchFilter(article_ids=[f"a{n}" for n in range(len(days))])
    admitted = replica.catalog.admitted(week)
    assert admitted is not None and not replica.catalog.cosines(admitted, np.ones(DIMENSION, np.float32)).missing
    replica.close()


def test_a_starting_server_searches_the_store_once_and_reads_the_replicas_files_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from tests.conftest import holds_within

    data_dir = tmp_path / "data"
    store = _store(data_dir)
    _write(store, "a", "Report a.\n\nMore of a.")
    Replica(store, data_dir / "replica" / "articles").sync()
    advised: list[str] = []  # the files read to their end
    preadv = qa.vector_file.os.preadv

    def recorded(descriptor: int, buffers: list[bytearray], offset: int) -> int:
        read = preadv(descriptor, buffers, offset)
        if read == 0:  # the end of a file read through
            advised.append(qa.vector_file.os.readlink(f"/proc/self/fd/{descriptor}"))
        return read

    monkeypatch.setattr(qa.vector_file.os, "preadv", recorded)
    searched: list[int] = []
    dense_query = ChromaStore.dense_query

    def recorded_search(self: ChromaStore, vector: np.ndarray, n: int, among: Sequence[str] | None = None) -> Any:
        searched.append(n)
        return dense_query(self, vector, n, among)

    monkeypatch.setattr(ChromaStore, "dense_query", recorded_search)
    settings = Settings(data_dir=data_dir, collection="articles")
    with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        assert holds_within(30, lambda: searched == [1]), "one search, on which Chroma loads its vector index"
        replica = data_dir / "replica" / "articles"
        vectors = [str(p) for p in replica.glob("*.f32")]
        keyword = {str(p) for p in (replica / "keyword").glob("*") if p.is_file()}
        assert len(vectors) == 1 and keyword
        assert holds_within(30, lambda: set(advised) == {*vectors, *keyword}), "every file read through"
        assert advised[0] == vectors[0], "the vector file first"
        assert client.get("/api/articles").json()["total"] == 1


def test_a_server_starting_on_an_empty_data_directory_warms_nothing_up_and_makes_no_index(tmp_path: Path) -> None:
    import threading

    from fastapi.testclient import TestClient

    from api import create_app
    from tests.conftest import holds_within

    settings = Settings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        assert holds_within(30, lambda: all(t.name != "qa-warm-up" for t in threading.enumerate()))
        assert client.get("/api/articles").json()["total"] == 0
        assert not client.app.state.service.store.exists()  # type: ignore[attr-defined]
    assert not (tmp_path / "data" / "replica").exists()


def test_a_new_replica_indexes_only_the_chunks_the_records_name(store: ChromaStore, tmp_path: Path) -> None:
    # what killed writes leave: the next version's chunks of an article whose record still names the old ones,
    # and a chunk of an article that has no record
    old = store.article_infos(["old-3"])["old-3"]
    named = store.get_chunks([chunk_id("old-3", 0, old.version)], with_embeddings=True)
    first = next(iter(named.values()))
    got = store._chunks.get(ids=[first.id], include=["metadatas", "embeddings"])
    for article_id, version in (("old-3", "fedcba987654"), ("ghost", "0123456789ab")):
        packed = json.loads(got["metadatas"][0]["chunk"]) | {"text": "Salt flats near Uyuni flooded."}
        meta = {**got["metadatas"][0], "article_id": article_id, "version": version, "chunk": json.dumps(packed)}
        store._chunks.add(ids=[chunk_id(article_id, 0, version)], metadatas=[meta], embeddings=got["embeddings"])
    replica = Replica(store, tmp_path / "replica-new")
    replica.sync()
    assert replica.keyword.documents == 40, "the 20 articles' two chunks each, and no other"
    assert not replica.keyword.search("Uyuni salt flats", 5)
    infos = store.article_infos([f"old-{n}" for n in range(20)])
    found = {c for c, _ in replica.keyword.search("routine report weather", 40)}
    assert found == {chunk_id(i, 0, info.version) for i, info in infos.items()} and first.id in found


def test_catching_up_reads_only_the_articles_that_changed(
    store: ChromaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on two machines (the writer's own store remembers what it wrote: see the test after the next)
    first, second = Replica(store, tmp_path / "a"), Replica(_store(tmp_path / "shared"), tmp_path / "b")
    first.sync()
    second.sync()
    read: list[str] = []
    original = ChromaStore.get_chunks

    def recording(self: ChromaStore, ids: Sequence[str], *args: object, **kwargs: object) -> object:
        read.extend(dict.fromkeys(i.split("::")[0] for i in ids))  # the articles whose chunks are read
        return original(self, ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaStore, "get_chunks", recording)
    _write(store, "grain", "Delegations met in Istanbul.\n\nThey agreed to reopen the port of Odesa.")
    with store.batch():
        store.remove_articles(["old-3"])
    second.sync()
    assert read == ["grain"], "the new article's chunks, and nothing of the 19 others"
    grain = store.article_infos(["grain"])["grain"]
    assert [c for c, _ in second.keyword.search("Odesa port", 5)] == [chunk_id("grain", 1, grain.version)]
    assert not second.keyword.search("report number 3", 5)[0][0].startswith("old-3::")
    assert second.catalog.count() == 20 and second.catalog.state()[0] == store.change_count() == 22
    read.clear()
    second.sync()
    assert read == [], "nothing changed: one count, nothing read"


def test_catching_up_reads_a_batch_of_articles_in_one_read(
    store: ChromaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window of `qa index` is one batch of many articles: the replica reads their chunks back in one call
    into the store, not one per article (the calls cost more than the reading beside the model)."""
    replica = Replica(_store(tmp_path / "shared"), tmp_path / "b")  # another machine's
    replica.sync()
    calls: list[list[str]] = []
    original = ChromaStore.get_chunks

    def recording(self: ChromaStore, ids: Sequence[str], *args: object, **kwargs: object) -> object:
        calls.append(sorted({i.split("::")[0] for i in ids}))
        return original(self, ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaStore, "get_chunks", recording)
    names = ["alpha", "beta", "gamma"]
    with store.batch():  # three writes, three records
        for name in names:
            _write(store, name, f"The {name} delegation met in Istanbul.\n\nIt agreed to reopen port {name}.")
    replica.sync()
    assert calls == [names]
    found = {c.split("::")[0] for c, _ in replica.keyword.search("delegation Istanbul", 5)}
    assert found == set(names)
    assert replica.catalog.count() == 23


def test_a_process_applies_its_own_writes_without_reading_them_back_unless_another_wrote_between(
    store: ChromaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replica = Replica(store, tmp_path / "own")
    replica.sync()
    read: list[str] = []
    original = ChromaStore.get_chunks

    def recording(self: ChromaStore, ids: Sequence[str], *args: object, **kwargs: object) -> object:
        read.extend(dict.fromkeys(i.split("::")[0] for i in ids))
        return original(self, ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaStore, "get_chunks", recording)
    _write(store, "grain", "Delegations met in Istanbul.\n\nThey agreed to reopen the port of Odesa.")
    _write(store, "grain", "Delegations met in Ankara.\n\nThey agreed to reopen the port of Odesa at once.")
    with store.batch():
        store.remove_articles(["old-3"])
    replica.sync()
    assert read == [], "its own three writes: nothing read back"
    grain = store.article_infos(["grain"])["grain"]
    assert replica.catalog.infos(["grain"])["grain"].version == grain.version, "the later of its two writes"
    assert [c for c, _ in replica.keyword.search("Ankara", 5)] == [chunk_id("grain", 0, grain.version)]
    assert not replica.keyword.search("Istanbul", 5) and replica.catalog.count() == 20
    assert replica.catalog.infos(["grain"]) == {"grain": _rebuilt(store, tmp_path)["grain"]}, "as one built anew"

    read.clear()
    other = _store(tmp_path / "shared")  # another writer on the same store
    _write(store, "ferry", "Ferry crews walked out in Calais.")
    _write(other, "grain", "Delegations met in Geneva.\n\nThey agreed to reopen the port of Odesa.")
    replica.sync()
    assert sorted(read) == ["ferry", "grain"], "a record it did not write: the step is read from the store"
    assert [c.split("::")[0] for c, _ in replica.keyword.search("Geneva", 5)] == ["grain"]


def test_a_write_is_previewed_only_by_a_catalog_in_step_with_the_log_up_to_it(
    store: ChromaStore, tmp_path: Path
) -> None:
    replica = Replica(store, tmp_path / "replica")
    replica.sync()
    _write(store, "grain", "They agreed to reopen the port of Odesa.")
    written = store.last_own_write("grain")
    assert written is not None
    position, record = written
    previewed = replica.preview(record, position)
    assert previewed is not None and previewed.id == "grain" and previewed.version == record.version
    assert replica.catalog.infos(["grain"]) == {} and replica.catalog.state()[0] == position, "nothing applied"

    _write(_store(tmp_path / "shared"), "ferry", "Ferry crews walked out in Calais.")  # another writer
    _write(store, "grain", "They agreed to reopen the port of Odesa at once.")
    written = store.last_own_write("grain")
    assert written is not None and written[0] == position + 2
    assert replica.preview(written[1], written[0]) is None, "a record of another writer before it is not applied"
    replica.sync()
    assert replica.preview(written[1], written[0]) == replica.catalog.infos(["grain"])["grain"]


def _rebuilt(store: ChromaStore, tmp_path: Path) -> dict[str, object]:
    fresh = Replica(_store(tmp_path / "shared"), tmp_path / "fresh")
    fresh.sync()
    return dict(fresh.catalog.infos(["grain"]))


def test_two_processes_sharing_a_directory_take_turns_and_see_each_others_work(
    store: ChromaStore, tmp_path: Path
) -> None:
    writer, reader = Replica(store, tmp_path / "shared"), Replica(store, tmp_path / "shared")
    writer.sync()
    reader.sync()
    _write(store, "grain", "They agreed to reopen the port of Odesa.")
    writer.sync()
    reader.sync()  # the catalog already says it is in step: it only reloads
    grain = store.article_infos(["grain"])["grain"]
    assert [c for c, _ in reader.keyword.search("Odesa", 5)] == [chunk_id("grain", 0, grain.version)]


def test_a_store_dropped_and_made_again_is_followed_from_scratch(tmp_path: Path) -> None:
    store = _store(tmp_path / "shared")
    _write(store, "first", "The first story.")
    replica = Replica(store, tmp_path / "replica")
    replica.sync()
    for name in ("articles_chunks", "articles_articles_v2", "articles_changes"):
        store.client.delete_collection(name)
    again = _store(tmp_path / "shared")
    _write(again, "second", "The second story.")
    follower = Replica(again, tmp_path / "replica")
    follower.sync()
    assert [a.id for a in follower.catalog.page(10).articles] == ["second"]
    assert follower.keyword.documents == 1 and follower.catalog.state()[1] == again.identity


def test_two_writers_that_take_the_same_position_in_the_change_log_both_land(
    store: ChromaStore, tmp_path: Path
) -> None:
    other = _store(tmp_path / "shared")  # another machine's writer, whose idea of the log's end is now late
    assert other.log_length() == store.log_length() == 20
    _write(store, "first", "The first story.")
    _write(other, "second", "The second story.")  # position 20 is taken: it is read back and put at 21
    records = store.changes(20)
    assert [(r.id, r.article_ids) for r in records] == [
        (change_record_id(20), ["first"]),
        (change_record_id(21), ["second"]),
    ]
    assert store.change_count() == other.log_length() == store.log_length() == 22
    for n in range(10):
        _write(store, f"more-{n}", "Another story.")
    assert other.log_length() == 32, "far behind: more than a look's worth of records, so it counts the log"
    follower = Replica(_store(tmp_path / "shared"), tmp_path / "follower")
    follower.sync()
    assert {"first", "second"} <= {a.id for a in follower.catalog.page(50).articles}


def test_a_change_log_of_the_previous_schema_is_read_by_offset_up_to_its_end_then_by_position(tmp_path: Path) -> None:
    store = _store(tmp_path / "shared")
    _write(store, "a1", "One.")
    replica = Replica(_store(tmp_path / "shared"), tmp_path / "behind")
    replica.sync()  # has applied the first record only
    _write(store, "a2", "Two.")
    _write(store, "a3", "Three.")
    # the log as schema 6 wrote it: records named at random, in the same order
    changes = store.client.get_collection("articles_changes")
    got = changes.get(include=["metadatas"])
    changes.delete(ids=got["ids"])
    changes.add(
        ids=[f"{time.time_ns():020d}-{n}" for n in range(len(got["ids"]))],
        embeddings=[[1.0]] * len(got["ids"]),
        metadatas=[{"articles": m["articles"]} for m in got["metadatas"]],
    )

    writer = _store(tmp_path / "shared")  # a process of this release, started after the upgrade
    assert writer.log_length() == 3, "counted: the log ends in a record of the older schema"
    _write(writer, "after", "After the upgrade.")
    assert [r.id for r in writer.changes(3)] == [change_record_id(3)], "the first record named by its position"
    assert writer.log_length() == 4

    caught_up = Replica(_store(tmp_path / "shared"), tmp_path / "behind")  # the replica's next process
    caught_up.sync()
    assert caught_up.catalog.state()[0] == 4
    assert sorted(a.id for a in caught_up.catalog.page(10).articles) == ["a1", "a2", "a3", "after"]
    assert [c.split("::")[0] for c, _ in caught_up.keyword.search("upgrade", 5)] == ["after"]


def _held_as_stored(replica: Replica, store: ChromaStore, article_ids: list[str]) -> tuple[int, list[str]]:
    """How many of these articles' chunk vectors the catalog holds, each checked against the store's (by a
    question's cosines to them); and the chunk ids it does not hold. A process's own writes are held as it wrote
    them, which Chroma keeps normalised again for its cosine space (a last bit moved in about a quarter of the
    model's vectors; these are not normalised at all)."""
    admitted = replica.catalog.admitted(SearchFilter(article_ids=article_ids))
    assert admitted is not None
    question = RNG.normal(size=DIMENSION).astype(np.float32)
    held = replica.catalog.cosines(admitted, question)
    stored = store.get_chunks(held.ids, with_embeddings=True)
    expected = [float(stored[i].embedding @ question) for i in held.ids]  # type: ignore[operator]
    np.testing.assert_allclose(held.cosines, expected, rtol=1e-5, atol=1e-5)
    assert sorted(held.ids + held.missing) == sorted(admitted.chunk_ids)
    _chunks_held_as_stored(replica, store, admitted.chunk_ids)
    return len(held.ids), held.missing


def _chunks_held_as_stored(replica: Replica, store: ChromaStore, chunk_ids: list[str]) -> None:
    """The catalog holds every one of these chunks, as a question reads them from the store: text, offsets,
    sentences and their vectors, and the chunk's vector."""
    held = replica.catalog.held_chunks(chunk_ids, DIMENSION)
    assert sorted(held.records) == sorted(chunk_ids) == sorted(held.vectors)
    from_catalog = store.chunks_from_records(held.records, held.vectors)
    from_store = store.get_chunks(chunk_ids, with_embeddings=True)
    for held_id in chunk_ids:
        ours, theirs = from_catalog[held_id], from_store[held_id]
        fields = ("id", "article_id", "position", "text", "start", "end", "content_hash", "sentences", "version")
        assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
        np.testing.assert_array_equal(ours.sentence_vectors, theirs.sentence_vectors)
        np.testing.assert_allclose(ours.embedding, theirs.embedding, rtol=1e-5, atol=1e-5)  # type: ignore[arg-type]


def test_the_catalog_holds_the_stored_vectors_of_every_articles_current_chunks(
    store: ChromaStore, tmp_path: Path
) -> None:
    """Built from the whole store, applying its own writes, and catching up on another writer's: each article's
    vectors and chunks are the store's, for the chunks its record names; a removed article's are gone."""
    other = _store(tmp_path / "shared")  # another machine's writer
    own = Replica(store, tmp_path / "own")
    own.sync()
    olds = [f"old-{n}" for n in range(20)]
    assert _held_as_stored(own, store, olds) == (40, []), "built from the whole store"
    removed = own.catalog.admitted(SearchFilter(article_ids=["old-3"])).chunk_ids  # type: ignore[union-attr]

    _write(store, "grain", "Delegations met in Istanbul.\n\nThey agreed to reopen the port of Odesa.")
    own.sync()
    assert _held_as_stored(own, store, ["grain"]) == (2, []), "its own write, not read back"

    _write(other, "grain", "Delegations met in Geneva.\n\nThey agreed.\n\nThe port of Odesa reopens.")
    with other.batch():
        other.remove_articles(["old-3"])
    own.sync()
    assert _held_as_stored(own, store, ["grain", "old-3"]) == (3, []), "another's: the new version's three"
    assert own.catalog.admitted(SearchFilter(article_ids=["old-3"])).chunk_ids == []  # type: ignore[union-attr]
    assert not own.catalog.held_chunks(removed, DIMENSION).records, "a removed article's chunks are gone too"

    follower = Replica(_store(tmp_path / "shared"), tmp_path / "follower")
    follower.sync()
    assert _held_as_stored(follower, store, [*olds, "grain"]) == (41, [])
