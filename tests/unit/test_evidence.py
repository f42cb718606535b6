"""qa/evidence.py: per-sentence dense and idf-weighted lexical evidence, coverage and names, on hand-made chunks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from qa.evidence import NEAR_WEIGHT, QuestionEvidence
from qa.store import StoredChunk

# The question's stems with made-up idf: a lookup, so a stem other than these fails loudly.
IDF = {"truss": 3.0, "demand": 2.0, "border": 1.0}
TOTAL = sum(IDF.values())
QUESTION = "What did Truss demand at the border?"
Q = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
PREFIX = "An opening paragraph that belongs to another chunk.\n\n"


def make_chunk(sentences: list[str], vectors: list[list[float]] | None = None, heading: str = "") -> StoredChunk:
    """A chunk placed after PREFIX in its article: sentence offsets point into the article."""
    text = " ".join(sentences)
    start = len(PREFIX)
    spans, pos = [], 0
    for sentence in sentences:
        at = text.index(sentence, pos)
        spans.append((start + at, start + at + len(sentence)))
        pos = at + len(sentence)
    rows = np.array(vectors if vectors is not None else [[0.0] * 4] * len(sentences), dtype=np.float32)
    return StoredChunk(
        id="a1::1",
        article_id="a1",
        position=1,
        text=text,
        start=start,
        end=start + len(text),
        content_hash="h",
        sentences=spans,
        sentence_vectors=rows.reshape(len(sentences), 4),
        heading=heading,
    )


def evidence(question: str = QUESTION) -> QuestionEvidence:
    return QuestionEvidence(question, Q, IDF.__getitem__)


def test_question_terms_are_weighted_by_idf() -> None:
    measured = evidence()
    assert measured.weights == IDF
    assert measured.total == TOTAL


def test_texts_are_the_sentences_cut_from_the_chunk_at_article_offsets() -> None:
    sentences = ["Truss spoke at the border.", "She demanded a withdrawal."]
    (result,) = evidence().measure([make_chunk(sentences)])
    assert result.texts == sentences


def test_dense_is_each_sentence_vector_dot_the_question_vector() -> None:
    chunk = make_chunk(["One.", "Two.", "Three."], vectors=[[0.6, 0.8, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    (result,) = evidence().measure([chunk])
    assert result.dense.tolist() == pytest.approx([0.6, 1.0, 0.0])
    assert result.best_dense == pytest.approx(1.0)


def test_lexical_counts_the_previous_sentence_terms_at_near_weight() -> None:
    chunk = make_chunk(["Truss spoke at the border.", "She demanded a withdrawal.", "Nothing else happened."])
    (result,) = evidence().measure([chunk])
    first = (IDF["truss"] + IDF["border"]) / TOTAL
    second = (IDF["demand"] + NEAR_WEIGHT * (IDF["truss"] + IDF["border"])) / TOTAL
    third = NEAR_WEIGHT * IDF["demand"] / TOTAL  # only the sentence right before counts
    assert result.lexical.tolist() == pytest.approx([first, second, third])
    assert result.best_lexical == pytest.approx(max(first, second, third))


def test_lexical_counts_heading_terms_at_near_weight_not_added_twice() -> None:
    chunk = make_chunk(["She demanded a withdrawal.", "Nothing else happened."], heading="Remarks of Liz Truss")
    (result,) = evidence().measure([chunk])
    first = (IDF["demand"] + NEAR_WEIGHT * IDF["truss"]) / TOTAL
    second = (NEAR_WEIGHT * IDF["truss"] + NEAR_WEIGHT * IDF["demand"]) / TOTAL
    assert result.lexical.tolist() == pytest.approx([first, second])


def test_a_term_in_the_sentence_counts_fully_even_when_also_near() -> None:
    chunk = make_chunk(["Truss arrived.", "Truss demanded calm."], heading="Truss")
    (result,) = evidence().measure([chunk])
    assert result.lexical[1] == pytest.approx((IDF["truss"] + IDF["demand"]) / TOTAL)


def test_coverage_is_the_weighted_share_of_terms_in_passage_and_heading() -> None:
    (plain, headed) = evidence().measure(
        [
            make_chunk(["Troops gathered at the border."]),
            make_chunk(["Troops gathered at the border."], heading="Truss in Kyiv"),
        ]
    )
    assert plain.coverage == pytest.approx(IDF["border"] / TOTAL)
    assert headed.coverage == pytest.approx((IDF["border"] + IDF["truss"]) / TOTAL)


def test_coverage_is_one_when_the_passage_holds_every_term() -> None:
    (result,) = evidence().measure([make_chunk(["Truss spoke at the border.", "She demanded a withdrawal."])])
    assert result.coverage == pytest.approx(1.0)


def test_names_is_the_share_of_question_names_in_passage_or_heading() -> None:
    question = "What did Truss tell Lavrov?"
    measured = QuestionEvidence(question, Q, lambda term: 1.0)
    neither, one, heading_too = measured.measure(
        [
            make_chunk(["Blinken spoke."]),
            make_chunk(["Lavrov spoke."]),
            make_chunk(["Lavrov spoke."], heading="Remarks of Liz Truss"),
        ]
    )
    assert (neither.names, one.names, heading_too.names) == (0.0, 0.5, 1.0)


def test_names_is_one_when_the_question_names_no_one() -> None:
    (result,) = QuestionEvidence("why did the talks fail?", Q, lambda term: 1.0).measure([make_chunk(["Blah."])])
    assert result.names == 1.0


def test_chunks_are_measured_in_order() -> None:
    chunks = [make_chunk(["Nothing here."]), make_chunk(["Truss demanded calm at the border."])]
    first, second = evidence().measure(chunks)
    assert first.texts == ["Nothing here."]
    assert (first.coverage, second.coverage) == (pytest.approx(0.0), pytest.approx(1.0))


def test_a_chunk_without_sentences_has_empty_arrays_and_heading_coverage() -> None:
    empty = make_chunk([], heading="Truss at the border")
    (result,) = evidence().measure([empty])
    assert result.texts == []
    assert len(result.dense) == 0
    assert len(result.lexical) == 0
    assert (result.best_dense, result.best_lexical) == (0.0, 0.0)
    assert result.coverage == pytest.approx((IDF["truss"] + IDF["border"]) / TOTAL)
    assert result.names == 1.0


def test_measuring_no_chunks_gives_nothing() -> None:
    assert evidence().measure([]) == []


def test_zero_idf_terms_give_zero_lexical_and_coverage() -> None:
    measured = QuestionEvidence(QUESTION, Q, lambda term: 0.0)
    (result,) = measured.measure([make_chunk(["Truss demanded calm at the border."])])
    assert result.lexical.tolist() == [0.0]
    assert result.coverage == 0.0


def test_the_weighted_sums_add_up_the_same_way_in_every_process() -> None:
    """The terms weigh in the question's order, not a set's: a set's order changes with each process's string
    hashing, and with it the last bits of the sums, which could turn a near tie between two passages either way
    (two servers of the same code cited different articles for 4 of 60 questions)."""
    assert list(evidence().weights) == ["truss", "demand", "border"]
    script = (
        "import numpy as np; from qa.evidence import QuestionEvidence; from qa.store import StoredChunk\n"
        # weights whose sum depends on the order of adding: (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
        "idf = dict(zip('truss demand withdraw border talk moscow lavrov meet'.split(), [0.1, 0.2, 0.3] * 3))\n"
        "e = QuestionEvidence('Why did Truss demand Lavrov withdraw from the border after the Moscow talk meeting?',"
        " np.ones(4, dtype=np.float32) / 2, lambda t: idf.get(t, 0.7))\n"
        "text = 'Truss met Lavrov in Moscow. She demanded a withdrawal from the border after the talks.'\n"
        "c = StoredChunk(id='a::0', article_id='a', position=0, text=text, start=0, end=len(text), content_hash='h',"
        " sentences=[(0, 27), (28, len(text))], sentence_vectors=np.ones((2, 4), dtype=np.float32) / 2)\n"
        "(m,) = e.measure([c]); print(repr(e.total), [repr(float(x)) for x in m.lexical], repr(m.coverage))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3, 4)
    }
    assert len(outputs) == 1, outputs
