"""Sentence-aware chunks with exact character offsets into the article.

A chunk is a paragraph; a short heading line is folded into the paragraph after it, a paragraph too long for the
model is split at sentence boundaries, and a tiny paragraph joins the next one. Chunks never overlap, so every
sentence belongs to exactly one chunk and a citation's offsets are unambiguous.
"""

from __future__ import annotations

from collections.abc import Callable

from qa.domain import Chunk
from qa.text import paragraph_spans, sentence_spans

Span = tuple[int, int]
MIN_CHUNK_TOKENS = 24  # a paragraph below this is folded into the next one: a lone heading is no passage


def chunk_id(article_id: str, position: int) -> str:
    """Stable id: the same article and position always give the same id."""
    return f"{article_id}::{position}"


def chunk_article(
    article_id: str, text: str, count_tokens: Callable[[str], int], max_tokens: int
) -> list[Chunk]:
    """Split an article into chunks of whole sentences, each at most `max_tokens` word pieces where possible."""
    sentences = sentence_spans(text)
    groups: list[list[Span]] = []
    pending: list[Span] = []
    pending_tokens = 0
    for p_start, p_end in paragraph_spans(text):
        paragraph = [s for s in sentences if s[0] >= p_start and s[1] <= p_end]
        for piece in _split_long(text, paragraph, count_tokens, max_tokens):
            tokens = count_tokens(text[piece[0][0] : piece[-1][1]])
            if pending and pending_tokens + tokens > max_tokens:
                groups.append(pending)
                pending, pending_tokens = [], 0
            pending = pending + piece
            pending_tokens += tokens
            if pending_tokens >= MIN_CHUNK_TOKENS:
                groups.append(pending)
                pending, pending_tokens = [], 0
    if pending:
        if groups and pending_tokens + count_tokens(_span_text(text, groups[-1])) <= max_tokens:
            groups[-1] = groups[-1] + pending
        else:
            groups.append(pending)
    return [
        Chunk(
            id=chunk_id(article_id, position),
            article_id=article_id,
            position=position,
            start=group[0][0],
            end=group[-1][1],
            text=text[group[0][0] : group[-1][1]],
            sentences=group,
        )
        for position, group in enumerate(groups)
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
