"""Sentence-aware chunks with exact character offsets into the article.

A chunk is a paragraph; a short heading line is folded into the paragraph after it, a paragraph too long for the
model is split at sentence boundaries, and a tiny paragraph joins the next one. Chunks never overlap, so every
sentence belongs to exactly one chunk and a citation's offsets are unambiguous. Each chunk remembers the section
heading it falls under: "Remarks of Liz Truss" tells retrieval whose words a paragraph of "she said" reports.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from functools import cache

from qa.domain import Chunk
from qa.text import is_heading, paragraph_spans, sentence_spans

Span = tuple[int, int]
MIN_CHUNK_TOKENS = 24  # a paragraph below this is folded into the next one: a lone heading is no passage


def with_context(chunks: list[Chunk], title: str) -> list[Chunk]:
    """Attach what the embedder and BM25 read before each chunk's text: the article title and section heading."""
    return [c.model_copy(update={"context": f"{title}. {c.heading}" if c.heading else title}) for c in chunks]


def indexed_text(chunk_text: str, context: str) -> tuple[str, int]:
    """The text that is embedded and keyword-indexed, and where the chunk's own text starts in it."""
    prefix = f"{context}\n\n" if context else ""
    return prefix + chunk_text, len(prefix)


def keyword_text(chunk_text: str, heading: str) -> str:
    """What BM25 indexes: the heading and the text. Not the title: within one article it is on every chunk and
    would drown the terms that tell its paragraphs apart."""
    return f"{heading}\n\n{chunk_text}" if heading else chunk_text


def chunk_id(article_id: str, position: int, version: str = "") -> str:
    """Stable id: the same article, version and position always give the same id. `version` names the content
    the chunks were cut from (see `chunk_version`); "" is the layout of indexes written before versions."""
    return f"{article_id}::{version}::{position}" if version else f"{article_id}::{position}"


def chunk_version(content_hash: str) -> str:
    """The version of an article's chunks: derived from its content hash, so that an edit writes its chunks
    under new ids beside the old ones (readers keep using the old until the article's record names the new),
    and the same content always gets the same ids."""
    return hashlib.sha256(content_hash.encode("utf-8")).hexdigest()[:12]


def chunk_article(article_id: str, text: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[Chunk]:
    """Split an article into chunks of whole sentences, each at most `max_tokens` word pieces where possible."""
    count_tokens = cache(count_tokens)  # a paragraph is counted to see whether it fits, then again as a piece
    sentences = sentence_spans(text)
    # Sentences are in order and never overlap: those inside a paragraph are one run, found by bisection (a scan
    # of every sentence for every paragraph took minutes on a 5 MB article).
    starts, ends = [s for s, _ in sentences], [e for _, e in sentences]
    groups: list[tuple[list[Span], str]] = []
    pending: list[Span] = []
    pending_tokens = 0
    heading = ""
    for p_start, p_end in paragraph_spans(text):
        paragraph = sentences[bisect_left(starts, p_start) : bisect_right(ends, p_end)]
        if is_heading(text[p_start:p_end]):
            heading = text[p_start:p_end].lstrip("#").strip()
        for piece in _split_long(text, paragraph, count_tokens, max_tokens):
            tokens = count_tokens(text[piece[0][0] : piece[-1][1]])
            if pending and pending_tokens + tokens > max_tokens:
                groups.append((pending, heading))
                pending, pending_tokens = [], 0
            pending = pending + piece
            pending_tokens += tokens
            if pending_tokens >= MIN_CHUNK_TOKENS:
                groups.append((pending, heading))
                pending, pending_tokens = [], 0
    if pending:
        last, last_heading = groups[-1] if groups else ([], heading)
        if last and pending_tokens + count_tokens(_span_text(text, last)) <= max_tokens:
            groups[-1] = (last + pending, last_heading)
        else:
            groups.append((pending, heading))
    return [
        Chunk(
            id=chunk_id(article_id, position),
            article_id=article_id,
            position=position,
            start=group[0][0],
            end=group[-1][1],
            text=text[group[0][0] : group[-1][1]],
            sentences=group,
            heading=group_heading,
        )
        for position, (group, group_heading) in enumerate(groups)
    ]


def _split_long(
    text: str, paragraph: list[Span], count_tokens: Callable[[str], int], max_tokens: int
) -> list[list[Span]]:
    """Cut a paragraph into runs of sentences that fit the model; a single overlong sentence stays whole."""
    if not paragraph:
        return []
    if count_tokens(_span_text(text, paragraph)) <= max_tokens:
        return [paragraph]
    pieces: list[list[Span]] = []
    current: list[Span] = []
    for sentence in paragraph:
        if current and count_tokens(_span_text(text, [*current, sentence])) > max_tokens:
            pieces.append(current)
            current = []
        current.append(sentence)
    pieces.append(current)
    return pieces


def _span_text(text: str, spans: list[Span]) -> str:
    return text[spans[0][0] : spans[-1][1]]
