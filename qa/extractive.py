"""The offline answerer: picks the sentences of the retrieved passages that answer the question best.

Nothing is generated: every word of an answer is a sentence of an article, followed by its [n] marker, and every
citation quotes the article's stored text at its offsets. When the best sentence's evidence is too weak the
answerer abstains and cites the closest passages instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from qa.answering import AnswerResult, abstention, pieces_of
from qa.chunking import chunk_id
from qa.dateline import opens_with_dateline
from qa.domain import AnswerSentence, Citation, Passage
from qa.evidence import QuestionEvidence
from qa.outcome import reports_only_open
from qa.posts import LEAVES_POST
from qa.question import AnswerType, QuestionProfile
from qa.retrieval import Hit
from qa.store import StoredChunk
from qa.text import reads_as_sentence, tokenize

# Weights of a sentence's score: meaning (cosine of its contextual vector), the question's terms it holds
# (idf-weighted; terms of the sentence before it and of its heading count half, a cheap stand-in for "she" and
# "he"), the names the question is about, the answer type the question wants, and its passage's retrieval rank.
W_DENSE, W_LEXICAL, W_TYPE, W_PASSAGE = 0.4, 0.35, 0.15, 0.1
W_NAMES = 0.3  # share of the score a sentence loses when it mentions none of the question's names
W_LEFT_POST = 0.5  # share a sentence loses when the question asks who holds a post and it tells of someone leaving
# Types whose absence means "not answered here"; a name or a demand can hide behind "she" or "the minister".
STRICT_TYPES = frozenset({AnswerType.DATE, AnswerType.DURATION, AnswerType.AGE, AnswerType.NUMBER, AnswerType.TITLE})
# A number or a date is told exactly by its cue; a title's cue (capitalised words) is too loose to stand for one.
PRECISE_TYPES = STRICT_TYPES - {AnswerType.TITLE}
SECOND_SENTENCE_SHARE = 0.85  # another sentence joins the answer when it scores this close to the best
WORD_BUDGET = 60  # ...and only while the answer stays within this many words
CONTINUATION_SHARE = 0.6  # a follow-on sentence joins when it scores at least this share of the best


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


class ExtractiveAnswerer:
    """Selects, orders and cites answer sentences; abstains below a calibrated evidence score."""

    name = "extractive"

    def __init__(self, threshold: float, max_sentences: int) -> None:
        self.threshold = threshold
        self.max_sentences = max_sentences

    def answer(self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]) -> AnswerResult:
        """Answer from the hits (best first); `passages` carry the titles for the citations."""
        titles = {p.chunk_id: p.title for p in passages}
        if question.profile.asks_own_date and (dateline := _opening_dateline(hits)) is not None:
            # the dateline is the answer itself: no signals to calibrate, the citation check vouches for it
            return _compose([dateline], titles, 1.0, self.name)
        ranked = self.score_sentences(question, hits)
        chosen = self.choose(question, ranked)
        support = self.support(question, hits, chosen)
        signals = _signals(question, hits, ranked, support)
        if support < self.threshold or reports_only_open(question.question, (s.text for s in chosen)):
            return replace(abstention(passages, support, self.name), signals=signals)
        return replace(_compose(with_antecedents(chosen), titles, support, self.name), signals=signals)

    def stream(
        self, question: QuestionEvidence, hits: Sequence[Hit], passages: Sequence[Passage]
    ) -> Iterator[str | AnswerResult]:
        """The answer exists whole at once; a few words a piece keeps one streaming protocol for all backends."""
        result = self.answer(question, hits, passages)
        yield from pieces_of(result.answer)
        yield result

    def choose(self, question: QuestionEvidence, ranked: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, the next ones that score close to it while the answer stays short, and the
        sentences that carry on from them."""
        if not ranked:
            return []
        chosen = [ranked[0]]
        words = len(ranked[0].text.split())
        said = {" ".join(ranked[0].text.split())}
        for candidate in ranked[1:]:
            if len(chosen) >= self.max_sentences or candidate.score < SECOND_SENTENCE_SHARE * ranked[0].score:
                break
            if " ".join(candidate.text.split()) in said:  # a syndicated copy says it word for word: once is enough
                continue
            if words + len(candidate.text.split()) <= WORD_BUDGET:
                said.add(" ".join(candidate.text.split()))  # more sentences only while the answer stays short
                chosen.append(candidate)
                words += len(candidate.text.split())
        typed = _typed_companion(chosen, ranked, question.profile, WORD_BUDGET - words)
        return _with_continuations(chosen + typed, ranked, question.profile)

    @staticmethod
    def support(question: QuestionEvidence, hits: Sequence[Hit], chosen: Sequence[ScoredSentence]) -> float:
        """How strongly the answer is supported: its best sentence's meaning plus how much of the question that
        sentence's passage holds.

        Zero when the question wants a kind of answer (a date, a number, a name) that no sentence of the answer
        shows: "How old is Lavrov?" is not answered by sentences without an age.
        """
        if not chosen:
            return 0.0
        profile = question.profile
        if profile.answer_type in STRICT_TYPES and not any(profile.type_match(s.text) for s in chosen):
            return 0.0
        best = chosen[0]
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
                if not reads_as_sentence(text):
                    continue
                score = (
                    W_DENSE * float(evidence.dense[index])
                    + W_LEXICAL * float(evidence.lexical[index])
                    + W_TYPE * question.profile.type_match(text)
                    + W_PASSAGE * hit.score / top
                ) * (1.0 - W_NAMES + W_NAMES * evidence.names)  # a passage about someone else: not the answer
                if question.profile.asks_holder and LEAVES_POST.search(text):
                    score *= 1.0 - W_LEFT_POST
                scored.append(ScoredSentence(hit.chunk, rank, index, start, end, text, score))
        scored.sort(key=lambda s: -s.score)
        return scored


def _opening_dateline(hits: Sequence[Hit]) -> ScoredSentence | None:
    """The first sentence of the best-ranked passage that opens its article with a dateline, or None. Only an
    opening passage that retrieval found counts: "this report" is the report the question was asked over."""
    for rank, hit in enumerate(hits):
        chunk = hit.chunk
        if chunk.position == 0 and chunk.sentences and opens_with_dateline(chunk.text):
            start, end = chunk.sentences[0]
            return ScoredSentence(chunk, rank, 0, start, end, chunk.text[start - chunk.start : end - chunk.start], 1.0)
    return None


def _with_continuations(
    chosen: list[ScoredSentence], ranked: list[ScoredSentence], profile: QuestionProfile
) -> list[ScoredSentence]:
    """Add the sentence right after a chosen one when it carries on from it ("She further emphasized that...",
    "But it does not answer...", "If this happens...") and still fits the question: answers often go on there."""
    by_place = {_place(s): s for s in ranked}
    taken = {_place(s) for s in chosen}
    extended = list(chosen)
    best = ranked[0].score
    for sentence in chosen:
        follower = by_place.get(_next_place(sentence))
        if follower is None or _place(follower) in taken:
            continue
        if (
            _CONTINUES.match(follower.text)
            and follower.score >= CONTINUATION_SHARE * best
            and profile.type_match(follower.text) > 0
        ):
            extended.append(follower)
            taken.add(_place(follower))
    return extended


def _typed_companion(
    chosen: list[ScoredSentence], ranked: list[ScoredSentence], profile: QuestionProfile, words_left: int
) -> list[ScoredSentence]:
    """For a question wanting a number or a date that no chosen sentence shows: the best sentence of the same
    article that shows one and names someone or something the question names, when it fits the word budget.
    "What share did Dunleavy have in the poll?": the poll's lead sentence ranks first ("Dunleavy leads the race"),
    "Dunleavy has 38% support" further down. Without it the answer is unsupported and abstains; a number from
    another article, or from a sentence about something else ("The meeting took place on 10 February"), is not
    taken for the answer."""
    if profile.answer_type not in PRECISE_TYPES or any(profile.type_match(s.text) for s in chosen):
        return []
    best = ranked[0]
    for candidate in ranked[1:]:
        if (
            candidate.chunk.article_id == best.chunk.article_id
            and profile.type_match(candidate.text)
            and profile.names & set(tokenize([candidate.text])[0])
            and len(candidate.text.split()) <= words_left
        ):
            return [candidate]
    return []


def _signals(
    question: QuestionEvidence, hits: Sequence[Hit], ranked: Sequence[ScoredSentence], support: float
) -> dict[str, float]:
    """What qa.support calibrates (each one where more means better evidence): the evidence score; the best
    sentence's score, meaning and terms; its lead over the next sentence and over the best of another passage; how
    few sentences come close to it; its answer type fit; the question's names in its passage; whether dense and
    keyword search agree on that passage; and how far the best passage leads the next."""
    if not ranked:
        return {"raw": support}
    best = ranked[0]
    hit = next(h for h in hits if h.chunk.id == best.chunk.id)
    by_dense = max(hits, key=lambda h: h.cosine).chunk.id
    by_keyword = max(hits, key=lambda h: h.keyword).chunk.id
    elsewhere = next((s.score for s in ranked if s.chunk.id != best.chunk.id), 0.0)
    close = sum(s.score >= SECOND_SENTENCE_SHARE * best.score for s in ranked[1:])
    scores = sorted((h.score for h in hits), reverse=True)
    lead = (scores[0] - scores[1]) / scores[0] if len(scores) > 1 and scores[0] > 0 else 1.0
    figures = {
        "raw": support,
        "best": best.score,
        "dense": float(hit.evidence.dense[best.index]),
        "lexical": float(hit.evidence.lexical[best.index]),
        "margin": best.score - ranked[1].score if len(ranked) > 1 else best.score,
        "margin_other": best.score - elsewhere,
        "alone": 1.0 / (1.0 + close),
        "type_fit": question.profile.type_match(best.text),
        "names": hit.evidence.names,
        "agree": ((by_dense == best.chunk.id) + (by_keyword == best.chunk.id)) / 2,
        "passage_lead": lead,
    }
    return {name: round(value, 4) for name, value in figures.items()}


def with_antecedents(chosen: list[ScoredSentence]) -> list[ScoredSentence]:
    """Each chosen sentence that leans on the one before it ("She further added...", "In this regard...") with
    that sentence too, so the answer reads on its own: still the article's words, one contiguous quote. Only
    inside the chunk (chunks do not overlap; a chunk's first sentence keeps its opening as it is)."""
    taken = {_place(s) for s in chosen}
    extended = list(chosen)
    for sentence in chosen:
        if sentence.index == 0 or not leans_on_before(sentence.text):
            continue
        place = (sentence.chunk.id, sentence.index - 1)
        if place in taken:
            continue
        start, end = sentence.chunk.sentences[sentence.index - 1]
        text = sentence.chunk.text[start - sentence.chunk.start : end - sentence.chunk.start]
        if not reads_as_sentence(text):  # a heading or a caption names nothing the sentence needs
            continue
        extended.append(
            ScoredSentence(sentence.chunk, sentence.passage_rank, sentence.index - 1, start, end, text, 0.0)
        )
        taken.add(place)
    return extended


def leans_on_before(sentence: str) -> bool:
    """Whether a sentence opens with a word that points back ("She", "This", "However,", "In this regard")."""
    return bool(_LEANS.match(sentence.lstrip(" \t\n\"'“‘(")))


def _place(sentence: ScoredSentence) -> tuple[str, int]:
    return sentence.chunk.id, sentence.index


def _next_place(sentence: ScoredSentence) -> tuple[str, int]:
    """The sentence after this one: in its chunk, or the first of the article's next chunk."""
    if sentence.index + 1 < len(sentence.chunk.sentences):
        return sentence.chunk.id, sentence.index + 1
    return chunk_id(sentence.chunk.article_id, sentence.chunk.position + 1, sentence.chunk.version), 0


_CONTINUES = re.compile(
    r"^(?:(?:but|and|however|so|yet|if|then|still|moreover)\b[\s,]*)?"
    r"(?:she|he|they|it|this|that|these|those|such)\b",
    re.IGNORECASE,
)


# Openings that need the sentence before them: a pronoun or demonstrative subject, or a connective saying the
# sentence follows from something said earlier. "It" is left out ("It is expected that..." usually stands alone),
# and so are connectives that only add ("Furthermore", "But", "Also"): the sentence still reads on its own, and
# every sentence added costs words.
_LEANS = re.compile(
    r"^(?:however|accordingly|consequently|therefore|thus|hence|instead|nevertheless|nonetheless|"
    r"in (?:this|that|the same) (?:regard|respect|case|context|vein)|as a result|for (?:this|that) reason|"
    r"in response|to (?:this|that) end|the latter|the former|she|he|they|those|such|his|her|their|"
    r"(?:this|these)(?!\s+(?:year|week|month|morning|afternoon|evening|time|season)s?\b))\b",
    re.IGNORECASE,
)


def _compose(chosen: list[ScoredSentence], titles: dict[str, str], support: float, backend: str) -> AnswerResult:
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
    parts: list[str] = []
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for n, group in enumerate(groups, start=1):
        chunk, start, end = group[0].chunk, group[0].start, group[-1].end
        quote = chunk.text[start - chunk.start : end - chunk.start]
        parts.append(f"{quote} [{n}]")
        sentences.extend(AnswerSentence(text=s.text, citations=[n], supported=True) for s in group)
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
    return AnswerResult(" ".join(parts), citations, False, support, sentences, backend)
