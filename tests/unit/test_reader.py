"""qa/reader.py: the span reader model (the real int8 ONNX export) on hand-written sentences."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import qa.reader
from qa.embedder import SPIN_MICROSECONDS
from qa.reader import BALANCED, MAX_TOKENS, Reading, SpanReader, _read_one, side_by_side


@pytest.fixture(scope="module")
def reader() -> SpanReader:
    return SpanReader()


def best_span(reading: Reading, quote: str) -> str:
    """The reader's own best span of a quote (start before end, at most 20 word pieces)."""
    pairs = [
        (reading.starts[i] + reading.ends[j], i, j)
        for i in range(len(reading.offsets))
        for j in range(i, min(i + 20, len(reading.offsets)))
    ]
    _, i, j = max(pairs)
    return quote[reading.offsets[i][0] : reading.offsets[j][1]]


@pytest.mark.parametrize(
    ("question", "quote", "expected"),
    [
        ("Who won the race?", "After a wet start, Maria Lopez won the race in Lisbon on Sunday.", "Maria Lopez"),
        ("Where was the race held?", "After a wet start, Maria Lopez won the race in Lisbon on Sunday.", "Lisbon"),
        ("How many people live in the town?", "The town, founded in 1820, has 4,300 inhabitants.", "4,300"),
    ],
)
def test_the_answer_scores_highest(reader: SpanReader, question: str, quote: str, expected: str) -> None:
    (reading,) = reader.read(question, [quote])
    assert best_span(reading, quote) == expected
    at = quote.index(expected)
    others = [quote.index(w) for w in ("wet", "Sunday", "1820") if w in quote and w not in expected]
    assert all(reading.span_score(at, at + len(expected)) > reading.span_score(o, o + 3) for o in others)


def test_scores_are_log_probabilities_over_each_quote(reader: SpanReader) -> None:
    readings = reader.read("Who won?", ["Lopez won.", "The race in Lisbon was won by Maria Lopez after a wet start."])
    for reading in readings:
        assert np.isclose(np.exp(reading.starts).sum(), 1.0, atol=1e-4)
        assert np.isclose(np.exp(reading.ends).sum(), 1.0, atol=1e-4)
        assert len(reading.offsets) == len(reading.starts) == len(reading.ends)


def test_quotes_read_together_score_as_read_alone(reader: SpanReader) -> None:
    """A quote's scores do not depend on the quotes read with it (see SpanReader.read)."""
    question = "When was the bridge opened?"
    short = "It opened in 1937."
    long = "The bridge, four years in the making, was opened to traffic in 1937 by the mayor."
    together = reader.read(question, [short, long])
    for quote, reading in zip((short, long), together, strict=True):
        (alone,) = reader.read(question, [quote])
        assert np.allclose(reading.starts, alone.starts) and np.allclose(reading.ends, alone.ends)


def test_a_span_past_the_models_reach_scores_lowest(reader: SpanReader) -> None:
    """A quote longer than the model reads is cut: a span in its tail gets the lowest score, never an error."""
    quote = "The committee met again. " * (MAX_TOKENS // 4) + "It chose Maria Lopez."
    (reading,) = reader.read("Whom did the committee choose?", [quote])
    tail = quote.index("Maria Lopez")
    head = quote.index("committee")
    assert reading.span_score(tail, tail + len("Maria Lopez")) < reading.span_score(head, head + 9)
    assert reader.read("Anything?", []) == []


def test_the_reader_loads_beside_other_work_once_and_reads_as_one_loaded_on_first_use() -> None:
    question, quote = "Who won the race?", "After a wet start, Maria Lopez won the race in Lisbon on Sunday."
    reader = SpanReader()
    loading = reader.load_in_background()
    assert loading is not None and reader.load_in_background() is None  # one load, however often it is asked
    loading.join(60)
    assert "_session" in reader.__dict__  # loaded without a read
    (early,) = reader.read(question, [quote])
    (fresh,) = SpanReader().read(question, [quote])
    assert early.offsets == fresh.offsets
    assert np.array_equal(early.starts, fresh.starts) and np.array_equal(early.ends, fresh.ends)
    assert reader.load_in_background() is None  # loaded: nothing to start


def test_a_reader_that_cannot_load_in_the_background_says_so_at_its_first_read(tmp_path: Path) -> None:
    reader = SpanReader(model_path=tmp_path / "missing.onnx")
    loading = reader.load_in_background()
    assert loading is not None
    loading.join(60)
    with pytest.raises(Exception, match=r"missing\.onnx"):
        reader.read("Who won the race?", ["Maria Lopez won the race."])


def test_quotes_read_side_by_side_score_to_the_bit_as_read_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that answers many questions loads a one-thread session and reads a question's quotes of about
    one length side by side on it; the scores must be those of the one-by-one reading, or the short answer would
    change with it."""
    question = "Who opened the bridge, and when?"
    quotes = [
        "The bridge, four years in the making, was opened to traffic in 1937 by the mayor, Angelo Rossi.",
        "It opened in 1937, and Mayor Rossi walked across it first.",
        "Crowds of 200,000 walked across on the first day, before Mayor Rossi cut the ribbon for the cars.",
    ]
    reader = SpanReader()
    sessions = _sessions_used(monkeypatch, reader)
    reader.load_in_background().join(60)  # type: ignore[union-attr]
    one_by_one = reader.read(question, quotes)
    assert "_lane_session" not in reader.__dict__  # a one-question process (`qa ask`) never loads the lanes
    loading = reader.load_in_background(lanes=True)
    assert loading is not None and reader.load_in_background(lanes=True) is None
    loading.join(60)
    assert "_lane_session" in reader.__dict__
    sessions.clear()
    beside_each_other = reader.read(question, quotes)
    assert sessions == ["lane"] * 3
    for alone, beside in zip(one_by_one, beside_each_other, strict=True):
        assert alone.offsets == beside.offsets
        assert np.array_equal(alone.starts, beside.starts) and np.array_equal(alone.ends, beside.ends)
    assert reader.load_in_background(lanes=True) is None  # everything loaded: nothing to start


def test_quotes_of_unlike_lengths_are_read_one_after_the_other_on_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Side by side, a pair takes as long as its longer quote on one thread: a short quote beside a long one is
    read after it, on the session with every core."""
    reader = SpanReader()
    reader.load_in_background(lanes=True).join(60)  # type: ignore[union-attr]
    sessions = _sessions_used(monkeypatch, reader)
    long = "The bridge, four years in the making, was opened to traffic in 1937 by the mayor, Angelo Rossi. " * 2
    reader.read("Who opened the bridge?", [long, "It opened in 1937."])
    assert sessions == ["every core", "every core"]
    assert side_by_side([40, 60]) and side_by_side([60, 40, 50])
    assert not side_by_side([30, 96]) and not side_by_side([96]) and not side_by_side([])
    assert side_by_side([100, round(100 * BALANCED)])


def _sessions_used(monkeypatch: pytest.MonkeyPatch, reader: SpanReader) -> list[str]:
    """The sessions the reader's reads run on, in order, as "lane" or "every core"."""
    used: list[str] = []
    read_one = qa.reader._read_one

    def recorded(session: ort.InferenceSession, encoding: object) -> Reading:
        used.append("lane" if session is reader.__dict__.get("_lane_session") else "every core")
        return read_one(session, encoding)  # type: ignore[arg-type]

    monkeypatch.setattr(qa.reader, "_read_one", recorded)
    return used


def test_the_reader_spins_briefly_and_scores_to_the_bit_as_a_session_that_never_spins(reader: SpanReader) -> None:
    """The session on every core lets its threads spin SPIN_MICROSECONDS between operations (a quote read
    faster for the same CPU time), never after a run; how its threads wait must not move a score."""
    options = reader._session.get_session_options()
    entries = ("session.intra_op.allow_spinning", "session.intra_op.spin_duration_us", "session.force_spinning_stop")
    assert [options.get_session_config_entry(key) for key in entries] == ["1", str(SPIN_MICROSECONDS), "1"]
    never = ort.SessionOptions()
    never.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = str(resources.files("qa") / "assets" / "reader.onnx")
    sleeping = ort.InferenceSession(model, never, providers=["CPUExecutionProvider"])
    question = "Who opened the bridge?"
    quote = "The bridge, four years in the making, was opened to traffic in 1937 by the mayor, Angelo Rossi."
    (encoding,) = reader._tokenizer.encode_batch([(question, quote)])
    spinning, slept = _read_one(reader._session, encoding), _read_one(sleeping, encoding)
    assert np.array_equal(spinning.starts, slept.starts) and np.array_equal(spinning.ends, slept.ends)
