"""The packaged MiniLM on onnxruntime gives the model's real vectors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.cancel import Cancelled
from qa.embedder import DIMENSION, MiniLMEmbedder
from qa.settings import Settings


def test_vectors_are_unit_length_and_semantic(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome"])
    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # all-MiniLM-L6-v2's published similarity for this pair is 0.7553 (fp32); int8 stays within 0.01
    assert abs(float(vectors[0] @ vectors[1]) - 0.755) < 0.01
    assert float(vectors[0] @ vectors[2]) < 0.1


def test_batching_and_length_sorting_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = [
        "short",
        "a much longer sentence about the foreign ministers' talks in Moscow " * 3,
        "medium length text",
    ]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_span_vectors_pool_the_tokens_of_each_sentence(embedder: MiniLMEmbedder) -> None:
    text = "Truss demanded a withdrawal. Lavrov rejected it."
    spans = [(0, 28), (29, len(text))]
    vectors, span_vectors = embedder.embed_with_spans([text], [spans])
    assert span_vectors[0].shape == (2, DIMENSION)
    assert np.allclose(np.linalg.norm(span_vectors[0], axis=1), 1.0, atol=1e-5)
    # each sentence vector is closer to its own sentence embedded alone than to the other sentence
    first, second = embedder.embed([text[:28], text[29:]])
    assert span_vectors[0][0] @ first > span_vectors[0][0] @ second
    assert span_vectors[0][1] @ second > span_vectors[0][1] @ first
    assert float(vectors[0] @ span_vectors[0][0]) > 0.5


def test_each_span_is_the_mean_of_the_token_states_inside_it(embedder: MiniLMEmbedder) -> None:
    """Pooled in one weighted sum per batch, a span's vector is still the plain mean of the states of the word
    pieces inside it; a span past the 256-token cut falls back to the whole text's content tokens."""
    long = "Moscow talks went on. " * 80  # past 256 word pieces: its last sentence is cut off
    texts = ["Truss demanded a withdrawal. Lavrov rejected it.", long, "Short."]
    spans = [[(0, 28), (29, 48)], [(0, 21), (len(long) - 22, len(long) - 1)], []]
    vectors, span_vectors = embedder.embed_with_spans(texts, spans)
    for text, text_spans, got, text_vector in zip(texts, spans, span_vectors, vectors, strict=True):
        encoding = embedder.tokenizer.encode(text)
        states = embedder._forward([encoding])[0]
        content = [t for t, special in enumerate(encoding.special_tokens_mask) if not special]
        expected = [states.mean(axis=0)]  # the text's own vector: every token, [CLS] and [SEP] too
        for start, end in text_spans:
            inside = [t for t in content if encoding.offsets[t][0] >= start and encoding.offsets[t][1] <= end]
            expected.append(states[inside or content].mean(axis=0))
        unit = np.stack(expected) / np.linalg.norm(np.stack(expected), axis=1, keepdims=True)
        assert np.allclose(text_vector, unit[0], atol=1e-5)
        assert got.shape == (len(text_spans), DIMENSION) and np.allclose(got, unit[1:], atol=1e-5)
    assert not np.allclose(span_vectors[1][0], span_vectors[1][1], atol=1e-3)  # the first sentence: its own tokens


def test_the_model_plans_no_memory_pattern_per_shape(embedder: MiniLMEmbedder) -> None:
    # Indexing runs batches of every shape: a pattern per shape grew the arena to the largest (bench/memory.py).
    assert embedder.session.get_session_options().enable_mem_pattern is False


# -- lanes: one-thread sessions side by side (bulk indexing) ----------------------------------------------------


def texts_and_spans(count: int) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """`count` texts of several lengths, two spans in two texts of three (tests/test_embedding_process.py too)."""
    texts = [f"Report {n}: the ministers met in Moscow for {n} hours. " * (1 + n % 7) for n in range(count)]
    return texts, [[(0, 12), (12, len(t))] if n % 3 else [] for n, t in enumerate(texts)]


def stopping_at_the_second(heard: list[int]) -> Callable[[int], None]:
    """An `after_batch` that records each batch and raises Cancelled at the second, as a cancelled run's does."""

    def after_batch(done: int) -> None:
        heard.append(done)
        if len(heard) == 2:
            raise Cancelled("stop")

    return after_batch


def test_lanes_give_the_same_vectors_in_the_same_order(embedder: MiniLMEmbedder) -> None:
    """Batches run side by side on one-thread sessions, and each result lands in its text's row."""
    laned = MiniLMEmbedder(lanes=2)
    texts, spans = texts_and_spans(60)  # several batches of several widths
    heard: list[int] = []
    vectors, span_vectors = laned.embed_with_spans(texts, spans, heard.append)
    expected, expected_spans = embedder.embed_with_spans(texts, spans)
    assert len(laned.sessions) == 2
    assert all(s.get_session_options().intra_op_num_threads == 1 for s in laned.sessions)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(span_vectors, expected_spans, strict=True))
    assert [v.shape[0] for v in span_vectors] == [len(s) for s in spans]
    assert len(heard) > 2 and heard == sorted(heard) and heard[-1] == len(texts)


def test_a_caller_that_stops_between_batches_stops_the_lanes(embedder: MiniLMEmbedder) -> None:
    """`after_batch` raising (a cancelled add) ends the run there, no batch left running; the model works after."""
    laned = MiniLMEmbedder(lanes=2)
    texts, spans = texts_and_spans(60)
    ran: list[int] = []
    forward = laned._forward

    def counted(encodings, options=None, session=None):  # type: ignore[no-untyped-def]
        ran.append(len(encodings))
        return forward(encodings, options, session)

    laned._forward = counted  # type: ignore[method-assign]
    laned.embed_with_spans(texts, spans)
    batches, ran[:] = len(ran), []
    heard: list[int] = []
    with pytest.raises(Cancelled):
        laned.embed_with_spans(texts, spans, stopping_at_the_second(heard))
    finished = len(ran)
    assert batches > 6 and len(heard) == 2
    assert finished <= 2 + laned.lanes + 1  # the two heard, and what was under way or queued for the lanes
    time.sleep(0.2)
    assert len(ran) == finished  # nothing started once the call returned
    assert np.allclose(laned.embed(texts[:3]), embedder.embed(texts[:3]), atol=1e-5)


def test_a_one_question_process_loads_its_model_beside_opening_the_store_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qa ask` and `qa chat` open the service with fast_start: the model starts loading on a thread of its own
    before the store is opened, and a question asked meanwhile waits for that load rather than making another.
    The vectors are a model's loaded on first use. Other processes load it on first use (`qa list` never does)."""
    from qa import embedder as embedder_module
    from qa.wiring import open_service

    started: list[threading.Thread] = []
    loads: list[int] = []
    load_beside, new_sessions = embedder_module.load_beside, MiniLMEmbedder._new_sessions

    def recorded_start(load: Callable[[], object], name: str) -> threading.Thread:
        started.append(load_beside(load, name))
        return started[-1]

    def counted(self: MiniLMEmbedder) -> list[Any]:
        loads.append(1)
        return new_sessions(self)

    monkeypatch.setattr(embedder_module, "load_beside", recorded_start)
    monkeypatch.setattr(MiniLMEmbedder, "_new_sessions", counted)
    open_service(Settings(data_dir=tmp_path / "data"))  # as `qa list` opens it
    assert started == []
    asking = open_service(Settings(data_dir=tmp_path / "data"), fast_start=True)
    assert len(started) == 1 and started[0].name == "model-load"
    early = asking.engine.embedder.embed(["What did Truss demand?"])  # at once: it waits for the load under way
    started[0].join(60)
    assert loads == [1]
    assert isinstance(asking.engine.embedder, MiniLMEmbedder) and asking.engine.embedder.load_in_background() is None
    assert np.allclose(early, MiniLMEmbedder(optimize=False).embed(["What did Truss demand?"]), atol=1e-6)
    assert len(loads) == 2 and len(started) == 1  # the second, the fresh model's own on first use
