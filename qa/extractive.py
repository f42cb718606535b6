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
from qa.question import QuestionProfile
from qa.store import StoredChunk

ABSTAIN_TEXT = "The indexed articles do not answer this question; the closest passages are cited below."
_ENDS_SENTENCE = re.compile(r"[.!?][\"'’”)\]]*$")

# Weights of a sentence's score: meaning (cosine of its contextual vector), the question's terms it holds
# (idf-weighted; terms of the sentence before it and of its heading count half, a cheap stand-in for "she" and
# "he"), the names the question is about, the answer type the question wants, and its passage's retrieval rank.
W_DENSE, W_LEXICAL, W_TYPE, W_PASSAGE = 0.4, 0.35, 0.15, 0.1
W_NAMES = 0.4  # share of the score a sentence loses when it mentions none of the question's names


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
        return _compose(_with_continuations(chosen, ranked, QuestionProfile.of(question)), titles, ranked[0].score)

    def score_sentences(self, question: str, vector: np.ndarray, hits: Sequence[StoredChunk]) -> list[ScoredSentence]:
        """Every sentence of the hits that reads as a sentence, best first."""
        profile = QuestionProfile.of(question)
        weights = {t: self.idf(t) for t in set(profile.terms)}
        total = sum(weights.values())
        scored = []
        for rank, chunk in enumerate(hits):
            dense = chunk.sentence_vectors @ vector
            texts = [chunk.text[s - chunk.start : e - chunk.start] for s, e in chunk.sentences]
            tokens = [set(t) for t in tokenize([chunk.heading, *texts])]
            heading_tokens, sentence_tokens = tokens[0], tokens[1:]
            for index, (start, end) in enumerate(chunk.sentences):
                if not _reads_as_sentence(texts[index]):
                    continue
                own = sentence_tokens[index]
                near = heading_tokens | (sentence_tokens[index - 1] if index else set())
                lexical = sum(w * (1.0 if t in own else 0.5 if t in near else 0.0) for t, w in weights.items())
                names = len(profile.names & (own | near)) / len(profile.names) if profile.names else 1.0
                score = (
                    W_DENSE * float(dense[index])
                    + W_LEXICAL * (lexical / total if total else 0.0)
                    + W_TYPE * profile.type_match(texts[index])
                    + W_PASSAGE / (1 + rank)
                ) * (1.0 - W_NAMES + W_NAMES * names)  # about someone else: not the answer, however close
                scored.append(ScoredSentence(chunk, rank, index, start, end, score))
        scored.sort(key=lambda s: -s.score)
        return scored


def _with_continuations(
    chosen: list[ScoredSentence], ranked: list[ScoredSentence], profile: QuestionProfile
) -> list[ScoredSentence]:
    """Add the sentence right after a chosen one when it carries on the same subject ("She further emphasized
    that ... must ...") and still fits the question: the answer often continues there."""
    by_place = {(s.chunk.id, s.index): s for s in ranked}
    taken = {(s.chunk.id, s.index) for s in chosen}
    extended = list(chosen)
    for sentence in chosen:
        follower = by_place.get((sentence.chunk.id, sentence.index + 1))
        if follower is None or (follower.chunk.id, follower.index) in taken:
            continue
        text = follower.chunk.text[follower.start - follower.chunk.start : follower.end - follower.chunk.start]
        if _CONTINUES.match(text) and profile.type_match(text) > 0:
            extended.append(follower)
            taken.add((follower.chunk.id, follower.index))
    return extended


_CONTINUES = re.compile(r"^(she|he|they|it)\s+(further|also|then|later|additionally)?\s*\w+", re.IGNORECASE)


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
