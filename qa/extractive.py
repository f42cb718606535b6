"""The offline answerer: picks the sentences of the retrieved passages that answer the question best.

Nothing is generated: every word of an answer is a sentence of an article, followed by its [n] marker, and every
citation quotes the article's stored text at its offsets. When the best sentence's evidence is too weak the
answerer abstains and cites the closest passages instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.domain import Citation, Passage
from qa.keyword import tokenize
from qa.store import StoredChunk

ABSTAIN_TEXT = "The indexed articles do not answer this question; the closest passages are cited below."
_ENDS_SENTENCE = re.compile(r"[.!?][\"'’”)\]]*$")

# Weights of a sentence's score: meaning (cosine of contextual sentence vector), question terms it holds
# (idf-weighted), and how highly retrieval ranked its passage.
W_DENSE, W_LEXICAL, W_PASSAGE = 0.5, 0.35, 0.15


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate answer sentence."""

    chunk: StoredChunk
    passage_rank: int
    index: int
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ExtractiveResult:
    """What the answerer decided."""

    answer: str
    citations: list[Citation]
    abstained: bool
    evidence: float


class ExtractiveAnswerer:
    """Selects, orders and cites answer sentences; abstains below a calibrated evidence score."""

    name = "extractive"

    def __init__(self, idf: Callable[[str], float], threshold: float, max_sentences: int) -> None:
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences

    def answer(
        self, question: str, vector: np.ndarray, hits: Sequence[StoredChunk], passages: Sequence[Passage]
    ) -> ExtractiveResult:
        """Answer from the hits (best first); `passages` carry the titles for the citations."""
        titles = {p.chunk_id: p.title for p in passages}
        ranked = self.score_sentences(question, vector, hits)
        if not ranked or ranked[0].score < self.threshold:
            return ExtractiveResult(
                ABSTAIN_TEXT, _passage_citations(passages[:3]), True, ranked[0].score if ranked else 0.0
            )
        chosen = [ranked[0]]
        for candidate in ranked[1:]:
            if len(chosen) >= self.max_sentences or candidate.score < 0.85 * ranked[0].score:
                break
            chosen.append(candidate)
        return _compose(chosen, titles, ranked[0].score)

    def score_sentences(self, question: str, vector: np.ndarray, hits: Sequence[StoredChunk]) -> list[ScoredSentence]:
        """Every sentence of the hits that reads as a sentence, best first."""
        (terms,) = tokenize([question])
        weights = {t: self.idf(t) for t in set(terms)}
        total = sum(weights.values())
        scored = []
        for rank, chunk in enumerate(hits):
            dense = chunk.sentence_vectors @ vector
            for index, (start, end) in enumerate(chunk.sentences):
                text = chunk.text[start - chunk.start : end - chunk.start]
                if not _reads_as_sentence(text):
                    continue
                found = set(tokenize([text])[0])
                lexical = sum(w for t, w in weights.items() if t in found) / total if total else 0.0
                score = W_DENSE * float(dense[index]) + W_LEXICAL * lexical + W_PASSAGE / (1 + rank)
                scored.append(ScoredSentence(chunk, rank, index, start, end, score))
        scored.sort(key=lambda s: -s.score)
        return scored


def _reads_as_sentence(text: str) -> bool:
    """Headings ("Remarks of Liz Truss") are context, not answers."""
    return bool(_ENDS_SENTENCE.search(text)) or len(text.split()) > 12


def _compose(chosen: list[ScoredSentence], titles: dict[str, str], evidence: float) -> ExtractiveResult:
    """Order the sentences as they read in their articles; adjacent sentences of one passage share a quote."""
    order: dict[str, int] = {}
    for s in chosen:  # articles read in the order of their best passage
        order[s.chunk.article_id] = min(order.get(s.chunk.article_id, s.passage_rank), s.passage_rank)
    chosen = sorted(chosen, key=lambda s: (order[s.chunk.article_id], s.chunk.article_id, s.start))
    groups: list[list[ScoredSentence]] = []
    for sentence in chosen:
        last = groups[-1][-1] if groups else None
        if last and last.chunk.id == sentence.chunk.id and last.index + 1 == sentence.index:
            groups[-1].append(sentence)
        else:
            groups.append([sentence])
    parts, citations = [], []
    for n, group in enumerate(groups, start=1):
        chunk, start, end = group[0].chunk, group[0].start, group[-1].end
        quote = chunk.text[start - chunk.start : end - chunk.start]
        parts.append(f"{quote} [{n}]")
        citations.append(
            Citation(
                n=n,
                article_id=chunk.article_id,
                title=titles.get(chunk.id, chunk.article_id),
                quote=quote,
                start=start,
                end=end,
                score=round(max(s.score for s in group), 4),
                chunk_id=chunk.id,
            )
        )
    return ExtractiveResult(" ".join(parts), citations, False, evidence)


def _passage_citations(passages: Sequence[Passage]) -> list[Citation]:
    """The closest passages, quoted whole: what an abstention shows."""
    return [
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
        for n, p in enumerate(passages, start=1)
    ]


def idf_from_counts(document_frequency: Callable[[str], int], documents: int) -> Callable[[str], float]:
    """BM25's idf; a term no chunk holds gets the highest idf (a question about it is not answered here)."""

    def idf(term: str) -> float:
        df = document_frequency(term)
        return math.log(1.0 + (documents - df + 0.5) / (df + 0.5))

    return idf
