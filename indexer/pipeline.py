"""Index loaded articles: chunk, embed only what changed, write to Chroma in one batch (one new generation)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.loaders import LoadedArticle
from qa.chunking import chunk_article, indexed_text, with_context
from qa.domain import Article, Chunk, IndexReport, LoadFailure
from qa.embedder import Embedder
from qa.store import ChromaStore

Progress = Callable[[int, int], None]  # (chunks done, chunks to embed)
IndexedFrom = Callable[[Sequence[str]], dict[str, str]]  # folders -> {article id: folder} of what came from them
HEADING_ALLOWANCE = 12  # word pieces kept free for a chunk's section heading
_GROUP_CHUNKS = 512  # chunks embedded and written per step: bounded memory, batches still long enough to sort


@dataclass
class _Plan:
    loaded: LoadedArticle
    content_hash: str
    chunks: list[Chunk]
    chunk_hashes: list[str]
    reused: dict[int, tuple[np.ndarray, np.ndarray]]  # chunk position -> (vector, sentence vectors)
    is_new: bool


def content_hash(article: Article) -> str:
    """What decides whether an article changed: its text and metadata."""
    payload = json.dumps(article.model_dump(exclude={"id"}), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def index_articles(
    store: ChromaStore,
    embedder: Embedder,
    loaded: Sequence[LoadedArticle],
    failures: Sequence[LoadFailure] = (),
    folders: Sequence[Path] = (),
    chunk_tokens: int = 256,
    progress: Progress | None = None,
    indexed_from: IndexedFrom | None = None,
) -> IndexReport:
    """Add new articles, replace edited ones, skip unchanged ones; remove articles whose files left `folders`
    (`indexed_from` tells which articles came from which folders).

    Idempotent: the same input twice embeds nothing and changes no count the second time. The caller owns
    what is derived from the store (the keyword index, the catalog): it is stale when `report.changed`.
    """
    began = time.perf_counter()
    report = IndexReport(failed=list(failures))
    loaded = _drop_duplicate_ids(loaded, report)
    store.ensure()
    stored = store.article_infos([item.article.id for item in loaded])
    plans: list[_Plan] = []
    for item in loaded:
        article, digest = item.article, content_hash(item.article)
        if article.id in stored and stored[article.id].content_hash == digest:
            report.unchanged.append(article.id)
            continue
        known = stored[article.id].chunks if article.id in stored else None
        plans.append(_plan(store, embedder, item, digest, chunk_tokens, known))

    to_embed = sum(len(p.chunks) - len(p.reused) for p in plans)
    done = 0
    with store.batch():
        for group in _groups(plans):
            done += _embed_and_write(store, embedder, group, report)
            if progress:
                progress(done, to_embed)
        if indexed_from is not None and folders:
            report.removed = _remove_vanished(store, indexed_from, folders, loaded, report.failed)
    report.chunks_total = store.count_chunks()
    report.seconds = time.perf_counter() - began
    return report


def plan_chunks(article: Article, embedder: Embedder, chunk_tokens: int) -> list[Chunk]:
    """An article's chunks with their context, each sized so that title, heading and text fit the model."""
    # The embedder reads "title. heading\n\n" before each chunk: leave room for both in the model's window.
    budget = max(32, chunk_tokens - embedder.count_tokens(article.title) - HEADING_ALLOWANCE)
    return with_context(chunk_article(article.id, article.text, embedder.count_tokens, budget), article.title)


def _plan(
    store: ChromaStore,
    embedder: Embedder,
    item: LoadedArticle,
    digest: str,
    chunk_tokens: int,
    stored_chunks: int | None,
) -> _Plan:
    """What to write for an article; `stored_chunks` is how many it has in the store (None: it is new)."""
    chunks = plan_chunks(item.article, embedder, chunk_tokens)
    hashes = [hashlib.sha256(indexed_text(c.text, c.context)[0].encode("utf-8")).hexdigest() for c in chunks]
    old = {c.content_hash: c for c in store.chunks_of(item.article.id, stored_chunks)} if stored_chunks else {}
    reused = {
        c.position: (vector, old[h].sentence_vectors)
        for c, h in zip(chunks, hashes, strict=True)
        if h in old and (vector := old[h].embedding) is not None
    }
    return _Plan(item, digest, chunks, hashes, reused, is_new=stored_chunks is None)


def _groups(plans: list[_Plan]) -> list[list[_Plan]]:
    groups: list[list[_Plan]] = [[]]
    size = 0
    for plan in plans:
        if groups[-1] and size + len(plan.chunks) > _GROUP_CHUNKS:
            groups.append([])
            size = 0
        groups[-1].append(plan)
        size += len(plan.chunks)
    return [g for g in groups if g]


def _embed_and_write(store: ChromaStore, embedder: Embedder, group: list[_Plan], report: IndexReport) -> int:
    """Embed every chunk of the group that has no reusable vector (one sorted batch run), then write articles."""
    pending = [(p, c) for p in group for c in p.chunks if c.position not in p.reused]
    texts, spans = [], []
    for _, chunk in pending:
        text, offset = indexed_text(chunk.text, chunk.context)
        texts.append(text)
        spans.append([(s - chunk.start + offset, e - chunk.start + offset) for s, e in chunk.sentences])
    vectors, sentence_vectors = embedder.embed_with_spans(texts, spans)
    fresh = {(id(p), c.position): (vectors[k], sentence_vectors[k]) for k, (p, c) in enumerate(pending)}
    for plan in group:
        pairs = [plan.reused.get(c.position) or fresh[(id(plan), c.position)] for c in plan.chunks]
        store.put_article(
            plan.loaded.article,
            plan.content_hash,
            plan.loaded.origin,
            plan.chunks,
            plan.chunk_hashes,
            np.stack([v for v, _ in pairs]),
            [s for _, s in pairs],
        )
        (report.added if plan.is_new else report.updated).append(plan.loaded.article.id)
        report.chunks_reused += len(plan.reused)
    report.chunks_embedded += len(pending)
    return len(pending)


def _drop_duplicate_ids(loaded: Sequence[LoadedArticle], report: IndexReport) -> list[LoadedArticle]:
    seen: set[str] = set()
    kept = []
    for item in loaded:
        if item.article.id in seen:
            report.failed.append(
                LoadFailure(path=item.article.id, reason="another file in this run has the same article id")
            )
            continue
        seen.add(item.article.id)
        kept.append(item)
    return kept


def _remove_vanished(
    store: ChromaStore,
    indexed_from: IndexedFrom,
    folders: Sequence[Path],
    loaded: Sequence[LoadedArticle],
    failures: Sequence[LoadFailure],
) -> list[str]:
    """Articles indexed from one of these folders whose files are gone. A folder with failures keeps everything:
    a file that failed to load this time is not a file that was deleted."""
    roots = {str(f.resolve()) for f in folders}
    troubled = {root for root in roots for f in failures if Path(f.path).resolve().is_relative_to(root)}
    present = {item.article.id for item in loaded}
    vanished = [
        article_id
        for article_id, origin in indexed_from(sorted(roots)).items()
        if origin not in troubled and article_id not in present
    ]
    return store.remove_articles(vanished) if vanished else []
