"""The language side of the core, each thing defined once: text normalisation, sentence spans with exact
offsets, the word tokenizer (for BM25 and for every term comparison), names, question words and slugs."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from qa.imports import without

_LINE_BREAKS = re.compile(r"\n[ \t]*\n+|\n")
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
_ANY_SCRIPT_SEPARATORS = re.compile(r"[\W_]+")  # \W is Unicode-aware: Cyrillic, Greek, CJK letters are kept
# Closing punctuation of a sentence (or clause), then any closing quotes and brackets.
_TERMINAL = re.compile(r"([.!?:;])[\"'’”)\]]*$")
HEADING_MAX_WORDS = 12
# Text without full stops (a run of words, a list pasted as one line, Chinese or Japanese, whose 。 the English
# splitter does not know) would be one "sentence" of any length, quoted whole in an answer and embedded as one
# passage: a sentence is cut at about 250 words. Real ones are shorter: the longest of the shipped sets' 1,751
# sentences has 1,163 characters, and cutting it (at a limit of 1,000) cost two XQuAD-en questions their passage.
MAX_SENTENCE_CHARS = 1_500
_CLAUSE_BREAK = re.compile(r"[,;:，；：。！？]\s*")
_SPACE = re.compile(r"\s+")

# A capitalised word. A hyphen ends it: "Russian-linked" names Russia, not "linked".
_NAME_WORD = r"\b[A-Z][\w’']+"
NAME = re.compile(_NAME_WORD)
# A run of capitalised words, with the particles that join names ("Bank of England", "Ursula von der Leyen").
NAME_RUN = re.compile(rf"{_NAME_WORD}(?:\s+(?:of\s+|the\s+|de\s+|der\s+|von\s+)*{_NAME_WORD})*")
_OPENERS = "\"'“‘(["

# The calendar's words: capitalised in English, yet no one's name ("said on Thursday", "in March").
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Numbers in words: "five people were missing" states a figure as "5 people" does.
NUMBER_WORDS = frozenset({
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty",
    "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "trillion", "dozen", "half",
    "quarter", "twice", "once",
})  # fmt: skip

# Words that open or glue a question: capitalised, they are still not names, and a passage need not hold them.
QUESTION_WORDS = frozenset({
    "what", "who", "whom", "whose", "when", "where", "which", "why", "how", "did", "does", "do", "is", "are", "was",
    "were", "and", "the", "a", "an", "in", "of", "on", "at", "by", "according", "also", "so", "but", "then",
    "will", "would", "can", "could", "should", "shall", "might", "has", "have", "had",
})  # fmt: skip


def normalise_article_text(text: str) -> str:
    """Unicode-normalise, unify line endings, strip trailing spaces and collapse 3+ blank lines.

    The result is what we store and what every citation offset points into.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def is_url(source: object) -> bool:
    """Whether a source is an http(s) URL rather than a path."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def fold(text: str) -> str:
    """Case-, quote- and whitespace-folded text for containment checks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.split())


def slug(text: str, max_length: int = 80, *, any_script: bool = False) -> str:
    """Lower-case ASCII id: accents dropped, runs of anything but letters and digits one hyphen ('' if none).

    With `any_script`, a text with no Latin letter or digit keeps its own script's ("Путин и Лавров" gives
    "путин-и-лавров"), so that an article titled in Russian or Chinese still gets an id from its title.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    found = _SLUG_SEPARATORS.sub("-", ascii_text.lower()).strip("-")
    if not found and any_script:
        found = _ANY_SCRIPT_SEPARATORS.sub("-", unicodedata.normalize("NFC", text).lower()).strip("-")
    return found[:max_length].rstrip("-")


# -- validity -------------------------------------------------------------------------------------------------

# JSON can carry half of a UTF-16 pair ("\ud800") and Python's argv an undecodable byte as one: neither is text,
# and neither can be stored, embedded or sent back as UTF-8.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "holds a lone surrogate (half of a UTF-16 pair, such as \\ud800), which is not text; send valid Unicode"


def has_lone_surrogate(text: str) -> bool:
    """Whether the text holds a surrogate code point on its own."""
    return _LONE_SURROGATE.search(text) is not None


# -- words ----------------------------------------------------------------------------------------------------

_EXTRA_ABBREVIATIONS = {"i.e", "e.g", "etc", "vs", "cf", "approx", "no", "nos", "st", "gen", "gov", "sen", "rep"}


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


# Hidden while nltk and bm25s are imported (see qa.imports.without): "scipy" itself when it is not loaded yet,
# else the two submodules they would pull in.
_SCIPY = ("scipy", "scipy.stats", "scipy.sparse")


@cache
def _stopwords() -> frozenset[str]:
    """bm25s's longer English list: question words ("what", "did") must not count as terms a passage should hold."""
    with without(*_SCIPY):
        from bm25s.stopwords import STOPWORDS_EN_PLUS
    return frozenset(STOPWORDS_EN_PLUS)


# bm25s's (and scikit-learn's) words, r"(?u)\b\w\w+\b": two or more word characters. Without the two \b, which
# a greedy run of word characters always meets in findall, it takes a third less time (0.062 against 0.095 s, the
# XQuAD-en corpus; a replica built again at 1,000,000 chunks tokenizes every chunk).
_WORD = re.compile(r"\w\w+")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens: the one tokenizer for chunks, questions and claims.

    The tokens of `bm25s.tokenize` with these stop words and this stemmer (tests/unit/test_text.py compares them
    on the shipped sets), without its cost per call: it builds a set of its stop words for every text and a
    vocabulary for every call, 0.14 ms for a question against 0.02 ms here, and a question is tokenized a dozen
    times (its terms, its passages' sentences, its answer's claims)."""
    stop = _stopwords()
    words = [[word for word in _WORD.findall(text.lower()) if word not in stop] for text in texts]
    distinct = list(dict.fromkeys(word for text_words in words for word in text_words))
    stem_of = dict(zip(distinct, _stemmer().stemWords(distinct), strict=True))
    return [[stem_of[word] for word in text_words] for text_words in words]


def terms_held(texts: Sequence[str], wanted: frozenset[str]) -> list[set[str]]:
    """Which of the stems `wanted` each text's tokens hold: `[set(t) & wanted for t in tokenize(texts)]`, at a
    fraction of its cost. The English stemmer keeps a word's first letter (checked on every word of the shipped sets
    by tests/unit/test_text.py), so only the words that begin as one of `wanted` does are stemmed. A question's
    evidence asks this of its 40 candidates' 250-odd sentences: tokenizing them all was most of its time."""
    initials = "".join(sorted({stem[0] for stem in wanted if stem}))
    if not initials:
        return [set() for _ in texts]
    words_of = _words_beginning_with(initials).findall
    stop = _stopwords()
    words = [[word for word in words_of(text.lower()) if word not in stop] for text in texts]
    distinct = list(dict.fromkeys(word for text_words in words for word in text_words))
    stem_of = dict(zip(distinct, _stemmer().stemWords(distinct), strict=True))
    return [{stem for word in text_words if (stem := stem_of[word]) in wanted} for text_words in words]


@cache
def _words_beginning_with(initials: str) -> re.Pattern[str]:
    r"""_WORD's matches whose first character is one of `initials` (word characters, as a stem's are): a whole run
    of word characters each. (A lookbehind, `(?<!\w)`, says the same and took a fifth longer.)"""
    return re.compile(rf"\b[{re.escape(initials)}]\w+")


def names_in(text: str, *, skip_sentence_starts: bool = False) -> list[str]:
    """The capitalised words of a text that are not question words: the people, places and bodies it names.

    With `skip_sentence_starts`, a word that opens a sentence is left out (it is capitalised anyway); sentences
    are told by the sentence splitter, so "Mr. Putin" is not two sentences."""
    starts = {_after_openers(text, start) for start, _ in sentence_spans(text)} if skip_sentence_starts else set()
    return [
        match.group()
        for match in NAME.finditer(text)
        if match.group().lower() not in QUESTION_WORDS and match.start() not in starts
    ]


def _after_openers(text: str, start: int) -> int:
    """Where the first word of a sentence starts, past opening quotes and brackets."""
    while start < len(text) and text[start] in _OPENERS:
        start += 1
    return start


# -- sentences and blocks -------------------------------------------------------------------------------------


@cache
def _punkt() -> Any:
    """nltk's Punkt sentence model, from the copy that llama-index ships (nothing is downloaded)."""
    with without(*_SCIPY):
        import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    spec = importlib.util.find_spec("llama_index.core")
    assert spec is not None and spec.submodule_search_locations
    cache_dir = Path(next(iter(spec.submodule_search_locations))) / "_static" / "nltk_cache"
    if str(cache_dir) not in nltk.data.path:
        nltk.data.path.append(str(cache_dir))
    tokenizer = PunktTokenizer("english")
    # Punkt's English model misses a few abbreviations that are common in news and encyclopaedic text.
    tokenizer._params.abbrev_types.update(_EXTRA_ABBREVIATIONS)
    return tokenizer


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Spans of non-empty lines/paragraphs: headings and paragraphs are separate blocks."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _LINE_BREAKS.finditer(text):
        _append_stripped(text, pos, match.start(), spans)
        pos = match.end()
    _append_stripped(text, pos, len(text), spans)
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The one sentence splitter: spans over the whole text, never crossing a paragraph or line break, none
    longer than MAX_SENTENCE_CHARS."""
    tokenizer = _punkt()
    spans: list[tuple[int, int]] = []
    for p_start, p_end in paragraph_spans(text):
        for s_start, s_end in tokenizer.span_tokenize(text[p_start:p_end]):
            _append_bounded(text, p_start + s_start, p_start + s_end, spans)
    return spans


def _append_bounded(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """A sentence, cut into pieces of at most MAX_SENTENCE_CHARS: at the last clause break (a comma, a semicolon,
    a CJK full stop) in a piece's second half, else at its last space, else at the limit itself."""
    while end - start > MAX_SENTENCE_CHARS:
        half = start + MAX_SENTENCE_CHARS // 2
        window = text[half : start + MAX_SENTENCE_CHARS]
        cut = start + MAX_SENTENCE_CHARS
        for breaks in (_CLAUSE_BREAK, _SPACE):
            if found := [m.end() for m in breaks.finditer(window)]:
                cut = half + found[-1]
                break
        _append_stripped(text, start, cut, spans)
        start = cut
    _append_stripped(text, start, end, spans)


def _append_stripped(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def is_heading(block: str) -> bool:
    """A line that titles what follows: short and without a sentence's or clause's closing punctuation."""
    block = block.strip()
    return block.startswith("#") or (0 < len(block.split()) <= HEADING_MAX_WORDS and not _TERMINAL.search(block))


def reads_as_sentence(text: str) -> bool:
    """A sentence ends with . ! or ? (a heading such as "Remarks of Liz Truss" does not), or is too long to be
    a heading."""
    terminal = _TERMINAL.search(text)
    return bool(terminal and terminal.group(1) in ".!?") or len(text.split()) > HEADING_MAX_WORDS
