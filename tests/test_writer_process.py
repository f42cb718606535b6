"""A long `qa index` run is written by a process of its own: every window lands once and is followed by the
replica on disk, the indexing process sees it all when the run ends, and a failure or the child's death stops
the run with a clear error and keeps the windows written before."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from indexer import index_articles, iter_articles, pipeline
from indexer.writer_process import WriterProcess
from qa.embedder import MiniLMEmbedder
from qa.errors import EmbedderMismatch, StoreUnavailable
from qa.settings import Settings
from qa.wiring import open_replica, open_service, open_store

TOWNS = ["Calais", "Dover", "Ostend", "Dunkirk", "Zeebrugge", "Harwich", "Hull", "Rosslare"]


def _feed(path: Path, articles: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for n in range(articles):
            town = TOWNS[n % len(TOWNS)]
            text = f"Ferry crews in {town} stopped work on day {n}. The port said {n % 90} sailings were lost."
            out.write(json.dumps({"id": f"ferry-{n:03d}", "title": f"Ferry strike {n}", "text": text}) + "\n")
    return path


class _Started:
    """A writer-process factory that keeps what it started, for the test to look at (or kill)."""

    def __init__(self, settings: Settings, embedder_id: str, dimension: int) -> None:
        self.args = (settings, embedder_id, dimension)
        self.started: list[WriterProcess] = []

    def __call__(self) -> WriterProcess:
        self.started.append(WriterProcess(*self.args))
        return self.started[-1]


def test_a_long_run_is_written_by_a_process_of_its_own_window_by_window(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, embedder)
    feed = _feed(tmp_path / "feed.jsonl", 100)
    writers = _Started(settings, embedder.model_id, embedder.dimension)
    followed: list[int] = []

    report = index_articles(
        store, embedder, iter_articles([feed]), writer_process=writers, after_window=lambda: followed.append(1)
    )
    assert len(report.added) == 100 and report.chunks_embedded == 100
    assert len(writers.started) == 1 and writers.started[0]._process.poll() == 0, "started once, gone once done"
    assert followed == [], "the writer process followed each window: this process did not"
    assert store.change_count() == 3, "one write a window, logged once done"
    replica = open_replica(settings, store)
    replica.sync()
    assert replica.catalog.count() == 100 and replica.catalog.chunk_total() == 100
    assert replica.behind() == 0, "the replica on disk was brought in step by the writer process"
    again = index_articles(store, embedder, iter_articles([feed]), writer_process=writers)
    assert len(again.unchanged) == 100 and again.chunks_embedded == 0 and store.change_count() == 3


def test_a_short_run_is_written_in_process(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fits in one window does not pay for a second interpreter."""
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    settings = Settings(data_dir=tmp_path / "data")
    writers = _Started(settings, embedder.model_id, embedder.dimension)
    feed = _feed(tmp_path / "feed.jsonl", 39)
    report = index_articles(open_store(settings, embedder), embedder, iter_articles([feed]), writer_process=writers)
    assert len(report.added) == 39 and writers.started == []


def test_the_service_answers_from_what_the_writer_process_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexing process planned from its own view while the child wrote: once the run ends, its view, its
    keyword index and its catalog hold every window (what `qa eval --corpus` asks next)."""
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    service = open_service(Settings(data_dir=tmp_path / "data"), bulk=True)
    feed = _feed(tmp_path / "feed.jsonl", 100)
    last = {"id": "fastnet", "title": "Fastnet keeper retires", "text": "The Fastnet lighthouse keeper retired."}
    with feed.open("a", encoding="utf-8") as out:
        out.write(json.dumps(last) + "\n")
    report = service.index_paths([feed], writer_process=True)
    assert len(report.added) == 101 and report.chunks_total == 101
    for mode in ("dense", "bm25"):  # the vector index as this process sees it, and the keyword index
        answer = service.ask("Who retired from the Fastnet lighthouse?", mode=mode)
        assert answer.citations and answer.citations[0].article_id == "fastnet", mode


def test_a_failure_in_the_writer_process_stops_the_run_with_its_own_error(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, embedder)
    store.ensure()
    # a child bound to another model refuses to write into this index, as `qa index` would
    writers = _Started(settings, "another-model", embedder.dimension)
    with pytest.raises(EmbedderMismatch, match="another-model"):
        index_articles(store, embedder, iter_articles([_feed(tmp_path / "feed.jsonl", 100)]), writer_process=writers)
    assert writers.started[0]._process.poll() == 0, "the child exited once the run stopped"
    assert store.change_count() == 0 and store.article_infos(["ferry-000"]) == {}


def test_a_killed_writer_process_stops_the_run_and_keeps_what_it_wrote(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 40)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, embedder)
    feed = _feed(tmp_path / "feed.jsonl", 200)
    writers = _Started(settings, embedder.model_id, embedder.dimension)
    windows_read: list[int] = []

    def progress(done: int, total: int) -> None:
        if done % 40 == 0 and done not in windows_read:
            windows_read.append(done)
            if done == 80:  # the first window is written: the child dies before the second's
                os.kill(writers.started[0]._process.pid, signal.SIGKILL)

    with pytest.raises(StoreUnavailable, match="The process writing the index stopped"):
        index_articles(store, embedder, iter_articles([feed]), writer_process=writers, progress=progress)
    store.see_other_writers()
    kept = len(store.article_infos([f"ferry-{n:03d}" for n in range(200)]))
    assert kept in (40, 80), "whole windows were kept"
    again = index_articles(store, embedder, iter_articles([feed]), writer_process=writers)
    assert len(again.unchanged) == kept and len(again.added) == 200 - kept
    replica = open_replica(settings, store)
    replica.sync()
    assert replica.catalog.count() == 200 and replica.catalog.chunk_total() == 200, "no chunk twice, none lost"
