"""Hybrid retrieval: dense (Chroma) and BM25 candidates, reranked by a fused score and their best sentence.

Plain reciprocal-rank fusion throws the scores away; on XQuAD-en a convex mix of cosine and normalised BM25 plus
the best sentence's meaning and term coverage ranks the right paragraph first markedly more often (README).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from qa.catalog import Admitted, HeldChunks, HeldCosines
from qa.domain import Passage, RetrievalMode, SearchFilter
from qa.evidence import QuestionEvidence, SentenceEvidence
from qa.keyword import KeywordIndex
from qa.store import ChromaStore, StoredChunk
from qa.telemetry import carry, stage

# Weights of the hybrid score, chosen on XQuAD-en and the seed set (see README: a broad plateau around them).
W_COSINE = 0.7  # passage cosine; BM25 (normalised by the best candidate's) gets 1 - W_COSINE
W_BEST_SENTENCE_DENSE = 0.4
W_BEST_SENTENCE_TERMS = 0.4
# Dense search inside a filter, by the number of chunks it lets through: up to EXACT_MAX, the catalog compares
# their vectors with the question's as it reads them (1-3 microseconds a chunk at 1,000,000 chunks; through a
# server at that size, Chroma's search among ids took 1.2-1.7 s for 20-200 ids, 378 ms for 1,000, 72 ms for
# 20,000); wider, more neighbours than needed are asked of Chroma and those inside kept (the filter lets much
# through), and when too few are, Chroma searches among the ids. The chunks whose vectors the catalog lacks (rare:
# an article caught mid-write) are read from the store: up to STORE_EXACT_MAX compared here, more searched among
# by Chroma.
EXACT_MAX = 20_000
STORE_EXACT_MAX = 500
MAX_OVERSAMPLED = 2_000
# The keyword side inside a filter the catalog resolved to at most this many articles searches among their ids
# rather than by the filter's dates and outlets: at 1,000,000 chunks tantivy took 3-7 ms p50 for the ids of a
# day's to a month's articles (70-2,050) against 8-9 ms for the date range (p95 4-9 against 17-18 ms), the same
# hits; 12 ms for three months' (6,100).
KEYWORD_BY_IDS_MAX = 2_000
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-read")


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, its scores, and the evidence of its sentences."""

    chunk: StoredChunk
    score: float
    cosine: float
    keyword: float
    evidence: SentenceEvidence


class HybridRetriever:
    """Top passages for a question, from Chroma and the keyword index, within an optional filter."""

    def __init__(
        self,
        store: ChromaStore,
        keyword: KeywordIndex,
        candidates: int,
        chunk_total: Callable[[], int],
        held_cosines: Callable[[Admitted, np.ndarray], HeldCosines],
        held_chunks: Callable[[Sequence[str], int, bool], HeldChunks],
    ) -> None:
        self.store = store
        self.keyword = keyword
        self.candidates = candidates
        self.chunk_total = chunk_total
        self.held_cosines = held_cosines  # the catalog's (Catalog.cosines)
        self.held_chunks = held_chunks  # the catalog's (Catalog.held_chunks)

    def retrieve(
        self,
        question: QuestionEvidence,
        top_k: int,
        mode: RetrievalMode = "hybrid",
        within: SearchFilter | None = None,
        allowed: Admitted | None = None,
    ) -> list[Hit]:
        """The best `top_k` hits, best first. With a filter, `allowed` is what it lets through."""
        # The dense search waits on Chroma (a server, or its own threads): it runs beside the work in Python.
        dense_read = _READS.submit(carry(self._dense), question, allowed) if mode != "bm25" else None
        keyword: dict[str, float] = {}
        keyword_read = None
        if mode != "dense":
            with stage("keyword"):
                keyword = dict(self.keyword.search(question.question, self.candidates, _keyword_scope(within, allowed)))
            if keyword:  # read while the dense search runs; with their vectors, for the cosines of those it misses
                keyword_read = _READS.submit(carry(self.read_chunks), list(keyword), len(question.vector))
        dense, found = dense_read.result() if dense_read else ([], {})
        with stage("fuse"):  # merging the candidates: their chunks, scores and sentence evidence
            ids = list(dict.fromkeys([c for c, _ in dense] + list(keyword)))
            if not ids:
                return []
            found = (keyword_read.result() if keyword_read else {}) | found
            cosines = dict(dense)  # Chroma's (or the catalog's), for the candidates the dense search found
            cosines.update(_cosines(question.vector, [c for i, c in found.items() if i not in cosines]))
            chunks = [found[i] for i in ids if i in found]  # a chunk removed between the reads is skipped
            best_keyword = max(keyword.values(), default=0.0) or 1.0
            hits = []
            for chunk, evidence in zip(chunks, question.measure(chunks), strict=True):
                cosine = cosines.get(chunk.id, 0.0)
                bm25 = keyword.get(chunk.id, 0.0)
                hits.append(Hit(chunk, _score(mode, cosine, bm25 / best_keyword, evidence), cosine, bm25, evidence))
            hits.sort(key=lambda h: -h.score)
            return hits[:top_k]

    def read_chunks(self, ids: Sequence[str], dimension: int, with_vectors: bool = True) -> dict[str, StoredChunk]:
        """Chunks by id, with their vectors unless not `with_vectors`: as the catalog holds them, and from the
        store those it does not (an article caught mid-write, or one a process of an older release wrote). Ids
        gone from both are left out."""
        held = self.held_chunks(ids, dimension, with_vectors)
        found = self.store.chunks_from_records(held.records, held.vectors)
        missing = [i for i in ids if i not in found or (with_vectors and found[i].embedding is None)]
        if missing:
            found.update(self.store.get_chunks(missing, with_embeddings=with_vectors))
        return found

    def _dense(
        self, question: QuestionEvidence, allowed: Admitted | None
    ) -> tuple[list[tuple[str, float]], dict[str, StoredChunk]]:
        """(chunk id, cosine) of the nearest chunks, inside the filter when there is one, and their chunks (read
        on this thread, beside the keyword side's work; without their vectors, as their cosines are known)."""
        nearest = self._nearest(question, allowed)
        if not nearest:
            return [], {}
        return nearest, self.read_chunks([i for i, _ in nearest], len(question.vector), with_vectors=False)

    def _nearest(self, question: QuestionEvidence, allowed: Admitted | None) -> list[tuple[str, float]]:
        with stage("dense"):
            if allowed is None:  # ids alone: the chunks are read from the catalog (1M chunks: 4 ms, not 9-15)
                return self.store.dense_query(question.vector, self.candidates)
            if allowed.chunk_count <= EXACT_MAX:
                return self._exact(question.vector, allowed)
            ids = allowed.chunk_ids
            total = self.chunk_total()
            share = len(ids) / max(total, 1)
            wanted = min(MAX_OVERSAMPLED, math.ceil(2 * self.candidates / share))
            inside = set(ids)
            found = [(c, s) for c, s in self.store.dense_query(question.vector, wanted) if c in inside]
            if len(found) >= self.candidates or wanted >= total:
                return found[: self.candidates]
            return self.store.dense_query(question.vector, self.candidates, among=ids)

    def _exact(self, vector: np.ndarray, allowed: Admitted) -> list[tuple[str, float]]:
        """The nearest of a filter's chunks, compared exactly: the vectors the catalog holds, and the store's of
        the others."""
        held = self.held_cosines(allowed, vector)
        # the nearest held, best first, ties in the catalog's order: a Python sort of every pair took 5 ms for a
        # week of news at 1,000,000 chunks (9,700), this 0.9 ms
        nearest = np.argsort(-held.cosines, kind="stable")[: self.candidates]
        found = [(held.id_at(k), float(held.cosines[k])) for k in nearest]
        if len(held.missing) > STORE_EXACT_MAX:
            found += self.store.dense_query(vector, self.candidates, among=held.missing)
        elif held.missing:
            found += self.store.nearest_among(vector, self.candidates, held.missing)
        found.sort(key=lambda hit: -hit[1])
        return found[: self.candidates]


def _keyword_scope(within: SearchFilter | None, allowed: Admitted | None) -> SearchFilter | None:
    """The filter as the keyword side applies it: the ids of the articles it lets through when they are few."""
    if allowed is None or allowed.articles > KEYWORD_BY_IDS_MAX:
        return within
    return SearchFilter(article_ids=[article_id for article_id, _, _ in allowed.members])


def _cosines(vector: np.ndarray, chunks: Iterable[StoredChunk]) -> dict[str, float]:
    """Chunk id -> cosine of its vector to the question's (the vectors are normalised), in one product."""
    read = [(c.id, c.embedding) for c in chunks if c.embedding is not None]
    if not read:
        return {}
    values = np.stack([embedding for _, embedding in read]) @ vector
    return {chunk_id: float(v) for (chunk_id, _), v in zip(read, values, strict=True)}


def _score(mode: RetrievalMode, cosine: float, keyword: float, evidence: SentenceEvidence) -> float:
    if mode == "dense":
        return cosine
    if mode == "bm25":
        return keyword
    return (
        W_COSINE * cosine
        + (1 - W_COSINE) * keyword
        + W_BEST_SENTENCE_DENSE * evidence.best_dense
        + W_BEST_SENTENCE_TERMS * evidence.best_lexical
    )


def to_passages(hits: Sequence[Hit], titles: dict[str, tuple[str, str | None, str | None]]) -> list[Passage]:
    """Domain passages from hits, with their article's title, date and source."""
    passages = []
    for rank, hit in enumerate(hits, start=1):
        chunk = hit.chunk
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
                score=round(hit.score, 4),
                dense_score=round(hit.cosine, 4),
                rank=rank,
            )
        )
    return passages
