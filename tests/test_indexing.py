"""Indexing is idempotent, replaces edited articles, removes vanished ones; the replica (keyword index, catalog)
follows the store's change log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from indexer import index_articles, load_paths
from indexer.loaders import LoadedArticle
from qa.domain import Article
from qa.embedder import SPIN_MICROSECONDS, MiniLMEmbedder, bulk_lanes
from qa.errors import ConfigError, EmbedderMismatch
from qa.replica import Replica
from qa.settings import Settings
from qa.store import SCHEMA, ChromaStore, decode_vectors, unpack_chunk
from qa.wiring import chroma_client, open_store
from tests.conftest import REPO, SEED_ID, SEEDS, schema_4_vectors, schema_5_chunk


def _index(store: ChromaStore, embedder: MiniLMEmbedder, folder: Path, data_dir: Path):
    """What `qa index FOLDER` does: the replica says what came from the folder, and follows the write."""
    replica = _replica(store, data_dir)
    loaded, failures = load_paths([folder])
    report = index_articles(
        store, embedder, loaded, failures, folders=[folder], indexed_from=replica.catalog.indexed_from
    )
    replica.sync()
    report.chunks_total = replica.catalog.chunk_total()
    return report


def _replica(store: ChromaStore, data_dir: Path) -> Replica:
    store.ensure()
    replica = Replica(store, data_dir / "replica")
    replica.sync()
    return replica


def _snapshot(store: ChromaStore) -> dict[str, tuple[str, int]]:
    return {a.id: (a.content_hash, a.chunks) for page in store.all_article_infos() for a in page}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    (folder / "second.txt").write_text(
        "Ministers met in Paris on Tuesday.\n\nThey agreed to meet again in spring to discuss grain exports.",
        encoding="utf-8",
    )
    return folder


def test_indexing_twice_embeds_nothing_and_changes_no_count(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    store = open_store(Settings(data_dir=tmp_path / "data"), embedder)
    first = _index(store, embedder, corpus, tmp_path / "data")
    assert sorted(first.added) == [SEED_ID, "second"] and first.chunks_embedded == first.chunks_total > 0
    before, generation = _snapshot(store), store.change_count()
    second = _index(store, embedder, corpus, tmp_path / "data")
    assert second.added == second.updated == second.removed == []
    assert sorted(second.unchanged) == [SEED_ID, "second"]
    assert second.chunks_embedded == 0 and second.chunks_total == first.chunks_total
    assert _snapshot(store) == before
    assert store.change_count() == generation, "an unchanged run writes nothing"
    fresh = MiniLMEmbedder()
    assert _index(store, fresh, corpus, tmp_path / "data").chunks_embedded == 0
    assert "session" not in vars(fresh), "a run with nothing to embed never loads the model"


def test_an_edited_article_replaces_its_chunks_and_reuses_unchanged_vectors(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    _index(store, embedder, corpus, data)
    seed = corpus / f"{SEED_ID}.md"
    text = seed.read_text(encoding="utf-8")
    edited = text.replace("James Cleverly", "Jane Doe").replace(
        "In brief, the Russian Foreign Minister", "In short, he"
    )
    seed.write_text(edited, encoding="utf-8")
    report = _index(store, embedder, corpus, data)
    assert report.updated == [SEED_ID] and report.unchanged == ["second"]
    assert 0 < report.chunks_embedded < 5 and report.chunks_reused > 10, "only the edited chunks are embedded"
    stored_info, stored_text = store.get_article(SEED_ID)
    assert "Jane Doe" in stored_text and "James Cleverly" not in stored_text
    chunks = store.chunks_of(stored_info)
    assert len(chunks) == stored_info.chunks
    assert all(stored_text[c.start : c.end] == c.text for c in chunks), "offsets point into the new text"
    keyword = _replica(store, data).keyword
    assert keyword.search("Cleverly", 5) == [], "the keyword index forgot the old text"
    assert keyword.search("Jane Doe", 5)[0][0].startswith(SEED_ID)


def test_a_file_removed_from_the_folder_is_removed_from_the_index(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    _index(store, embedder, corpus, data)
    (corpus / "second.txt").unlink()
    report = _index(store, embedder, corpus, data)
    assert report.removed == ["second"]
    assert list(_snapshot(store)) == [SEED_ID]
    assert all(not c.startswith("second") for c, _ in _replica(store, data).keyword.search("grain exports", 5))


def test_a_folder_with_bad_files_indexes_the_good_ones_and_removes_nothing(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    _index(store, embedder, corpus, data)
    (corpus / "second.txt").write_bytes(b"\xff\xfe broken")  # was fine, now unreadable
    (corpus / "third.txt").write_text("A third article about wheat.", encoding="utf-8")
    report = _index(store, embedder, corpus, data)
    assert report.added == ["third"]
    assert [Path(f.path).name for f in report.failed] == ["second.txt"]
    assert report.removed == [], "a file that failed to load is not a deleted file"
    assert report.kept == ["second"]
    assert set(_snapshot(store)) == {SEED_ID, "second", "third"}


def test_a_file_of_a_type_never_indexed_does_not_keep_a_deleted_one(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04 not an article")
    _index(store, embedder, corpus, data)
    (corpus / "second.txt").unlink()
    report = _index(store, embedder, corpus, data)
    assert [Path(f.path).name for f in report.failed] == ["notes.docx"]
    assert report.removed == ["second"] and report.kept == []


def test_an_index_built_by_another_embedder_is_refused(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    client, where = chroma_client(settings)
    other = ChromaStore(client, settings.collection, "some-other-model", 768, where)
    other.ensure()
    with pytest.raises(EmbedderMismatch, match="some-other-model"):
        open_store(settings, embedder).require()


def test_writes_happen_in_a_batch_and_each_is_logged_once_done(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, embedder)
    _index(store, embedder, SEEDS, settings.data_dir)
    with pytest.raises(RuntimeError, match="batch"):
        store.remove_articles([SEED_ID])
    before = store.change_count()
    with store.batch():
        with store.batch():  # nested: one turn of the writers
            assert store.remove_articles([SEED_ID]) == [SEED_ID]
            assert store.change_count() == before + 1, "logged once it was done"
            assert not store.journal(), "and its intent cleared after the record"
        assert store.remove_articles([SEED_ID]) == []
        assert store.change_count() == before + 1, "a write of nothing logs nothing"
    assert [record.article_ids for record in store.changes(before)] == [[SEED_ID]]
    after = store.change_count()
    with store.batch():
        pass
    assert store.change_count() == after, "a batch that wrote nothing changes nothing"


def _downgrade_to_schema_1(settings: Settings) -> None:
    """Make the index look as schema 1 wrote it: article records with 384-d vectors under _articles, their text
    as documents, sentence vectors as float16."""
    client, _ = chroma_client(settings)
    new = client.get_collection(f"{settings.collection}_articles_v2")
    got = new.get(include=["metadatas"])
    old = client.create_collection(f"{settings.collection}_articles", metadata={"hnsw:space": "cosine"})
    vectors = np.random.default_rng(0).normal(size=(len(got["ids"]), 384)).tolist()
    old.add(
        ids=got["ids"],
        documents=[m["text"] for m in got["metadatas"]],
        metadatas=[{k: v for k, v in m.items() if k != "text"} for m in got["metadatas"]],
        embeddings=vectors,
    )
    client.delete_collection(new.name)
    chunks = client.get_collection(f"{settings.collection}_chunks")
    _sentence_vectors_as_float16(chunks)
    chunks.modify(metadata={k: v for k, v in chunks.metadata.items() if not k.startswith("hnsw:")} | {"schema": 1})


def _sentence_vectors(store: ChromaStore) -> dict[str, np.ndarray]:
    return {
        c.id: c.sentence_vectors
        for page in store.all_article_infos()
        for info in page
        for c in store.chunks_of(info, with_embeddings=False)
    }


def _sentence_vectors_as_float16(chunks: Any) -> None:
    """Sentence vectors as schema 4 and earlier wrote them."""
    got = chunks.get(include=["metadatas"])
    chunks.update(
        ids=got["ids"],
        metadatas=[
            old | {"sentence_vectors": schema_4_vectors(decode_vectors(str(old["sentence_vectors"]), 384))}
            for old in map(schema_5_chunk, got["metadatas"])
        ],
    )


def test_an_index_of_the_previous_schema_is_read_as_it_is_and_migrated_on_the_first_write(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    _index(open_store(settings, embedder), embedder, corpus, settings.data_dir)
    before = _snapshot(open_store(settings, embedder))
    text = open_store(settings, embedder).get_article(SEED_ID)[1]
    sentences = _sentence_vectors(open_store(settings, embedder))
    _downgrade_to_schema_1(settings)

    reader = open_store(settings, embedder)
    assert _snapshot(reader) == before and reader.get_article(SEED_ID)[1] == text, "read without migrating"
    old_sentences = _sentence_vectors(reader)
    assert old_sentences.keys() == sentences.keys()
    assert all(np.allclose(old_sentences[i], v, atol=5e-3) for i, v in sentences.items()), "float16 rows read"
    report = _index(open_store(settings, embedder), embedder, corpus, settings.data_dir)
    assert report.unchanged == [SEED_ID, "second"] and report.chunks_embedded == 0
    client, _ = chroma_client(settings)
    names = {c.name for c in client.list_collections()}
    assert names == {"articles_chunks", "articles_articles_v2", "articles_changes", "articles_journal"}, "v1 is gone"
    assert client.get_collection("articles_chunks").metadata["schema"] == SCHEMA
    migrated = open_store(settings, embedder)
    assert _snapshot(migrated) == before and migrated.get_article(SEED_ID)[1] == text

    # An edited article is written the current way; its unchanged chunks keep their vectors.
    edited = "Ministers met in Paris on Tuesday.\n\nThey agreed to meet again in summer to discuss grain exports."
    (corpus / "second.txt").write_text(edited, encoding="utf-8")
    report = _index(open_store(settings, embedder), embedder, corpus, settings.data_dir)
    assert report.updated == ["second"]
    record = client.get_collection("articles_articles_v2").get(ids=["second"], include=["documents", "metadatas"])
    assert record["metadatas"][0]["text"] == edited and record["documents"] == [""]
    assert open_store(settings, embedder).get_article("second")[1] == edited
    rows = client.get_collection("articles_chunks").get(where={"article_id": "second"}, include=["metadatas"])
    assert rows["ids"] and all(
        set(m) <= {"article_id", "version", "published_at", "chunk"}
        and str(unpack_chunk(m)["sentence_vectors"]).startswith("i8:")
        for m in rows["metadatas"]
    ), "packed (schema 6), int8 sentence vectors (5)"


def test_an_index_written_by_a_newer_version_is_refused(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    _index(open_store(settings, embedder), embedder, SEEDS, settings.data_dir)
    client, _ = chroma_client(settings)
    chunks = client.get_collection("articles_chunks")
    chunks.modify(metadata={k: v for k, v in chunks.metadata.items() if not k.startswith("hnsw:")} | {"schema": 99})
    with pytest.raises(ConfigError, match="newer version"):
        open_store(settings, embedder).require()


def test_a_new_date_alone_reuses_every_vector(tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder) -> None:
    """The article changed, none of its chunks' texts did: it is written again without the model."""
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    first = _index(store, embedder, corpus, data)
    seed = corpus / f"{SEED_ID}.md"
    seed.write_text(seed.read_text(encoding="utf-8").replace("2022-02-11", "2022-02-12", 1), encoding="utf-8")
    report = _index(store, embedder, corpus, data)
    assert report.updated == [SEED_ID] and report.chunks_embedded == 0
    assert report.chunks_reused == store.article_infos([SEED_ID])[SEED_ID].chunks > 0
    assert store.get_article(SEED_ID)[0].published.startswith("2022-02-12")
    assert first.chunks_total == report.chunks_total


def test_a_feed_streams_through_in_windows_each_logged_and_followed(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer import iter_articles, pipeline

    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    feed = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"id": f"n{i:03d}", "title": f"Story {i}", "text": f"Story {i} is about grain."}) for i in range(100)
    ]
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = open_store(Settings(data_dir=tmp_path / "data"), embedder)
    replica = _replica(store, tmp_path / "data")
    seen: list[tuple[int, int]] = []
    followed: list[int] = []

    def follow() -> None:
        replica.sync()
        followed.append(replica.catalog.count())

    report = index_articles(
        store, embedder, iter_articles([feed]), progress=lambda done, total: seen.append((done, total)),
        after_window=follow, total=100,
    )  # fmt: skip
    assert len(report.added) == 100 and report.chunks_embedded == 100
    # in articles: after each batch of the model (32 chunks, one an article here), as the share of its window done
    assert seen == [(32, 100), (40, 100), (72, 100), (80, 100), (100, 100)], "progress in articles, batch by batch"
    assert followed == [40, 80, 100], "each window was written and followed, one after the other"
    assert store.change_count() == 3, "one write a window, logged once done"
    again = index_articles(store, embedder, iter_articles([feed]))
    assert len(again.unchanged) == 100 and again.chunks_embedded == 0 and store.change_count() == 3


def test_the_model_gives_its_memory_back_after_a_big_window_only(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Giving the model's working memory back costs a pass of the model: worth it while a big window is written,
    not after one article that a server adds between questions."""
    from indexer import pipeline

    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    monkeypatch.setattr(pipeline, "RELEASE_AFTER_CHUNKS", 30)
    released: list[int] = []
    monkeypatch.setattr(embedder, "release_memory", lambda: released.append(len(released)))
    store = open_store(Settings(data_dir=tmp_path / "data"), embedder)
    articles = [
        LoadedArticle(Article(id=f"n{i:02d}", title=f"Story {i}", text=f"Story {i} is about grain."), origin="test")
        for i in range(50)
    ]
    report = index_articles(store, embedder, articles)
    assert report.chunks_embedded == 50
    assert released == [0], "after the window of 40 chunks, not after the one of 10"


def test_one_article_is_chunked_while_its_record_is_read(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add through the API is a window of one article: its chunking does not wait for the read of its record."""
    import threading

    from indexer import pipeline

    store = open_store(Settings(data_dir=tmp_path / "data"), embedder)
    store.ensure()
    chunking, read_while_chunking = threading.Event(), []
    plan_chunks, article_infos = pipeline.plan_chunks, ChromaStore.article_infos

    def chunk(*args: Any) -> Any:
        chunking.set()
        return plan_chunks(*args)

    def read(self: ChromaStore, ids: Any) -> Any:
        read_while_chunking.append(chunking.wait(5))
        return article_infos(self, ids)

    monkeypatch.setattr(pipeline, "plan_chunks", chunk)
    monkeypatch.setattr(ChromaStore, "article_infos", read)
    article = Article(id="grain", title="Grain", text="Grain delegations met in Ankara on Tuesday.")
    report = index_articles(store, embedder, [LoadedArticle(article, origin="test")])
    assert report.added == ["grain"]
    assert read_while_chunking[0] is True, "the record was read while the article was chunked"


class _Recording(MiniLMEmbedder):
    """The real model, remembering each call's texts and the texts of each batch it ran, in order."""

    def __init__(self, model: MiniLMEmbedder) -> None:
        self.__dict__.update(model.__dict__)  # the same loaded session and tokenizer
        self.calls: list[list[str]] = []
        self.batches: list[list[int]] = []  # word pieces of each text of each batch of those calls

    def embed_with_spans(self, texts, spans, after_batch=None):  # type: ignore[no-untyped-def]
        self.calls.append(list(texts))
        return super().embed_with_spans(texts, spans, after_batch)

    def _forward(self, encodings, options=None, session=None):  # type: ignore[no-untyped-def]
        if options is None:  # not the pass that gives memory back after a window (it reads an empty text)
            self.batches.append([len(e.ids) for e in encodings])
        return super()._forward(encodings, options, session)


def test_a_window_is_embedded_in_order_of_word_pieces(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    """A batch is padded to its longest text: the model gets the whole window's chunks in one call and runs them
    in order of their word pieces. Characters order them badly: a long rare word is many word pieces in few
    characters."""
    rare = "Pneumonoultramicroscopicsilicovolcanoconiosis hyperparathyroidism"
    plain = "The cat sat on the mat and it was a very good day for all of us here"
    articles = [
        LoadedArticle(Article(id=f"a{n}", title="T", text=(rare if n % 2 else plain) + f" {n}."), origin="test")
        for n in range(40)
    ]
    recording = _Recording(embedder)
    recording.batch_size = 8
    store = open_store(Settings(data_dir=tmp_path / "data"), recording)
    report = index_articles(store, recording, articles)
    assert report.chunks_embedded == 40 and len(recording.calls) == 1, "one window, one call"
    assert len(recording.batches) == 5
    pieces = [n for batch in recording.batches for n in batch]
    assert pieces == sorted(pieces), pieces
    characters = sorted(recording.calls[0], key=recording.count_tokens)
    assert [len(text) for text in characters] != sorted(len(text) for text in characters)


def test_the_model_runs_apart_in_lanes_to_index_and_never_busy_waits_between_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qa index` opens the service in bulk: the model runs in a process of its own (tests/test_embedding_process.py),
    whose one-thread sessions run batches side by side, one a core (the sessions' options: tests/test_embedder.py).
    Every other process keeps one session on every core in the process, whose threads spin only briefly inside a
    run and stop as it ends: spinning after a run held a core the store's writes needed, and the rest of a
    question's work (its reads, the span reader, a Chroma server on the same machine)."""
    from typer.testing import CliRunner

    from qa import wiring
    from qa.cli import app
    from qa.embedding_process import ProcessEmbedder

    opened: list[Any] = []
    build = wiring.build_embedder

    def recorded(settings: Settings, fast_start: bool = False, bulk: bool = False) -> Any:
        embedder = build(settings, fast_start, bulk)
        opened.append(embedder)
        return embedder

    monkeypatch.setattr(wiring, "build_embedder", recorded)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    feed = tmp_path / "feed.jsonl"  # long enough for the model's own process (IN_PROCESS_BELOW chunks or more)
    feed.write_text(
        "".join(
            json.dumps({"id": f"n{i}", "title": f"Story {i}", "text": f"Story {i} is about grain."}) + "\n"
            for i in range(80)
        ),
        encoding="utf-8",
    )
    done = CliRunner().invoke(app, ["index", str(feed), str(SEEDS)])
    assert done.exit_code == 0, done.output
    bulk = opened[-1]
    assert isinstance(bulk, ProcessEmbedder) and bulk.lanes == bulk_lanes()
    assert bulk._process is not None and bulk._process.poll() is None, "the model ran in its process"
    bulk.close()
    one_question = tmp_path / "one.jsonl"
    first = (REPO / "eval" / "seed_qa.jsonl").read_text(encoding="utf-8").splitlines()[0]
    one_question.write_text(first + "\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["eval", str(one_question)]).exit_code == 0
    evaluating = opened[-1]
    assert len(evaluating.sessions) == 1 and evaluating.sessions[0].get_session_options().intra_op_num_threads == 0
    assert _spins_briefly(evaluating.session.get_session_options())
    serving = build(Settings(data_dir=tmp_path / "data")).session.get_session_options()  # type: ignore[attr-defined]
    assert serving.intra_op_num_threads == 0  # one session on every core
    assert _spins_briefly(serving)


def _spins_briefly(options: ort.SessionOptions) -> bool:
    """Whether a session's threads spin at most SPIN_MICROSECONDS between operations, and not after a run."""
    entries = ("session.intra_op.allow_spinning", "session.intra_op.spin_duration_us", "session.force_spinning_stop")
    return [options.get_session_config_entry(key) for key in entries] == ["1", str(SPIN_MICROSECONDS), "1"]


def test_a_repeated_id_says_which_file_kept_it_and_a_file_named_twice_is_read_once(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    (corpus / "second.md").write_text("---\ntitle: Second again\n---\nAnother text.", encoding="utf-8")
    feed = corpus / "feed.jsonl"
    feed.write_text(
        '{"id": "j1", "text": "One text."}\n{"id": "j1", "text": "Another text with the same id."}\n', encoding="utf-8"
    )
    loaded, failures = load_paths([corpus, corpus / "second.txt", corpus / "second.txt"])
    report = index_articles(store, embedder, loaded, failures)
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert reasons == {
        "feed.jsonl": "the article id 'j1' appears twice in this file; the first was kept",
        "second.txt": f"the article id 'second' is taken by {corpus / 'second.md'}, read earlier in this run; "
        "this one was skipped",
    }, "second.txt given twice more on the command line is read once, after the folder"
    assert sorted(report.added) == sorted([SEED_ID, "j1", "second"])


def test_a_repeated_id_in_a_folder_does_not_keep_a_deleted_file(
    tmp_path: Path, corpus: Path, embedder: MiniLMEmbedder
) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data), embedder)
    (corpus / "third.txt").write_text("A third article about wheat.", encoding="utf-8")
    (corpus / "third.md").write_text("The same id as third.txt.", encoding="utf-8")
    _index(store, embedder, corpus, data)
    (corpus / "second.txt").unlink()
    report = _index(store, embedder, corpus, data)
    assert [f.reason.split(";")[0] for f in report.failed] == [
        f"the article id 'third' is taken by {corpus / 'third.md'}, read earlier in this run"
    ]
    assert report.removed == ["second"] and report.kept == []


def test_an_index_opened_to_write_bounds_the_log_chroma_reads_on_every_write(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    """Chroma reads a collection's writes not yet in its vector index again on every write: at its default of
    1,000 of them, one article record took 60-100 ms to write instead of 8-9 (bench/scale.py's 10,000 chunks)."""
    settings = Settings(data_dir=tmp_path / "data")
    open_store(settings, embedder).ensure()
    client, _ = chroma_client(settings)
    names = ["articles_articles_v2", "articles_changes", "articles_journal", "articles_chunks"]

    def thresholds() -> list[int]:
        return [client.get_collection(name).configuration_json["hnsw"]["sync_threshold"] for name in names]

    assert thresholds() == [100, 100, 100, 300], "the chunks sync less often: their vector index is the big one"
    for name in names:  # as releases before this one left them
        client.get_collection(name).modify(configuration={"hnsw": {"sync_threshold": 1000}})
    open_store(settings, embedder).require()
    assert thresholds() == [1000] * 4, "reading changes nothing"
    open_store(settings, embedder).ensure()
    assert thresholds() == [100, 100, 100, 300]
    # Only a speed-up: a busy Chroma (its SQLite locked, as seen opening an index a killed writer left) must not
    # stop a write; the next open sets it.
    for name in names:
        client.get_collection(name).modify(configuration={"hnsw": {"sync_threshold": 1000}})
    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InternalError

    def busy(*_: Any, **__: Any) -> None:
        raise InternalError("Database error: error returned from database: (code: 5) database is locked")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Collection, "modify", busy)
        store = open_store(settings, embedder)
        article = Article(id="x", title="X", text="Wheat prices rose.")
        report = index_articles(store, embedder, [LoadedArticle(article, origin="test")])
    assert report.added == ["x"] and thresholds() == [1000] * 4
    # A lock held for a moment (a fresh index's first writes: seen once in CI) is waited out, not left.
    original, refused = Collection.modify, []

    def busy_once(collection: Collection, *args: Any, **kwargs: Any) -> None:
        if collection.name not in refused:
            refused.append(collection.name)
            busy()
        original(collection, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Collection, "modify", busy_once)
        open_store(settings, embedder).ensure()
    assert sorted(refused) == sorted(names) and thresholds() == [100, 100, 100, 300]
