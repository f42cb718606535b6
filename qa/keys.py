"""API keys: created and revoked by the operator, stored hashed, checked in constant time.

A key reads `qa-<id>-<secret>`. Only the id (public, for lookup, listing and revoking) and the SHA-256 of the whole
key are stored: the secret is shown once, at creation. A plain hash suffices because the secret is 256 random bits,
not a password a slow hash would have to protect. The store is one SQLite file, so every server process on the
machine sees a new or revoked key at its next request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qa.errors import Conflict, InvalidInput, NotFound

Scope = Literal["read", "write"]
# What each scope may do: a write key also reads, so one key can run a newsroom's bot end to end.
GRANTS: dict[Scope, frozenset[Scope]] = {"read": frozenset({"read"}), "write": frozenset({"read", "write"})}
_KEY = re.compile(r"qa-([a-z0-9]{10})-([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[\w.@-]{1,64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    rate_limit TEXT,
    digest BLOB NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS live_names ON keys (name) WHERE revoked IS NULL;
"""


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key; never its secret."""

    id: str
    name: str
    scope: Scope
    rate_limit: str | None
    created: float
    revoked: float | None

    def allows(self, scope: Scope) -> bool:
        return self.revoked is None and scope in GRANTS[self.scope]


class KeyStore:
    """The keys of one deployment, in one SQLite file (created with the first key, readable by its owner only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def create(self, name: str, scope: Scope, rate_limit: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once). Names are unique among live keys, so revoking by name is safe."""
        if not _NAME.fullmatch(name):
            raise InvalidInput("A key's name is 1-64 letters, digits, '.', '_', '@' or '-'.")
        if rate_limit is not None:
            check_rate(rate_limit)
        key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
        token = f"qa-{key_id}-{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, scope, rate_limit, time.time(), None)
        with self._connection(create=True) as db:
            assert db is not None  # created above
            try:
                db.execute(
                    "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (key.id, name, scope, rate_limit, _digest(token), key.created),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"A live key is already named '{name}'.") from None
        return key, token

    def keys(self, include_revoked: bool = False) -> list[ApiKey]:
        """The keys, oldest first."""
        sql = "SELECT id, name, scope, rate_limit, created, revoked FROM keys"
        sql += "" if include_revoked else " WHERE revoked IS NULL"
        with self._connection() as db:
            return [ApiKey(*row) for row in db.execute(sql + " ORDER BY created")] if db else []

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke a live key, named by its id or its name; it stops working at the next request."""
        with self._connection() as db:
            row = (
                db.execute(
                    "SELECT id FROM keys WHERE revoked IS NULL AND (id = ? OR name = ?)", (id_or_name, id_or_name)
                ).fetchone()
                if db
                else None
            )
            if db is None or row is None:
                raise NotFound(f"No live key has the id or name '{id_or_name}'.")
            db.execute("UPDATE keys SET revoked = ? WHERE id = ?", (time.time(), row[0]))
        return next(k for k in self.keys(include_revoked=True) if k.id == row[0])

    def any_live(self) -> bool:
        """Whether a key exists: from the first key on, every API call needs one."""
        with self._connection() as db:
            return bool(db and db.execute("SELECT 1 FROM keys WHERE revoked IS NULL LIMIT 1").fetchone())

    def verify(self, token: str) -> ApiKey | None:
        """The live key this token is, or None. The digest comparison takes the same time whatever matches."""
        parsed = _KEY.fullmatch(token)
        key_id = parsed.group(1) if parsed else ""
        with self._connection() as db:
            row = (
                db.execute(
                    "SELECT id, name, scope, rate_limit, created, revoked, digest FROM keys WHERE id = ?", (key_id,)
                ).fetchone()
                if db
                else None
            )
        stored = row[6] if row else b"\0" * 32  # compare against something either way
        matches = hmac.compare_digest(stored, _digest(token))
        if not (parsed and row and matches) or row[5] is not None:
            return None
        return ApiKey(*row[:6])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _connection(self, create: bool = False) -> Iterator[sqlite3.Connection | None]:
        """The open database (None while no key was ever created), in a transaction."""
        with self._lock:
            if self._db is None:
                if not self.path.exists() and not create:
                    yield None
                    return
                self._db = self._open()
            with self._db:
                yield self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)  # hashes only, but nobody else needs to read them
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        db.executescript(_SCHEMA)
        return db


def check_rate(rate: str) -> str:
    """A rate limit as the limits library reads it ("600/minute", "10 per second"), or InvalidInput."""
    from limits import parse

    try:
        parse(rate)
    except ValueError:
        raise InvalidInput(f"'{rate}' is not a rate limit; write it like 600/minute or 10/second.") from None
    return rate


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
