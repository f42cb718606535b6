"""What the unit tests build by hand and share."""

from __future__ import annotations

from qa.domain import Passage
from qa.retrieval import Hit


def passage_of(hit: Hit, title: str, rank: int) -> Passage:
    """The passage an answerer is given for a hit: its chunk, with the article's title and the hit's rank."""
    c = hit.chunk
    return Passage(
        chunk_id=c.id,
        article_id=c.article_id,
        title=title,
        start=c.start,
        end=c.end,
        text=c.text,
        sentences=c.sentences,
        score=hit.score,
        dense_score=hit.cosine,
        rank=rank,
    )
