"""The parts of a conversation: sessions kept in SQLite, and follow-ups resolved into standalone questions.

The follow-up resolver is a protocol: the offline default carries the previous question's subject into a
question that leans on it ("And what did she say about NATO?"); an LLM-based rewriter can take its place.
The service (qa/service.py) puts them together with the engine.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from qa.domain import ConversationInfo, Turn
from qa.errors import UNKNOWN_SESSION, InvalidInput, NotFound
from qa.text import NAME_RUN, QUESTION_WORDS, names_in


class FollowUpResolver(Protocol):
    """Turns a message into a question that stands on its own, given the conversation so far."""

    def resolve(self, history: Sequence[Turn], message: str) -> str:
        """The standalone question for retrieval."""
        ...


_PRONOUNS = re.compile(r"\b(he|she|they|him|her|his|hers|their|them|it|its|this|that|these|those)\b", re.I)
_LEADING_CONJUNCTION = re.compile(r"^\s*(and|also|so|but|then)\b[\s,]*", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<subject>.+?)\s*\??\s*$", re.I)


class CarryOverResolver:
    """Offline follow-up resolution: no model, just the previous question's subject.

    - "What about Lavrov?" after "What did Truss demand?" becomes "What did Lavrov demand?".
    - A question with a pronoun gets the previous question's names it does not mention appended ("And what did
      she say about NATO?" becomes "What did she say about NATO? (Truss)"); so does one that opens with "And",
      "So"... and names no one.
    - A question without a pronoun that names its own subject ("And how did Lavrov respond?") stands as it is.
    """

    def resolve(self, history: Sequence[Turn], message: str) -> str:
        """The standalone question for retrieval."""
        previous = next((t.query or t.content for t in reversed(history) if t.role == "user"), None)
        message = message.strip()
        if not previous:
            return message
        previous_names = list(dict.fromkeys(names_in(previous)))
        what_about = _WHAT_ABOUT.match(message)
        if what_about and previous_names:
            return _replace_subject(previous, what_about["subject"])
        conjunction = _LEADING_CONJUNCTION.match(message)
        stripped = message[conjunction.end() :] if conjunction else message
        stripped = stripped[:1].upper() + stripped[1:]
        own = {n.lower() for n in names_in(stripped)}
        missing = [n for n in previous_names if n.lower() not in own]
        # A pronoun points back even in a question with names of its own ("what did she say about NATO?"); a
        # leading "And..." does only when the question names no one itself.
        if missing and (_PRONOUNS.search(stripped) or (conjunction and not own)):
            return f"{stripped} ({' '.join(missing)})"
        return message  # it stands on its own: retrieval sees exactly what was asked


def _replace_subject(question: str, subject: str) -> str:
    """Put `subject` where the question's first run of names stood ("What did Liz Truss tell Lavrov?" about
    Blinken: "What did Blinken tell Lavrov?")."""
    for run in NAME_RUN.finditer(question):
        words = list(re.finditer(r"\S+", run.group()))
        named = [w for w in words if w.group().lower() not in QUESTION_WORDS]
        if named:
            start = run.start() + named[0].start()
            return question[:start] + subject.strip() + question[run.end() :]
    return question


class SessionStore:
    """Conversations in SQLite under the data directory: a restart loses none."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS turns (session_id TEXT NOT NULL, position INTEGER NOT NULL, "
            "turn TEXT NOT NULL, PRIMARY KEY (session_id, position))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, created_at TEXT NOT NULL)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
        if "name" not in columns:  # a database from before conversations could be named
            self._db.execute("ALTER TABLE sessions ADD COLUMN name TEXT")
        if "owner" not in columns:  # ...or had owners: its conversations stay with anonymous callers
            self._db.execute("ALTER TABLE sessions ADD COLUMN owner TEXT")

    def create(self, owner: str | None = None) -> str:
        """A new, empty session, seen only by `owner` (an API key's id; None: callers without a key)."""
        session_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (id, created_at, owner) VALUES (?, ?, ?)",
                (session_id, dt.datetime.now(dt.UTC).isoformat(), owner),
            )
        return session_id

    def history(self, session_id: str, owner: str | None = None) -> list[Turn]:
        """The turns of a session, oldest first (NotFound for an unknown id or another owner's session)."""
        with self._lock:
            if self._db.execute(f"SELECT 1 FROM sessions WHERE {_OWNED}", (session_id, owner)).fetchone() is None:
                raise NotFound(f"No chat session '{session_id}'.", UNKNOWN_SESSION)
            rows = self._db.execute(
                "SELECT turn FROM turns WHERE session_id = ? ORDER BY position", (session_id,)
            ).fetchall()
        return [Turn.model_validate_json(row[0]) for row in rows]

    def append(self, session_id: str, turns: Sequence[Turn]) -> None:
        """Add turns at the end of a session, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (count,) = self._db.execute("SELECT COUNT(*) FROM turns WHERE session_id = ?", (session_id,)).fetchone()
                self._db.executemany(
                    "INSERT INTO turns VALUES (?, ?, ?)",
                    [(session_id, count + i, t.model_dump_json()) for i, t in enumerate(turns)],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def conversations(self, limit: int, owner: str | None = None) -> list[ConversationInfo]:
        """The owner's conversations with at least one turn (or a name), the most recently active first."""
        with self._lock:
            rows = self._db.execute(
                # a turn's JSON holds its time; the first turn is the first question
                "SELECT s.id, s.name, s.created_at, COALESCE(SUM(json_extract(t.turn, '$.role') = 'user'), 0),"
                " MAX(json_extract(t.turn, '$.created_at')),"
                " (SELECT json_extract(f.turn, '$.content') FROM turns f WHERE f.session_id = s.id AND f.position = 0)"
                " FROM sessions s LEFT JOIN turns t ON t.session_id = s.id WHERE s.owner IS ? GROUP BY s.id"
                " HAVING COUNT(t.position) > 0 OR s.name IS NOT NULL"
                # the last turn's rowid, not its time: times are to the second, and rowids grow with every insert
                " ORDER BY COALESCE(MAX(t.rowid), 0) DESC, s.created_at DESC, s.id LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [
            ConversationInfo(
                session_id=session_id,
                title=name or _title_of(first or ""),
                named=name is not None,
                created_at=created,
                updated_at=updated or created,
                questions=questions,
            )
            for session_id, name, created, questions, updated, first in rows
        ]

    def info(self, session_id: str, owner: str | None = None) -> ConversationInfo:
        """One conversation's title and times (NotFound for an unknown id or another owner's)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT name, created_at FROM sessions WHERE {_OWNED}", (session_id, owner)
            ).fetchone()
        if row is None:
            raise NotFound(f"No chat session '{session_id}'.", UNKNOWN_SESSION)
        name, created = row
        turns = self.history(session_id, owner)
        return ConversationInfo(
            session_id=session_id,
            title=name or _title_of(next((t.content for t in turns if t.role == "user"), "")),
            named=name is not None,
            created_at=created,
            updated_at=turns[-1].created_at if turns else created,
            questions=sum(t.role == "user" for t in turns),
        )

    def rename(self, session_id: str, name: str | None, owner: str | None = None) -> None:
        """Give a conversation a name (None: back to its first question)."""
        with self._lock:
            if not self._db.execute(f"UPDATE sessions SET name = ? WHERE {_OWNED}", (name, session_id, owner)).rowcount:
                raise NotFound(f"No chat session '{session_id}'.", UNKNOWN_SESSION)

    def delete(self, session_id: str, owner: str | None = None) -> None:
        """Delete a conversation and its turns, at once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = self._db.execute(f"DELETE FROM sessions WHERE {_OWNED}", (session_id, owner)).rowcount
                if gone:
                    self._db.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if not gone:
            raise NotFound(f"No chat session '{session_id}'.", UNKNOWN_SESSION)

    def close(self) -> None:
        """Close the database."""
        self._db.close()


# A session is its owner's alone: another key's call finds nothing there, as if the id did not exist. `IS`, not `=`:
# callers without a key (a server on loopback with no keys) own the sessions whose owner is NULL.
_OWNED = "id = ? AND owner IS ?"
TITLE_CHARS = 80  # a conversation's title made from its first question is cut to this


def _title_of(question: str) -> str:
    """A title from a first question: its first line, cut at a word near TITLE_CHARS; a placeholder if empty."""
    line = " ".join(question.split())
    if not line:
        return "New conversation"
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return f"{cut}…"


def history_from_messages(messages: Sequence[tuple[str, str]]) -> tuple[list[Turn], str]:
    """OpenAI-style (role, content) messages as turns before the last user message, and that message."""
    turns = [Turn.model_validate({"role": r, "content": c}) for r, c in messages if r in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidInput("The last message must come from the user: it is the question to answer.")
    return turns[:-1], turns[-1].content
