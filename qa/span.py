"""The exact fact: the short span of a cited quote that answers the question ("308", "10 February 2022").

Every short run of words in the cited sentences is a candidate; candidates that start or end on a function word,
cross a clause break, are made of the question's own words only or do not fit the answer type the question wants
(a date, a number) are dropped. The rest are scored by a linear function of a few features (answer-type fit,
distance to the question's words matched in the sentence, how much of the question the sentence holds, length,
capitals, the words around the span: the SQuAD paper's sliding-window and distance baselines) plus the span
reader's log-probability of the span (qa.reader, a model fine-tuned for this; weight 1.0, set, not fitted), and
the best one is the short answer. Questions that want a reason, a manner or a demand get no span: their answer is
the sentence.

The linear weights (WEIGHTS, in qa/assets/span_weights.json) were fitted on one half of XQuAD-en's articles, the
reader on all of them (CC BY-SA 4.0; eval/fit_span.py, eval/fit_reader.py). How the picker does on questions it was
not fitted on is measured two-fold, with a reader and weights fitted on each half (`eval.fit_span --reader-a
--reader-b`).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

from qa.dateline import dateline_length
from qa.domain import AnswerSentence, Citation, ShortAnswer
from qa.posts import LEAVES_POST
from qa.question import CURRENCY_NAMES, AnswerType, QuestionProfile
from qa.reader import SpanReader
from qa.text import MONTHS, NUMBER_WORDS, WEEKDAYS, sentence_spans, tokenize

MAX_TOKENS = 8  # longer spans are sentences, not facts
READ_QUOTES = 2  # the quotes the reader reads for one question (see _read)

# The fitted weight of each feature (a feature without one weighs 0); written by `python -m eval.fit_span --write`.
WEIGHTS: dict[str, float] = json.loads((resources.files("qa") / "assets" / "span_weights.json").read_text("utf-8"))

# The reader model (qa.reader), shared by every question of the process; loaded at its first short answer.
READER = SpanReader()

# Questions no span answers: why, how (not how many...), and yes-or-no ("Is the ceasefire still holding?": not
# "Friday" from "was largely holding on Friday").
_NO_SPAN = re.compile(
    r"^\s*(why|how (?!many|much|long|old|far|large|big|tall|high|often)"
    r"|(is|are|was|were|does|do|did|has|have|had|can|could|will|would|should)\b(?![^?]*\bor\b))\b",
    re.I,
)
# A word, number or mark. A number keeps its currency and a scale glued to it ("£30m", "$2bn"); initials and
# abbreviated titles keep their full stops ("U.S.", "Nicholas E. Golovin", "Dr. Smith"), or a name would be cut
# at its initial (a full stop inside a span ends it).
_TOKEN = re.compile(
    r"[$£€]?\d(?:[\d,.:–-]*\d)?%?(?:bn|tn|m|k|km|kg)?(?![\w])"
    r"|(?:[A-Z]\.){2,}|[A-Z]\.(?=\s+[A-Z])|(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|Gen|Col|Lt|Sgt|Rev|Mt|Ft)\.(?=\s+[A-Z])"
    r"|\w+(?:[-'’]\w+)*|[^\w\s]"
)
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_MONTHS = frozenset(MONTHS)
_CALENDAR = _MONTHS | frozenset(WEEKDAYS)
_NAME_PARTICLES = frozenset({"de", "da", "di", "del", "du", "van", "von", "der", "den", "la", "le", "al", "bin", "ibn"})
_POSSESSIVE = re.compile(r"['’]s$")  # "Thursday's deadline"
_UNITS = re.compile(
    r"^(percent|per|cent|%|million|billion|thousand|hundred|trillion|years?|months?|weeks?|days?|hours?|minutes?"
    r"|seconds?|decades?|centuries|century|miles?|km|kilometres?|kilometers?|metres?|meters?|feet|foot|inches"
    rf"|{CURRENCY_NAMES}|tons?|tonnes?|acres?|square|degrees?|mph|kg|people|points?)$",
    re.I,
)
_APPROXIMATE = frozenset({"over", "about", "around", "nearly", "almost", "under", "approximately", "roughly"})
_COMPARED = frozenset({"more", "less", "fewer"})  # "more than 70,000"
_ERAS = frozenset({"ago", "bp", "bc", "bce", "ad", "ce"})  # after a number, they make it a date
_SCALE = frozenset({"percent", "%", "million", "billion", "trillion", "thousand", "hundred"})  # part of a quantity
# Words a span neither starts nor ends with (articles may start it: SQuAD's normalisation drops them anyway).
_FUNCTION = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "by", "for", "to", "from", "with", "and", "or", "but", "as", "is", "are",
    "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "that", "which", "who", "whom",
    "whose", "what", "when", "where", "why", "how", "this", "these", "those", "it", "its", "their", "his", "her", "he",
    "she", "they", "we", "i", "you", "not", "no", "so", "than", "then", "there", "here", "also", "only", "just",
    "very", "more", "most", "such", "into", "onto", "over", "under", "about", "after", "before", "during", "between",
    "through", "while", "since", "until", "would", "will", "can", "could", "should", "may", "might", "must", "shall",
    "against", "if", "without", "within", "among", "towards", "toward", "upon", "per", "via", "like", "unlike",
    "because", "although", "though", "whether", "both", "either", "neither", "each", "every", "all", "any", "some",
    "many", "much", "other", "another", "said", "says", "say", "need", "needs",
})  # fmt: skip
_PREPOSITIONS = frozenset({
    "in", "at", "on", "by", "of", "from", "to", "for", "as", "with", "into", "during", "since", "until", "after",
    "before",
})  # fmt: skip
_PUNCT = re.compile(r"^[^\w$£€%]+$")
_YEAR = re.compile(r"[12]\d{3}s?|\d{3}0s")  # "1990", "1990s", "990s"
_PHRASE_BREAKS = frozenset({";", ":", "(", ")", '"', "“", "”", "—", "–", "."})
_ORDINAL = re.compile(r"^\d+(st|nd|rd|th)$", re.I)
_QUOTES = frozenset("\"“”‘’'")
# "What type of protest?": the noun after "what" that says nothing of the answer's kind
_GENERIC_HEADS = frozenset({
    "type", "kind", "name", "form", "sort", "part", "example", "term", "word", "way", "thing", "one",
})  # fmt: skip
_CLAUSE_BREAKS = frozenset(",;:()—–")
WINDOW = 3  # tokens either side of a span whose question words count
_WH_GROUP = {"who": "who", "whom": "who", "whose": "who", "what": "what", "which": "what", "where": "where"}
# Words just before or after a span that say what it is ("called X", "by X", "X, which"), learnt per question kind
_CUES = frozenset({
    "by", "in", "at", "on", "of", "from", "to", "for", "as", "with", "called", "named", "known", "was", "is", "were",
    "are", "the", "a", "an", "and", ",", ".", "(", ")", "'s", "’s", "that", "which", "who", "than", "include",
    "including", "such",
})  # fmt: skip
# Words that stand before a name without being part of it ("Mayor Tobias Renn", "President Barack Obama")
_TITLES = frozenset({
    "mayor", "deputy", "acting", "president", "vice", "governor", "minister", "prime", "chancellor", "secretary",
    "senator", "sen", "rep", "representative", "congressman", "congresswoman", "judge", "justice", "chief", "general",
    "gen", "colonel", "col", "captain", "capt", "lieutenant", "lt", "sergeant", "sgt", "admiral", "commander", "king",
    "queen", "prince", "princess", "sir", "dame", "lord", "lady", "pope", "bishop", "archbishop", "cardinal", "father",
    "rev", "reverend", "dr", "doctor", "mr", "mrs", "ms", "miss", "prof", "professor", "coach", "manager", "chairman",
    "chairwoman", "chair", "director", "executive", "officer", "economist", "inspector", "detective",
    "ambassador", "envoy", "spokesman", "spokeswoman", "saint", "st",
})  # fmt: skip
_WHOSE = re.compile(r"^\s*whose\b", re.I)
_WHO = re.compile(r"^\s*(?:who|whom|whose)\b", re.I)
_WH = ("who", "where", "what", "which", "when", "whose", "whom")


@dataclass(frozen=True)
class Token:
    """A word, number or punctuation mark of a cited sentence, and what the picker asks of it, told once: each
    word stands in up to 36 of a sentence's spans (MAX_TOKENS 8), and each asks."""

    text: str
    start: int  # offset into the quote
    end: int
    stem: str  # '' for a stop word or punctuation
    lower: str
    function: bool  # a word no span starts or ends with: "may", but not "May" (the month, "in May 2013")
    punct: bool  # punctuation only
    capitalised: bool
    number: bool  # a figure, an amount or a number word
    dated: bool  # a month, a year, a decade or a century
    breaks_phrase: bool  # a mark no span holds inside (a comma may be, in a date)

    @classmethod
    def of(cls, text: str, start: int, end: int, stem: str) -> Token:
        lower = text.lower()
        return cls(
            text,
            start,
            end,
            stem,
            lower,
            function=lower in _FUNCTION and text != "May",
            punct=_PUNCT.match(text) is not None,
            capitalised=text[:1].isupper(),
            number=text[:1].isdigit() or text[:1] in "$£€" or lower in NUMBER_WORDS,
            dated=lower in _MONTHS or _YEAR.fullmatch(text) is not None or lower in {"century", "centuries"},
            breaks_phrase=text in _PHRASE_BREAKS,
        )


@dataclass(frozen=True)
class Candidate:
    """A span that could answer, with its features and its place."""

    features: dict[str, float]
    citation: int
    start: int  # offsets into the article
    end: int
    text: str

    @property
    def score(self) -> float:
        """The linear score under WEIGHTS."""
        return sum(WEIGHTS.get(name, 0.0) * value for name, value in self.features.items())


@dataclass(frozen=True)
class Asked:
    """What the picker reads of a question."""

    profile: QuestionProfile
    words: frozenset[str]  # lower-cased words as asked
    wh: str  # the question word ("who", "what"...), '' if none
    head: str  # the stem of the noun after "what"/"which" ("architect" of "which German architect"), '' if none

    @classmethod
    def of(cls, question: str) -> Asked:
        """Read a question."""
        words = [w.lower() for w in _WORD.findall(question)]
        wh = next((w for w in words if w in _WH), "")
        head = ""
        if wh in ("what", "which") and words.index(wh) + 1 < len(words):
            following = [w for w in words[words.index(wh) + 1 :] if w not in _FUNCTION and w not in _GENERIC_HEADS]
            following = following[:1]
            head = (tokenize(following)[0] or [""])[0] if following else ""
        return cls(QuestionProfile.of(question), frozenset(words), wh, head)


def short_answer(
    question: str,
    citations: Sequence[Citation],
    abstained: bool = False,
    sentences: Sequence[AnswerSentence] = (),
    reader: SpanReader | None = READER,
) -> ShortAnswer | None:
    """The span of one cited quote that answers the question, or None when none can be pinned (an abstention,
    a "why" or "how" question, a demand, or no candidate that fits). `sentences`: the answer's own, when they are
    the quotes' sentences word for word (an extractive answer), so the quotes need not be split again. `reader`:
    the reader model whose score is one of the features (None: without it)."""
    found = candidates(question, citations, abstained, sentences, reader)
    best = max(found, key=lambda c: c.score, default=None)
    if best is None:
        return None
    best = _fullest_name(question, best, found)
    if _WHO.match(question) and not _WHOSE.match(question):
        best = _without_possessive(best)
    return ShortAnswer(text=best.text, citation=best.citation, start=best.start, end=best.end)


def prepare(question: str, reader: SpanReader | None = READER, lanes: bool = False) -> threading.Thread | None:
    """Start loading the reader beside the question's retrieval when its short answer may read (see candidates):
    the first such question of a process then waits for less of the load, or none of it. `lanes`: the process
    answers many questions, and loads what reads two quotes side by side too (SpanReader.load_in_background).
    The loading thread, if this started one."""
    if reader is None or not isinstance(question, str) or not question.strip() or _NO_SPAN.search(question):
        return None
    return reader.load_in_background(lanes)


def _without_possessive(best: Candidate) -> Candidate:
    """ "Stefan Aaltonen" of "Stefan Aaltonen's side": "who" asks for the person ("whose" keeps the "'s")."""
    trimmed = _POSSESSIVE.sub("", best.text)
    if trimmed == best.text or not trimmed:
        return best
    return replace(best, text=trimmed, end=best.start + len(trimmed))


def _fullest_name(question: str, best: Candidate, found: Sequence[Candidate]) -> Candidate:
    """Someone's name as the quotes give it in full: "Thomas Piketty" for "Piketty" when the quotes say both
    (news and encyclopaedias name a person in full once, then by surname). Only for "who" questions, and only
    a first name or two before it: "Germany" does not become "Friedrich Ratzel of Germany", nor "Renn"
    "Mayor Tobias Renn"."""
    if not _WHO.match(question) or not all(w[:1].isupper() for w in best.text.split()):
        return best
    fuller = []
    for candidate in found:
        head, _, tail = candidate.text.rpartition(" " + best.text)
        words = head.split()
        if tail or not 0 < len(words) <= 2 or candidate.features["cut"]:
            continue
        if all(w[:1].isupper() and w.lower().rstrip(".") not in _FUNCTION | _TITLES for w in words):
            fuller.append(candidate)
    return max(fuller, key=lambda c: len(c.text), default=best)


def candidates(
    question: str,
    citations: Sequence[Citation],
    abstained: bool = False,
    told: Sequence[AnswerSentence] = (),
    reader: SpanReader | None = None,
) -> list[Candidate]:
    """Every admissible span of the cited sentences, with its features (none for questions without a span).
    `told`: the answer's sentences (see short_answer); `reader`: adds the reader model's score of each span."""
    citations = [c for c in citations if not c.earlier]  # the fact is the answer's, not earlier reporting's
    if abstained or not citations or _NO_SPAN.search(question):
        return []
    asked = Asked.of(question)
    if asked.profile.answer_type is AnswerType.DEMAND or not asked.profile.terms:
        return []
    found: list[Candidate] = []
    sentences = [(c, start, end) for c in citations for start, end in _quote_sentences(c, told)]
    if asked.profile.asks_holder:  # "Who is the mayor?": not the one the answer says resigned
        staying = [(c, start, end) for c, start, end in sentences if not LEAVES_POST.search(c.quote[start:end])]
        sentences = staying or sentences
    tokenised = [_tokens(c.quote[start:end], start) for c, start, end in sentences]
    if not asked.profile.asks_own_date:  # "AMBERY, Oct 2 (Wire One) -" is no answer to "How many...?"
        tokenised = [
            [t for t in tokens if t.start >= start + dateline_length(c.quote[start:end])]
            for (c, start, end), tokens in zip(sentences, tokenised, strict=True)
        ]
    terms = set(asked.profile.terms)
    helds = [len({t.stem for t in tokens if t.stem in terms}) / len(terms) for tokens in tokenised]
    top = max(helds, default=0.0)
    strongest = max(citations, key=lambda c: c.score).n
    for (citation, _, _), tokens, held in zip(sentences, tokenised, helds, strict=True):
        found.extend(_spans(tokens, asked, citation, held, held >= top, citation.n == strongest))
    if asked.profile.asks_money and any(c.features["fit"] == 1.0 for c in found):
        # "1.2 billion crowns", not "1.2 billion", answers what something costs: both models preferred the bare
        # figure (SQuAD's answers often leave the currency out), which does not say which money
        found = [c for c in found if c.features["fit"] == 1.0]
    if reader is not None and found:
        found = _read(question, citations, found, reader)
    return found


def _read(question: str, citations: Sequence[Citation], found: list[Candidate], reader: SpanReader) -> list[Candidate]:
    """The candidates of the READ_QUOTES quotes whose best candidate scores highest on the linear features, each
    with the reader's score of it (feature "reader"). The reader takes 6-7 ms a quote; on half B of XQuAD-en,
    with the reader fitted on half A, reading two quotes scored the same as reading all of them (exact match
    0.343), and one quote 0.341."""
    best: dict[int, float] = {}
    for candidate in found:
        best[candidate.citation] = max(best.get(candidate.citation, -math.inf), candidate.score)
    read = sorted(best, key=lambda n: best[n], reverse=True)[:READ_QUOTES]
    quoted = [c for c in citations if c.n in read]
    readings = reader.read(question, [c.quote for c in quoted])
    by_citation = {c.n: (c.start, reading) for c, reading in zip(quoted, readings, strict=True)}
    kept = [c for c in found if c.citation in by_citation]
    for candidate in kept:
        at, reading = by_citation[candidate.citation]
        candidate.features["reader"] = reading.span_score(candidate.start - at, candidate.end - at)
    return kept


def _quote_sentences(citation: Citation, told: Sequence[AnswerSentence]) -> list[tuple[int, int]]:
    """The quote's sentences (offsets into it): the answer's own sentences citing it when together they make up
    the quote, else the sentence splitter's. The splitter's model loads in about 0.9 s, which a process that asks
    one question (a cold `qa ask`) would pay for every typed question."""
    spans: list[tuple[int, int]] = []
    at = 0
    for sentence in told:
        if citation.n not in sentence.citations:
            continue
        found = citation.quote.find(sentence.text, at)
        if found < 0 or citation.quote[at:found].strip():
            return sentence_spans(citation.quote)
        spans.append((found, found + len(sentence.text)))
        at = found + len(sentence.text)
    if not spans or citation.quote[at:].strip():
        return sentence_spans(citation.quote)
    return spans


def _tokens(sentence: str, offset: int) -> list[Token]:
    """The sentence's words, numbers and punctuation marks, with their stems and offsets into the quote."""
    found = [(m.group(), m.start() + offset, m.end() + offset) for m in _TOKEN.finditer(sentence)]
    stems = tokenize([text for text, _, _ in found]) if found else []
    return [
        Token.of(text, start, end, stem[0] if stem else "")
        for (text, start, end), stem in zip(found, stems, strict=True)
    ]


def _spans(
    tokens: list[Token], asked: Asked, citation: Citation, held: float, best: bool, strongest: bool
) -> list[Candidate]:
    """Every admissible span of one sentence, with its features."""
    terms = set(asked.profile.terms)
    clause = [0]  # the clause (between commas, semicolons, brackets, dashes) each token stands in
    for t in tokens[1:]:
        clause.append(clause[-1] + (t.text in _CLAUSE_BREAKS))
    asked_at = [bool(t.stem) and t.stem in terms for t in tokens]
    by_clause: dict[int, set[str]] = {}
    for t, c, is_asked in zip(tokens, clause, asked_at, strict=True):
        if is_asked:
            by_clause.setdefault(c, set()).add(t.stem)
    kind = asked.profile.answer_type
    matched = [i for i, t in enumerate(tokens) if t.stem and t.stem in terms]
    heads = [i for i, t in enumerate(tokens) if asked.head and t.stem == asked.head]
    found = []
    for i in range(len(tokens)):
        for j in range(i + 1, min(i + MAX_TOKENS, len(tokens)) + 1):
            if j > i + 2 and tokens[j - 2].breaks_phrase:
                break  # a mark inside this span is inside every longer one (_admissible)
            span = tokens[i:j]
            if not _admissible(span) or (i == 0 and j < len(tokens) and tokens[j].text == ","):
                continue  # a sentence's opening word or phrase before a comma: "However,", "Accordingly,"
            dated = _is_date(span)
            content = [t for t in span if not t.function and not t.punct]
            fit = _type_fit(span, kind, i == 0, content, dated)
            if fit <= 0:
                continue
            if asked.profile.asks_money and fit == 1.0:  # an amount of money: see candidates()
                fit = asked.profile.type_match(citation.quote[span[0].start : span[-1].end]) or 0.5
            asked_words = [
                t for t in span if ((t.stem and t.stem in terms) or t.lower in asked.words) and t.lower not in _SCALE
            ]
            overlap = len(asked_words) / len(span)
            if overlap >= 1:
                continue
            nearest, average = _distance(i, j, matched, len(tokens))
            particles = _particles(span)
            capitals = sum(
                t.capitalised or t in particles
                for t in content
                if not (i == 0 and t is span[0] and not _opens_a_name(span))
            ) / len(content)
            numbers = sum(t.number for t in content) / len(content)
            before = tokens[i - 1] if i > 0 else None
            after = tokens[j] if j < len(tokens) else None
            features = {
                "fit": fit,
                "held": held,
                "best_sentence": float(best),
                "first_citation": float(citation.n == 1),
                "strongest_citation": float(strongest),
                "clause_held": len(by_clause.get(clause[i], set())) / len(terms),
                "left_window": sum(asked_at[max(0, i - WINDOW) : i]) / WINDOW,
                "right_window": sum(asked_at[j : j + WINDOW]) / WINDOW,
                "nearest": nearest,
                "average": average,
                "overlap": overlap,
                "cut": _cuts(tokens, i, j, kind),
                "length": math.log(len(span)),
                "single": float(len(span) == 1),
                "capitals": capitals,
                "numbers": numbers,
                "date": float(dated),
                "lower_words": sum(t.text.islower() and t not in particles for t in content) / len(content),
                "the": float(span[0].lower == "the"),
                "after_preposition": float(before is not None and before.lower in _PREPOSITIONS),
                "after_comma": float(before is not None and before.text == ","),
                "before_break": float(after is None or after.punct),
                "after_asked": float(before is not None and bool(before.stem) and before.stem in terms),
                "before_asked": float(after is not None and bool(after.stem) and after.stem in terms),
                "quoted": float(
                    before is not None and before.text in _QUOTES and after is not None and after.text in _QUOTES
                ),
                "near_head": float(any(min(abs(h - i), abs(h - j + 1)) <= 2 for h in heads)),
                "head_inside": float(any(i <= h < j for h in heads)),
                "wh_who_capitals": capitals * (asked.wh in ("who", "whom", "whose")),
                "wh_where_capitals": capitals * (asked.wh == "where"),
                "wh_what_capitals": capitals * (asked.wh in ("what", "which")),
                "wh_what_lower": (1 - capitals) * (asked.wh in ("what", "which")),
                "untyped_numbers": numbers * (kind is None),
            }
            group = _WH_GROUP.get(asked.wh, "other") if kind is None else kind.value
            if before is not None and before.lower in _CUES:
                features[f"prev_{before.lower}_{group}"] = 1.0
            if after is not None and after.lower in _CUES:
                features[f"next_{after.lower}_{group}"] = 1.0
            first, last = span[0], span[-1]
            text = citation.quote[first.start : last.end]
            start = citation.start + first.start
            found.append(Candidate(features, citation.n, start, start + len(text), text))
    return found


def _admissible(span: list[Token]) -> bool:
    """A span that reads as a phrase: no function word or punctuation at its ends (but "over 14,000" and "more than
    70,000" are quantities), no clause break inside."""
    first, last = span[0], span[-1]
    if (first.function and first.lower != "the" and not _approximates(span)) or last.function:
        return False
    if first.punct or last.punct:
        return False
    inner = span[1:-1]
    if any(t.breaks_phrase for t in inner):
        return False
    # a comma only inside a date ("February 7, 2016")
    return not any(t.text == "," for t in inner) or _is_date(span)


def _approximates(span: list[Token]) -> bool:
    """A span that opens with a word saying how near its number is: "over 14,000", "more than 70,000"."""
    words = [t.lower for t in span[:3]]
    if len(span) > 2 and words[0] in _COMPARED and words[1] == "than":
        return span[2].number
    return len(span) > 1 and words[0] in _APPROXIMATE and span[1].number


def _is_date(span: list[Token]) -> bool:
    """A year, a month, a century or a decade; or a number with an era or "ago" ("9000 BP", "22,000 years ago")."""
    return any(t.dated for t in span) or (span[0].number and any(t.lower in _ERAS for t in span[1:]))


def _particles(span: list[Token]) -> list[Token]:
    """The particles inside a name ("de" of "Lothar de Maizière", "van" of "Ludwig van Beethoven"): part of it."""
    if not (span[0].capitalised and span[-1].capitalised):
        return []
    return [t for t in span[1:-1] if t.lower in _NAME_PARTICLES]


def _opens_a_name(span: list[Token]) -> bool:
    """Whether a span at a sentence's start opens with a name of two or more capitalised words ("Helena Voss
    won..."): its first word is then a name's, not capitalised only for opening the sentence."""
    return len(span) > 1 and span[1].capitalised and span[0].lower not in _FUNCTION | _TITLES


def _is_calendar(token: Token) -> bool:
    """A weekday or a month, with or without a possessive ("Thursday's deadline")."""
    return _POSSESSIVE.sub("", token.lower) in _CALENDAR


def _type_fit(span: list[Token], kind: AnswerType | None, at_start: bool, content: list[Token], dated: bool) -> float:
    """How well the span is the kind of thing asked for: 1 fits, 0 does not (dropped), between for maybe.
    `content`: its words that are neither function words nor punctuation; `dated`: whether it is a date."""
    if not content:
        return 0.0
    if kind is AnswerType.DATE:
        return 1.0 if dated else 0.0
    if kind in (AnswerType.NUMBER, AnswerType.AGE):
        if _approximates(span):  # the number after the words, as if they were not there
            span = span[2:] if span[1].lower == "than" else span[1:]
        if not span[0].number:
            return 0.0
        # the number, or the number and its unit ("308", "$1.2 billion", "45 percent")
        return 1.0 if all(t.number or _UNITS.match(t.text) or t.text in {",", "."} for t in span[1:]) else 0.5
    if kind is AnswerType.DURATION:
        if not span[0].number:
            return 0.0
        return 1.0 if any(_UNITS.match(t.text) for t in span[1:]) else 0.3
    if kind is AnswerType.NAME or kind is AnswerType.TITLE:
        if all(_is_calendar(t) or t.number for t in content):
            return 0.0  # "Sunday" in "said on Sunday" is capitalised but names no one, nor does "3.50%"
        names = [
            t
            for t in content
            if t.capitalised and not (at_start and t is span[0] and not _opens_a_name(span)) and not _is_calendar(t)
        ]
        names += _particles(span)
        return 1.0 if len(names) == len(content) else (0.3 if names else 0.1)
    return 0.5  # an untyped question ("what", "which"): any phrase


def _part_of(token: Token, kind: AnswerType | None) -> bool:
    """Whether the token would belong to a date, number or name of this kind standing next to it."""
    if kind is AnswerType.DATE:
        return token.number or token.lower in _MONTHS or _ORDINAL.match(token.text) is not None
    if kind in (AnswerType.NUMBER, AnswerType.AGE, AnswerType.DURATION):
        return token.number or token.lower in _SCALE
    return token.capitalised and token.lower not in _FUNCTION


def _cuts(tokens: list[Token], i: int, j: int, kind: AnswerType | None) -> float:
    """1 when the span leaves a part of its date, number or name just outside it, else 0."""
    if not any(_part_of(t, kind) for t in tokens[i:j]):
        return 0.0
    before = i > 1 and _part_of(tokens[i - 1], kind)  # the sentence's first word is capitalised anyway
    after = j < len(tokens) and _part_of(tokens[j], kind)
    return float(before or after)


def _distance(i: int, j: int, matched: list[int], length: int) -> tuple[float, float]:
    """How far the span [i, j) stands from the question's words matched in its sentence: the nearest one and the
    mean over all, each 0 (next to it) to about 1 (across a long sentence); 1 when the sentence holds none."""
    outside = [m for m in matched if m < i or m >= j]
    if not outside:
        return 1.0, 1.0
    gaps = [i - m if m < i else m - j + 1 for m in outside]
    scale = max(8.0, length / 2)
    return min(gaps) / scale, sum(gaps) / len(gaps) / scale
