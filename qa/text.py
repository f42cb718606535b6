"""Text normalisation and sentence spans with exact character offsets."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

_LINE_BREAKS = re.compile(r"\n[ \t]*\n+|\n")
_SPACES = re.compile(r"[ \t\u00a0]+")


def normalise_article_text(text: str) -> str:
    """Unicode-normalise, unify line endings, strip trailing spaces and collapse 3+ blank lines.

    The result is what we store and what every citation offset points into.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def fold(text: str) -> str:
    """Case-, quote- and whitespace-folded text for containment checks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.split())


_EXTRA_ABBREVIATIONS = {"i.e", "e.g", "etc", "vs", "cf", "approx", "no", "nos", "st", "gen", "gov", "sen", "rep"}


@cache
def _punkt() -> Any:
    """nltk's Punkt sentence model, from the copy that llama-index ships (nothing is downloaded)."""
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
    """Sentence spans over the whole text, never crossing a paragraph or line break."""
    tokenizer = _punkt()
    spans: list[tuple[int, int]] = []
    for p_start, p_end in paragraph_spans(text):
        for s_start, s_end in tokenizer.span_tokenize(text[p_start:p_end]):
            _append_stripped(text, p_start + s_start, p_start + s_end, spans)
    return spans


def _append_stripped(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


_ENDS_SENTENCE = re.compile(r"[.!?:;][\"'’”)\]]*$")


def is_heading(block: str) -> bool:
    """A line that titles what follows: short and without a sentence's closing punctuation."""
    block = block.strip()
    return block.startswith("#") or (0 < len(block.split()) <= 12 and not _ENDS_SENTENCE.search(block))
