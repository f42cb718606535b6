"""The article catalog: one row per article in SQLite, for listing a page in order, resolving a filter to the
articles (and so the chunks) it lets through, and finding what was indexed from a folder, without reading every
article from the store. Derived from the store and kept in step by the replica (qa/replica.py)."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa.chunking import chunk_id
from qa.domain import ArticleInfo, ArticlePage, SearchFilter
from qa.errors import InvalidInput

ListOrder = Literal["id", "newest"]
_COLUMNS = "id, title, published, source, url, chunks, content_hash, version, published_inferred"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, published TEXT, published_ts INTEGER, source TEXT, url TEXT,
    chunks INTEGER NOT NULL, content_hash TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '', published_inferred INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles (COALESCE(published_ts, -1) DESC, id);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published_ts);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE INDEX IF NOT EXISTS articles_origin ON articles (origin);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_LIKE_SPECIAL = re.compile(r"[\\%_]")  # what LIKE reads as a pattern, escaped to be taken as it is
_SQL_VARIABLES = 900  # SQLite's limit on parameters per statement is 999 on older builds


class Catalog:
    """Articles in SQLite (WAL: readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.create_function("casefold", 1, _casefold, deterministic=True)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
        if "version" not in columns:  # a catalog of a release before chunk versions: its articles had none
            self._db.execute("ALTER TABLE articles ADD COLUMN version TEXT NOT NULL DEFAULT ''")
        if "published_inferred" not in columns:  # a catalog from before dates were inferred: none of its were
            self._db.execute("ALTER TABLE articles ADD COLUMN published_inferred INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- state: how far along the store's change log this catalog (and the keyword index beside it) is --------

    def state(self) -> tuple[int, str | None]:
        """(change-log records applied, the store identity they came from)."""
        rows = dict(self._query("SELECT key, value FROM state"))
        return int(rows.get("applied", -1)), rows.get("identity")

    @contextmanager
    def transaction(self) -> Iterator[CatalogWriter]:
        """Changes applied together, or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield CatalogWriter(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        articles = [_info(row) for row in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = _encode_cursor(str(last[0]), int(last[-1])) if last else None
        total = (
            self.count()
            if match is None
            else int(self._query(f"SELECT COUNT(*) FROM articles WHERE {matched}", args)[0][0])
        )
        return ArticlePage(articles=articles, total=total, next_cursor=next_cursor)

    def chunk_ids(self, within: SearchFilter | None) -> list[str] | None:
        """The ids of every chunk of the articles the filter lets through; None for no filter."""
        if within is None or within.is_empty:
            return None
        return [chunk_id(i, p, version) for i, chunks, version in self._matching(within) for p in range(chunks)]

    def chunk_total(self) -> int:
        """How many chunks the articles have."""
        return int(self._query("SELECT COALESCE(SUM(chunks), 0) FROM articles")[0][0])

    def infos(self, article_ids: Sequence[str]) -> dict[str, ArticleInfo]:
        """The rows of these articles (absent ones are left out)."""
        found: dict[str, ArticleInfo] = {}
        for part in _parts(article_ids):
            rows = self._query(f"SELECT {_COLUMNS} FROM articles WHERE id IN ({','.join('?' * len(part))})", part)
            found.update((str(row[0]), _info(row)) for row in rows)
        return found

    def indexed_from(self, origins: Sequence[str]) -> dict[str, str]:
        """Article id -> origin, for the articles indexed from these folders."""
        found: dict[str, str] = {}
        for part in _parts(origins):
            marks = ",".join("?" * len(part))
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

    def _matching(self, within: SearchFilter) -> list[tuple[str, int, str]]:
        clauses, args = _filter_clauses(within)
        where = " AND ".join(clauses) or "1"
        if within.article_ids is None:
            rows = self._query(f"SELECT id, chunks, version FROM articles WHERE {where}", args)
            return [(str(i), int(n), str(v)) for i, n, v in rows]
        found = []
        for part in _parts(within.article_ids):
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, chunks, version FROM articles WHERE id IN ({marks}) AND {where}"
            found += [(str(i), int(n), str(v)) for i, n, v in self._query(sql, [*part, *args])]
        return found

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, list(args)).fetchall()


class CatalogWriter:
    """Writes inside `Catalog.transaction`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def put(self, info: ArticleInfo, published_ts: int | None) -> None:
        """Add or replace an article's row."""
        self._db.execute(
            # Columns named: a catalog migrated by ALTER TABLE may hold them in another order than a new one.
            "INSERT OR REPLACE INTO articles (id, title, published, published_ts, source, url, chunks, content_hash,"
            " origin, version, published_inferred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (info.id, info.title, info.published, published_ts, info.source, info.url, info.chunks,
             info.content_hash, info.origin, info.version, int(info.published_inferred)),
        )  # fmt: skip

    def remove(self, article_ids: Sequence[str]) -> None:
        """Drop these articles' rows."""
        for part in _parts(article_ids):
            self._db.execute(f"DELETE FROM articles WHERE id IN ({','.join('?' * len(part))})", list(part))

    def clear(self) -> None:
        """Drop every row (before a rebuild)."""
        self._db.execute("DELETE FROM articles")

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
        clauses.append(f"source IN ({','.join('?' * len(within.sources))})")
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
            either.append(f"id IN ({','.join('?' * len(ids))})")
            args += ids
        clauses.append(f"({' OR '.join(either)})")
    return clauses, args


def _casefold(value: str | None) -> str:
    return value.casefold() if value else ""


def _info(row: tuple[Any, ...]) -> ArticleInfo:
    article_id, title, published, source, url, chunks, content_hash, version, inferred = row[:9]
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
    )


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
        raise InvalidInput("The cursor is not one this server handed out: start again without it.") from exc
