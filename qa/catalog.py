"""The article catalog: one row per article in SQLite, for listing a page in order, resolving a filter to the
articles (and so the chunks) it lets through, and finding what was indexed from a folder, without reading every
article from the store; and the stories several outlets carry (syndicated copies, qa/stories.py): each article's
MinHash signature and LSH band keys, and its story id, worked out again in the same transaction as any change
of its row, so that the stories always match the rows; where each article's chunk vectors are in the vector file
beside it (qa/vector_file.py), for searching inside a filter here (through a server at 1,000,000 chunks, Chroma's
search among a filter's ids took 0.13-1.7 s); and each
chunk's metadata as the store holds it, so that a question reads its candidates here and asks Chroma for no more
than the nearest ids (reading 50 chunks through a server took 7-12 ms at that size, here about 3). Derived
from the store (an article's record carries its signature) and kept in step by the replica (qa/replica.py)."""

from __future__ import annotations

import base64
import json
import logging
import re
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa import stories
from qa.background import Background
from qa.chunking import chunk_id
from qa.domain import ArticleInfo, ArticlePage, SearchFilter
from qa.errors import InvalidInput
from qa.vector_file import ScratchFile, VectorFile, process_alive, read_through, scratch_tag

ListOrder = Literal["id", "newest"]
_log = logging.getLogger("qa.catalog")
_COLUMNS = "id, title, published, source, url, chunks, content_hash, version, published_inferred, story_id"
# Where each article's vectors are in the vector file; a compaction writes the rows of the file it makes into a
# table of the same columns, named _NEXT_SPANS and its tag, which its switch puts in this one's place.
_SPANS_COLUMNS = "(article_id TEXT PRIMARY KEY, version TEXT NOT NULL, start INTEGER NOT NULL, size INTEGER NOT NULL)"
_NEXT_SPANS = "vector_spans_next_"
# ... and while it runs, triggers on the rows log each article whose row any connection writes, into a table named
# _WRITTEN and its tag (the triggers: that and the event): what was written since its snapshot is found without
# reading every row. (Not named like the copy's table: a release before the triggers drops a dead process's tables
# of that name, which would leave its triggers failing every write.)
_WRITTEN = "vector_spans_written_"
_REPLACED = "_replaced"  # ... and the rows its switch replaced are renamed so until they are dropped
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, published TEXT, published_ts INTEGER, source TEXT, url TEXT,
    chunks INTEGER NOT NULL, content_hash TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '', published_inferred INTEGER NOT NULL DEFAULT 0,
    story_id TEXT, indexed_at REAL NOT NULL DEFAULT 0, minhash BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles (COALESCE(published_ts, -1) DESC, id);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published_ts);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE INDEX IF NOT EXISTS articles_origin ON articles (origin);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS story_bands (
    band INTEGER NOT NULL, key INTEGER NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (band, key, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_bands_article ON story_bands (article_id);
CREATE TABLE IF NOT EXISTS vector_spans {_SPANS_COLUMNS};
CREATE TABLE IF NOT EXISTS vector_file (
    id INTEGER PRIMARY KEY CHECK (id = 0), generation INTEGER NOT NULL, dead INTEGER NOT NULL
);
INSERT OR IGNORE INTO vector_file (id, generation, dead) VALUES (0, 0, 0);
-- how much of the current generation was appended out of order of publication (see MISPLACED_AFTER_S); a table
-- of its own: releases before 2026-12-05 insert three values into vector_file, and must still open this catalog
CREATE TABLE IF NOT EXISTS vector_order (
    id INTEGER PRIMARY KEY CHECK (id = 0), misplaced INTEGER NOT NULL, last_ts INTEGER
);
INSERT OR IGNORE INTO vector_order VALUES (0, 0, NULL);
CREATE TABLE IF NOT EXISTS chunk_records (
    chunk_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, version TEXT NOT NULL, position INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_records_article ON chunk_records (article_id);
"""
_STORY_INDEX = "CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id) WHERE story_id IS NOT NULL"
_LIKE_SPECIAL = re.compile(r"[\\%_]")  # what LIKE reads as a pattern, escaped to be taken as it is
_SQL_VARIABLES = 900  # SQLite's limit on parameters per statement is 999 on older builds
# The vector file is written again without what no row points at (articles replaced or removed) once that is at
# least this much and at least half the file: rare, and started by the writer that crosses the line, on a thread
# of its own (Catalog.compact).
COMPACT_AT_BYTES = 64 * 2**20
# ... and once this much of it, and at least an eighth of the file, was appended out of order of publication: the
# vectors of an article published over MISPLACED_AFTER_S before the dated article appended just before it, as a
# bulk import in random date order appends half of its. A window of dates reads its articles' vectors in runs of
# neighbours (qa/vector_file.py); out of order it reads them one article at a time (a week at 1,000,000 chunks: 485
# reads, not 3). Such an import is compacted each time its file grows by a third, so at most a quarter of it is
# ever out of order, for about 4 times the final file copied in all (1,000,000 chunks: 4 s a copy of the whole,
# against hours of embedding). News added as it is published, or an archive imported a run of dates at a time, is
# hardly ever out of order; an article dated years ahead by mistake counts once, for the article after it.
MISPLACED_AFTER_S = 86_400
_SPANS_IN_PUBLICATION_ORDER = (  # every row of the vector file, undated articles first
    "SELECT v.article_id, v.version, v.start, v.size, a.published_ts FROM vector_spans v LEFT JOIN articles a"
    " ON a.id = v.article_id ORDER BY COALESCE(a.published_ts, -1), v.article_id"
)
_COMPACT_STEP = 256  # articles read and written at a time while compacting: memory bounded by the step
# A compaction copies again, without the writers' turn, what was written during its last copy (a bulk import
# writes on), until that is at most _SWITCH_AFTER articles or it has made _COPY_PASSES copies; the switch, which
# holds the turn, copies the rest.
_SWITCH_AFTER = _COMPACT_STEP
_COPY_PASSES = 4


@dataclass(frozen=True)
class Admitted:
    """What a filter lets through: each article as (id, chunk count, version), by which `Catalog.cosines` finds
    their vectors; and from them, how many articles and the ids of their chunks."""

    members: list[tuple[str, int, str]]

    @property
    def articles(self) -> int:
        """How many articles."""
        return len(self.members)

    @cached_property
    def chunk_count(self) -> int:
        """How many chunks they have."""
        return sum(chunks for _, chunks, _ in self.members)

    @cached_property
    def chunk_ids(self) -> list[str]:
        """Every chunk of theirs, article by article in order."""
        return [chunk_id(i, p, v) for i, chunks, v in self.members for p in range(chunks)]


@dataclass(frozen=True)
class HeldCosines:
    """A question's cosines to the filter's chunks whose vectors the catalog holds, article by article in the
    order of `held` (each article as (id, chunk count, version)); and the ids of the chunks whose vectors it does
    not hold (their article's were not written with it: read them from the store)."""

    held: list[tuple[str, int, str]]
    cosines: np.ndarray
    missing: list[str]

    def id_at(self, index: int) -> str:
        """The chunk id of `cosines[index]` (a week of news at 1,000,000 chunks is 9,700 ids, 2 ms to write out
        when only the nearest are wanted)."""
        article = bisect_right(self._begins, index) - 1
        article_id, _, version = self.held[article]
        return chunk_id(article_id, index - self._begins[article], version)

    @cached_property
    def ids(self) -> list[str]:
        """Every held chunk's id, `ids[k]` that of `cosines[k]`."""
        return [chunk_id(i, p, v) for i, chunks, v in self.held for p in range(chunks)]

    @cached_property
    def _begins(self) -> list[int]:
        return list(accumulate((chunks for _, chunks, _ in self.held), initial=0))[:-1]


@dataclass(frozen=True)
class HeldChunks:
    """Chunks as the catalog holds them: chunk id -> its metadata as the store holds it (JSON), and chunk id -> its
    vector (only where the catalog holds its article's vectors for the same version)."""

    records: dict[str, str]
    vectors: dict[str, np.ndarray]


class Catalog:
    """Articles in SQLite (WAL: readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.RLock()  # re-entered by `preview`, which reads inside its own transaction
        self._readers = threading.local()  # each thread's connection for held_chunks
        self._reader_connections: list[sqlite3.Connection] = []
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self._db.executescript(_SCHEMA)
        self._vectors = VectorFile(path.parent, f"{path.stem}.vectors")
        self._vectors.remove_abandoned_scratch()
        self._drop_abandoned_spans()
        self._compactor = Background("catalog-compaction")
        self._compaction_lock = threading.Lock()
        self._compaction_pending = False
        held_vectors = {"article_vectors", "vector_spans"} & tables
        if "articles" in tables and not (held_vectors and "chunk_records" in tables):  # from before it held
            self._db.execute("DELETE FROM state")  # vectors or chunks: the replica builds it again (qa/replica.py)
        self._db.create_function("casefold", 1, _casefold, deterministic=True)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
        if "version" not in columns:  # a catalog of a release before chunk versions: its articles had none
            self._db.execute("ALTER TABLE articles ADD COLUMN version TEXT NOT NULL DEFAULT ''")
        if "published_inferred" not in columns:  # a catalog from before dates were inferred: none of its were
            self._db.execute("ALTER TABLE articles ADD COLUMN published_inferred INTEGER NOT NULL DEFAULT 0")
        if "story_id" not in columns:  # a catalog from before stories: its rows have no signatures, so the replica
            for column in ("story_id TEXT", "indexed_at REAL NOT NULL DEFAULT 0", "minhash BLOB NOT NULL DEFAULT x''"):
                self._db.execute(f"ALTER TABLE articles ADD COLUMN {column}")
            self._db.execute("DELETE FROM state")  # builds it again from the store (qa/replica.py)
        self._db.execute(_STORY_INDEX)
        grouping = self._db.execute("SELECT value FROM state WHERE key = 'stories'").fetchone()
        if grouping is None or grouping[0] != stories.grouping():  # band keys made otherwise find nothing:
            self._db.execute("DELETE FROM state")  # the replica builds the catalog again (qa/replica.py)
            self._db.execute("INSERT INTO state VALUES ('stories', ?)", [stories.grouping()])
        if "misplaced" in {row[1] for row in self._db.execute("PRAGMA table_info(vector_file)")}:
            # kept there for a day (commits 7fac2f4 to b15c6eb), which a release before could not open
            self._db.execute("ALTER TABLE vector_file DROP COLUMN misplaced")
            self._db.execute("ALTER TABLE vector_file DROP COLUMN last_ts")
        if "article_vectors" in tables:  # the release before held them as blobs: moved out once (1M chunks: 1.5 GB)
            self._move_vectors_out()

    def close(self) -> None:
        """Close the database."""
        self._compactor.close()  # a compaction under way ends first
        for connection in self._reader_connections:
            connection.close()
        self._db.close()
        self._vectors.close()

    # -- state: how far along the store's change log this catalog (and the keyword index beside it) is --------

    def state(self) -> tuple[int, str | None]:
        """(change-log records applied, the store identity they came from)."""
        rows = dict(self._query("SELECT key, value FROM state"))
        return int(rows.get("applied", -1)), rows.get("identity")

    @contextmanager
    def transaction(self) -> Iterator[CatalogWriter]:
        """Changes applied together, or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one writer at a time, in any process: appends go at the end
            writer = CatalogWriter(self._db, self._vectors)
            began = writer.generation
            try:
                yield writer
                writer.regroup()  # in the same transaction: the stories always match the rows
                self._vectors.sync()  # the rows about to be committed point at these bytes
            except BaseException:
                if writer.generation != began:  # a new file no committed row points at; removed under the lock
                    self._vectors.remove([writer.generation])
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if writer.generation != began:
                self._vectors.remove_before(writer.generation)
            if writer.dropped_vectors or writer.misplaced_vectors:
                self._compact_when_wasteful()

    # -- the vector file's compaction ------------------------------------------------------------------------

    def compact(self) -> bool:
        """Write the vectors rows point at into a new generation of the file, in order of publication (undated
        first), leaving out the rest, and remove the old one: a window of dates then reads runs of neighbours
        (see qa.vector_file), however the articles were added. Whether it switched (not when a rebuild or another
        compaction came first).

        The copy is made from a snapshot of the rows without holding the writers' turn (1,000,000 chunks:
        seconds), then again for what was written meanwhile (see _SWITCH_AFTER), and the new file's rows are
        written to a table of their own; triggers log what any connection writes meanwhile, so that each look for
        it costs what was written, not the archive. Only the switch holds the turn: it copies what was written
        since the last copy and puts that table in place of the rows, whose old table is dropped after it. At
        100,000 articles, with an article written every 2 ms beside it, it holds the turn 9-71 ms, where it held
        it 0.18-0.33 s when it looked at every row (0.6-1.0 s when it rewrote every row, and 6.1 s when a bulk
        import had written on during the copy; bench/JOURNAL.md)."""
        side = self._side_connection()
        tag = scratch_tag()
        written = _WRITTEN + tag
        scratch: ScratchFile | None = None
        switched = False
        try:
            _log_written_spans(side, written)  # before the snapshot: every write after it is logged
            with _snapshot(side):
                generation = _generation(side)
                rows = side.execute(_SPANS_IN_PUBLICATION_ORDER).fetchall()
            scratch = self._vectors.scratch(tag)
            copy = _Copy(self._vectors, generation, scratch, _NEXT_SPANS + tag, written)
            side.execute(f'CREATE TABLE "{copy.table}" {_SPANS_COLUMNS}')
            copy.take(side, rows, [])
            # (1,000,000 chunks: 1.5 GB to disk, synced a step at a time as it was written) before the copies of what
            # was written meanwhile, so that what is written during it is copied without the turn too; the switch
            # syncs what they add
            scratch.sync()
            left: tuple[list[tuple[Any, ...]], list[str], int] | None = None  # the last look's, and when it was
            for _ in range(_COPY_PASSES - 1):
                with _snapshot(side):
                    if _generation(side) != generation:
                        return False
                    looked = _data_version(side)
                    rows, gone = copy.changes(side)
                if len(rows) + len(gone) <= _SWITCH_AFTER:
                    left = (rows, gone, looked)
                    break
                copy.take(side, rows, gone)
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # nothing committed since the last look (no other connection can commit now): what it found is
                    # all there is to take, without looking at every row again inside the turn
                    known = left[:2] if left is not None and _data_version(side) == left[2] else None
                    switched = self._switch(copy, known)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT" if switched else "ROLLBACK")
            if switched:
                try:
                    _drop_in_steps(side, copy.table + _REPLACED)
                except sqlite3.Error:  # the switch stands; once this process ends, the next to open drops the rest
                    _log.warning("could not drop the rows a compaction replaced", exc_info=True)
        finally:
            if side.in_transaction:  # (a step of the copy failed)
                side.execute("ROLLBACK")
            if scratch is not None:
                scratch.discard()  # adopted: nothing is left under its name
            if not switched:
                side.execute(f'DROP TABLE IF EXISTS "{_NEXT_SPANS + tag}"')
                _stop_logging_written_spans(side, written)
            side.close()
        if switched:
            self._vectors.remove_before(generation + 1)
        return switched

    def _switch(self, copy: _Copy, left: tuple[list[tuple[Any, ...]], list[str]] | None) -> bool:
        """Inside the writers' turn: copy what was written since the last copy (`left`, when known; at the new
        file's end, out of order maybe), put the copy's rows in place of the current ones, and make its file the
        next generation."""
        if _generation(self._db) != copy.generation:
            return False
        copy.take(self._db, *(left if left is not None else copy.changes(self._db)))
        _stop_logging_written_spans(self._db, copy.written)
        # the rows replaced are dropped after the turn, a step at a time (dropped here, 100,000 rows held it 13-49 ms)
        self._db.execute(f'ALTER TABLE vector_spans RENAME TO "{copy.table}{_REPLACED}"')
        self._db.execute(f'ALTER TABLE "{copy.table}" RENAME TO vector_spans')
        self._vectors.adopt(copy.scratch, copy.generation + 1)
        placement = copy.placement
        self._db.execute(
            "UPDATE vector_file SET generation = ?, dead = ?",
            [copy.generation + 1, copy.scratch.size - placement.placed],
        )
        self._db.execute("UPDATE vector_order SET misplaced = ?, last_ts = ?", [placement.misplaced, placement.last_ts])
        return True

    def _side_connection(self) -> sqlite3.Connection:
        """A connection of a compaction's own, for its reads and for the rows of the file it makes (written in
        short transactions beside the writers, who take their turns between them)."""
        # a background copy waits as long as a large window's write may hold SQLite (the default is 5 s)
        connection = sqlite3.connect(self._path, timeout=60, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA synchronous=NORMAL")  # as the writers' (WAL: durable at the next checkpoint)
        return connection

    def _drop_abandoned_spans(self) -> None:
        """Drop the triggers and tables that compactions of processes that ended left behind (killed before the
        switch): the triggers first, or every write would fail on the table they log into."""
        found = self._db.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'table') ORDER BY type = 'table'"
        ).fetchall()
        for kind, name in found:
            prefix = next((p for p in (_NEXT_SPANS, _WRITTEN) if name.startswith(p)), None)
            pid = name[len(prefix) :].split("_", 1)[0] if prefix else ""
            if pid.isdigit() and not process_alive(int(pid)):
                self._db.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')

    def _wasteful(self) -> bool:
        """Whether enough of the vector file is dead or out of order to compact it (see COMPACT_AT_BYTES)."""
        with self._lock:
            generation = _generation(self._db)
            sql = "SELECT f.dead, o.misplaced FROM vector_file f, vector_order o"
            dead, misplaced = (int(n) for n in self._db.execute(sql).fetchone())
        size = self._vectors.size(generation)
        return (dead >= COMPACT_AT_BYTES and 2 * dead >= size) or (
            misplaced >= COMPACT_AT_BYTES and 8 * misplaced >= size
        )

    def _compact_when_wasteful(self) -> None:
        """Compact on a thread of its own once the file is wasteful: the writer that crossed the line goes on, and
        so do the questions and catch-ups of this process meanwhile."""
        if not self._wasteful():
            return
        with self._compaction_lock:
            if self._compaction_pending:
                return
            self._compaction_pending = True
        self._compactor.start(self._compact_in_background)

    def _compact_in_background(self) -> None:
        try:
            if self._wasteful():  # (another process may have compacted it since)
                self.compact()
        except Exception as error:  # nothing is lost: the old file stays current, and a later write tries again
            _log.warning("The catalog's vector file could not be compacted (%s); a later write tries again.", error)
        finally:
            with self._compaction_lock:
                self._compaction_pending = False

    def settle(self) -> None:
        """Wait for a compaction begun in the background."""
        self._compactor.wait()

    def _move_vectors_out(self) -> None:
        with self.transaction() as writer:
            rows = self._db.cursor().execute("SELECT article_id, version, vectors FROM article_vectors")
            for article_id, version, blob in rows:
                writer.hold_span(article_id, version, blob)
            self._db.execute("DROP TABLE article_vectors")

    def preview(self, rows: Sequence[tuple[ArticleInfo, int | None, bytes]]) -> dict[str, ArticleInfo]:
        """These rows (info, publication timestamp, signature) as `infos` would read them once put, with the stories
        worked out against the catalog as it is now; nothing is changed (put, read back, rolled back)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                writer = CatalogWriter(self._db, self._vectors)
                for info, published_ts, signature in rows:
                    writer.put(info, published_ts, signature)
                writer.regroup()
                return self.infos([info.id for info, _, _ in rows])
            finally:
                self._db.execute("ROLLBACK")

    # -- reads ---------------------------------------------------------------------------------------------

    def count(self) -> int:
        """How many articles there are."""
        return int(self._query("SELECT COUNT(*) FROM articles")[0][0])

    def page(
        self, limit: int, cursor: str | None = None, order: ListOrder = "id", match: ArticleMatch | None = None
    ) -> ArticlePage:
        """`limit` articles from `cursor` on (from the start without one), in `order`, with the total; only those
        `match` lets through when it is given (the total counts those)."""
        after = _decode_cursor(cursor)
        clauses, args = _match_clauses(match) if match is not None else ([], list[Any]())
        matched = " AND ".join(clauses) or "1"
        where, where_args = "", list[Any]()
        if order == "id":
            sort = "ORDER BY id"
            if after:
                where, where_args = "id > ?", [after[0]]
        else:  # newest first; undated articles last, by id
            if after:
                where = "(COALESCE(published_ts, -1) < ? OR (COALESCE(published_ts, -1) = ? AND id > ?))"
                where_args = [after[1], after[1], after[0]]
            sort = "ORDER BY COALESCE(published_ts, -1) DESC, id"
        condition = " AND ".join(c for c in (matched, where) if c)
        rows = self._query(
            f"SELECT {_COLUMNS}, COALESCE(published_ts, -1) FROM articles WHERE {condition} {sort} LIMIT ?",
            [*args, *where_args, limit + 1],
        )
        articles = self._with_outlets([_info(row) for row in rows[:limit]])
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = _encode_cursor(str(last[0]), int(last[-1])) if last else None
        total = (
            self.count()
            if match is None
            else int(self._query(f"SELECT COUNT(*) FROM articles WHERE {matched}", args)[0][0])
        )
        return ArticlePage(articles=articles, total=total, next_cursor=next_cursor)

    def admitted(self, within: SearchFilter | None) -> Admitted | None:
        """The articles the filter lets through (how many, and every chunk of theirs); None for no filter."""
        if within is None or within.is_empty:
            return None
        return Admitted(self._matching(within))

    def cosines(self, admitted: Admitted, vector: np.ndarray) -> HeldCosines:
        """The cosine of each admitted chunk's vector to this one (the vectors are of length one), as far as the
        vector file holds them for the version the article's row names: about 1 microsecond a chunk at 1,000,000
        chunks. A few thousand vectors at a time, so that a filter's are never all in memory at once (all of a
        week's, 15 MB at 1,000,000 chunks, once left `qa serve` 75 MiB larger)."""
        members = {article_id: (chunks, version) for article_id, chunks, version in admitted.members}
        dimension = len(vector)
        reader = self._reader()
        with _snapshot(reader):  # the rows and the generation they point into, as one writer left them
            generation = _generation(reader)
            spans = {
                article_id: (start, size)
                for part in _parts(list(members))
                for article_id, version, start, size in reader.execute(
                    f"SELECT article_id, version, start, size FROM vector_spans WHERE article_id IN ({_marks(part)})",
                    part,
                )
                if (version, size) == (members[article_id][1], members[article_id][0] * dimension * 4)
            }
        ordered = [article_id for article_id in members if article_id in spans]  # in the filter's order
        whole, vectors = self._vectors.gather(generation, [spans[article_id] for article_id in ordered], dimension)
        # einsum's own loop, not `@`: BLAS splits a larger product across its threads, which in a server wait for
        # the cores its other threads hold (6 ms a question, by py-spy)
        parts = [np.einsum("ij,j->i", step, vector) for step in vectors]
        held = [(article_id, *members[article_id]) for article_id, ok in zip(ordered, whole, strict=True) if ok]
        held_ids = {article_id for article_id, _, _ in held}
        missing = [
            chunk_id(article_id, p, version)
            for article_id, (chunks, version) in members.items()
            if article_id not in held_ids
            for p in range(chunks)
        ]
        cosines = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return HeldCosines(held, cosines, missing)

    def held_chunks(self, ids: Sequence[str], dimension: int, with_vectors: bool = True) -> HeldChunks:
        """The metadata the catalog holds for these chunks (as the store holds it), and their vectors from the
        vector file (unless not `with_vectors`); ids it holds nothing for are left out (read them from the store).
        On the calling thread's own connection: a question reads its candidates' chunks on two threads at once
        (the dense search's and the keyword search's), beside any other question's. 50 chunks in 1-3 ms at
        1,000,000 chunks, against 7-12 ms through a Chroma server."""
        records: dict[str, str] = {}
        spans: dict[str, tuple[int, int]] = {}
        width = 4 * dimension
        reader = self._reader()
        with _snapshot(reader):
            generation = _generation(reader)
            for part in _parts(ids):
                where = f"c.chunk_id IN ({_marks(part)})"
                sql = (
                    "SELECT c.chunk_id, c.position, c.record, v.start, v.size FROM chunk_records c LEFT JOIN"
                    f" vector_spans v ON v.article_id = c.article_id AND v.version = c.version WHERE {where}"
                    if with_vectors
                    else f"SELECT c.chunk_id, c.position, c.record, NULL, NULL FROM chunk_records c WHERE {where}"
                )
                for held_id, position, record, start, size in reader.execute(sql, part):
                    records[held_id] = record
                    if start is not None and size >= (position + 1) * width:
                        spans[held_id] = (start + position * width, width)
        held_spans, gathered = self._vectors.gather(generation, list(spans.values()), dimension)
        rows = iter([row for step in gathered for row in step])
        vectors = {held_id: next(rows) for held_id, whole in zip(spans, held_spans, strict=True) if whole}
        return HeldChunks(records, vectors)

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for held_chunks (SQLite's readers do not wait for each other in WAL mode)."""
        connection: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA cache_size=-256")  # 256 KB: the operating system's cache does the rest
            with self._lock:
                self._reader_connections.append(connection)
            self._readers.connection = connection
        return connection

    def vectors_lost(self) -> int:
        """How many articles' vectors the current vector file does not hold whole (cut short or deleted by hand:
        questions then read them from the store, slowly)."""
        with self._lock:
            generation = _generation(self._db)
            length = self._vectors.size(generation)
            sql = "SELECT COUNT(*) FROM vector_spans WHERE start + size > ?"
            return int(self._db.execute(sql, [length]).fetchone()[0])

    def chunk_total(self) -> int:
        """How many chunks the articles have."""
        return int(self._query("SELECT COALESCE(SUM(chunks), 0) FROM articles")[0][0])

    def infos(self, article_ids: Sequence[str]) -> dict[str, ArticleInfo]:
        """The rows of these articles (absent ones are left out)."""
        found: dict[str, ArticleInfo] = {}
        for part in _parts(article_ids):
            rows = self._query(f"SELECT {_COLUMNS} FROM articles WHERE id IN ({_marks(part)})", part)
            found.update((str(row[0]), _info(row)) for row in rows)
        return {info.id: info for info in self._with_outlets(list(found.values()))}

    def indexed_from(self, origins: Sequence[str]) -> dict[str, str]:
        """Article id -> origin, for the articles indexed from these folders."""
        found: dict[str, str] = {}
        for part in _parts(origins):
            marks = _marks(part)
            found.update(self._query(f"SELECT id, origin FROM articles WHERE origin IN ({marks})", part))
        return found

    def all_infos(self) -> Iterator[list[ArticleInfo]]:
        """Every row, a page at a time in id order (for `qa doctor`)."""
        after = ""
        while page := self._query(f"SELECT {_COLUMNS} FROM articles WHERE id > ? ORDER BY id LIMIT 1000", [after]):
            yield [_info(row) for row in page]
            after = str(page[-1][0])

    def has_dated(self) -> bool:
        """Whether any article has a publication date (a question's time window means nothing otherwise)."""
        return bool(self._query("SELECT 1 FROM articles WHERE published_ts IS NOT NULL LIMIT 1"))

    def sources(self) -> list[str]:
        """The outlets the articles come from, sorted."""
        return [str(row[0]) for row in self._query("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL")]

    def story_of(self, article_id: str) -> list[ArticleInfo]:
        """The articles carrying the same story as this one, first-indexed first (none when it stands alone)."""
        sql = (
            f"SELECT {_COLUMNS} FROM articles WHERE story_id IS NOT NULL"
            f" AND story_id = (SELECT story_id FROM articles WHERE id = ?) ORDER BY {_order()}, id"
        )
        return self._with_outlets([_info(row) for row in self._query(sql, [article_id])])

    def stories(self, limit: int, cursor: str | None = None) -> tuple[list[list[ArticleInfo]], str | None]:
        """`limit` stories carried by several articles, by story id, from `cursor` on; and the next cursor."""
        sql = "SELECT DISTINCT story_id FROM articles WHERE story_id IS NOT NULL AND story_id > ? ORDER BY 1 LIMIT ?"
        ids = [str(row[0]) for row in self._query(sql, [cursor or "", limit + 1])]
        groups = [self.story_of(story_id) for story_id in ids[:limit]]
        return groups, ids[limit - 1] if len(ids) > limit else None

    def _with_outlets(self, infos: list[ArticleInfo]) -> list[ArticleInfo]:
        """The articles with the other outlets carrying their story (one query for the page)."""
        story_ids = sorted({info.story_id for info in infos if info.story_id})
        members: dict[str, list[tuple[str, str | None]]] = {}
        for part in _parts(story_ids):
            sql = f"SELECT story_id, id, source FROM articles WHERE story_id IN ({_marks(part)})"
            for story_id, article_id, source in self._query(sql, part):
                members.setdefault(str(story_id), []).append((str(article_id), source))
        return [
            info.model_copy(update={"story_outlets": _other_outlets(info, members[info.story_id])})
            if info.story_id in members
            else info
            for info in infos
        ]

    def _matching(self, within: SearchFilter) -> list[tuple[str, int, str]]:
        clauses, args = _filter_clauses(within)
        where = " AND ".join(clauses) or "1"
        if within.article_ids is None:
            rows = self._query(f"SELECT id, chunks, version FROM articles WHERE {where}", args)
            return [(str(i), int(n), str(v)) for i, n, v in rows]
        found = []
        for part in _parts(within.article_ids):
            marks = _marks(part)
            sql = f"SELECT id, chunks, version FROM articles WHERE id IN ({marks}) AND {where}"
            found += [(str(i), int(n), str(v)) for i, n, v in self._query(sql, [*part, *args])]
        return found

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, list(args)).fetchall()


class CatalogWriter:
    """Writes inside `Catalog.transaction`."""

    def __init__(self, db: sqlite3.Connection, vectors: VectorFile) -> None:
        self._db = db
        self._vectors = vectors
        self.generation = _generation(db)  # the vector file's appended to
        self.dropped_vectors = False  # whether any row of the vector file was dropped (a compaction may be due)
        self.misplaced_vectors = False  # whether any were appended out of order of publication (the same)
        # the publication time of the last dated article whose vectors were appended (None: none yet)
        self._last_ts: int | None = db.execute("SELECT last_ts FROM vector_order").fetchone()[0]
        self._touched: dict[str, None] = {}  # articles put or removed: their stories are worked out again
        self._old_stories: set[str] = set()  # the stories they were in (a removal may split one or end it)

    def put(
        self,
        info: ArticleInfo,
        published_ts: int | None,
        signature: bytes = b"",
        vectors: np.ndarray | None = None,
        records: Sequence[str] | None = None,
    ) -> None:
        """Add or replace an article's row with its MinHash signature (see qa.stories), its band keys, and its
        chunks' vectors and metadata (see hold_vectors, hold_records)."""
        self._forget([info.id])
        self.hold_vectors(info, vectors, published_ts)
        self.hold_records(info, records)
        self._db.execute(
            # Columns named: a catalog migrated by ALTER TABLE may hold them in another order than a new one.
            "INSERT OR REPLACE INTO articles (id, title, published, published_ts, source, url, chunks, content_hash,"
            " origin, version, published_inferred, indexed_at, minhash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (info.id, info.title, info.published, published_ts, info.source, info.url, info.chunks,
             info.content_hash, info.origin, info.version, int(info.published_inferred), info.indexed_at, signature),
        )  # fmt: skip
        self._db.executemany(
            "INSERT OR IGNORE INTO story_bands VALUES (?, ?, ?)",
            [(band, key, info.id) for band, key in stories.band_keys(signature)],
        )

    def hold_vectors(self, info: ArticleInfo, vectors: np.ndarray | None, published_ts: int | None = None) -> None:
        """Keep the vectors of the article's chunks, in order, for the version its row names; without them (None,
        or not one a chunk) none are kept, and a filter reads that article's from the store. `published_ts`: its
        publication time, if known."""
        self._drop_vectors([info.id])
        if vectors is None or not info.chunks or len(vectors) != info.chunks:
            return
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        self.hold_span(info.id, info.version, data, published_ts)

    def hold_span(self, article_id: str, version: str, data: bytes, published_ts: int | None = None) -> None:
        """Append an article's vectors (float32 bytes) to the vector file and point its row at them; counted as out
        of order when published over MISPLACED_AFTER_S before the dated article appended last."""
        start = self._vectors.append(self.generation, data)
        self._db.execute(
            "INSERT OR REPLACE INTO vector_spans VALUES (?, ?, ?, ?)", (article_id, version, start, len(data))
        )
        if published_ts is None:  # an undated article is never in a window of dates
            return
        misplaced = _out_of_order(self._last_ts, published_ts)
        self._db.execute(
            "UPDATE vector_order SET last_ts = ?, misplaced = misplaced + ?", [published_ts, len(data) * misplaced]
        )
        self._last_ts = published_ts
        self.misplaced_vectors |= misplaced

    def _new_generation(self) -> None:
        """Append from now on to a new, empty generation of the vector file (the old one is removed once this
        commits): nothing in it is dead or out of order yet."""
        self.generation += 1
        self._last_ts = None
        self._db.execute("UPDATE vector_file SET generation = ?, dead = 0", [self.generation])
        self._db.execute("UPDATE vector_order SET misplaced = 0, last_ts = NULL")

    def _drop_vectors(self, article_ids: Sequence[str]) -> None:
        """Forget where these articles' vectors are; their bytes are counted as dead until a compaction."""
        for part in _parts(article_ids):
            marks = _marks(part)
            spans = f"FROM vector_spans WHERE article_id IN ({marks})"
            dead = self._db.execute(f"SELECT COALESCE(SUM(size), 0) {spans}", part).fetchone()[0]
            if dead:
                self._db.execute("UPDATE vector_file SET dead = dead + ?", [dead])
                self._db.execute(f"DELETE {spans}", part)
                self.dropped_vectors = True

    def hold_records(self, info: ArticleInfo, records: Sequence[str] | None) -> None:
        """Keep the metadata of the article's chunks as the store holds it (JSON, in order), for the version its
        row names, so that a question reads its candidates here rather than through the store; without them (None,
        or not one a chunk) none are kept, and questions read that article's chunks from the store."""
        self._db.execute("DELETE FROM chunk_records WHERE article_id = ?", [info.id])
        if records is None or not info.chunks or len(records) != info.chunks:
            return
        self._db.executemany(
            "INSERT OR REPLACE INTO chunk_records VALUES (?, ?, ?, ?, ?)",
            [(chunk_id(info.id, p, info.version), info.id, info.version, p, r) for p, r in enumerate(records)],
        )

    def remove(self, article_ids: Sequence[str]) -> None:
        """Drop these articles' rows, vectors and chunk metadata."""
        self._forget(article_ids)
        for part in _parts(article_ids):
            self._db.execute(f"DELETE FROM articles WHERE id IN ({_marks(part)})", list(part))
            self._drop_vectors(part)
            self._db.execute(f"DELETE FROM chunk_records WHERE article_id IN ({_marks(part)})", list(part))

    def clear(self) -> None:
        """Drop every row (before a rebuild)."""
        self._db.execute("DELETE FROM articles")
        self._db.execute("DELETE FROM vector_spans")
        self._new_generation()
        self._db.execute("DELETE FROM chunk_records")
        self._db.execute("DELETE FROM story_bands")
        self._touched.clear()
        self._old_stories.clear()

    def _forget(self, article_ids: Sequence[str]) -> None:
        """Note the articles' stories before their rows change, and drop their band keys."""
        for part in _parts(article_ids):
            marks = _marks(part)
            sql = f"SELECT story_id FROM articles WHERE id IN ({marks}) AND story_id IS NOT NULL"
            self._old_stories.update(str(row[0]) for row in self._db.execute(sql, part))
            self._db.execute(f"DELETE FROM story_bands WHERE article_id IN ({marks})", part)
        self._touched.update(dict.fromkeys(article_ids))

    def regroup(self) -> None:
        """Work the stories out again around the articles put or removed: each group of articles linked by
        near-duplicate text (see qa.stories) is one story, named after its first-indexed article. Costs the
        size of the stories involved, never the catalog's.

        A story that lost an article, or whose article changed, may split: it is walked again link by link. Every
        other story still stands (each write regroups in its own transaction), so an article put joins the
        stories it links to whole: its own links are read, never their members'. Adding a copy to a story of G
        articles reads G rows, not G look-ups of G rows each (a synthetic corpus of 100,000 short articles in
        stories of up to 267 spent most of `qa index` walking them)."""
        touched = list(self._touched)
        old_stories = sorted(self._old_stories)
        self._touched.clear()
        self._old_stories.clear()
        seen: set[str] = set()
        for part in _parts(old_stories):
            sql = f"SELECT id FROM articles WHERE story_id IN ({_marks(part)})"
            for (member,) in self._db.execute(sql, part).fetchall():
                if member not in seen:
                    group = self._linked(member)
                    seen.update(group)
                    self._lead(group)
        for group in self._joined([a for a in touched if a not in seen]):
            self._lead(group)

    def _lead(self, group: dict[str, tuple[float, int]]) -> None:
        """Name a group's story after its first-indexed article (no story for an article alone)."""
        leader = min(group, key=lambda i: (*group[i], i)) if len(group) > 1 else None
        for part in _parts(sorted(group)):
            self._db.execute(
                f"UPDATE articles SET story_id = ? WHERE id IN ({_marks(part)}) AND story_id IS NOT ?",
                [leader, *part, leader],
            )

    def _linked(self, seed: str) -> dict[str, tuple[float, int]]:
        """The articles linked to `seed` by near-duplicate text, directly or through others, with when each was
        first indexed and published (articles indexed together: the first published leads); empty when `seed`
        is not in the catalog."""
        row = self._db.execute(f"SELECT minhash, {_order()} FROM articles WHERE id = ?", [seed]).fetchone()
        if row is None:
            return {}
        group, pending = {seed: (float(row[1]), int(row[2]))}, [(seed, bytes(row[0]))]
        while pending:
            article_id, signature = pending.pop()
            for other, other_signature, indexed_at, published_ts, _ in self._links(article_id, signature, group):
                group[other] = (indexed_at, published_ts)
                pending.append((other, other_signature))
        return group

    def _joined(self, articles: Sequence[str]) -> list[dict[str, tuple[float, int]]]:
        """The groups that articles just put make with each other and with the stories that stand (each taken
        whole, as it is), with when each member was first indexed and published. Articles no longer in the
        catalog (removed) are left out."""
        parent: dict[str, str] = {}  # union-find over article ids and "story:" + story ids

        def find(node: str) -> str:
            while parent.setdefault(node, node) != node:
                parent[node] = parent[parent[node]]
                node = parent[node]
            return node

        order: dict[str, tuple[float, int]] = {}
        put = set(articles)
        for article_id in articles:
            row = self._db.execute(f"SELECT minhash, {_order()} FROM articles WHERE id = ?", [article_id]).fetchone()
            if row is None:
                continue
            order[article_id] = (float(row[1]), int(row[2]))
            find(article_id)
            for other, _, indexed_at, published_ts, story in self._links(article_id, bytes(row[0]), {}):
                if story is not None and other not in put:  # a story that stands: its members are read below
                    parent[find(article_id)] = find(f"story:{story}")
                else:
                    order.setdefault(other, (indexed_at, published_ts))
                    parent[find(article_id)] = find(other)
        groups: dict[str, dict[str, tuple[float, int]]] = {}
        stories_of: dict[str, list[str]] = {}
        for node in list(parent):
            root = find(node)
            if node.startswith("story:"):
                stories_of.setdefault(root, []).append(node.removeprefix("story:"))
            else:
                groups.setdefault(root, {})[node] = order[node]
        for root, story_ids in stories_of.items():
            for part in _parts(story_ids):
                sql = f"SELECT id, {_order()} FROM articles WHERE story_id IN ({_marks(part)})"
                for member, indexed_at, published_ts in self._db.execute(sql, part).fetchall():
                    groups.setdefault(root, {})[str(member)] = (float(indexed_at), int(published_ts))
        return list(groups.values())

    def _links(
        self, article_id: str, signature: bytes, known: dict[str, tuple[float, int]]
    ) -> list[tuple[str, bytes, float, int, str | None]]:
        """The articles that share a band with this one and are near-duplicates of it (not those `known`): each
        with its signature, when it was first indexed and published, and its story."""
        candidates = self._db.execute(
            f"SELECT DISTINCT a.id, a.minhash, {_order('a.')}, a.story_id FROM story_bands mine"
            " JOIN story_bands theirs ON theirs.band = mine.band AND theirs.key = mine.key"
            " JOIN articles a ON a.id = theirs.article_id WHERE mine.article_id = ? AND theirs.article_id != ?",
            [article_id, article_id],
        ).fetchall()
        return [
            (str(other), bytes(other_signature), float(indexed_at), int(published_ts), story)
            for other, other_signature, indexed_at, published_ts, story in candidates
            if other not in known and stories.similarity(signature, bytes(other_signature)) >= stories.THRESHOLD
        ]

    def set_state(self, applied: int, identity: str) -> None:
        """Record how far along the change log of which store the catalog is."""
        self._db.executemany(
            "INSERT OR REPLACE INTO state VALUES (?, ?)", [("applied", str(applied)), ("identity", identity)]
        )


@dataclass(frozen=True)
class ArticleMatch:
    """Which articles a listing shows: a filter's outlets and window, and a search. An article is searched for by a
    piece of its title (any case), or is one of `text_ids` (the articles whose text the keyword index matched);
    `title` alone asks for the articles titled exactly so (any case): a duplicate's check."""

    within: SearchFilter | None = None
    search: str | None = None
    text_ids: Sequence[str] = ()
    title: str | None = None


def _filter_clauses(within: SearchFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) for a filter's outlets and window; the article ids are left to the
    caller (a long list needs splitting)."""
    clauses: list[str] = []
    args: list[Any] = []
    if within.sources is not None:
        clauses.append(f"source IN ({_marks(within.sources)})")
        args += within.sources
    if within.since is not None:
        clauses.append("published_ts >= ?")
        args.append(within.since_ts)
    if within.until is not None:
        clauses.append("published_ts < ?")
        args.append(within.until_ts)
    return clauses, args


def _match_clauses(match: ArticleMatch) -> tuple[list[str], list[Any]]:
    clauses, args = _filter_clauses(match.within) if match.within is not None else ([], [])
    # SQLite's own NOCASE and LIKE know only ASCII case: they serve an ASCII query (a scan in C, 20 times faster);
    # Python's casefold, registered on the connection, serves the rest ("élysée" finds "ÉLYSÉE")
    if match.title is not None:
        title = match.title.strip()
        clauses.append("title = ? COLLATE NOCASE" if title.isascii() else "casefold(title) = ?")
        args.append(title if title.isascii() else title.casefold())
    if match.search is not None:
        search = match.search.strip()
        if search.isascii():
            either = ["title LIKE ? ESCAPE '\\'"]
            args.append("%" + _LIKE_SPECIAL.sub(r"\\\g<0>", search) + "%")
        else:
            either = ["instr(casefold(title), ?) > 0"]
            args.append(search.casefold())
        ids = list(dict.fromkeys(match.text_ids))[: _SQL_VARIABLES - len(args)]
        if ids:
            either.append(f"id IN ({_marks(ids)})")
            args += ids
        clauses.append(f"({' OR '.join(either)})")
    return clauses, args


class _Placement:
    """Counts the bytes appended out of order of publication (see MISPLACED_AFTER_S), span after span."""

    def __init__(self) -> None:
        self.last_ts: int | None = None  # the publication time of the last dated article appended
        self.misplaced = 0
        self.placed = 0  # bytes

    def place(self, size: int, published_ts: int | None) -> bool:
        """An article's vectors (`size` bytes), appended after the last ones placed; whether counted out of order."""
        self.placed += size
        if published_ts is None:  # an undated article is never in a window of dates
            return False
        misplaced = _out_of_order(self.last_ts, published_ts)
        if misplaced:
            self.misplaced += size
        self.last_ts = published_ts
        return misplaced

    def unplace(self, size: int, misplaced: bool) -> None:
        """Vectors placed before, now dead (their article was replaced or removed since they were copied). The
        placements after them stay counted as they were: near enough for deciding when to compact again."""
        self.placed -= size
        if misplaced:
            self.misplaced -= size


class _Copy:
    """A compaction's copy: the vectors of the rows it has seen, appended to its scratch file in the order they
    are taken, and their rows (the new offsets) in its table; a row taken again replaces its copy, whose bytes are
    dead."""

    def __init__(self, vectors: VectorFile, generation: int, scratch: ScratchFile, table: str, written: str) -> None:
        self.generation = generation
        self.scratch = scratch
        self.table = table
        self.written = written  # the table the triggers log written articles into (see _log_written_spans)
        self._logged_through = 0  # the last entry of that log read
        self._unsettled: dict[str, None] = {}  # the articles read from it since the last copy
        self.placement = _Placement()
        self._vectors = vectors
        # article -> the row copied (version, start, size in the current generation), and whether counted out of
        # order in the new file
        self._copied: dict[str, tuple[tuple[str, int, int], bool]] = {}

    def changes(self, connection: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[str]]:
        """The rows written since they were copied, or not copied yet (as _SPANS_IN_PUBLICATION_ORDER gives
        them, in that order), and the articles copied whose rows changed or went. Only the articles the triggers
        logged since the last copy are looked at: the cost of what was written meanwhile, not of the archive
        (100,000 articles: a scan of every row took 0.2-0.4 s, inside the writers' turn at the switch). Each
        write is a new entry of the log, after every entry committed before it, so entries are read once."""
        for entry, article_id in connection.execute(
            f'SELECT rowid, article_id FROM "{self.written}" WHERE rowid > ? ORDER BY rowid', [self._logged_through]
        ):
            self._unsettled[article_id] = None
            self._logged_through = entry
        logged = list(self._unsettled)
        current: dict[str, tuple[Any, ...]] = {}
        for part in _parts(logged):
            for row in connection.execute(
                "SELECT v.article_id, v.version, v.start, v.size, a.published_ts FROM vector_spans v LEFT JOIN"
                f" articles a ON a.id = v.article_id WHERE v.article_id IN ({_marks(part)})",
                part,
            ):
                current[row[0]] = row
        rows: list[tuple[Any, ...]] = []
        gone: list[str] = []  # replaced or removed since they were copied
        for article_id in logged:
            row, copied = current.get(article_id), self._copied.get(article_id)
            if row is not None and copied is not None and copied[0] == row[1:4]:
                continue  # written before the snapshot took it, or back as it was
            if copied is not None:
                gone.append(article_id)
            if row is not None:
                rows.append(row)
        rows.sort(key=lambda row: (-1 if row[4] is None else row[4], row[0]))
        return rows, gone

    def take(self, connection: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], gone: Sequence[str]) -> None:
        """Drop the copies of `gone`, then append the vectors of these rows (article, version, start, size,
        publication time) and write their rows, a step at a time: what the last `changes` found, whose articles
        are then settled. On the compaction's own connection each step's rows are a transaction of their own,
        begun once its vectors are copied: SQLite's writers wait by polling, and one that found it taken would not
        find a gap between transactions begun back to back. On the writers' connection (the switch), all are part
        of its transaction."""
        self._unsettled.clear()
        if gone:
            with _own_transaction(connection):
                for part in _parts(gone):
                    connection.execute(f'DELETE FROM "{self.table}" WHERE article_id IN ({_marks(part)})', part)
                    for article_id in part:
                        (_, _, size), misplaced = self._copied.pop(article_id)
                        self.placement.unplace(size, misplaced)
        for begin in range(0, len(rows), _COMPACT_STEP):
            step = rows[begin : begin + _COMPACT_STEP]
            written = []
            spans = [(start, size) for _, _, start, size, _ in step]
            for (article_id, version, start, size, published_ts), data in zip(
                step, self._vectors.read(self.generation, spans), strict=True
            ):
                if data is None:  # the file lost them: left out, and the article's vectors are read from the store
                    continue
                written.append((article_id, version, self.scratch.append(data), size))
                self._copied[article_id] = ((version, start, size), self.placement.place(size, published_ts))
            with _own_transaction(connection):
                connection.executemany(f'INSERT OR REPLACE INTO "{self.table}" VALUES (?, ?, ?, ?)', written)


@contextmanager
def _own_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction of its own, unless the connection is in one already (the switch's)."""
    if connection.in_transaction:
        yield
        return
    connection.execute("BEGIN IMMEDIATE")
    yield
    connection.execute("COMMIT")  # (on a failure, the compaction rolls back and drops what it made)


def _log_written_spans(connection: sqlite3.Connection, written: str) -> None:
    """Triggers that log into the new table `written` the article of every row of vector_spans that any connection,
    in any process, inserts, replaces, updates or deletes from now on. Dropped by `_stop_logging_written_spans` (at
    the switch, or when the compaction fails); a killed process's by the next Catalog to open
    (`_drop_abandoned_spans`)."""
    with _own_transaction(connection):
        connection.execute(f'CREATE TABLE "{written}" (article_id TEXT NOT NULL)')  # an entry a write, in rowid order
        for event, rows in (("insert", ("NEW",)), ("update", ("OLD", "NEW")), ("delete", ("OLD",))):
            log = " ".join(f'INSERT INTO "{written}" VALUES ({row}.article_id);' for row in rows)
            connection.execute(
                f'CREATE TRIGGER "{written}_{event}" AFTER {event.upper()} ON vector_spans BEGIN {log} END'
            )


def _stop_logging_written_spans(connection: sqlite3.Connection, written: str) -> None:
    """Drop `_log_written_spans`'s triggers, then their table, together (in the connection's transaction, if in
    one)."""
    with _own_transaction(connection):
        for event in ("insert", "update", "delete"):
            connection.execute(f'DROP TRIGGER IF EXISTS "{written}_{event}"')
        connection.execute(f'DROP TABLE IF EXISTS "{written}"')


def _drop_in_steps(connection: sqlite3.Connection, table: str) -> None:
    """Empty a table a few pages of rows a transaction, writers taking their turns between them, then drop it."""
    while True:
        with _own_transaction(connection):
            emptied = connection.execute(
                f'DELETE FROM "{table}" WHERE rowid IN (SELECT rowid FROM "{table}" LIMIT {4 * _COMPACT_STEP})'
            ).rowcount
        if not emptied:
            break
    connection.execute(f'DROP TABLE "{table}"')


def _out_of_order(last_ts: int | None, published_ts: int) -> bool:
    """Whether an article published then, appended after a dated one published at `last_ts`, is out of order."""
    return last_ts is not None and published_ts < last_ts - MISPLACED_AFTER_S


def read_ahead(path: Path) -> bool:
    """Read a catalog's vector file through once, so that the operating system holds it in its cache, when the
    catalog is there (nothing is created): a server that starts after a reboot otherwise reads it from disk, a
    filter at a time (1,000,000 chunks: 1.5 GB; the first 150 questions in a week's window took 186 ms at p95
    against 31 once it was read). Whether it was."""
    try:  # a URI needs an absolute path: the default data directory is a relative one (./.qa-data)
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            generation = _generation(db)
    except sqlite3.Error:  # no catalog yet (read-only: none is made), or one from before the vector file
        return False
    return read_through(VectorFile(path.parent, f"{path.stem}.vectors").path(generation))


def _generation(connection: sqlite3.Connection) -> int:
    """The vector file's current generation, as this connection sees the catalog."""
    return int(connection.execute("SELECT generation FROM vector_file").fetchone()[0])


def _data_version(connection: sqlite3.Connection) -> int:
    """A number that changes when any other connection, in any process, commits a change (SQLite's data_version)."""
    return int(connection.execute("PRAGMA data_version").fetchone()[0])


@contextmanager
def _snapshot(connection: sqlite3.Connection) -> Iterator[None]:
    """Reads that see one commit: rows and the vector-file generation they point into."""
    connection.execute("BEGIN")
    try:
        yield
    finally:
        connection.execute("COMMIT")


def _casefold(value: str | None) -> str:
    return value.casefold() if value else ""


def _info(row: tuple[Any, ...]) -> ArticleInfo:
    article_id, title, published, source, url, chunks, content_hash, version, inferred, story_id = row[:10]
    return ArticleInfo(
        id=article_id,
        title=title,
        published=published,
        published_inferred=bool(inferred),
        source=source,
        url=url,
        chunks=chunks,
        content_hash=content_hash,
        version=version,
        story_id=story_id,
    )


def _order(table: str = "") -> str:
    """Who leads a story: the first indexed; of articles indexed together, the first published."""
    return f"{table}indexed_at, COALESCE({table}published_ts, 9223372036854775807)"


def _other_outlets(info: ArticleInfo, members: list[tuple[str, str | None]]) -> list[str]:
    """The outlets of the story's other articles, but for the article's own."""
    return sorted({s for i, s in members if i != info.id and s and s != info.source})


def _marks(values: Sequence[Any]) -> str:
    """One SQL parameter per value."""
    return ",".join("?" * len(values))


def _parts(values: Sequence[str]) -> Iterator[list[str]]:
    for begin in range(0, len(values), _SQL_VARIABLES):
        yield list(values[begin : begin + _SQL_VARIABLES])


def _encode_cursor(article_id: str, published_ts: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([article_id, published_ts]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, int] | None:
    """The last row of the previous page; InvalidInput for a cursor this program did not hand out."""
    if not cursor:
        return None
    try:
        article_id, published_ts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(article_id), int(published_ts)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("The cursor is not one a listing of these articles gave: start again without it.") from exc
