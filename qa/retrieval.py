"""Hybrid retrieval: dense (Chroma, cosine) and BM25 candidates fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from qa.domain import Passage
from qa.keyword import KeywordIndex
from qa.store import ChromaStore, StoredChunk

Mode = Literal["hybrid", "dense", "bm25"]
RRF_K = 60  # the constant from Cormack et al.; large enough that rank 1 and 2 of one list do not dominate


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class HybridRetriever:
    """Top passages for a question vector and text, from Chroma and the keyword index."""

    def __init__(self, store: ChromaStore, keyword: KeywordIndex, candidates: int) -> None:
        self.store = store
        self.keyword = keyword
        self.candidates = candidates

    def retrieve(
        self,
        question: str,
        vector: np.ndarray,
        top_k: int,
        mode: Mode = "hybrid",
        article_ids: Sequence[str] | None = None,
    ) -> list[tuple[StoredChunk, float, float]]:
        """(chunk, fused score, cosine to the question) of the best `top_k` chunks, best first."""
        rankings: list[list[str]] = []
        if mode in ("hybrid", "dense"):
            rankings.append([c for c, _ in self.store.dense_query(vector, self.candidates, article_ids)])
        if mode in ("hybrid", "bm25"):
            allowed = set(article_ids) if article_ids else None
            rankings.append([c for c, _ in self.keyword.search(question, self.candidates, allowed)])
        fused = reciprocal_rank_fusion(rankings)[:top_k]
        if not fused:
            return []
        chunks = self.store.get_chunks([c for c, _ in fused], with_embeddings=True)
        results = []
        for chunk_id, score in fused:
            chunk = chunks.get(chunk_id)
            if chunk is None:  # removed between the two reads: skip rather than fail
                continue
            cosine = float(chunk.embedding @ vector) if chunk.embedding is not None else 0.0
            results.append((chunk, score, cosine))
        return results


def to_passages(
    hits: Sequence[tuple[StoredChunk, float, float]], titles: dict[str, tuple[str, str | None, str | None]]
) -> list[Passage]:
    """Domain passages from retrieval hits, with their article's title, date and source."""
    passages = []
    for rank, (chunk, score, cosine) in enumerate(hits, start=1):
        title, published, source = titles.get(chunk.article_id, (chunk.article_id, None, None))
        passages.append(
            Passage(
                chunk_id=chunk.id,
                article_id=chunk.article_id,
                title=title,
                published=published,
                source=source,
                start=chunk.start,
                end=chunk.end,
                text=chunk.text,
                sentences=chunk.sentences,
                score=score,
                dense_score=cosine,
                rank=rank,
            )
        )
    return passages
