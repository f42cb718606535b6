"""What each process keeps beside the store, derived from it: the keyword index and the article catalog (with
each article's chunk vectors, for searches inside a filter).

The store (Chroma, on disk or on a server that several machines share) is the truth. A replica follows the
store's change log: `sync()` costs one count when nothing changed, and otherwise reads only the articles named by
the records it has not applied yet, so catching up costs what changed, never the corpus. A replica that is new,
or whose store was dropped and made again, is built once from the whole store.

Several processes may share one data directory (`qa serve` and `qa index`): a file lock makes their writes to
the replica take turns, and each reloads what another committed. The keyword index is committed before the
catalog records how far it got, so a process killed in between applies the same records again (it is
idempotent: an article's chunks are always replaced whole).
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from qa import stories
from qa.catalog import Catalog, read_ahead
from qa.chunking import keyword_text
from qa.domain import ArticleInfo, published_timestamp
from qa.errors import NotFound
from qa.keyword import KeywordDoc, KeywordIndex
from qa.store import ChromaStore, StoredChunk, Written, current_chunk_ids
from qa.vector_file import read_through

_ARTICLES_PER_STEP = 200  # articles re-read from the store per step of a catch-up


class Replica:
    """The keyword index and the catalog of one store, in one directory."""

    def __init__(self, store: ChromaStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._lock = threading.Lock()
        self._keyword: KeywordIndex | None = None
        self._catalog: Catalog | None = None
        self._seen = -1  # the change-log length this process's keyword searcher reflects

    @property
    def keyword(self) -> KeywordIndex:
        """The keyword index (call `sync()` first)."""
        assert self._keyword is not None, "sync() opens the replica"
        return self._keyword

    @property
    def catalog(self) -> Catalog:
        """The article catalog (call `sync()` first)."""
        assert self._catalog is not None, "sync() opens the replica"
        return self._catalog

    def sync(self, probe: bool = True) -> None:
        """Bring the replica in step with the store: one count when nothing changed. Without `probe`, in step with
        the change log as this process last read it (right after its own write: see ChromaStore.log_length)."""
        length = self.store.follow(probe)
        if length == self._seen:
            return
        with self._lock:
            self._open()
            applied, identity = self.catalog.state()
            wrote = False
            if applied != length or identity != self.store.identity:
                with self._file_lock():
                    wrote = self._catch_up(length)
            if not wrote:  # another process applied the records: see its commit (our own writes reload already)
                self.keyword.reload()
            self._seen = self.catalog.state()[0]

    def preview(self, info: ArticleInfo, position: int) -> ArticleInfo | None:
        """An article's record as the catalog will list it once it follows the write that made it (the change-log
        record at `position`), its story worked out without applying anything: the answer to a write that does not
        wait for the replica's catch-up. None when the catalog has not applied every record before that one
        (another process wrote since it last followed the log): only a catch-up tells the story then."""
        if self._catalog is None:
            with self._lock:
                self._open()
        applied, identity = self.catalog.state()
        if identity != self.store.identity or applied < position:
            return None
        row = (info, published_timestamp(info.published), self._signature(info))
        return self.catalog.preview([row]).get(info.id)

    def built_from_store(self) -> bool:
        """Whether this replica was built from its store (and so follows its change log at the cost of what
        changed): not when it is new, or was built from a store since dropped and made again."""
        self._open()
        applied, identity = self.catalog.state()
        return applied >= 0 and identity == self.store.identity

    def behind(self) -> int:
        """How many change-log records this replica has not applied, without applying them (all of them when it
        was built from another store, or never): for qa doctor."""
        self._open()
        applied, identity = self.catalog.state()
        length = self.store.change_count()
        if identity != self.store.identity or applied < 0:
            return max(length, 1)
        return max(0, length - applied)

    def rebuild(self) -> None:
        """Build the replica again from the whole store (qa doctor --fix, when it disagrees with the store)."""
        length = self.store.follow()
        with self._lock:
            self._open()
            with self._file_lock():
                self._rebuild(length)
            self.keyword.reload()
            self._seen = self.catalog.state()[0]

    def read_ahead(self) -> bool:
        """Read the files every question reads from (the keyword index's, and the catalog's vector file for
        filters) through once, into the operating system's cache, if the replica is on disk already (nothing is
        built or followed here); whether it was. 1,000,000 chunks: 619 MB and 1.5 GB."""
        if not read_ahead(self.directory / "catalog.sqlite3"):
            return False
        for path in sorted((self.directory / "keyword").glob("*")):
            if path.is_file():
                read_through(path)
        return True

    def close(self) -> None:
        """Release the catalog."""
        if self._catalog is not None:
            self._catalog.close()

    def _open(self) -> None:
        if self._catalog is None:
            with self._file_lock():  # two processes starting at once must not both create the files
                self._catalog = Catalog(self.directory / "catalog.sqlite3")
                self._keyword = KeywordIndex(self.directory / "keyword")

    def _catch_up(self, length: int) -> bool:
        """Apply the change-log records not applied yet (another process may have done it while we waited);
        whether this wrote the keyword index (its writes reload it)."""
        applied, identity = self.catalog.state()
        if identity != self.store.identity or applied < 0 or applied > length:
            self._rebuild(length)
            return True
        wrote = False
        while applied < length:
            records = self.store.changes(applied, length - applied)
            if not records:
                break
            changed = list(dict.fromkeys(article_id for record in records for article_id in record.article_ids))
            own = self.store.own_writes([record.id for record in records])
            for begin in range(0, len(changed), _ARTICLES_PER_STEP):
                step = changed[begin : begin + _ARTICLES_PER_STEP]
                self._apply(step, None if own is None else {article_id: own[article_id] for article_id in step})
                wrote = True
            applied += len(records)
            with self.catalog.transaction() as catalog:
                catalog.set_state(applied, self.store.identity)
        return wrote

    def _apply(self, article_ids: Sequence[str], written: dict[str, Written] | None = None) -> None:
        """Make these articles in the replica what they are in the store now (present, replaced or gone);
        `written`: what this process's own writes left them as (see ChromaStore.own_writes), not read again."""
        if written is None:
            infos = self.store.article_infos(article_ids)
            # Every article's chunks in one read of the store: a read per article cost more than the reading (a
            # window of 300 short articles is 300 calls into Chroma, beside the model on the same two cores).
            wanted = [c for info in infos.values() for c in current_chunk_ids(info)]
            # (none wanted: no read, Chroma refuses one)
            stored = self.store.get_chunks(wanted, with_embeddings=True, records=True) if wanted else {}
            chunks = {i: [stored[c] for c in current_chunk_ids(info) if c in stored] for i, info in infos.items()}
        else:
            infos = {article_id: w[0] for article_id, w in written.items() if w is not None}
            chunks = {article_id: w[1] for article_id, w in written.items() if w is not None}
        docs = [
            _keyword_doc(info, chunk.id, keyword_text(chunk.text, chunk.heading))
            for info in infos.values()
            for chunk in chunks[info.id]
        ]
        with self.keyword.writing() as keyword:
            for article_id in article_ids:
                keyword.remove_article(article_id)
            keyword.add(docs)  # one call for the step's articles (one per article was a tokenizer call each)
        signatures = {i: self._signature(info) for i, info in infos.items()}
        with self.catalog.transaction() as catalog:
            catalog.remove([i for i in article_ids if i not in infos])
            for info in infos.values():
                held = chunks[info.id]
                published = published_timestamp(info.published)
                catalog.put(info, published, signatures[info.id], _vectors(info, held), _records(info, held))

    def _rebuild(self, length: int) -> None:
        """Build from the whole store: the change-log length is read first, so that whatever is written during
        the scan is applied again afterwards."""
        self.keyword.clear()
        infos: dict[str, ArticleInfo] = {}
        with self.catalog.transaction() as catalog:
            catalog.clear()
            catalog.set_state(-1, "")
            for page in self.store.all_article_infos():
                for info in page:
                    infos[info.id] = info
                    catalog.put(info, published_timestamp(info.published), self._signature(info))
        # in order of publication: the catalog's vector file then holds a window of dates in a few runs (see
        # Catalog.compact), whatever order the store returns the articles in
        dated = sorted(infos.values(), key=_publication_order)
        with self.keyword.writing(bulk=True) as keyword:
            # the chunks the records name (no other is read), with their vectors, each article's in one page
            for chunks in self.store.current_chunks(dated, with_embeddings=True, records=True):
                keyword.add([_keyword_doc(infos[c.article_id], c.id, keyword_text(c.text, c.heading)) for c in chunks])
                by_article: dict[str, list[StoredChunk]] = {}
                for chunk in chunks:
                    by_article.setdefault(chunk.article_id, []).append(chunk)
                with self.catalog.transaction() as catalog:
                    for article_id in sorted(by_article, key=lambda i: _publication_order(infos[i])):
                        held = sorted(by_article[article_id], key=lambda c: c.position)
                        info = infos[article_id]
                        catalog.hold_vectors(info, _vectors(info, held), published_timestamp(info.published))
                        catalog.hold_records(info, _records(info, held))
        with self.catalog.transaction() as catalog:
            catalog.set_state(length, self.store.identity)

    def _signature(self, info: ArticleInfo) -> bytes:
        """The article's MinHash signature: the one its record carries, or (a record written before signatures
        were, or with other parameters) one computed from its stored text."""
        signature = stories.decode(info.minhash)
        if signature is not None:
            return signature
        try:
            _, text = self.store.get_article(info.id)
        except NotFound:  # removed since its record was read: the next record of the change log drops it
            return b""
        return stories.signature(text)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _vectors(info: ArticleInfo, chunks: Sequence[StoredChunk]) -> np.ndarray | None:
    """The vectors of an article's chunks in order, when every chunk its record names came with its vector (one
    gone mid-delete, or read without: None, and a filter reads that article's from the store)."""
    if len(chunks) != info.chunks or any(c.embedding is None for c in chunks):
        return None
    return np.stack([c.embedding for c in chunks])  # type: ignore[misc]


def _records(info: ArticleInfo, chunks: Sequence[StoredChunk]) -> list[str] | None:
    """The metadata of an article's chunks in order, as the store holds it, when every chunk its record names came
    with it (else None, and questions read that article's chunks from the store)."""
    records = [c.record for c in chunks if c.record is not None]
    return records if len(records) == len(chunks) == info.chunks else None


def _keyword_doc(info: ArticleInfo, chunk_id: str, text: str) -> KeywordDoc:
    return KeywordDoc(chunk_id, info.id, text, info.source, published_timestamp(info.published))


def _publication_order(info: ArticleInfo) -> tuple[int, str]:
    """Where the article stands in order of publication, undated ones first, as Catalog.compact orders."""
    timestamp = published_timestamp(info.published)
    return (-1 if timestamp is None else timestamp, info.id)
