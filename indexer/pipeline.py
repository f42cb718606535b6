"""Index articles as they stream in: a window at a time, chunk, embed only what changed, write the window to the
store in one batch (logged in the change log), then let the caller bring what it derives from the store in step.

Memory is bounded by the window, not by the input: a JSON Lines file of 100,000 articles streams through. A
window's chunks go to the model in one call, which runs them in batches of bounded size, so the model's memory is
bounded by its batch whatever the size of an article; what one article costs beyond that is its text, its chunks
and their vectors (a 5 MB article: see bench/memory.py). A run that is stopped keeps every window it wrote; running it
again skips them (their content hashes match) and embeds only the rest. A run cancelled through its token stops
between two batches of the model, before the window being embedded is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.loaders import SUPPORTED, LoadedArticle
from qa.cancel import CancelToken
from qa.chunking import chunk_article, indexed_text, with_context
from qa.domain import Article, ArticleInfo, Chunk, IndexReport, LoadFailure
from qa.embedder import Embedder
from qa.store import ArticleToWrite, ChromaStore, Intent, PlannedArticle
from qa.telemetry import carry, count_embedded, stage, traced

Progress = Callable[[int, int], None]  # (articles read, articles in all: 0 when not known)
IndexedFrom = Callable[[Sequence[str]], dict[str, str]]  # folders -> {article id: folder} of what came from them
Embedded = Callable[[int, int], None]  # (chunks of the window embedded so far, chunks the window embeds)
HEADING_ALLOWANCE = 12  # word pieces kept free for a chunk's section heading
# Chunks embedded and written per step: memory stays bounded by the window, and each window costs a write, a
# catch-up of the replica and the model's working memory given back and taken again. 500 articles took 59-61 s
# (105-109 CPU-s) in windows of 512 and 62-63 s (110-113 CPU-s) in windows of 256.
WINDOW_CHUNKS = 512
WINDOW_ARTICLES = 512  # ...and articles read per step, whether or not they changed
# The model's working memory (about 35 MB) is given back while a window of at least this many chunks is written.
# Giving it back costs a pass of the model (about 4 ms): for one article, which a server adds between questions
# that take it again at once, that was a few per cent of the add's cost beyond its embedding, for nothing.
RELEASE_AFTER_CHUNKS = 64
_log = logging.getLogger("indexer")


@dataclass
class _Plan:
    loaded: LoadedArticle
    content_hash: str
    chunks: list[Chunk]
    chunk_hashes: list[str]
    reused: dict[int, tuple[np.ndarray, np.ndarray]]  # chunk position -> (vector, sentence vectors)
    stored: ArticleInfo | None  # what the store holds now (None: the article is new)


def content_hash(article: Article) -> str:
    """What decides whether an article changed: its text and metadata."""
    # Without the inferred flag when it is not set: articles indexed before it existed keep their hashes.
    leave_out = {"id"} if article.published_inferred else {"id", "published_inferred"}
    payload = json.dumps(article.model_dump(exclude=leave_out), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@traced("index")
def index_articles(
    store: ChromaStore,
    embedder: Embedder,
    articles: Iterable[LoadedArticle | LoadFailure],
    failures: Sequence[LoadFailure] = (),
    folders: Sequence[Path] = (),
    chunk_tokens: int = 256,
    progress: Progress | None = None,
    indexed_from: IndexedFrom | None = None,
    after_window: Callable[[], object] | None = None,
    total: int = 0,
    rewrite: bool = False,
    cancel: CancelToken | None = None,
    embedded: Embedded | None = None,
) -> IndexReport:
    """Add new articles, replace edited ones, skip unchanged ones; remove articles whose files left `folders`
    (`indexed_from` tells which articles came from which folders). `after_window` runs after each window is
    written (the service brings its replica in step there); `total` is the number of articles to expect.
    `rewrite` writes unchanged articles too (qa doctor --fix rebuilds damaged ones from their stored text).
    `cancel` is looked at after each article read and each batch of the model: once set, the run stops
    (Cancelled) before writing the window it was reading or embedding, and a write already under way finishes.
    `embedded` hears the window's progress.

    Idempotent: the same input twice embeds nothing and changes no count the second time.
    """
    began = time.perf_counter()
    report = IndexReport(failed=list(failures))
    store.ensure()
    seen: set[str] = set()
    read = 0
    windows = _windows(articles, report, seen, cancel)
    # One window is written (and followed by `after_window`) while the next is embedded: the model keeps the cores
    # busy while the store writes. The next window is read and planned before that write starts, never beside it:
    # a write into Chroma holds the interpreter, and planning beside it measured 6.2 s of wall for 1.7 s of work.
    # With a model in this process, planning waits for the window's embedding too (beside the model, it measured
    # slower: the lanes wait for the interpreter). A model in a process of its own (`embeds_apart`) embeds the
    # window while this thread plans the next one: its cores would otherwise idle through the planning.
    apart = bool(getattr(embedder, "embeds_apart", False))
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-embedding") as embedding,
    ):
        writing: Future[None] | None = None
        loading: Future[None] | None = None

        def load_model(expected_chunks: int) -> None:
            """Once something is to be embedded, the model loads (0.3 s; onnxruntime lets go of the GIL) beside the
            rest of the first window's chunking; a run with nothing to embed never loads it. The window's expected
            chunks say where a model in a process of its own loads (qa/embedding_process.py)."""
            nonlocal loading
            if loading is None and (load := getattr(embedder, "load", None)) is not None:
                loading = writer.submit(carry(load), expected_chunks)

        def plan_next() -> tuple[list[LoadedArticle], list[_Plan]] | None:
            return _plan_next(store, embedder, windows, report, chunk_tokens, rewrite, load_model, writer)

        def written_then_plan_next() -> tuple[list[LoadedArticle], list[_Plan]] | None:
            """One write in flight at a time (its failure stops the run here), then the next window's plan."""
            nonlocal writing
            if writing is not None:
                writing.result()
                writing = None
            return plan_next()

        planned = plan_next()
        ahead = _intend_ahead(store, writer, planned)  # the window's intent, recorded while the model embeds it
        try:
            while planned is not None:
                window, plans = planned
                heard = _heard_in_window(embedded, progress, read, len(window), total)
                read += len(window)
                if loading is not None:
                    loading.result()  # loaded before its first batch (a failure to load is raised here)
                before = report.chunks_embedded
                if beside := apart and bool(plans):
                    planned, writes = _plan_beside_embedding(
                        embedding, embedder, plans, report, cancel, heard, written_then_plan_next
                    )
                else:
                    writes = _embed(embedder, plans, report, (cancel,), heard) if plans else []
                release = getattr(embedder, "release_memory", None)
                if release is not None and report.chunks_embedded - before >= RELEASE_AFTER_CHUNKS:
                    release()  # the model's working memory is not needed while the window is written (local model)
                if cancel is not None:
                    cancel.check()  # the last look before this window's write: once it starts, it finishes
                if not beside:
                    planned = written_then_plan_next()
                if writes:
                    writing = writer.submit(carry(_write), store, writes, after_window, ahead)
                    ahead = None  # the write's now: never withdrawn
                ahead = _intend_ahead(store, writer, planned)
                if progress:
                    progress(read, max(total, read))
        except BaseException:
            _withdraw(store, ahead)  # a window that will not be written: its intent goes
            raise
        if writing is not None:
            writing.result()
    if indexed_from is not None and folders:
        with store.batch():
            _remove_vanished(store, indexed_from, folders, seen, report)
        if report.removed and after_window:
            after_window()
    report.seconds = time.perf_counter() - began
    return report


def _plan_beside_embedding(
    embedding: ThreadPoolExecutor,
    embedder: Embedder,
    plans: list[_Plan],
    report: IndexReport,
    cancel: CancelToken | None,
    heard: Embedded | None,
    written_then_plan_next: Callable[[], tuple[list[LoadedArticle], list[_Plan]] | None],
) -> tuple[tuple[list[LoadedArticle], list[_Plan]] | None, list[ArticleToWrite]]:
    """The next window planned (after the write in flight) while this one is embedded by a model in another
    process: the next plan and this window's writes. If the planning or the write fails, the embedding stops at
    its next batch before the failure goes on."""
    halt = CancelToken()
    embedded = embedding.submit(carry(_embed), embedder, plans, report, (cancel, halt), heard)
    try:
        upcoming = written_then_plan_next()
    except BaseException:
        halt.cancel("The indexing stopped.")
        with contextlib.suppress(Exception):
            embedded.result()
        raise
    return upcoming, embedded.result()


def _heard_in_window(
    embedded: Embedded | None, progress: Progress | None, before: int, size: int, total: int
) -> Embedded | None:
    """What hears each batch of a window's model run: `embedded` as it is, and `progress` in articles, as the share
    of the window's chunks embedded (a window of 512 chunks takes some 14 s: the bar moves meanwhile)."""
    if progress is None:
        return embedded

    def heard(done: int, of: int) -> None:
        if embedded is not None:
            embedded(done, of)
        if done < of:  # the window's end is reported once it is embedded, with the articles it skipped
            progress(before + size * done // of, max(total, before + size))

    return heard


def _plan_next(
    store: ChromaStore,
    embedder: Embedder,
    windows: Iterator[list[LoadedArticle]],
    report: IndexReport,
    chunk_tokens: int,
    rewrite: bool,
    changed: Callable[[int], object],
    reader: ThreadPoolExecutor,
) -> tuple[list[LoadedArticle], list[_Plan]] | None:
    """The next window, and what changed in it with its chunks (None when the input is done); unchanged articles
    go to the report. `changed` hears each changed article before it is planned, with the chunks the window is
    expected to have. `reader` reads the records of a window of one article while it is chunked."""
    window = next(windows, None)
    if window is None:
        return None
    store.see_other_writers()  # vectors are reused from the store: read them from a view that has them all
    with stage("plan", "index"):
        ids = [item.article.id for item in window]
        chunked: dict[str, list[Chunk]] = {}
        if len(window) == 1:
            # One article (an add through the API), nearly always new or changed: chunked while its record is
            # read, a round trip into Chroma less before the model (the chunking is wasted on an unchanged one).
            reading = reader.submit(carry(store.article_infos), ids)
            chunked[ids[0]] = plan_chunks(window[0].article, embedder, chunk_tokens)
            stored = reading.result()
        else:
            stored = store.article_infos(ids)
        plans = []
        expected = _expected_chunks(window)
        for item in window:
            article, digest = item.article, content_hash(item.article)
            known = stored.get(article.id)
            if known is not None and known.content_hash == digest and not rewrite:
                report.unchanged.append(article.id)
            else:
                changed(expected)
                chunks = chunked.get(article.id) or plan_chunks(article, embedder, chunk_tokens)
                plans.append(_plan(store, item, digest, chunks, known))
        return window, plans


def plan_chunks(article: Article, embedder: Embedder, chunk_tokens: int) -> list[Chunk]:
    """An article's chunks with their context, each sized so that title, heading and text fit the model."""
    # The embedder reads "title. heading\n\n" before each chunk: leave room for both in the model's window.
    budget = max(32, chunk_tokens - embedder.count_tokens(article.title) - HEADING_ALLOWANCE)
    return with_context(chunk_article(article.id, article.text, embedder.count_tokens, budget), article.title)


def _repeated(item: LoadedArticle, first: str) -> LoadFailure:
    """The failure of an article whose id an earlier one of the run has: which one was kept, and where."""
    article_id = item.article.id
    if item.where and item.where == first:
        reason = f"the article id '{article_id}' appears twice in this file; the first was kept"
    elif first:
        reason = f"the article id '{article_id}' is taken by {first}, read earlier in this run; this one was skipped"
    else:
        reason = f"the article id '{article_id}' is taken by an article read earlier in this run; this one was skipped"
    return LoadFailure(path=item.where or article_id, reason=reason, repeated_id=True)


def _expected_chunks(window: Sequence[LoadedArticle]) -> int:
    """About how many chunks a window's articles make: one per 1,000 characters, and one more each."""
    return sum(1 + len(item.article.text) // 1000 for item in window)


def _windows(
    articles: Iterable[LoadedArticle | LoadFailure],
    report: IndexReport,
    seen: set[str],
    cancel: CancelToken | None = None,
) -> Iterator[list[LoadedArticle]]:
    """The articles in windows of about WINDOW_CHUNKS chunks (estimated from their length) or WINDOW_ARTICLES
    articles; failures and repeated ids go to the report. `cancel` is looked at after each article read (a feed
    or page fetched over the network can take seconds)."""
    window: list[LoadedArticle] = []
    size = 0
    read_from: dict[str, str] = {}  # each id's first article: where it was read
    for item in articles:
        if cancel is not None:
            cancel.check()
        if isinstance(item, LoadFailure):
            report.failed.append(item)
            continue
        if item.article.id in seen:
            report.failed.append(_repeated(item, read_from.get(item.article.id, "")))
            continue
        seen.add(item.article.id)
        read_from[item.article.id] = item.where
        window.append(item)
        size += _expected_chunks([item])
        if size >= WINDOW_CHUNKS or len(window) >= WINDOW_ARTICLES:
            yield window
            window, size = [], 0
    if window:
        yield window


def _plan(
    store: ChromaStore, item: LoadedArticle, digest: str, chunks: list[Chunk], stored: ArticleInfo | None
) -> _Plan:
    """What to write for an article: its chunks, and the vectors of the ones whose text did not change."""
    hashes = [hashlib.sha256(indexed_text(c.text, c.context)[0].encode("utf-8")).hexdigest() for c in chunks]
    old = {c.content_hash: c for c in store.chunks_of(stored)} if stored else {}
    reused = {
        c.position: (vector, old[h].sentence_vectors)
        for c, h in zip(chunks, hashes, strict=True)
        if h in old and (vector := old[h].embedding) is not None
    }
    return _Plan(item, digest, chunks, hashes, reused, stored)


def _write(
    store: ChromaStore,
    writes: list[ArticleToWrite],
    after_window: Callable[[], object] | None,
    ahead: Future[Intent | None] | None = None,
) -> None:
    """A window's articles in one batch of the store (with the intent recorded ahead for them), then the
    caller's follow-up."""
    with stage("write", "index"), store.batch():
        store.put_articles(writes, ahead.result() if ahead is not None else None)
    if after_window:
        after_window()


def _intend_ahead(
    store: ChromaStore, writer: ThreadPoolExecutor, planned: tuple[list[LoadedArticle], list[_Plan]] | None
) -> Future[Intent | None] | None:
    """A window's intent, recorded on the writer's thread while the model embeds the window (on a server: see
    ChromaStore.intend_ahead). Queued after the previous window's write, so recorded before this one's."""
    if planned is None or not planned[1]:
        return None
    articles = [PlannedArticle(p.loaded.article.id, p.stored, p.content_hash, len(p.chunks)) for p in planned[1]]
    return writer.submit(carry(store.intend_ahead), articles)


def _withdraw(store: ChromaStore, ahead: Future[Intent | None] | None) -> None:
    """Take back the intent recorded ahead for a window that will not be written. If that fails, the intent
    is recovered as an abandoned one once its lease is over (nothing was written under it)."""
    if ahead is None:
        return
    try:
        intent = ahead.result()
        if intent is not None:
            store.withdraw(intent)
    except Exception as error:  # the run's own failure is what the caller hears
        _log.warning("An intent recorded ahead of a write that did not happen stays in the journal (%s).", error)


def _embed(
    embedder: Embedder,
    plans: list[_Plan],
    report: IndexReport,
    cancels: Sequence[CancelToken | None],
    embedded: Embedded | None,
) -> list[ArticleToWrite]:
    """Embed every chunk of the window that has no reusable vector, in one call: the model batches them in order
    of word pieces across the whole window (a batch is padded to its longest text), and `cancels` are looked at
    after each batch. The articles to write."""
    pending = [(p, c, *indexed_text(c.text, c.context)) for p in plans for c in p.chunks if c.position not in p.reused]
    texts = [text for _, _, text, _ in pending]
    spans = [[(s - c.start + offset, e - c.start + offset) for s, e in c.sentences] for _, c, _, offset in pending]

    def after_batch(done: int) -> None:
        if embedded is not None:
            embedded(done, len(pending))
        if done < len(pending):
            for cancel in cancels:
                if cancel is not None:
                    cancel.check()

    with stage("embed", "index"):  # nothing, when every chunk's vector is reused
        vectors, sentence_vectors = embedder.embed_with_spans(texts, spans, after_batch)
    fresh: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {
        # float16, as the store keeps them: half the memory of a big article's sentence vectors
        (id(plan), chunk.position): (vector, sentences.astype(np.float16))
        for (plan, chunk, _, _), vector, sentences in zip(pending, vectors, sentence_vectors, strict=True)
    }
    writes = []
    for plan in plans:
        pairs = [plan.reused.get(c.position) or fresh[(id(plan), c.position)] for c in plan.chunks]
        writes.append(
            ArticleToWrite(
                article=plan.loaded.article,
                content_hash=plan.content_hash,
                origin=plan.loaded.origin,
                chunks=plan.chunks,
                chunk_hashes=plan.chunk_hashes,
                vectors=np.stack([v for v, _ in pairs]),
                sentence_vectors=[s for _, s in pairs],
            )
        )
        (report.updated if plan.stored else report.added).append(plan.loaded.article.id)
        report.chunks_reused += len(plan.reused)
    report.chunks_embedded += len(pending)
    count_embedded(len(pending))
    return writes


def _remove_vanished(
    store: ChromaStore,
    indexed_from: IndexedFrom,
    folders: Sequence[Path],
    present: set[str],
    report: IndexReport,
) -> None:
    """Remove the articles indexed from one of these folders whose files are gone. A folder where a file failed
    to load keeps them, listed in `report.kept`: a file that failed to load this time is not a file that was
    deleted. A file of a type never indexed (a .docx beside the articles) is no such failure."""
    roots = {str(f.resolve()) for f in folders}
    troubled = {
        root
        for root in roots
        for f in report.failed
        if not f.repeated_id
        and Path(f.path).suffix.lower() in SUPPORTED
        and Path(f.path).resolve().is_relative_to(root)
    }
    indexed = indexed_from(sorted(roots))
    gone = {article_id: origin for article_id, origin in indexed.items() if article_id not in present}
    report.kept = sorted(article_id for article_id, origin in gone.items() if origin in troubled)
    vanished = [article_id for article_id, origin in gone.items() if origin not in troubled]
    report.removed = store.remove_articles(vanished) if vanished else []
