"""BM25 over the chunks (bm25s + Snowball stemming), a cache derived from Chroma and keyed on its generation.

Chroma is the source of truth. The keyword index is rebuilt from the stored chunks whenever the store's
generation stamp differs from the cached one, so it can never drift from the vectors, and a second machine
talking to the same Chroma server rebuilds its own copy.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import bm25s
import numpy as np

from qa.store import ChromaStore
from qa.text import tokenize

_META = "meta.json"


class KeywordIndex:
    """BM25 scores for a question over every chunk, by chunk id."""

    def __init__(self, retriever: bm25s.BM25 | None, chunk_ids: list[str], generation: str) -> None:
        self.retriever = retriever
        self.chunk_ids = chunk_ids
        self.generation = generation
        self._position = {c: i for i, c in enumerate(chunk_ids)}

    @classmethod
    def build(cls, ids: list[str], texts: list[str], generation: str) -> KeywordIndex:
        """Index these chunk texts."""
        tokens = tokenize(texts)
        if not any(tokens):  # bm25s cannot index an empty vocabulary (chunks of stop words only): nothing to find
            return cls(None, ids, generation)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, ids, generation)

    def search(self, question: str, n: int, article_filter: set[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the best-scoring chunks, best first; chunks that share no term are left out."""
        if self.retriever is None:
            return []
        (tokens,) = tokenize([question])
        known = [t for t in tokens if t in self.retriever.vocab_dict]
        if not known:
            return []
        scores = self.retriever.get_scores(known)
        if article_filter is not None:
            keep = np.array([c.rsplit("::", 1)[0] in article_filter for c in self.chunk_ids])
            scores = np.where(keep, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    @property
    def documents(self) -> int:
        """How many chunks are indexed."""
        return len(self.chunk_ids)

    def document_frequency(self, term: str) -> int:
        """How many chunks hold this (stemmed) term."""
        if self.retriever is None or term not in self.retriever.vocab_dict:
            return 0
        token = self.retriever.vocab_dict[term]
        indptr = self.retriever.scores["indptr"]  # CSC: one column of scores per token
        return int(indptr[token + 1] - indptr[token])

    def idf(self, term: str) -> float:
        """BM25's idf; a term no chunk holds gets the highest (a question about it is likely not answered here)."""
        df = self.document_frequency(term)
        return math.log(1.0 + (self.documents - df + 0.5) / (df + 0.5))

    def save(self, directory: Path) -> None:
        """Write atomically: a reader never sees half an index."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".bm25-"))
        if self.retriever is not None:
            self.retriever.save(str(tmp), show_progress=False)
        meta = {"generation": self.generation, "ids": self.chunk_ids, "indexed": self.retriever is not None}
        (tmp / _META).write_text(json.dumps(meta))
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> KeywordIndex | None:
        """The cached index, or None when there is none or it cannot be read."""
        try:
            meta = json.loads((directory / _META).read_text())
            ids = meta["ids"]
            indexed = meta.get("indexed", bool(ids))
            retriever = bm25s.BM25.load(str(directory), show_progress=False) if indexed else None
        except (OSError, ValueError, KeyError):
            return None
        return cls(retriever, ids, meta["generation"])


def open_keyword_index(store: ChromaStore, cache_dir: Path) -> KeywordIndex:
    """The keyword index in step with the store: the cache when its generation matches, else rebuilt."""
    generation = store.generation()
    directory = cache_dir / f"bm25-{store.name}"
    cached = KeywordIndex.load(directory)
    if cached is not None and cached.generation == generation:
        return cached
    ids: list[str] = []
    texts: list[str] = []
    for page_ids, page_texts in store.all_chunk_texts():
        ids.extend(page_ids)
        texts.extend(page_texts)
    index = KeywordIndex.build(ids, texts, generation)
    with contextlib.suppress(OSError):  # a read-only cache only costs a rebuild next time
        index.save(directory)
    return index
