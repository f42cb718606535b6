"""The offline answerer: picks the sentences of the retrieved passages that answer the question best.

Nothing is generated: every word of an answer is a sentence of an article, followed by its [n] marker, and every
citation quotes the article's stored text at its offsets. When the best sentence's evidence is too weak the
answerer abstains and cites the closest passages instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.domain import Citation, Passage
from qa.evidence import QuestionEvidence
from qa.question import AnswerType, QuestionProfile
from qa.retrieval import Hit
from qa.store import StoredChunk

ABSTAIN_TEXT = "The indexed articles do not answer this question; the closest passages are cited below."
_ENDS_SENTENCE = re.compile(r"[.!?][\"'’”)\]]*$")

# Weights of a sentence's score: meaning (cosine of its contextual vector), the question's terms it holds
# (idf-weighted; terms of the sentence before it and of its heading count half, a cheap stand-in for "she" and
# "he"), the names the question is about, the answer type the question wants, and its passage's retrieval rank.
W_DENSE, W_LEXICAL, W_TYPE, W_PASSAGE = 0.4, 0.35, 0.15, 0.1
W_NAMES = 0.4  # share of the score a sentence loses when it mentions none of the question's names
# Types whose absence means "not answered here"; a name or a demand can hide behind "she" or "the minister".
STRICT_TYPES = frozenset({AnswerType.DATE, AnswerType.DURATION, AnswerType.AGE, AnswerType.NUMBER, AnswerType.TITLE})
TYPE_WINDOW = 3  # the answer type must show in one of this many best sentences
SECOND_SENTENCE_SHARE = 0.85  # a second sentence joins the answer when it scores this close to the best


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate answer sentence."""

    chunk: StoredChunk
    passage_rank: int
    index: int
    start: int
    end: int
    text: str
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

    def __init__(self, threshold: float, max_sentences: int) -> None:
        self.threshold = threshold
        self.max_sentences = max_sentences

    def answer(self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]) -> ExtractiveResult:
        """Answer from the hits (best first); `passages` carry the titles for the citations."""
        titles = {p.chunk_id: p.title for p in passages}
        ranked = self.score_sentences(question, hits)
        support = self.support(question, hits, ranked)
        if support < self.threshold:
            return ExtractiveResult(ABSTAIN_TEXT, _passage_citations(passages[:3]), True, support)
        chosen = [ranked[0]]
        for candidate in ranked[1:]:
            if len(chosen) >= self.max_sentences or candidate.score < SECOND_SENTENCE_SHARE * ranked[0].score:
                break
            chosen.append(candidate)
        return _compose(_with_continuations(chosen, ranked, question.profile), titles, ranked[0].score)

    @staticmethod
    def support(question: QuestionEvidence, hits: Sequence[Hit], ranked: Sequence[ScoredSentence]) -> float:
        """How strongly the best sentence answers: its meaning plus how much of the question its passage holds.

        Zero when the question wants a kind of answer (a date, a number, a name) that none of the best
        sentences shows: "How old is Lavrov?" is not answered by a sentence without an age.
        """
        if not ranked:
            return 0.0
        profile = question.profile
        if profile.answer_type in STRICT_TYPES and not any(profile.type_match(s.text) for s in ranked[:TYPE_WINDOW]):
            return 0.0
        best = ranked[0]
        evidence = next(h.evidence for h in hits if h.chunk.id == best.chunk.id)
        return float(evidence.dense[best.index]) + evidence.coverage

    def score_sentences(self, question: QuestionEvidence, hits: Sequence[Hit]) -> list[ScoredSentence]:
        """Every sentence of the hits that reads as a sentence, best first."""
        top = max((h.score for h in hits), default=0.0) or 1.0
        scored = []
        for rank, hit in enumerate(hits):
            evidence = hit.evidence
            for index, (start, end) in enumerate(hit.chunk.sentences):
                text = evidence.texts[index]
                if not _reads_as_sentence(text):
                    continue
                score = (
                    W_DENSE * float(evidence.dense[index])
                    + W_LEXICAL * float(evidence.lexical[index])
                    + W_TYPE * question.profile.type_match(text)
                    + W_PASSAGE * hit.score / top
                ) * (1.0 - W_NAMES + W_NAMES * evidence.names)  # a passage about someone else: not the answer
                scored.append(ScoredSentence(hit.chunk, rank, index, start, end, text, score))
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
        if _CONTINUES.match(follower.text) and profile.type_match(follower.text) > 0:
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
