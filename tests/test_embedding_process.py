"""The bulk model in a process of its own: the in-process model's vectors, a run stopped between two batches when
its caller says so, a clear error when the process dies, never outliving its parent; and the indexer plans the
next window while it embeds this one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer import index_articles, pipeline
from indexer.loaders import LoadedArticle
from qa.cancel import Cancelled
from qa.domain import Article
from qa.embedder import DIMENSION, MiniLMEmbedder
from qa.embedding_process import IN_PROCESS_BELOW, ProcessEmbedder
from qa.errors import ModelUnavailable, StoreUnavailable
from qa.settings import Settings
from qa.wiring import open_store
from tests.conftest import REPO, holds_within
from tests.test_embedder import stopping_at_the_second, texts_and_spans


@pytest.fixture(scope="module")
def apart() -> Iterator[ProcessEmbedder]:
    """One child of two lanes for the module's tests."""
    embedder = ProcessEmbedder(lanes=2)
    yield embedder
    embedder.close()


def _exited(pid: int) -> bool:
    """Whether a process is gone (or a zombie no one reaped yet: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def test_the_child_gives_the_in_process_models_vectors_in_order(
    apart: ProcessEmbedder, embedder: MiniLMEmbedder
) -> None:
    texts, spans = texts_and_spans(100)  # several batches of several widths
    heard: list[int] = []
    vectors, span_vectors = apart.embed_with_spans(texts, spans, heard.append)
    assert apart._process is not None, "a run of 100 texts starts the child"
    expected, expected_spans = embedder.embed_with_spans(texts, spans)
    assert vectors.shape == (100, DIMENSION) and np.allclose(vectors, expected, atol=1e-5)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(span_vectors, expected_spans, strict=True))
    assert len(heard) > 2 and heard == sorted(heard) and heard[-1] == len(texts)
    assert apart.count_tokens(texts[5]) == embedder.count_tokens(texts[5])
    assert np.allclose(apart.embed(["A man is eating food."]), embedder.embed(["A man is eating food."]), atol=1e-5)
    nothing, no_spans = apart.embed_with_spans([], [])
    assert nothing.shape == (0, DIMENSION) and no_spans == []


def test_a_caller_that_stops_between_batches_stops_the_child(
    apart: ProcessEmbedder, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`after_batch` raising (a cancelled index) stops the child at its next batch; the child embeds after."""
    # Some 120 batches (~5 s of model): a parent held up on a busy machine still says "stop" before the last.
    texts, spans = texts_and_spans(800)
    batches = len(list(embedder._batches(list(range(800)), embedder.tokenizer.encode_batch(texts))))
    stops: list[tuple[str, int]] = []
    stop_run = apart._stop_run
    monkeypatch.setattr(apart, "_stop_run", lambda connection: stops.append(stop_run(connection)))
    heard: list[int] = []
    with pytest.raises(Cancelled):
        apart.embed_with_spans(texts, spans, stopping_at_the_second(heard))
    ((ended, drained),) = stops
    assert batches > 100 and len(heard) == 2
    assert ended == "stopped" and drained < batches - 2, "the child stopped before its last batch"
    assert np.allclose(apart.embed(texts[:3]), embedder.embed(texts[:3]), atol=1e-5)


def test_a_short_run_is_embedded_here_without_starting_the_child(embedder: MiniLMEmbedder) -> None:
    """One article's chunks (under IN_PROCESS_BELOW texts) are not worth a process: the same vectors, none started."""
    short = ProcessEmbedder(lanes=2)
    texts, spans = texts_and_spans(IN_PROCESS_BELOW - 1)
    short.load(expected_texts=len(texts))
    vectors, span_vectors = short.embed_with_spans(texts, spans)
    expected, expected_spans = embedder.embed_with_spans(texts, spans)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(span_vectors, expected_spans, strict=True))
    assert short._process is None, "no child for a short run"
    assert short._here._sessions is not None, "the short run's model is here"
    short.load(expected_texts=IN_PROCESS_BELOW)
    assert short._process is not None, "a long run's load starts it"
    assert short._here._sessions is None, "once the child runs, the model is not held here too"
    assert np.allclose(short.embed(texts[:3]), expected[:3], atol=1e-5)
    assert short._here._sessions is None, "a short run now goes to the child: nothing loaded here again"
    short.close()


def test_a_child_that_dies_is_a_clear_error_and_the_next_run_starts_another(embedder: MiniLMEmbedder) -> None:
    dying = ProcessEmbedder(lanes=1)
    dying.load()
    first = dying._process
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    texts = ["A man is eating food."] * IN_PROCESS_BELOW
    with pytest.raises(ModelUnavailable, match=r"stopped unexpectedly \(exit code -9\).*Run the command again"):
        dying.embed(texts)
    assert np.allclose(dying.embed(texts), embedder.embed(texts), atol=1e-5)
    second = dying._process
    assert second is not None and second.pid != first.pid
    dying.close()
    assert second.returncode == 0, "closed: the child exits by itself"


def test_the_child_never_outlives_its_parent(tmp_path: Path) -> None:
    """A parent that ends without closing anything (killed, os._exit) leaves no model running."""
    parent = subprocess.run(
        [
            sys.executable, "-c",
            "import os; from qa.embedding_process import IN_PROCESS_BELOW, ProcessEmbedder\n"
            "e = ProcessEmbedder(lanes=1); e.load(); print(e._process.pid, flush=True); os._exit(0)",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    child = int(parent.stdout.strip())
    assert holds_within(30, lambda: _exited(child))


def _stories(count: int) -> list[LoadedArticle]:
    return [
        LoadedArticle(Article(id=f"n{i:02d}", title=f"Story {i}", text=f"Story {i} is about grain. " * 3), origin="t")
        for i in range(count)
    ]


def test_the_indexer_plans_the_next_window_while_the_child_embeds(
    tmp_path: Path, apart: ProcessEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the model apart, the next window is read and planned while this one is embedded: each embedding here
    waits (up to 10 s) for the next planning to start, which an indexer that planned after it would never do."""
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 10)
    plans: list[int] = []
    plan_next = pipeline._plan_next

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        plans.append(len(plans))
        return plan_next(*args, **kwargs)

    overlapped: list[bool] = []
    embed_with_spans = apart.embed_with_spans

    def waiting(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Window i was the (i+1)th planning; the next window's is the (i+2)th. Counted from the window's index,
        # not from `plans` as read here: the main thread may start that planning before this thread runs.
        next_planning = len(overlapped) + 2
        overlapped.append(holds_within(10, lambda: len(plans) >= next_planning))
        return embed_with_spans(*args, **kwargs)

    apart.load()  # the child, whatever the windows' size
    monkeypatch.setattr(pipeline, "_plan_next", counted)
    monkeypatch.setattr(apart, "embed_with_spans", waiting)
    store = open_store(Settings(data_dir=tmp_path / "data"), apart)
    report = index_articles(store, apart, _stories(30))
    assert overlapped == [True, True, True], "each window's embedding saw the next window's planning start"
    assert len(plans) == 4, "three windows and the end of the input"
    assert len(report.added) == 30 and report.chunks_embedded == 30 and store.change_count() == 3
    assert set(store.article_infos([f"n{i:02d}" for i in range(30)])) == {f"n{i:02d}" for i in range(30)}


def test_a_planning_that_fails_beside_the_embedding_stops_it_and_writes_nothing_of_the_window(
    tmp_path: Path, apart: ProcessEmbedder, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "WINDOW_ARTICLES", 10)
    plan_next = pipeline._plan_next
    calls: list[int] = []

    def failing_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(calls))
        if len(calls) == 2:
            raise StoreUnavailable("The store went away.")
        return plan_next(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_plan_next", failing_second)
    apart.load()  # the child, whatever the windows' size
    store = open_store(Settings(data_dir=tmp_path / "data"), apart)
    with pytest.raises(StoreUnavailable, match="went away"):
        index_articles(store, apart, _stories(30))
    assert store.article_infos([f"n{i:02d}" for i in range(10)]) == {}, "the first window was not written"
    assert store.change_count() == 0
    assert np.allclose(apart.embed(["grain"]), embedder.embed(["grain"]), atol=1e-5), "the child is ready again"
