"""What every answerer returns, and the protocol the engine calls them through."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from qa.domain import AnswerSentence, Citation, Passage
from qa.errors import ModelError, ModelUnavailable
from qa.evidence import QuestionEvidence
from qa.retrieval import Hit

ABSTAIN_TEXT = "The indexed articles do not answer this question; the closest passages are cited below."
# with no passage to cite (filters that let no article through, an empty index): nothing is "below"
ABSTAIN_TEXT_NOTHING_READ = "The indexed articles do not answer this question: no passage could be read for it."
_STREAM_PIECE = re.compile(r"\S+(?:\s+\S+){0,3}\s*")


@dataclass(frozen=True)
class AnswerResult:
    """An answerer's decision: the text with [n] markers, the citations, and whether it abstained."""

    answer: str
    citations: list[Citation]
    abstained: bool
    support: float
    sentences: list[AnswerSentence] = field(default_factory=list)
    backend: str = ""
    signals: dict[str, float] = field(default_factory=dict)  # what qa.support calibrates (extractive answers)


class Answerer(Protocol):
    """Turns retrieved passages into a cited answer."""

    name: str

    def answer(self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]) -> AnswerResult:
        """The whole answer at once."""
        ...

    def stream(
        self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]
    ) -> Iterator[str | AnswerResult]:
        """Text pieces as they are produced, then the final (checked) result."""
        ...


def pieces_of(text: str) -> list[str]:
    """A few words a piece: how an answer that exists whole is streamed."""
    return _STREAM_PIECE.findall(text)


def abstention(passages: Sequence[Passage], support: float, backend: str, count: int = 3) -> AnswerResult:
    """'The articles do not say', with the closest passages quoted whole."""
    citations = [
        Citation(
            n=n,
            article_id=p.article_id,
            title=p.title,
            quote=p.text,
            start=p.start,
            end=p.end,
            score=round(p.dense_score or 0.0, 4),
            chunk_id=p.chunk_id,
        )
        for n, p in enumerate(passages[:count], start=1)
    ]
    text = ABSTAIN_TEXT if citations else ABSTAIN_TEXT_NOTHING_READ
    return AnswerResult(text, citations, True, support, [], backend)


class FallbackAnswerer:
    """The configured model, and the extractive answerer when the model fails (only when the user asked for it:
    QA_LLM_FALLBACK=extractive). The result says which one answered and why."""

    def __init__(self, primary: Answerer, fallback: Answerer) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name

    def answer(self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]) -> AnswerResult:
        """The primary's answer, or the fallback's with the reason."""
        try:
            return self.primary.answer(question, hits, passages)
        except (ModelError, ModelUnavailable) as exc:
            return self._fall_back(exc, question, hits, passages)

    def stream(
        self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]
    ) -> Iterator[str | AnswerResult]:
        """The primary's stream; on failure the fallback's answer (its text too, if nothing was streamed yet)."""
        streamed = False
        try:
            for item in self.primary.stream(question, hits, passages):
                streamed = streamed or isinstance(item, str)
                yield item
        except (ModelError, ModelUnavailable) as exc:
            result = self._fall_back(exc, question, hits, passages)
            if not streamed:
                yield from pieces_of(result.answer)
            yield result

    def _fall_back(
        self, exc: Exception, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]
    ) -> AnswerResult:
        result = self.fallback.answer(question, hits, passages)
        return replace(result, backend=f"{self.fallback.name} (fallback: {exc})")
