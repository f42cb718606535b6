"""qa/retrieval.py: the fused score and the hybrid retriever over a fake store, catalog and keyword index (the real
ones together: tests/test_replica.py, tests/test_engine*.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from qa import retrieval
from qa.catalog import Admitted, HeldChunks, HeldCosines
from qa.domain import SearchFilter
from qa.evidence import QuestionEvidence, SentenceEvidence
from qa.retrieval import (
    W_BEST_SENTENCE_DENSE,
    W_BEST_SENTENCE_TERMS,
    W_COSINE,
    Hit,
    HybridRetriever,
    _score,
    to_passages,
)
from qa.store import StoredChunk

Q = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
NEUTRAL = "Nothing relevant here."  # holds no term of QUESTION
QUESTION = "What did Truss demand?"


def make_chunk(
    chunk_id: str, embedding: list[float] | None, sentence: str = NEUTRAL, sentence_vector: list[float] | None = None
) -> StoredChunk:
    article_id = chunk_id.split("::")[0]
    start = 100
    return StoredChunk(
        id=chunk_id,
        article_id=article_id,
        position=int(chunk_id.split("::")[1]),
        text=sentence,
        start=start,
        end=start + len(sentence),
        content_hash="h",
        sentences=[(start, start + len(sentence))],
        sentence_vectors=np.array([sentence_vector or [0.0] * 4], dtype=np.float32),
        embedding=None if embedding is None else np.array(embedding, dtype=np.float32),
    )


class FakeStore:
    """The reads the retriever makes, recorded."""

    def __init__(self, chunks: Sequence[StoredChunk], dense: list[tuple[str, float]]) -> None:
        self.chunks = {c.id: c for c in chunks}
        self.dense = dense
        self.dense_calls: list[tuple[Any, ...]] = []
        self.get_calls: list[tuple[list[str], bool]] = []
        self.exact_calls: list[tuple[Any, ...]] = []
        self.reading = threading.Event()  # a read by id has begun
        self.search_waits = False  # the dense search lasts until a read begins (at most 2 s), as on a server
        self.read_during_search: bool | None = None  # whether one began while it ran

    def dense_query(self, vector: np.ndarray, n: int, among: Sequence[str] | None = None) -> list[tuple[str, float]]:
        self.dense_calls.append((vector, n, among))
        if self.search_waits:
            self.read_during_search = self.reading.wait(timeout=2)
        found = [hit for hit in self.dense if among is None or hit[0] in among]
        return found[:n]

    def chunks_from_records(self, records: dict[str, str], embeddings: dict[str, np.ndarray]) -> dict[str, StoredChunk]:
        return {i: dataclasses.replace(self.chunks[i], embedding=embeddings.get(i)) for i in records}

    def nearest_among(self, vector: np.ndarray, n: int, among: Sequence[str]) -> list[tuple[str, float]]:
        self.exact_calls.append((vector, n, list(among)))
        return [hit for hit in self.dense if hit[0] in among][:n]

    def get_chunks(self, ids: Sequence[str], with_embeddings: bool = False) -> dict[str, StoredChunk]:
        self.get_calls.append((list(ids), with_embeddings))
        self.reading.set()
        return {i: self.chunks[i] for i in ids if i in self.chunks}


class FakeKeyword:
    """BM25 results by hand, recorded."""

    def __init__(self, results: list[tuple[str, float]]) -> None:
        self.results = results
        self.calls: list[tuple[str, int, SearchFilter | None]] = []

    def search(self, question: str, n: int, within: SearchFilter | None = None) -> list[tuple[str, float]]:
        self.calls.append((question, n, within))
        return self.results[:n]


class FakeCatalogVectors:
    """The catalog's cosines to a filter's chunks: those of the articles in `held` (all, when None; from the
    store's chunks), recorded."""

    def __init__(self, store: FakeStore, held: set[str] | None = None) -> None:
        self.store = store
        self.held = held
        self.calls: list[list[str]] = []

    def __call__(self, admitted: Admitted, vector: np.ndarray) -> HeldCosines:
        self.calls.append(admitted.chunk_ids)
        held = [m for m in admitted.members if self.held is None or m[0] in self.held]
        ids = [f"{article_id}::{p}" for article_id, chunks, _ in held for p in range(chunks)]
        vectors = np.array([self.store.chunks[i].embedding for i in ids], dtype=np.float32).reshape(-1, len(vector))
        return HeldCosines(held, vectors @ vector, [i for i in admitted.chunk_ids if i not in ids])


class FakeCatalogChunks:
    """The chunks the catalog holds: those of `held` (every one of the store's when None), recorded."""

    def __init__(self, store: FakeStore, held: set[str] | None = None) -> None:
        self.store = store
        self.held = held
        self.calls: list[list[str]] = []

    def __call__(self, ids: Sequence[str], dimension: int, with_vectors: bool = True) -> HeldChunks:
        self.calls.append(list(ids))
        self.store.reading.set()
        found = [self.store.chunks[i] for i in ids if i in self.store.chunks and (self.held is None or i in self.held)]
        vectors = {c.id: c.embedding for c in found if c.embedding is not None and with_vectors}
        return HeldChunks({c.id: "its metadata" for c in found}, vectors)


def retriever(
    store: FakeStore,
    keyword: FakeKeyword,
    candidates: int,
    held: FakeCatalogVectors | None = None,
    chunks: FakeCatalogChunks | None = None,
) -> HybridRetriever:
    """The retriever over the fakes, in a store of 100 chunks (the catalog holding every vector and chunk, unless
    `held` or `chunks` say otherwise)."""
    held = held or FakeCatalogVectors(store)
    chunks = chunks or FakeCatalogChunks(store)
    return HybridRetriever(store, keyword, candidates, lambda: 100, held, chunks)  # type: ignore[arg-type]


def admitted(chunk_ids: list[str]) -> Admitted:
    """What a filter lets through: these chunks (their articles' members are the fake catalog's business)."""
    counts = Counter(i.split("::")[0] for i in chunk_ids)  # articles in order of their first chunk
    result = Admitted([(article_id, chunks, "") for article_id, chunks in counts.items()])
    assert result.chunk_ids == chunk_ids, "each article's chunks from 0, together"
    return result


def question(text: str = QUESTION) -> QuestionEvidence:
    return QuestionEvidence(text, Q, lambda term: 1.0)


def hybrid(cosine: float, keyword: float, best_dense: float = 0.0, best_lexical: float = 0.0) -> float:
    return (
        W_COSINE * cosine
        + (1 - W_COSINE) * keyword
        + W_BEST_SENTENCE_DENSE * best_dense
        + W_BEST_SENTENCE_TERMS * best_lexical
    )


# -- the fused score ------------------------------------------------------------------------------------------

EVIDENCE = SentenceEvidence(
    texts=["a.", "b."],
    dense=np.array([0.2, 0.5], dtype=np.float32),
    lexical=np.array([0.75, 0.1], dtype=np.float32),
    coverage=0.9,
    names=1.0,
)


def test_dense_score_is_the_cosine() -> None:
    assert _score("dense", 0.3, 0.6, EVIDENCE) == 0.3


def test_bm25_score_is_the_normalised_keyword_score() -> None:
    assert _score("bm25", 0.3, 0.6, EVIDENCE) == 0.6


def test_hybrid_score_mixes_cosine_keyword_and_best_sentence() -> None:
    expected = W_COSINE * 0.3 + (1 - W_COSINE) * 0.6 + W_BEST_SENTENCE_DENSE * 0.5 + W_BEST_SENTENCE_TERMS * 0.75
    assert _score("hybrid", 0.3, 0.6, EVIDENCE) == pytest.approx(expected)


def test_hybrid_score_of_a_passage_without_sentences() -> None:
    empty = SentenceEvidence([], np.zeros(0), np.zeros(0), 0.0, 1.0)
    assert _score("hybrid", 0.3, 0.6, empty) == pytest.approx(W_COSINE * 0.3 + (1 - W_COSINE) * 0.6)


# -- the retriever --------------------------------------------------------------------------------------------


def three_chunks() -> list[StoredChunk]:
    return [
        make_chunk("a1::0", [0.8, 0.6, 0, 0]),  # cosine 0.8
        make_chunk("a1::1", [0.6, 0.8, 0, 0]),  # cosine 0.6
        make_chunk("a2::0", [0.0, 1.0, 0, 0]),  # cosine 0.0
    ]


def test_a_chunk_found_by_both_retrievers_ranks_above_one_found_by_one() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::0", 0.8), ("a1::1", 0.6)])
    keyword = FakeKeyword([("a1::1", 4.0), ("a2::0", 2.0)])
    hits = retriever(store, keyword, candidates=10).retrieve(question(), top_k=5)
    assert [h.chunk.id for h in hits] == ["a1::1", "a1::0", "a2::0"]
    assert [h.score for h in hits] == pytest.approx([hybrid(0.6, 1.0), hybrid(0.8, 0.0), hybrid(0.0, 0.5)])
    assert [h.cosine for h in hits] == pytest.approx([0.6, 0.8, 0.0])
    assert [h.keyword for h in hits] == [4.0, 0.0, 2.0]  # raw BM25 is kept on the hit


def test_the_keyword_candidates_are_read_from_the_catalog_while_the_dense_search_runs() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::0", 0.8), ("a1::1", 0.6)])
    keyword = FakeKeyword([("a1::1", 4.0), ("a2::0", 2.0)])
    store.search_waits = True
    held = FakeCatalogChunks(store)
    hits = retriever(store, keyword, candidates=7, chunks=held).retrieve(question(), top_k=5)
    assert store.read_during_search, "the keyword candidates' read does not wait for the dense search"
    assert sorted(held.calls) == [["a1::0", "a1::1"], ["a1::1", "a2::0"]], "each side's candidates, on its thread"
    assert store.get_calls == [], "the dense search asks the store for ids alone, and nothing is read through it"
    assert {h.chunk.id for h in hits} == {"a1::0", "a1::1", "a2::0"}
    assert store.dense_calls[0][1:] == (7, None)
    assert keyword.calls == [(QUESTION, 7, None)]


def test_best_sentence_evidence_enters_the_hybrid_score() -> None:
    answering = make_chunk("a1::0", [0.5, 0, 0, 0], "Truss demanded a ceasefire.", sentence_vector=[0.9, 0, 0, 0])
    store = FakeStore([answering], dense=[("a1::0", 0.5)])
    (hit,) = retriever(store, FakeKeyword([("a1::0", 3.0)]), candidates=5).retrieve(question(), top_k=5)
    assert hit.evidence.best_dense == pytest.approx(0.9)
    assert hit.evidence.best_lexical == pytest.approx(1.0)  # both terms, truss and demand, are in the sentence
    assert hit.score == pytest.approx(hybrid(0.5, 1.0, best_dense=0.9, best_lexical=1.0))


def test_bm25_is_normalised_by_the_best_candidate() -> None:
    store = FakeStore(three_chunks(), dense=[])
    keyword = FakeKeyword([("a2::0", 8.0), ("a1::1", 2.0), ("a1::0", 6.0)])
    hits = retriever(store, keyword, candidates=10).retrieve(question(), top_k=5, mode="bm25")
    assert [(h.chunk.id, h.score) for h in hits] == [
        ("a2::0", pytest.approx(1.0)),
        ("a1::0", pytest.approx(0.75)),
        ("a1::1", pytest.approx(0.25)),
    ]


def test_a_chunk_missing_from_the_store_is_skipped() -> None:
    store = FakeStore(three_chunks()[:1], dense=[("gone::0", 0.9), ("a1::0", 0.8)])
    hits = retriever(store, FakeKeyword([("gone::3", 5.0)]), candidates=10).retrieve(question(), top_k=5)
    assert [h.chunk.id for h in hits] == ["a1::0"]
    assert sorted(store.get_calls) == [(["gone::0"], False), (["gone::3"], True)], "each once, not again after"


def test_the_chunks_the_catalog_does_not_hold_are_read_from_the_store_with_their_vectors() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::0", 0.8), ("a2::0", 0.1)])
    held = FakeCatalogChunks(store, held={"a1::0"})  # an article caught mid-write, or written by an older release
    hits = retriever(store, FakeKeyword([("a1::1", 3.0)]), candidates=10, chunks=held).retrieve(question(), top_k=5)
    # the keyword-only chunk with its vector (for its cosine), the dense search's without (its cosine is known)
    assert sorted(store.get_calls) == [(["a1::1"], True), (["a2::0"], False)]
    assert {h.chunk.id: round(h.cosine, 3) for h in hits} == {"a1::0": 0.8, "a1::1": 0.6, "a2::0": 0.1}


def test_dense_mode_does_not_ask_the_keyword_index() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::1", 0.6), ("a1::0", 0.8)])
    keyword = FakeKeyword([("a2::0", 9.0)])
    hits = retriever(store, keyword, candidates=10).retrieve(question(), top_k=5, mode="dense")
    assert keyword.calls == []
    assert [(h.chunk.id, h.score, h.keyword) for h in hits] == [
        ("a1::0", pytest.approx(0.8), 0.0),
        ("a1::1", pytest.approx(0.6), 0.0),
    ]


def test_bm25_mode_does_not_ask_the_dense_index() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::0", 0.8)])
    hits = retriever(store, FakeKeyword([("a2::0", 2.0)]), candidates=10).retrieve(question(), top_k=5, mode="bm25")
    assert store.dense_calls == []
    assert [h.chunk.id for h in hits] == ["a2::0"]
    assert hits[0].cosine == pytest.approx(0.0)  # still measured from the stored embedding


def test_filters_go_inside_both_retrievers() -> None:
    store = FakeStore(three_chunks(), dense=[("a2::0", 0.9), ("a1::0", 0.8)])
    keyword = FakeKeyword([("a1::1", 1.0)])
    within = SearchFilter(article_ids=["a1", "a3"])
    allowed = ["a1::0", "a1::1"]
    held = FakeCatalogVectors(store)
    hits = retriever(store, keyword, candidates=4, held=held).retrieve(
        question(), 5, within=within, allowed=admitted(allowed)
    )
    assert held.calls == [allowed], "a filter's chunks are compared exactly, by the catalog's vectors"
    assert store.exact_calls == [] and store.dense_calls == [], "nothing of the dense search is asked of the store"
    assert keyword.calls == [(QUESTION, 4, SearchFilter(article_ids=["a1"]))], "the keyword query: the ids it admits"
    assert {h.chunk.id: round(h.cosine, 3) for h in hits} == {"a1::0": 0.8, "a1::1": 0.6}
    # the exact comparison gives cosines only: its chunks are read from the catalog, as the keyword-only one is
    assert store.get_calls == []


def test_the_keyword_side_searches_among_a_filters_articles_when_few_else_by_the_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore(three_chunks(), dense=[("a2::0", 0.9), ("a1::0", 0.8)])
    week = SearchFilter(since=dt.datetime(2024, 5, 1, tzinfo=dt.UTC), until=dt.datetime(2024, 5, 8, tzinfo=dt.UTC))
    allowed = admitted(["a1::0", "a1::1", "a2::0"])
    keyword = FakeKeyword([("a1::1", 1.0)])
    retriever(store, keyword, candidates=4).retrieve(question(), 5, within=week, allowed=allowed)
    monkeypatch.setattr(retrieval, "KEYWORD_BY_IDS_MAX", 1)  # two articles are more than that
    retriever(store, keyword, candidates=4).retrieve(question(), 5, within=week, allowed=allowed)
    assert keyword.calls == [(QUESTION, 4, SearchFilter(article_ids=["a1", "a2"])), (QUESTION, 4, week)]
    retriever(store, keyword, candidates=4).retrieve(question(), 5, within=week, allowed=Admitted([]))
    assert keyword.calls[-1] == (QUESTION, 4, SearchFilter(article_ids=[])), "none admitted: none searched"


def test_the_chunks_whose_vectors_the_catalog_lacks_are_compared_by_the_store() -> None:
    store = FakeStore(three_chunks(), dense=[("a1::1", 0.6), ("a2::0", 0.0)])
    held = FakeCatalogVectors(store, held={"a1"})
    hybrid = retriever(store, FakeKeyword([]), candidates=4, held=held)
    hits = hybrid.retrieve(question(), 5, mode="dense", allowed=admitted(["a1::0", "a1::1", "a2::0"]))
    assert store.exact_calls == [(Q, 4, ["a2::0"])], "a few missing: read from the store and compared"
    assert [(h.chunk.id, round(h.cosine, 3)) for h in hits] == [("a1::0", 0.8), ("a1::1", 0.6), ("a2::0", 0.0)]


def test_many_chunks_the_catalog_lacks_are_searched_among_by_chroma(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval, "STORE_EXACT_MAX", 1)
    store = FakeStore(three_chunks(), dense=[("a1::0", 0.8), ("a1::1", 0.6), ("a2::0", 0.0)])
    hybrid = retriever(store, FakeKeyword([]), candidates=4, held=FakeCatalogVectors(store, held={"a2"}))
    hits = hybrid.retrieve(question(), 5, mode="dense", allowed=admitted(["a1::0", "a1::1", "a2::0"]))
    assert store.dense_calls == [(Q, 4, ["a1::0", "a1::1"])] and store.exact_calls == []
    assert [h.chunk.id for h in hits] == ["a1::0", "a1::1", "a2::0"]


def test_a_wide_filter_asks_for_more_neighbours_and_keeps_those_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval, "EXACT_MAX", 2)
    store = FakeStore(three_chunks(), dense=[("a2::0", 0.9), ("a1::0", 0.8), ("a1::1", 0.7)])
    allowed = ["a1::0", "a1::1", "a3::0"]  # 3 of the store's 100 chunks, more than EXACT_MAX
    held = FakeCatalogVectors(store)
    hybrid = retriever(store, FakeKeyword([]), candidates=2, held=held)
    hits = hybrid.retrieve(
        question(), 5, mode="dense", within=SearchFilter(article_ids=["a1", "a3"]), allowed=admitted(allowed)
    )
    (_, wanted, among), *rest = store.dense_calls
    assert among is None and wanted == min(retrieval.MAX_OVERSAMPLED, 2 * 2 * 100 // 3 + 1)
    assert [h.chunk.id for h in hits] == ["a1::0", "a1::1"] and rest == [], "enough neighbours were inside"
    assert held.calls == []


def test_a_wide_filter_falls_back_to_searching_inside_when_too_few_neighbours_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retrieval, "EXACT_MAX", 2)
    monkeypatch.setattr(retrieval, "MAX_OVERSAMPLED", 1)
    store = FakeStore(three_chunks(), dense=[("a2::0", 0.9), ("a1::0", 0.8), ("a1::1", 0.7)])
    allowed = ["a1::0", "a1::1", "a3::0"]
    hybrid = retriever(store, FakeKeyword([]), candidates=2)
    hits = hybrid.retrieve(
        question(), 5, mode="dense", within=SearchFilter(article_ids=["a1", "a3"]), allowed=admitted(allowed)
    )
    assert [call[2] for call in store.dense_calls] == [None, allowed]
    assert [h.chunk.id for h in hits] == ["a1::0", "a1::1"]


def test_top_k_keeps_the_best_hits() -> None:
    store = FakeStore(three_chunks(), dense=[("a2::0", 0.0), ("a1::1", 0.6), ("a1::0", 0.8)])
    hits = retriever(store, FakeKeyword([]), candidates=10).retrieve(question(), top_k=2, mode="dense")
    assert [h.chunk.id for h in hits] == ["a1::0", "a1::1"]


def test_no_candidates_means_no_hits_and_no_read() -> None:
    store = FakeStore(three_chunks(), dense=[])
    held = FakeCatalogChunks(store)
    assert retriever(store, FakeKeyword([]), candidates=10, chunks=held).retrieve(question(), top_k=5) == []
    assert store.get_calls == [] and held.calls == []


def test_cosines_come_from_the_dense_search_and_from_vectors_for_keyword_only_candidates() -> None:
    store = FakeStore(
        [make_chunk("a1::0", [0.1, 0, 0, 0]), make_chunk("a2::0", [0.3, 0, 0, 0])], dense=[("a1::0", 0.9)]
    )
    both = FakeKeyword([("a2::0", 1.0), ("a1::0", 0.5)])  # a1::0 is read with its vector too
    hits = retriever(store, both, candidates=10).retrieve(question(), top_k=5)
    assert {h.chunk.id: h.cosine for h in hits} == {"a1::0": 0.9, "a2::0": pytest.approx(0.3)}


def test_a_keyword_only_chunk_without_a_vector_has_cosine_zero() -> None:
    store = FakeStore([make_chunk("a1::0", None)], dense=[])
    (hit,) = retriever(store, FakeKeyword([("a1::0", 1.0)]), candidates=10).retrieve(question(), top_k=5)
    assert hit.cosine == 0.0


# -- passages -------------------------------------------------------------------------------------------------


def test_to_passages_carries_offsets_titles_rounded_scores_and_ranks() -> None:
    first, second = make_chunk("a1::0", [1, 0, 0, 0], "Truss spoke."), make_chunk("a2::0", [1, 0, 0, 0])
    hits = [
        Hit(first, score=0.123456, cosine=0.987654, keyword=3.0, evidence=EVIDENCE),
        Hit(second, score=0.1, cosine=0.2, keyword=0.0, evidence=EVIDENCE),
    ]
    passages = to_passages(hits, {"a1": ("Truss in Kyiv", "2022-02-10", "BBC")})
    assert [(p.chunk_id, p.rank) for p in passages] == [("a1::0", 1), ("a2::0", 2)]
    one, two = passages
    assert (one.title, one.published, one.source) == ("Truss in Kyiv", "2022-02-10", "BBC")
    assert (one.start, one.end, one.text, one.sentences) == (100, 112, "Truss spoke.", [(100, 112)])
    assert (one.score, one.dense_score) == (0.1235, 0.9877)
    assert (two.title, two.published, two.source) == ("a2", None, None)  # no title known: the article id


def test_a_filters_nearest_chunks_keep_the_catalogs_order_among_equal_cosines() -> None:
    """The nearest are taken by numpy's stable sort (not a Python sort of every pair): ties stay in the order
    the catalog gives, so the same question gets the same passages in every process."""
    same = [0.5, 0.0, 0.0, 0.0]
    tied = [make_chunk(i, same) for i in ("a2::0", "a1::0", "a1::1")] + [make_chunk("a3::0", [0.9, 0, 0, 0])]
    store = FakeStore(tied, dense=[])
    allowed = admitted(["a2::0", "a1::0", "a1::1", "a3::0"])
    hits = retriever(store, FakeKeyword([]), candidates=3).retrieve(question(), 5, mode="dense", allowed=allowed)
    assert [h.chunk.id for h in hits] == ["a3::0", "a2::0", "a1::0"]
