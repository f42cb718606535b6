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

from qa.domain import Turn
from qa.errors import UNKNOWN_SESSION, InvalidInput, NotFound
from qa.text import names_in


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
    - A question with a pronoun and no name of its own gets the previous question's names appended.
    - A question that names its own subject ("And how did Lavrov respond?") stands as it is.
    """

    def resolve(self, history: Sequence[Turn], message: str) -> str:
        """The standalone question for retrieval."""
        previous = next((t.query or t.content for t in reversed(history) if t.role == "user"), None)
        message = message.strip()
        if not previous:
            return message
        previous_names = names_in(previous)
        what_about = _WHAT_ABOUT.match(message)
        if what_about and previous_names:
            return _replace_names(previous, previous_names, what_about["subject"])
        stripped = _LEADING_CONJUNCTION.sub("", message)
        stripped = stripped[:1].upper() + stripped[1:]
        if not names_in(stripped) and previous_names and (_PRONOUNS.search(stripped) or stripped != message):
            return f"{stripped} ({' '.join(dict.fromkeys(previous_names))})"
        return message  # it stands on its own: retrieval sees exactly what was asked


def _replace_names(question: str, names: list[str], subject: str) -> str:
    """Put `subject` where the previous question's run of names stood."""
    first = question.index(names[0])
    last = question.rindex(names[-1]) + len(names[-1])
    return question[:first] + subject.strip() + question[last:]


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

    def create(self) -> str:
        """A new, empty session."""
        session_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute("INSERT INTO sessions VALUES (?, ?)", (session_id, dt.datetime.now(dt.UTC).isoformat()))
        return session_id

    def history(self, session_id: str) -> list[Turn]:
        """The turns of a session, oldest first."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
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

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def history_from_messages(messages: Sequence[tuple[str, str]]) -> tuple[list[Turn], str]:
    """OpenAI-style (role, content) messages as turns before the last user message, and that message."""
    turns = [Turn.model_validate({"role": r, "content": c}) for r, c in messages if r in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidInput("The last message must come from the user: it is the question to answer.")
    return turns[:-1], turns[-1].content
