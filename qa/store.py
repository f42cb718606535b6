"""Chroma as the one store: chunk vectors (cosine space) and article records, embedded on disk or on a server.

Four collections per index: `<name>_chunks` holds every passage with its offsets and sentence vectors;
`<name>_articles_v2` holds each article's full text (so a citation can be shown in context), its metadata and
content hash; `<name>_changes` is the change log: every write appends a record naming the articles it touched once
they are as it leaves them. A record's id is its position in the log (`log:000000000042`), so a reader finds
what is new by asking for the next few ids, whatever the log's length (Chroma's `count()` and `get(offset=...)`
read the whole collection: 151 ms and 157-760 ms at 1,000,000 records); two writers that take the same position
on a server find out at once, and the second takes the next. What each process
derives from the store (the keyword index, the article catalog: qa/replica.py) follows that log, at a cost
proportional to what changed. `<name>_journal` holds the writes in progress (empty when none is, but for a
moment on a server, where a write's last two calls run in the background: see `_finish`).
The chunk collection's metadata records the embedder that built it and the schema of what is stored.

Chunks are addressed by id (`article::version::position`, positions 0..n-1 with the version and n in the
article's record; `article::position` for articles written before versions), never by a metadata filter, and
nothing here counts a whole collection: Chroma's `where` and `count()` cost time in proportion to it (90 ms for
`count()` at 1,000,000 chunks). The replica's catalog knows the counts.

Crash safety: Chroma has no transaction across calls, so no write ever changes what a reader is using. An article's
chunks are written under a version of its content, beside the chunks of the version its record names; then the
record is replaced (one call: the switch); then the change log records it; then the old version's chunks are
deleted. Readers take only chunks of
the version the record names. Before its first change a write records its intent in the journal (per article: the
version and chunk count it had and will have) and deletes the record after its last change and its change-log
record. A process killed part way leaves the intent; the next write (and the next start of the service) finishes
it and logs its articles: whatever chunks the intent names that are not the current version's are deleted, and a
remove that began is completed. The ids involved are all known, so a recovery never scans the store.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from qa import stories
from qa.background import Background
from qa.chunking import chunk_id, chunk_version
from qa.domain import Article, ArticleInfo, Chunk, published_timestamp
from qa.errors import UNKNOWN_ARTICLE, ConfigError, EmbedderMismatch, NotFound, NotIndexed, StoreUnavailable
from qa.imports import chromadb_imports

with chromadb_imports():  # the first import of chromadb in every process
    from chromadb.errors import InternalError

# 1: article records carried the mean of their chunk vectors (nothing read them). 2: a placeholder instead.
# 3: chunk ids may carry their article's content version (a release that reads up to 2 would not find them, so it
# is told to upgrade); what schema 2 wrote is read as it is. 4: a chunk's text is in its metadata ("text"), not in
# Chroma's documents: Chroma builds a full-text (trigram) index of every document, which nothing here reads (the
# keyword index is the replica's) and which costs CPU in writes that hold the interpreter (the model's thread
# waits). What schema 3 wrote is read as it is. 5: an article record's text is in its metadata ("text") too, for the
# same reason (its full-text index was a quarter of a window's write), and sentence vectors are int8 with a scale
# each ("i8:" before the base64) instead of float16: half the bytes, a fifth less CPU per write with the texts;
# what schema 4 wrote is read as it is. 6: what a chunk carries for the program only (text, offsets, sentences and
# their vectors) is one JSON value ("chunk"), beside the keys a `where` may take (article_id, version, published_at):
# Chroma keeps each metadata key as a row of a table with three indexes, so a 9-chunk article's upsert into a
# 1,000,000-chunk collection took 41-45 ms with 11 keys a chunk and 33-37 with 4, the same as with one short key
# (the size of the values hardly counts); what schema 5 wrote is read as it is. 7: change-log records are named by
# their position (see the module's notes); a release that reads up to 6 would still name them at random, and the
# readers that look for the next position would never find its records, so it is told to upgrade. A log that
# schema 6 wrote is read by offset up to its end, as before, and followed by id from its first positioned record.
SCHEMA = 7
# Chroma wants a vector with every record; article records are read by id only, so one number does.
_ARTICLE_PLACEHOLDER = [1.0]
# the article collection's name, by schema
_ARTICLES = {1: "_articles"} | dict.fromkeys(range(2, SCHEMA + 1), "_articles_v2")
_NO_VECTORS = np.zeros((0, 0), dtype=np.float32)
_INT8 = "i8:"  # sentence vectors since schema 5 (base64 has no colon)
_WRITE_LOG = 100  # writes Chroma keeps in a collection's log before they are in its vector index (see _bound_write_log)
_CHUNK_WRITE_LOG = 300  # the same for the chunks, whose vector index is the big one
_PAGE = 1000
_ID_PAGE = 100_000  # chunk ids per read when every chunk is listed (see all_chunk_ids)
# Records per call of a write or a read by id. Chroma's local client holds the GIL for a whole call (an upsert of
# 1,500 chunks: 0.85 s): a write in the background of `qa index` stalled the model's thread that long, window
# after window. Calls of 64 records let it run between them (at most about 80 ms), for some 25% more write time.
_CALL = 64
_CHANGE_IDS = 500  # article ids per change-log record
_LOG_ID = "log:"  # a change-log record's id: this, then its position in the log (12 digits)
# Ids a reader asks for to find what is new in the change log: one call, whatever the log's length. When all are
# there, the reader is far behind and counts the log once instead.
_PROBE = 8
_PROBED = 64  # change-log records a process keeps from its probes, so that catching up reads them no second time
_APPEND_ATTEMPTS = 100  # positions a write tries in the change log before it gives up (each lost to another writer)
# Change-log records of its own writes a process remembers (see ChromaStore.own_writes): each of one record's
# articles at most, a window of `qa index` (about 512 chunks) at most, so a few MB in all.
_OWN_RECORDS = 8
_READ_ATTEMPTS = 4
_BUSY_ATTEMPTS = 3  # tries to bound a collection's write log while Chroma's SQLite is locked
# On a Chroma server nothing tells whether another machine's write in progress is alive: an intent is taken for
# abandoned once it is this old (a write of one window takes seconds). On local files the writers' lock tells.
SERVER_LEASE_S = 600.0
# ... so on a server a batch looks in the journal at most this often (a look was a round trip in every add, and
# nothing it can find is abandoned before its lease is over anyway); `recover()` always looks.
SERVER_JOURNAL_LOOK_S = 60.0
T = TypeVar("T")
_log = logging.getLogger("qa.store")


@dataclass(frozen=True)
class LocalFiles:
    """How a store embedded in this process shares its files with other processes.

    An embedded Chroma keeps each collection's vector index in memory, loaded once: it never sees vectors another
    process wrote afterwards (a read of one fails with "Error finding id"), and chromadb does not support several
    processes writing at once. So a process opens its view again when the change log shows writes it did
    not make, and writers take turns through a file lock. A Chroma server has one view for everyone and needs
    neither."""

    reopen: Callable[[], Any]  # a client with a view of its own, loaded from the files now
    write_lock: Path


@dataclass(frozen=True)
class ArticleToWrite:
    """An article with its chunks and their vectors, ready to be written."""

    article: Article
    content_hash: str
    origin: str
    chunks: Sequence[Chunk]
    chunk_hashes: Sequence[str]
    vectors: np.ndarray
    sentence_vectors: Sequence[np.ndarray]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as stored, with what the retriever and the answerer need."""

    id: str
    article_id: str
    position: int
    text: str
    start: int
    end: int
    content_hash: str
    sentences: list[tuple[int, int]]
    sentence_vectors: np.ndarray
    heading: str = ""
    embedding: np.ndarray | None = None
    version: str = ""  # of the article content it was cut from (see qa.chunking.chunk_version)
    record: str | None = None  # its metadata as the store holds it (JSON), when read for the replica to hold


Held = tuple[str, int]  # (version, chunk count) of an article's chunks
# An article as a write of this process left it: its record and its chunks in order, with their vectors and their
# metadata as stored, but not their sentence vectors decoded (None: removed)
Written = tuple[ArticleInfo, list[StoredChunk]] | None


@dataclass(frozen=True)
class ChangeRecord:
    """One record of the change log: a write that is done, and the articles it touched."""

    id: str
    article_ids: list[str]
    writer: str = ""  # a token of the write that appended it (how a writer tells its record from another's)


def change_record_id(position: int) -> str:
    """The id of the change-log record at this position (since schema 7)."""
    return f"{_LOG_ID}{position:012d}"


def _record_position(record_id: str) -> int | None:
    """The position a change-log record's id names (None: an id from before schema 7)."""
    digits = record_id[len(_LOG_ID) :]
    return int(digits) if record_id.startswith(_LOG_ID) and digits.isdigit() else None


@dataclass(frozen=True)
class ArticleIntent:
    """What a write is about to do to one article: the chunks it had and those it will have (None: no record
    before / removed after)."""

    article_id: str
    old: Held | None
    new: Held | None

    def chunk_ids(self) -> list[str]:
        """Every chunk id the write may have touched."""
        held = [h for h in (self.old, self.new) if h is not None]
        return list(dict.fromkeys(chunk_id(self.article_id, p, v) for v, n in held for p in range(n)))


@dataclass(frozen=True)
class PlannedArticle:
    """An article a write will put, as planned before its vectors are made (see `ChromaStore.intend_ahead`)."""

    article_id: str
    stored: ArticleInfo | None  # its record when planned (None: new)
    content_hash: str
    chunks: int


@dataclass(frozen=True)
class Intent:
    """A write in progress, as the journal holds it."""

    id: str
    began: float  # seconds since the epoch
    articles: list[ArticleIntent]


def current_chunk_ids(info: ArticleInfo) -> list[str]:
    """The ids of the chunks an article's record names."""
    return [chunk_id(info.id, p, info.version) for p in range(info.chunks)]


def is_current(chunk: StoredChunk, info: ArticleInfo | None) -> bool:
    """Whether this chunk is one its article's record names (readers take no other: a write in progress, or one
    a killed process left, has others)."""
    return (
        info is not None
        and chunk.article_id == info.id
        and chunk.version == info.version
        and chunk.position < info.chunks
    )


def encode_vectors(vectors: np.ndarray) -> str:
    """Sentence vectors as a Chroma metadata string: int8, each row scaled by its largest component (its scale
    kept as float32 before the rows), base64 after "i8:". About 0.5 KB a sentence; cosines move by about 1e-3."""
    rows = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(rows).max(axis=1, initial=0.0) / 127.0
    quantised = np.round(rows / np.where(scales > 0, scales, 1.0)[:, None]).astype(np.int8)
    return _INT8 + base64.b64encode(scales.astype(np.float32).tobytes() + quantised.tobytes()).decode("ascii")


def decode_vectors(blob: str, dimension: int) -> np.ndarray:
    """Inverse of `encode_vectors`, as float32 rows; also reads the float16 rows schema 4 and earlier wrote."""
    if not blob.startswith(_INT8):
        return np.frombuffer(base64.b64decode(blob), dtype=np.float16).reshape(-1, dimension).astype(np.float32)
    raw = base64.b64decode(blob[len(_INT8) :])
    count = len(raw) // (4 + dimension)
    scales = np.frombuffer(raw, dtype=np.float32, count=count)
    rows = np.frombuffer(raw, dtype=np.int8, offset=4 * count).reshape(count, dimension)
    return rows.astype(np.float32) * scales[:, None]


class ChromaStore:
    """The index: one object over the two collections, bound to one embedder."""

    def __init__(
        self, client: Any, name: str, embedder_id: str, dimension: int, where: str, local: LocalFiles | None = None
    ) -> None:
        self.client = client
        self.name = name
        self.embedder_id = embedder_id
        self.dimension = dimension
        self.where = where
        self.local = local
        self._chunks: Any = None
        self._articles: Any = None
        self._changes: Any = None
        self._journal: Any = None
        self._upgraded = False  # opened to write at least once: the schema is current
        self._batch_depth = 0
        self._journal_looked = -math.inf  # when a batch last looked for abandoned writes (time.monotonic)
        self._own: OrderedDict[str, dict[str, Written]] = OrderedDict()  # change-log record id -> what it wrote
        self._own_lock = threading.Lock()
        self._reflects = -1  # the change-log length this process's view of local files reflects
        self._reopening = threading.Lock()
        self._head = -1  # the change log's length as this process last read it (-1: not read yet)
        self._positioned_from: int | None = None  # every record from this position on is named by its position
        self._unpositioned_end = -1  # a length at which the log was found to end in a record of an older schema
        self._probed: OrderedDict[int, ChangeRecord] = OrderedDict()  # records read by position lately
        self._finishing = Background("qa-store-finish")  # the last write's clean-up, on a server (see `_finish`)
        self._reads = Background("qa-store-read")  # a write's read of the records beside its chunks' (`put_articles`)

    # -- opening -------------------------------------------------------------------------------------------

    def require(self) -> None:
        """Open for reading; raise NotIndexed when nothing was indexed yet."""
        if not self._open(create=False):
            raise NotIndexed(f"Nothing is indexed in {self.where} yet.")

    def ensure(self) -> None:
        """Open for writing, creating the collections bound to this embedder if needed."""
        self._open(create=True)

    def _open(self, create: bool) -> bool:
        if self._chunks is not None and (self._upgraded or not create):
            return True  # opened (to write: after bringing an older schema up to date, once per process)
        chunks_name = f"{self.name}_chunks"
        with _store_errors(self.where):
            existing = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
            if chunks_name not in existing and not create:
                return False
            # get_or_create would pass our metadata to an existing collection; an index keeps its own binding.
            if chunks_name in existing:
                chunks = self.client.get_collection(chunks_name, embedding_function=None)
            else:
                meta = {
                    "hnsw:space": "cosine",
                    "embedder": self.embedder_id,
                    "dimension": self.dimension,
                    "schema": SCHEMA,
                }
                chunks = self.client.create_collection(chunks_name, metadata=meta, embedding_function=None)
        schema = self._check_binding(chunks.metadata or {})
        with _store_errors(self.where):
            if create and schema < SCHEMA:
                if self._articles_name(schema) != self._articles_name(SCHEMA):
                    _migrate_articles(self.client, self._articles_name(schema), self._articles_name(SCHEMA), existing)
                _set_metadata(chunks, schema=SCHEMA)  # the switch: readers now use the new collection
                schema = SCHEMA
            if create and schema > 1 and self._articles_name(1) in existing:
                self.client.delete_collection(self._articles_name(1))  # left by a migration killed after its switch
            articles = self.client.get_or_create_collection(self._articles_name(schema), embedding_function=None)
            changes = self.client.get_or_create_collection(f"{self.name}_changes", embedding_function=None)
            journal = self.client.get_or_create_collection(f"{self.name}_journal", embedding_function=None)
            if create:
                for collection in (articles, changes, journal):
                    _bound_write_log(collection, _WRITE_LOG)
                _bound_write_log(chunks, _CHUNK_WRITE_LOG)
        self._chunks, self._articles, self._changes, self._journal = (
            _Reachable(c, self.where) for c in (chunks, articles, changes, journal)
        )
        self._upgraded = self._upgraded or create
        if self.local is not None and self._reflects < 0:
            self._reflects = self._counted()
        return True

    def _articles_name(self, schema: int) -> str:
        return f"{self.name}{_ARTICLES[schema]}"

    def _check_binding(self, meta: dict[str, Any]) -> int:
        """The index's schema, after checking that this program reads it and that it was built by our embedder."""
        schema = int(meta.get("schema", 1))
        if schema not in _ARTICLES:
            raise ConfigError(
                f"The index in {self.where} was written by a newer version of this program (schema {schema}; this "
                f"one reads up to {SCHEMA}). Upgrade it, or point QA_DATA_DIR (or QA_COLLECTION) somewhere new."
            )
        built_by, built_dim = meta.get("embedder"), meta.get("dimension")
        if built_by != self.embedder_id or built_dim != self.dimension:
            raise EmbedderMismatch(
                f"The index in {self.where} was built with the embedder '{built_by}' ({built_dim} dimensions), "
                f"but this configuration embeds with '{self.embedder_id}' ({self.dimension} dimensions). "
                "Restore the embedder setting, or point QA_DATA_DIR (or QA_COLLECTION) somewhere new and index again."
            )
        return schema

    # -- writes happen in batches; each write logs the articles it touched ---------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write happens inside this: one writer at a time on local files, from a view that holds the other
        processes' writes. A batch first finishes the writes a killed process left in the journal."""
        self.ensure()
        if self._batch_depth:
            with self._logged():
                yield
            return
        with self._writers_take_turns(wait=True), self._logged():
            if self.local is not None or time.monotonic() - self._journal_looked >= SERVER_JOURNAL_LOOK_S:
                self._journal_looked = time.monotonic()
                self._recover()
            yield

    @contextmanager
    def writers_turn(self) -> Iterator[None]:
        """Hold the writers' turn without writing (on local files no write is in progress meanwhile): for a
        consistent look at the whole store (qa doctor). Not inside a batch, which holds it already."""
        self.require()
        with self._writers_take_turns(wait=True):
            self.see_other_writers()
            yield

    def recover(self, wait: bool = True) -> list[str]:
        """Finish the writes a killed process left unfinished (see the module's notes); the ids of the articles
        they touched. Without `wait`, only when no writer is busy now (on opening: never wait for a writer, whose
        own next batch recovers anyway). Nothing to do costs one read of the (empty) journal."""
        if not self.exists() or not self.journal():
            return []
        with self._writers_take_turns(wait) as ours:
            if not ours:
                return []
            with self._logged():
                return self._recover()

    @contextmanager
    def _logged(self) -> Iterator[None]:
        """What `batch` (and a recovery outside one) does besides taking the writers' turn."""
        if self._batch_depth == 0:
            self.see_other_writers()  # never write from a view that misses another process's writes
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1

    @contextmanager
    def _writers_take_turns(self, wait: bool) -> Iterator[bool]:
        """One writer at a time on local files (across processes); a Chroma server orders writes itself. Yields
        whether this process holds the turn (without `wait`, not when another writer does)."""
        if self.local is None:
            yield True
            return
        with self.local.write_lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def see_other_writers(self) -> None:
        """Make this process's view of local files hold what other processes wrote (nothing with a server)."""
        if self.local is not None:
            self.follow()

    def follow(self, probe: bool = True) -> int:
        """The change log's length, with this process's view of local files opened again first if another
        process wrote since it was loaded (costs a load of the vector index; nothing with a Chroma server).
        `probe`: see `log_length`."""
        length = self.log_length(probe)
        if self.local is None or length == self._reflects:
            return length
        with self._reopening:
            length = self.log_length(probe)
            if length != self._reflects:
                self.client = self.local.reopen()
                self._chunks = self._articles = self._changes = self._journal = None
                self._forget_log()  # the files may hold an index made again since
                self._open(create=False)
                self._reflects = length
        return length

    def _in_batch(self) -> None:
        if not self._batch_depth:
            raise RuntimeError("Store writes belong inside `with store.batch():`.")

    def _log(self, article_ids: list[str], written: dict[str, Written] | None = None) -> None:
        """Append the record of a write that is done. One record, after the last change: until it is written the
        write's intent in the journal stands for it (a record before the first change as well cost every add a
        write into Chroma, 5-8 ms, and told a replica nothing it could use before the write was done).
        `written`: the articles as the write left them, remembered for `own_writes`."""
        with self._reopening:  # another thread's look sees the record and this view's count agree
            for begin in range(0, len(article_ids), _CHANGE_IDS):
                part = article_ids[begin : begin + _CHANGE_IDS]
                record_id = change_record_id(self._append(part))
                if self.local is not None:
                    self._reflects += 1  # our own record: this view holds what it names
                if written is not None and len(article_ids) <= _CHANGE_IDS:
                    with self._own_lock:
                        self._own[record_id] = written
                        while len(self._own) > _OWN_RECORDS:
                            self._own.popitem(last=False)

    def _append(self, article_ids: list[str]) -> int:
        """Add a change-log record at the log's end; its position. Another writer (another machine on a server,
        or any writer whose idea of the end is late) may take the same position first: Chroma keeps the first
        record of an id and ignores the second, so the record is read back, and on a lost position the next is
        tried."""
        writer = uuid.uuid4().hex
        metadata = {"articles": json.dumps(article_ids), "writer": writer}
        position = self._head if self._positioned(self._head) else self._counted()
        for _ in range(_APPEND_ATTEMPTS):
            self._changes.add(ids=[change_record_id(position)], embeddings=[_ARTICLE_PLACEHOLDER], metadatas=[metadata])
            there = self._read_positions(position, _PROBE)
            if not there:  # neither ours nor another's: the log is not what this process took it for
                position = self._counted()
                continue
            if there[0].writer != writer:
                position += len(there)  # taken: try past what is there now
                continue
            self._positioned_from = position if self._positioned_from is None else min(self._positioned_from, position)
            self._head = max(self._head, position + len(there))
            return position
        raise StoreUnavailable(
            f"Could not add a change-log record in {self.where}: {_APPEND_ATTEMPTS} positions in a row were taken by "
            "other writers. Try again."
        )

    def own_writes(self, record_ids: Sequence[str]) -> dict[str, Written] | None:
        """Each article these change-log records name, as this process's writes left it (the later record's
        when two name it), if this process made every one of them lately; else None. A replica applies them
        without reading them back from the store (two reads of an add's 10-16 calls into Chroma)."""
        found: dict[str, Written] = {}
        with self._own_lock:
            for record_id in record_ids:
                written = self._own.get(record_id)
                if written is None:
                    return None
                found.update(written)
        return found

    def last_own_write(self, article_id: str) -> tuple[int, ArticleInfo] | None:
        """The position of the change-log record of this process's latest write of the article, and the article's
        record as that write left it, if it is among the writes remembered for `own_writes` (None: not remembered,
        or it removed the article)."""
        with self._own_lock:
            for record_id, written in reversed(self._own.items()):
                if article_id in written:
                    left, position = written[article_id], _record_position(record_id)
                    return None if left is None or position is None else (position, left[0])
        return None

    def change_count(self) -> int:
        """How many records the change log holds, counted (a read of the whole log: for qa doctor and `qa
        info`; readers that follow the log use `log_length`)."""
        self.require()
        return int(_read(self._changes.count))

    def log_length(self, probe: bool = True) -> int:
        """The change log's length: the next few positions read by id from the length last read (one call,
        whatever the log's length), or a count when this process has not read it yet, is far behind, or the log
        still ends in records of an older schema. Without `probe`, the length last read, with no call: right
        after this process's own append, which read the log's end back (a call of every add, 5-25 ms through a
        server), for its own catch-up; a later write of another process is seen by the next look."""
        self.require()
        head = self._head
        if not self._positioned(head):
            return self._counted()
        if not probe:
            return head
        found = self._read_positions(head, _PROBE)
        if len(found) == _PROBE:
            return self._counted()
        self._head = max(self._head, head + len(found))  # (another thread may have read further meanwhile)
        return self._head

    def changes(self, offset: int, limit: int = _PAGE) -> list[ChangeRecord]:
        """The change-log records from `offset` on, oldest first: by id where the log names records by
        position (from what this process's probes kept, when they hold them all), else by offset."""
        self.require()
        limit = min(limit, _PAGE)
        if self._positioned(offset):
            kept = [self._probed.get(p) for p in range(offset, offset + limit)] if offset + limit <= self._head else []
            if kept and all(kept):
                return [r for r in kept if r is not None]
            return self._read_positions(offset, limit)
        got = _read(self._changes.get, include=["metadatas"], limit=limit, offset=offset)
        records = [_change_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)]
        for position, record in enumerate(records, start=offset):
            if _record_position(record.id) == position and not self._positioned(position):
                self._positioned_from = position  # positioned records from here on (schema 7 writes no others)
        return records

    def _forget_log(self) -> None:
        self._head, self._positioned_from, self._unpositioned_end = -1, None, -1
        with self._own_lock:
            self._probed.clear()

    def _positioned(self, position: int) -> bool:
        """Whether the change log is known to name its records by position from `position` on."""
        return position >= 0 and self._positioned_from is not None and position >= self._positioned_from

    def _counted(self) -> int:
        """The change log's length by a count (a read of the whole log); an empty log is positioned from 0, as
        this release writes only positioned records."""
        length = int(_read(self._changes.count))
        self._head = max(self._head, length)  # the log only grows (a collection made again is a new store object)
        if length == 0:
            self._positioned_from = 0
        elif self._positioned_from is None and length != self._unpositioned_end:
            # learn whether the log ends in a positioned record (then every later one is), once per length
            if self._read_positions(length - 1, 1):
                self._positioned_from = length - 1
            else:
                self._unpositioned_end = length
        return length

    def _read_positions(self, start: int, limit: int) -> list[ChangeRecord]:
        """The records at positions start, start + 1, ... (at most `limit`), up to the first one missing."""
        got = _read(
            self._changes.get, ids=[change_record_id(p) for p in range(start, start + limit)], include=["metadatas"]
        )
        by_position = {
            _record_position(i): _change_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)
        }
        found = []
        for position in range(start, start + limit):
            record = by_position.get(position)
            if record is None:
                break
            found.append(record)
            self._keep_probed(position, record)
        return found

    def _keep_probed(self, position: int, record: ChangeRecord) -> None:
        with self._own_lock:
            self._probed[position] = record
            self._probed.move_to_end(position)
            while len(self._probed) > _PROBED:
                self._probed.popitem(last=False)

    @property
    def identity(self) -> str:
        """Changes when the index is dropped and made again: a replica of the old one must start afresh."""
        self.require()
        return f"{self._chunks.id}/{self._changes.id}"

    # -- articles ------------------------------------------------------------------------------------------

    def article_infos(self, ids: Sequence[str]) -> dict[str, ArticleInfo]:
        """The stored records of these ids (absent ids are left out)."""
        if not ids or not self._open(create=False):
            return {}
        got = _read(self._articles.get, ids=list(ids), include=["metadatas"])
        return {i: _article_info(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def get_article(self, article_id: str) -> tuple[ArticleInfo, str]:
        """An article's record and full stored text."""
        self.require()
        got = _read(self._articles.get, ids=[article_id], include=["metadatas", "documents"])
        if not got["ids"]:
            raise NotFound(f"No article with id '{article_id}'.", UNKNOWN_ARTICLE)
        return _article_info(article_id, got["metadatas"][0]), _text(got["metadatas"][0], got["documents"][0])

    def all_article_infos(self) -> Iterator[list[ArticleInfo]]:
        """Pages over every article record (a replica is built from these once)."""
        self.require()
        for ids, metas in self._page(self._articles, include=["metadatas"]):
            yield [_article_info(i, m) for i, m in zip(ids, metas, strict=True)]

    def all_articles(self) -> Iterator[list[tuple[ArticleInfo, str]]]:
        """Pages over every article record with its text (qa doctor checks chunks against it)."""
        self.require()
        offset = 0
        while True:
            got = _read(self._articles.get, include=["metadatas", "documents"], limit=_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield [
                (_article_info(i, m), _text(m, d))
                for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
            ]
            offset += len(got["ids"])

    # -- chunks --------------------------------------------------------------------------------------------

    def chunks_of(self, info: ArticleInfo, with_embeddings: bool = True) -> list[StoredChunk]:
        """The chunks an article's record names, in order (with their vectors: to reuse what did not change)."""
        found = self.get_chunks(current_chunk_ids(info), with_embeddings)
        return sorted(found.values(), key=lambda c: c.position)

    def get_chunks(
        self,
        ids: Sequence[str],
        with_embeddings: bool = False,
        vectors: bool = True,
        call: int = _CALL,
        records: bool = False,
    ) -> dict[str, StoredChunk]:
        """Chunks by id, `call` ids a call into Chroma; ids that are gone (or going: a delete in flight) are left
        out. Without `vectors`, the sentence vectors are not decoded; with `records`, each chunk carries its
        metadata as stored (see StoredChunk.record)."""
        include = ["metadatas", "documents"] + (["embeddings"] if with_embeddings else [])
        pages = []
        for begin in range(0, len(ids), call):
            part = list(ids[begin : begin + call])
            try:
                pages.append(_read(self._chunks.get, ids=part, include=include))
            except StoreUnavailable:  # one id caught mid-delete fails the batch: fetch the others one by one
                for chunk_id in part:
                    with contextlib.suppress(StoreUnavailable):
                        pages.append(_read(self._chunks.get, ids=[chunk_id], include=include))
        found = {}
        for got in pages:
            embeddings = got["embeddings"] if with_embeddings else [None] * len(got["ids"])
            for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], embeddings, strict=True):
                # a chunk of schema 6 or later: its metadata holds all of it
                record = _as_json(m) if records and "chunk" in m else None
                found[i] = self._stored(i, d, m, e, vectors, record)
        return found

    def chunks_from_records(self, records: dict[str, str], embeddings: dict[str, np.ndarray]) -> dict[str, StoredChunk]:
        """Chunks from the metadata a replica holds for them (see StoredChunk.record), with these vectors."""
        return {i: self._stored(i, None, json.loads(m), embeddings.get(i)) for i, m in records.items()}

    def current_chunks(
        self, infos: Iterable[ArticleInfo], with_embeddings: bool = False, records: bool = False
    ) -> Iterator[list[StoredChunk]]:
        """Pages of about _PAGE chunks, the ones these records name, each article's whole in one page, without
        sentence vectors (a replica is built from these once, with the chunks' own vectors; qa doctor checks them
        against their articles' texts). Read by id: a read by offset costs
        Chroma a scan up to the offset (through a server at 1,000,000 chunks, 350-720 ms a page of 1,000, against
        170 ms for the same chunks by id), which made a whole read quadratic in the chunks."""
        self.require()
        ids: list[str] = []
        for info in infos:
            ids += current_chunk_ids(info)
            if len(ids) >= _PAGE:
                yield list(self.get_chunks(ids, with_embeddings, vectors=False, call=_PAGE, records=records).values())
                ids = []
        if ids:
            yield list(self.get_chunks(ids, with_embeddings, vectors=False, call=_PAGE, records=records).values())

    def all_chunk_ids(self) -> Iterator[list[str]]:
        """Pages of every chunk's id, named by a record or not (qa doctor looks for the others). Ids alone, and
        _ID_PAGE a call: each read by offset costs Chroma a scan up to the offset (through a server at 1,000,000
        chunks, 155-706 ms for 1,000 ids), so a whole read in pages of 1,000 was quadratic in the chunks."""
        self.require()
        offset = 0
        while True:
            got = _read(self._chunks.get, include=[], limit=_ID_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield list(got["ids"])
            offset += len(got["ids"])

    def dense_query(self, vector: np.ndarray, n: int, among: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks, among these chunk ids only when given (a filter:
        Chroma searches inside the set, far faster than a metadata `where`). Fewer when there are fewer."""
        self.require()
        if among is not None and not among:
            return []
        got = _read(
            self._chunks.query,
            query_embeddings=[vector.tolist()],
            n_results=n,
            ids=list(among) if among is not None else None,
            include=["distances"],
        )
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0], strict=True)]

    def nearest_among(self, vector: np.ndarray, n: int, among: Sequence[str]) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest of a few chunks, exactly: their vectors are read by id and
        compared here (for a few hundred ids this is several times faster than Chroma's search inside a set)."""
        cosines = self.cosines(vector, among)
        return sorted(cosines.items(), key=lambda hit: -hit[1])[:n]

    def cosines(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Chunk id -> cosine similarity of its vector to this one (ids that are gone are left out)."""
        self.require()
        found: dict[str, float] = {}
        for begin in range(0, len(ids), _PAGE):
            got = _read(self._chunks.get, ids=list(ids[begin : begin + _PAGE]), include=["embeddings"])
            if got["ids"]:
                # einsum's own loop: BLAS's threads wait for cores a server's other threads hold (qa/catalog.py)
                values = np.einsum("ij,j->i", np.asarray(got["embeddings"], dtype=np.float32), vector)
                found.update(zip(got["ids"], map(float, values), strict=True))
        return found

    def exists(self) -> bool:
        """Whether anything was ever indexed here."""
        return self._open(create=False)

    # -- writes --------------------------------------------------------------------------------------------

    def put_articles(self, writes: Sequence[ArticleToWrite], ahead: Intent | None = None) -> None:
        """Write articles: the intent, their chunks under their new version, their records (the switch), then
        the chunks of the versions they replace, then the intent is done. Killed anywhere, readers see each
        article whole, old or new, and the next batch deletes what is left of the other version. `ahead`: the
        intent `intend_ahead` recorded for these writes, taken if it still says what they do."""
        ids = [w.article.id for w in writes]
        self._in_batch()
        versions = [chunk_version(w.content_hash) for w in writes]
        metadatas = [_chunk_metadatas(w, version) for w, version in zip(writes, versions, strict=True)]
        if ahead is not None and time.time() - ahead.began < SERVER_LEASE_S / 2:
            # The intent ahead names the new chunks whatever the records say: they are written while the records
            # are read (a round trip less), and it is replaced before the switch if a record changed meanwhile.
            reading = self._reads.start(lambda: self.article_infos(ids))
            self._put_chunks(writes, versions, metadatas)
            current = reading.result()
            intent = self._take_ahead(ahead, self._intents(writes, current))
        else:
            current = self.article_infos(ids)
            intent = self._take_ahead(ahead, self._intents(writes, current))
            self._put_chunks(writes, versions, metadatas)
        now = time.time()
        # An upsert keeps the keys it is not given: a None removes a field the earlier version had.
        records = [
            {
                "text": w.article.text,
                "title": w.article.title,
                "published": w.article.published,
                "published_inferred": w.article.published_inferred,
                "source": w.article.source,
                "url": w.article.url,
                "content_hash": w.content_hash,
                "chunks": len(w.chunks),
                "version": version,
                "origin": w.origin,
                # syndicated copies are recognised by it (qa.stories); a replaced article keeps its first
                # indexing time, which elects a story's id
                "minhash": stories.encode(stories.signature(w.article.text)),
                "indexed_at": _first_indexed(current.get(w.article.id), now),
                "published_at": published_timestamp(w.article.published),  # None removes the earlier version's
            }
            for w, version in zip(writes, versions, strict=True)
        ]
        for begin in range(0, len(writes), _CALL):  # each article switches whole, old or new
            switched = records[begin : begin + _CALL]
            self._articles.upsert(
                ids=ids[begin : begin + _CALL],
                embeddings=[_ARTICLE_PLACEHOLDER] * len(switched),
                # An upsert keeps the document it is not given: an empty one replaces what schema 4 wrote.
                documents=[""] * len(switched),
                metadatas=switched,
            )
        # Logged before the old chunks go: a process killed in between leaves every replica that has not seen
        # the record with the old version whole, until the recovery deletes them and logs the articles.
        written = _as_written(writes, versions, records, metadatas) if len(writes) <= _CHANGE_IDS else None
        self._log(ids, written)
        new = {chunk_id(w.article.id, c.position, v) for w, v in zip(writes, versions, strict=True) for c in w.chunks}
        self._finish(intent, [i for a in intent.articles if a.old for i in a.chunk_ids() if i not in new])

    def _put_chunks(
        self, writes: Sequence[ArticleToWrite], versions: Sequence[str], metadatas: Sequence[list[dict[str, Any]]]
    ) -> None:
        """The articles' chunks, under their new versions (no reader takes them before the switch)."""
        rows = [
            (chunk_id(w.article.id, c.position, version), v, m)
            for w, version, chunk_metadatas in zip(writes, versions, metadatas, strict=True)
            for c, v, m in zip(w.chunks, w.vectors, chunk_metadatas, strict=True)
        ]
        for begin in range(0, len(rows), _CALL):
            page = rows[begin : begin + _CALL]
            self._chunks.upsert(
                ids=[i for i, _, _ in page],
                embeddings=np.asarray([v for _, v, _ in page], dtype=np.float32),
                metadatas=[m for _, _, m in page],
            )

    @staticmethod
    def _intents(writes: Sequence[ArticleToWrite], current: dict[str, ArticleInfo]) -> list[ArticleIntent]:
        """What the writes do, the records being `current`."""
        return [_article_intent(w.article.id, current.get(w.article.id), w.content_hash, len(w.chunks)) for w in writes]

    def remove_articles(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles and all their chunks (records first: readers stop using them at once); returns the
        ids that were there."""
        present = self.article_infos(article_ids)
        if not present:
            return []
        self._in_batch()
        intent = self._intend([ArticleIntent(i, _held(info), None) for i, info in present.items()])
        self._articles.delete(ids=list(present))
        self._log(list(present), dict.fromkeys(present))  # (before the chunks go, as in put_articles)
        self._finish(intent, [i for a in intent.articles for i in a.chunk_ids()])
        return list(present)

    def delete_chunks(self, chunk_ids: Sequence[str], article_ids: Sequence[str]) -> None:
        """Delete chunks no record names (qa doctor's fix for orphans), logging their articles."""
        self._in_batch()
        self._delete_chunks(chunk_ids)
        self._log(list(dict.fromkeys(article_ids)))

    def _delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        for begin in range(0, len(chunk_ids), _CALL):
            self._chunks.delete(ids=list(chunk_ids[begin : begin + _CALL]))

    def _finish(self, intent: Intent, leftover: list[str]) -> None:
        """The end of a logged write: delete the chunks no record names any more, then its intent. Once the change
        log holds the write, readers ignore those chunks, and on a server another machine leaves an intent alone
        for its lease; so there these two calls into Chroma (10-25 ms of every add) run in the background, beside
        the writer's own catch-up, and the next write, a look in the journal or `settle()` waits for them. On
        local files they are done at once: the writers' turn ends with the batch, and the next holder would take
        a live intent for a killed one."""
        if self.local is not None:
            self._finish_now(intent.id, leftover)
            return
        self.settle()
        self._finishing.start(lambda: self._finish_now(intent.id, leftover))

    def _finish_now(self, intent_id: str, leftover: list[str]) -> None:
        self._delete_chunks(leftover)
        self._journal.delete(ids=[intent_id])

    def settle(self) -> None:
        """Wait for the last write's clean-up (see `_finish`). If it failed, its intent stays in the journal, and
        the recovery of a later batch finishes it once its lease is over: said in the log, not raised here, in
        a write that is not the one that failed."""
        try:
            self._finishing.wait()
        except Exception as error:  # any failure of the two calls leaves the same intent behind
            _log.warning(
                "A write's clean-up in %s failed (%s); a later write's recovery finishes it.", self.where, error
            )

    # -- the journal of writes in progress -----------------------------------------------------------------

    def journal(self) -> list[Intent]:
        """The writes in progress or left unfinished, oldest first (the journal is empty between writes)."""
        if not self.exists():
            return []
        self.settle()  # this process's own last write is not in progress any more
        got = _read(self._journal.get, include=["metadatas"])
        intents = [
            Intent(
                id=i,
                began=float(m["began"]),
                articles=[ArticleIntent(a, _pair(old), _pair(new)) for a, old, new in json.loads(m["articles"])],
            )
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
        ]
        return sorted(intents, key=lambda intent: intent.id)

    def abandoned(self, intents: Sequence[Intent]) -> list[Intent]:
        """Those of these intents no live writer is carrying out (call with the writers' turn held)."""
        if self.local is not None:
            return list(intents)  # the turn is ours: whoever wrote them was killed
        return [i for i in intents if time.time() - i.began > SERVER_LEASE_S]

    def intend_ahead(self, planned: Sequence[PlannedArticle]) -> Intent | None:
        """On a server, record the intent of a write whose vectors the model is still making: the journal's write
        (10-25 ms of an add's calls into Chroma) runs beside the model instead of after it. `put_articles` takes
        it if the records are still as planned, else records another and withdraws this one. None on local files,
        where the next holder of the writers' turn takes every intent for a killed writer's: an intent is
        recorded there inside the batch only. Only a live writer's intent is in the journal for long on a server:
        one the write did not take is withdrawn (`withdraw`), and one a killed writer left is recovered after its
        lease, as any other."""
        if self.local is not None or not planned:
            return None
        return self._intend([_article_intent(p.article_id, p.stored, p.content_hash, p.chunks) for p in planned])

    def withdraw(self, intent: Intent) -> None:
        """Take back an intent recorded ahead (`intend_ahead`) for a write that will not happen; nothing was
        written under it."""
        self._journal.delete(ids=[intent.id])

    def _take_ahead(self, ahead: Intent | None, wanted: list[ArticleIntent]) -> Intent:
        """The intent recorded ahead, if it says what the write does (no other writer changed these records
        since it was planned) and is young enough that no other machine takes it for abandoned before the write
        ends; else a new one, and the one ahead withdrawn."""
        if ahead is not None and ahead.articles == wanted and time.time() - ahead.began < SERVER_LEASE_S / 2:
            return ahead
        intent = self._intend(wanted)
        if ahead is not None:
            self.withdraw(ahead)
        return intent

    def _intend(self, articles: list[ArticleIntent]) -> Intent:
        """Record what a write is about to do, before its first change."""
        self.settle()  # one write's clean-up at a time
        intent = Intent(f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}", time.time(), articles)
        payload = [[a.article_id, a.old, a.new] for a in articles]
        self._journal.add(
            ids=[intent.id],
            embeddings=[_ARTICLE_PLACEHOLDER],
            metadatas=[{"articles": json.dumps(payload), "began": intent.began}],
        )
        return intent

    def _recover(self) -> list[str]:
        """Finish each abandoned write: delete the chunks it named that the records do not, complete a remove
        that began. Idempotent: killed during a recovery, the next one does the rest."""
        touched: list[str] = []
        for intent in self.abandoned(self.journal()):
            ids = [a.article_id for a in intent.articles]
            self._in_batch()
            current = self.article_infos(ids)
            unfinished = [
                a.article_id
                for a in intent.articles
                if a.new is None and a.article_id in current and _held(current[a.article_id]) == a.old
            ]
            if unfinished:
                self._articles.delete(ids=unfinished)
                for article_id in unfinished:
                    del current[article_id]
            keep = {i for info in current.values() for i in current_chunk_ids(info)}
            self._delete_chunks([i for a in intent.articles for i in a.chunk_ids() if i not in keep])
            self._log(list(dict.fromkeys(ids)))
            self._journal.delete(ids=[intent.id])
            touched += ids
        return list(dict.fromkeys(touched))

    # -- helpers -------------------------------------------------------------------------------------------

    def _stored(
        self,
        chunk_id: str,
        document: str | None,
        meta: dict[str, Any],
        embedding: Any,
        vectors: bool = True,
        record: str | None = None,
    ) -> StoredChunk:
        meta = unpack_chunk(meta)
        start = int(meta["start"])
        return StoredChunk(
            id=chunk_id,
            article_id=str(meta["article_id"]),
            position=int(meta["position"]),
            text=_text(meta, document),
            start=start,
            end=int(meta["end"]),
            content_hash=str(meta.get("content_hash", "")),
            sentences=[(start + s, start + e) for s, e in meta["sentences"]],
            sentence_vectors=decode_vectors(meta["sentence_vectors"], self.dimension) if vectors else _NO_VECTORS,
            heading=str(meta.get("heading", "")),
            embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
            version=str(meta.get("version", "")),
            record=record,
        )

    @staticmethod
    def _page(collection: Any, include: list[str]) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
        offset = 0
        while True:
            got = _read(collection.get, include=include, limit=_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got["metadatas"]
            offset += len(got["ids"])


class _Reachable:
    """A collection whose calls report a Chroma server that went away as StoreUnavailable (503, exit 6): chromadb's
    HTTP client lets httpx's connection errors through, and they reached users as 500s and tracebacks."""

    def __init__(self, collection: Any, where: str) -> None:
        self._collection = collection
        self._where = where

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except (httpx.TransportError, ConnectionError) as exc:
                raise StoreUnavailable(
                    f"The Chroma server at {self._where} cannot be reached ({exc}); check that it is running."
                ) from exc

        return call


@contextmanager
def _store_errors(where: str) -> Iterator[None]:
    """chromadb raises many types for an unreachable server or an unusable path: all mean the same to a user."""
    try:
        yield
    except Exception as exc:
        raise StoreUnavailable(f"Cannot open the Chroma store at {where}: {exc}") from exc


def _set_metadata(collection: Any, **changes: Any) -> None:
    """Change some of a collection's metadata (Chroma replaces it whole, and refuses the hnsw keys again)."""
    meta = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    collection.modify(metadata={**meta, **changes})


def _migrate_articles(client: Any, old: str, new: str, existing: set[str]) -> None:
    """Schema 1 to 2: copy the article records into a collection without the mean vectors (nothing read them).
    The switch is the schema stamp the caller writes afterwards; a run killed before it starts the copy again."""
    if new in existing:
        client.delete_collection(new)
    target = client.create_collection(new, embedding_function=None)
    if old not in existing:
        return
    source = client.get_collection(old, embedding_function=None)
    offset = 0
    while True:
        got = source.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
        if not got["ids"]:
            return
        target.add(
            ids=got["ids"],
            documents=got["documents"],
            metadatas=got["metadatas"],
            embeddings=[_ARTICLE_PLACEHOLDER] * len(got["ids"]),
        )
        offset += len(got["ids"])


def _bound_write_log(collection: Any, writes: int) -> None:
    """Chroma (in this process or in `chroma run`) keeps a collection's writes in a log until `sync_threshold` of
    them are in its vector index, and each write reads that log again: at its default of 1,000, a write cost up to
    40 ms more as the log grew (one article record into the scale benchmark's 10,000-chunk index: 60-100 ms against
    8-9). A shorter log means more syncs, each of which writes the vector index: for the chunks, 9-chunk writes into
    100,000 chunks (a scratch script) took a median of 25.5 ms at 100 (p95 105 ms), 27.7 ms at 300 (p95 64 ms) and
    37.5-44.3 ms at 1,000 (p95 67-86 ms); at 1,000,000 chunks one write in about 33 pays a sync of 0.7-0.8 s at 300,
    for about the same mean and a lower median. Set when an index is opened to write; Chroma applies it when it
    next loads the collection (a new index at once, an older one from the next process on). Only a speed-up: when
    Chroma is busy (its SQLite "database is locked", seen opening an index a killed writer left), it is left for
    the next open, after a few short tries (a fresh index's first writes can hold SQLite's lock for a moment)."""
    hnsw = (collection.configuration_json or {}).get("hnsw") or {}
    if hnsw.get("sync_threshold") == writes:  # (its batch_size, 100 by default, may not exceed it)
        return
    for attempt in range(_BUSY_ATTEMPTS):
        try:
            collection.modify(configuration={"hnsw": {"sync_threshold": writes}})
            return
        except InternalError:
            if attempt < _BUSY_ATTEMPTS - 1:
                time.sleep(0.05 * (attempt + 1))


def pack_chunk(fields: dict[str, Any]) -> str:
    """What a chunk's metadata carries for the program only, as one value (schema 6)."""
    return _as_json(fields)


def unpack_chunk(meta: dict[str, Any]) -> dict[str, Any]:
    """A chunk's metadata with its packed fields as keys of their own, as schema 5 and earlier wrote them (their
    sentences as a list either way)."""
    if "chunk" in meta:
        packed: dict[str, Any] = json.loads(meta["chunk"])
        return {k: v for k, v in meta.items() if k != "chunk"} | packed
    return meta | {"sentences": json.loads(meta["sentences"])}


def _text(meta: dict[str, Any], document: str | None) -> str:
    """A record's text: in its metadata (a chunk's since schema 4, an article's since 5), in its document before."""
    text = meta.get("text", document)
    return "" if text is None else str(text)


def _read(operation: Callable[..., T], **kwargs: Any) -> T:
    """A read that may race a concurrent write: for a moment after a delete, Chroma can fail a read with an
    internal error ("Error finding id"). Retry briefly; if it persists, say so as an unavailable store."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            return operation(**kwargs)
        except InternalError as exc:
            if attempt == _READ_ATTEMPTS - 1:
                raise StoreUnavailable(f"The Chroma store kept failing a read ({exc}); try again.") from exc
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def _change_record(record_id: str, meta: dict[str, Any]) -> ChangeRecord:
    return ChangeRecord(record_id, json.loads(meta["articles"]), str(meta.get("writer", "")))


def _article_info(article_id: str, meta: dict[str, Any]) -> ArticleInfo:
    return ArticleInfo(
        id=article_id,
        title=str(meta.get("title", article_id)),
        published=meta.get("published"),
        published_inferred=bool(meta.get("published_inferred", False)),
        source=meta.get("source"),
        url=meta.get("url"),
        chunks=int(meta.get("chunks", 0)),
        content_hash=str(meta.get("content_hash", "")),
        origin=str(meta.get("origin", "")),
        version=str(meta.get("version", "")),
        indexed_at=float(meta.get("indexed_at", 0.0)),
        minhash=meta.get("minhash"),
    )


def _chunk_metadatas(write: ArticleToWrite, version: str) -> list[dict[str, Any]]:
    """The metadata of each of an article's chunks, as the store keeps it (schema 6: what is for the program only
    packed in one value)."""
    # the publication time as a number, so that a Chroma `where` can take a window of dates (absent: unknown); a
    # chunk id is new with each version of its article (the date is part of it): no old value to remove, and a
    # None would cost Chroma a delete per chunk
    published = published_timestamp(write.article.published)
    dated = {"published_at": published} if published is not None else {}
    return [
        {
            "article_id": write.article.id,
            "version": version,
            "chunk": pack_chunk(
                {
                    "text": c.text,
                    "position": c.position,
                    "start": c.start,
                    "end": c.end,
                    "content_hash": h,
                    "heading": c.heading,
                    "sentences": [[s - c.start, e - c.start] for s, e in c.sentences],
                    "sentence_vectors": encode_vectors(sv),
                }
            ),
        }
        | dated
        for c, h, sv in zip(write.chunks, write.chunk_hashes, write.sentence_vectors, strict=True)
    ]


def _as_json(value: dict[str, Any]) -> str:
    """Compact JSON (a chunk's packed fields; its whole metadata, as a replica holds it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_written(
    writes: Sequence[ArticleToWrite],
    versions: Sequence[str],
    records: Sequence[dict[str, Any]],
    metadatas: Sequence[list[dict[str, Any]]],
) -> dict[str, Written]:
    """The articles of a write as readers of the store will find them (see ChromaStore.own_writes)."""
    return {
        w.article.id: (
            _article_info(w.article.id, record),
            [
                StoredChunk(
                    id=chunk_id(w.article.id, c.position, version),
                    article_id=w.article.id,
                    position=c.position,
                    text=c.text,
                    start=c.start,
                    end=c.end,
                    content_hash=h,
                    sentences=list(c.sentences),
                    sentence_vectors=_NO_VECTORS,
                    heading=c.heading,
                    embedding=vector,
                    version=version,
                    record=_as_json(metadata),
                )
                for c, h, vector, metadata in zip(w.chunks, w.chunk_hashes, w.vectors, chunk_metadatas, strict=True)
            ],
        )
        for w, version, record, chunk_metadatas in zip(writes, versions, records, metadatas, strict=True)
    }


def _first_indexed(info: ArticleInfo | None, now: float) -> float:
    """When an article was first indexed: now for a new one (or one written before this was recorded)."""
    return info.indexed_at if info is not None and info.indexed_at > 0 else now


def _article_intent(article_id: str, current: ArticleInfo | None, content_hash: str, chunks: int) -> ArticleIntent:
    """What putting an article with this content and this many chunks does, its record being `current`."""
    return ArticleIntent(article_id, _held(current), (chunk_version(content_hash), chunks))


def _held(info: ArticleInfo | None) -> Held | None:
    return (info.version, info.chunks) if info is not None else None


def _pair(value: list[Any] | None) -> Held | None:
    return (str(value[0]), int(value[1])) if value is not None else None
