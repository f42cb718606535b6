"""The exact fact: the short span of a cited quote that answers the question ("308", "10 February 2022").

No reader model ships in a package here, so this is classic feature-based span selection (the SQuAD paper's
sliding-window and distance baselines, with answer-type checks): every short run of words in the cited sentences
is a candidate; candidates made of the question's own words, or starting or ending on a function word, are dropped;
the rest are scored by how well they fit the answer type the question wants, how close they stand to the
question's words matched in their sentence, how much of the question their sentence holds, and their length.
Questions that want a reason, a manner or a demand get no span: their answer is the sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.domain import Citation, ShortAnswer
from qa.question import AnswerType, QuestionProfile
from qa.text import sentence_spans, tokenize

# Weights and limits: hand-set, then tuned on one half of XQuAD-en's articles (see eval/span_halves.py, which
# reports the other half). They score a candidate span; the best one is the short answer.
W_TYPE = 1.0  # the span is the kind of thing asked for (a date, a number, a name)
W_DISTANCE = 0.6  # how near the question's words it stands in its sentence
W_SENTENCE = 1.2  # how much of the question its sentence holds
W_LENGTH = 0.5  # log of the length prior
W_QUESTION_WORDS = 1.5  # a span repeating the question's words is rarely its answer
W_CUT = 0.8  # a span that cuts a date, a number or a name in two ("February" out of "10 February 2022")
W_CAPITALISED = 0.3  # an untyped "what" question: names and numbers answer it more often than common words
MAX_TOKENS = 8
MIN_SCORE = 0.0  # below this nothing is pinned

# Share of SQuAD v1.1 train answers by length in tokens (Rajpurkar et al. 2016, fig. 2): short spans dominate.
_LENGTH_PRIOR = {1: 0.32, 2: 0.24, 3: 0.14, 4: 0.09, 5: 0.06, 6: 0.04, 7: 0.03, 8: 0.02}

_NO_SPAN = re.compile(r"^\s*(why|how (?!many|much|long|old|far|large|big|tall|high|often))\b", re.I)
_TOKEN = re.compile(r"[$£€]?\d[\d,.]*\d%?|[$£€]?\d%?|\w+(?:[-'’]\w+)*|[^\w\s]")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion "
    "trillion dozen half quarter first second third fourth fifth".split()
)
_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
_UNITS = re.compile(
    r"^(percent|per|cent|%|million|billion|thousand|hundred|trillion|years?|months?|weeks?|days?|hours?|minutes?"
    r"|seconds?|decades?|centuries|century|miles?|km|kilometres?|kilometers?|metres?|meters?|feet|foot|inches"
    r"|pounds?|dollars?|euros?|tons?|tonnes?|acres?|square|degrees?|mph|kg|people|points?)$",
    re.I,
)
# Words a span neither starts nor ends with (articles may start it: SQuAD's normalisation drops them anyway).
_FUNCTION = frozenset(
    "a an the of in on at by for to from with and or but as is are was were be been being has have had do does did "
    "that which who whom whose what when where why how this these those it its their his her he she they we i you "
    "not no so than then there here also only just very more most such into onto over under about after before "
    "during between through while since until while would will can could should may might must shall".split()
)
_SCALE = frozenset({"percent", "%", "million", "billion", "trillion", "thousand", "hundred"})  # part of a quantity
_PUNCT = re.compile(r"^[^\w$£€%]+$")
_ORDINAL = re.compile(r"^\d+(st|nd|rd|th)$", re.I)


@dataclass(frozen=True)
class _Token:
    text: str
    start: int  # offset into the quote
    end: int
    stem: str  # '' for a stop word or punctuation
    lower: str


@dataclass(frozen=True)
class _Candidate:
    score: float
    citation: int
    start: int  # offsets into the article
    end: int
    text: str


def short_answer(question: str, citations: Sequence[Citation], abstained: bool = False) -> ShortAnswer | None:
    """The span of one cited quote that answers the question, or None when none can be pinned (an abstention,
    a "why" or "how" question, a demand, or no candidate that fits)."""
    if abstained or not citations or _NO_SPAN.search(question):
        return None
    profile = QuestionProfile.of(question)
    if profile.answer_type is AnswerType.DEMAND:
        return None
    question_words = {w.lower() for w in re.findall(r"\w+(?:[-'’]\w+)*", question)}
    best: _Candidate | None = None
    for citation in citations:
        for start, end in sentence_spans(citation.quote):
            tokens = _tokens(citation.quote[start:end], start)
            for candidate in _candidates(tokens, profile, question_words, citation):
                if best is None or candidate.score > best.score:
                    best = candidate
    if best is None or best.score < MIN_SCORE:
        return None
    return ShortAnswer(text=best.text, citation=best.citation, start=best.start, end=best.end)


def _tokens(sentence: str, offset: int) -> list[_Token]:
    """The sentence's words, numbers and punctuation marks, with their stems and offsets into the quote."""
    found = [(m.group(), m.start() + offset, m.end() + offset) for m in _TOKEN.finditer(sentence)]
    stems = tokenize([text for text, _, _ in found]) if found else []
    return [
        _Token(text, start, end, stem[0] if stem else "", text.lower())
        for (text, start, end), stem in zip(found, stems, strict=True)
    ]


def _candidates(
    tokens: list[_Token], profile: QuestionProfile, question_words: set[str], citation: Citation
) -> list[_Candidate]:
    """Every admissible span of the sentence, scored."""
    terms = set(profile.terms)
    matched = [i for i, t in enumerate(tokens) if (t.stem and t.stem in terms)]
    if not terms:
        return []
    held = len({tokens[i].stem for i in matched}) / len(terms)
    found = []
    for i in range(len(tokens)):
        for j in range(i + 1, min(i + MAX_TOKENS, len(tokens)) + 1):
            span = tokens[i:j]
            if not _admissible(span, j - i, i == 0):
                if _PUNCT.match(span[-1].text) and span[-1].text not in ",.'’":
                    break  # a bracket or quote ends every longer span too
                continue
            fit = _type_fit(span, profile.answer_type, i == 0)
            if fit <= 0:
                continue
            overlap = sum(
                1 for t in span if (t.stem and t.stem in terms or t.lower in question_words) and t.lower not in _SCALE
            ) / len(span)
            if overlap >= 1:
                continue
            distance = _distance(i, j, matched, len(tokens))
            score = (
                W_TYPE * fit
                + W_SENTENCE * held
                - W_DISTANCE * distance
                + W_LENGTH * math.log(_LENGTH_PRIOR.get(len(span), 0.01) / _LENGTH_PRIOR[1])
                - W_QUESTION_WORDS * overlap
                - W_CUT * _cuts(tokens, i, j, profile.answer_type)
            )
            first, last = span[0], span[-1]
            text = citation.quote[first.start : last.end]
            start = citation.start + first.start
            found.append(_Candidate(score, citation.n, start, start + len(text), text))
    return found


def _admissible(span: list[_Token], length: int, at_start: bool) -> bool:
    """A span that reads as a phrase: no function word or punctuation at its ends, no clause break inside."""
    first, last = span[0], span[-1]
    if first.lower in _FUNCTION and first.lower not in {"the"} or last.lower in _FUNCTION:
        return False
    if first.lower == "the" and length == 1:
        return False
    if _PUNCT.match(first.text) or _PUNCT.match(last.text):
        return False
    inner = [t.text for t in span[1:-1]]
    if any(p in inner for p in (";", ":", "(", ")", '"', "“", "”", "—", "–")):
        return False
    # a comma only inside a date ("February 7, 2016") or a run of names ("Santa Clara, California")
    return not ("," in inner and not _is_date(span))


def _is_number(token: _Token) -> bool:
    return token.text[:1].isdigit() or token.text[:1] in "$£€" or token.lower in _NUMBER_WORDS


def _is_date(span: list[_Token]) -> bool:
    """A year, a month, a day of a month, a century or a decade."""
    for t in span:
        if t.lower in _MONTHS or re.fullmatch(r"[12]\d{3}s?|\d{3}0s", t.text) or t.lower in {"century", "centuries"}:
            return True
    return False


def _capitalised(token: _Token) -> bool:
    return token.text[:1].isupper()


def _type_fit(span: list[_Token], kind: AnswerType | None, at_start: bool) -> float:
    """How well the span is the kind of thing asked for: 1 fits, 0 does not (dropped), between for maybe."""
    content = [t for t in span if t.lower not in _FUNCTION and not _PUNCT.match(t.text)]
    if not content:
        return 0.0
    numbers = [t for t in span if _is_number(t)]
    if kind is AnswerType.DATE:
        return 1.0 if _is_date(span) else 0.0
    if kind in (AnswerType.NUMBER, AnswerType.AGE):
        if not _is_number(span[0]):
            return 0.0
        rest = span[1:]
        # the number, or the number and its unit ("308", "$1.2 billion", "45 percent")
        return 1.0 if all(_is_number(t) or _UNITS.match(t.text) or t.text in {",", "."} for t in rest) else 0.5
    if kind is AnswerType.DURATION:
        if not _is_number(span[0]):
            return 0.0
        return 1.0 if any(_UNITS.match(t.text) for t in span[1:]) else 0.3
    if kind is AnswerType.NAME or kind is AnswerType.TITLE:
        names = [t for t in content if _capitalised(t) and not (at_start and t is span[0])]
        return 1.0 if len(names) == len(content) else (0.3 if names else 0.0)
    # an untyped question ("what", "which"): any phrase, names and numbers a little more often
    capitalised = sum(1 for t in content if _capitalised(t) or numbers)
    return 0.5 + W_CAPITALISED * capitalised / len(content)


def _part_of(token: _Token, kind: AnswerType | None) -> bool:
    """Whether the token would belong to a date, number or name of this kind standing next to it."""
    if kind is AnswerType.DATE:
        return _is_number(token) or token.lower in _MONTHS or _ORDINAL.match(token.text) is not None
    if kind in (AnswerType.NUMBER, AnswerType.AGE, AnswerType.DURATION):
        return _is_number(token) or token.lower in _SCALE
    if kind in (AnswerType.NAME, AnswerType.TITLE, None):
        return _capitalised(token) and token.lower not in _FUNCTION
    return False


def _cuts(tokens: list[_Token], i: int, j: int, kind: AnswerType | None) -> float:
    """1 when the span leaves a part of its date, number or name just outside it, else 0."""
    if not any(_part_of(t, kind) for t in tokens[i:j]):
        return 0.0
    before = i > 0 and _part_of(tokens[i - 1], kind) and not (kind is None and i - 1 == 0)
    after = j < len(tokens) and _part_of(tokens[j], kind)
    return float(before or after)


def _distance(i: int, j: int, matched: list[int], length: int) -> float:
    """How far the span [i, j) stands from the question's words matched in its sentence, 0 (next to one) to
    about 1 (across a long sentence); 1 when the sentence holds none of them."""
    outside = [m for m in matched if m < i or m >= j]
    if not outside:
        return 1.0
    gaps = [i - m if m < i else m - j + 1 for m in outside]
    # nearest matched word, and the mean over all of them: the answer sits among the question's words
    nearest = min(gaps)
    average = sum(gaps) / len(gaps)
    return (0.5 * nearest + 0.5 * average) / max(8.0, length / 2)
