"""qa/recency.py: the newest report first, and of reports published at the same time, the best-ranked one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.answering import AnswerResult
from qa.domain import ArticleInfo, Citation, Passage
from qa.evidence import QuestionEvidence, SentenceEvidence
from qa.recency import answer_newest_first
from qa.retrieval import Hit
from qa.store import StoredChunk
from tests.unit.builders import passage_of

EMPTY = SentenceEvidence([], np.zeros(0), np.zeros(0), 0.0, 1.0)


class FirstArticleAnswerer:
    """Answers from the first passage it is given, and records the articles of each call."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def answer(self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]) -> AnswerResult:
        self.asked.append([h.chunk.article_id for h in hits])
        first = hits[0].chunk
        citation = Citation(n=1, article_id=first.article_id, title=first.article_id, quote=first.text, start=0,
                            end=len(first.text), score=hits[0].score)  # fmt: skip
        return AnswerResult(answer=f"{first.text} [1]", citations=[citation], abstained=False, support=0.9)


def hit(article_id: str, score: float) -> Hit:
    text = f"The board of {article_id} named a new chief executive."
    chunk = StoredChunk(id=f"{article_id}::0", article_id=article_id, position=0, text=text, start=0, end=len(text),
                        content_hash="h", sentences=[(0, len(text))], sentence_vectors=np.zeros((1, 4)))  # fmt: skip
    return Hit(chunk, score, score, 0.0, EMPTY)


def test_of_reports_published_the_same_day_the_best_ranked_leads() -> None:
    """News dated by the day often shares its date: the lead is the article retrieval ranked higher, in every
    process (it was a set's order, which changes with each process's string hashing)."""
    ranked = [f"wire-{n}" for n in (7, 3, 5, 1, 6, 2, 4, 0)]  # retrieval's order, none of them sorted
    hits = [hit(article_id, 0.9 - rank / 100) for rank, article_id in enumerate(ranked)]
    hits.append(hit("older", 0.85))
    infos = {h.chunk.article_id: ArticleInfo(id=h.chunk.article_id, title="t", published="2025-09-01", chunks=1,
                                             content_hash="h") for h in hits}  # fmt: skip
    infos["older"] = infos["older"].model_copy(update={"published": "2025-02-01"})
    answerer = FirstArticleAnswerer()
    question = QuestionEvidence("Who is the chief executive?", np.zeros(4, dtype=np.float32), lambda term: 1.0)
    passages = [passage_of(h, h.chunk.article_id, rank) for rank, h in enumerate(hits, start=1)]
    result = answer_newest_first(answerer, question, hits, passages, infos)
    assert result is not None and answerer.asked[0] == ["wire-7"], "the newest day's best-ranked article"
    assert [c.article_id for c in result.citations] == ["wire-7", "older"], "the older report as earlier reporting"
    assert result.citations[1].earlier
