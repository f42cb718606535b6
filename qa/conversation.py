"""Multi-turn chat on the engine: sessions kept in SQLite, follow-ups resolved before retrieval.

The follow-up resolver is a protocol: the offline default carries the previous question's subject into a
question that leans on it ("And what did she say about NATO?"); an LLM-based rewriter can take its place.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from qa.domain import Answer, Citation
from qa.engine import Engine
from qa.errors import InvalidInput, NotFound

Role = Literal["user", "assistant"]


class Turn(BaseModel):
    """One message of a conversation."""

    role: Role
    content: str
    query: str | None = Field(default=None, description="For a user turn: the question as retrieval saw it.")
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


class FollowUpResolver(Protocol):
    """Turns a message into a question that stands on its own, given the conversation so far."""

    def resolve(self, history: Sequence[Turn], message: str) -> str:
        """The standalone question for retrieval."""
        ...


_PRONOUNS = re.compile(r"\b(he|she|they|him|her|his|hers|their|them|it|its|this|that|these|those)\b", re.I)
_LEADING_CONJUNCTION = re.compile(r"^\s*(and|also|so|but|then)\b[\s,]*", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<subject>.+?)\s*\??\s*$", re.I)
_QUESTION_WORDS = {"what", "who", "whom", "whose", "when", "where", "which", "why", "how", "did", "does", "do", "is",
                   "are", "was", "were", "and", "the", "a", "an", "in", "of", "also", "so", "but", "then"}  # fmt: skip


def _names(text: str) -> list[str]:
    """Capitalised words that are not sentence-initial question words: the people and places asked about."""
    return [w for w in re.findall(r"\b[A-Z][\w’'-]+", text) if w.lower() not in _QUESTION_WORDS]


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
        previous_names = _names(previous)
        what_about = _WHAT_ABOUT.match(message)
        if what_about and previous_names:
            return _replace_names(previous, previous_names, what_about["subject"])
        stripped = _LEADING_CONJUNCTION.sub("", message)
        stripped = stripped[:1].upper() + stripped[1:]
        if not _names(stripped) and previous_names and (_PRONOUNS.search(stripped) or stripped != message):
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
                raise NotFound(f"No chat session '{session_id}'. Start a new one by leaving session_id out.")
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


class ChatReply(BaseModel):
    """One exchange: the session, the standalone question retrieval used, and the answer."""

    session_id: str
    query: str
    answer: Answer


class Chat:
    """A conversation service over one engine."""

    def __init__(self, engine: Engine, sessions: SessionStore, resolver: FollowUpResolver) -> None:
        self.engine = engine
        self.sessions = sessions
        self.resolver = resolver

    def send(self, session_id: str | None, message: str) -> ChatReply:
        """Answer a message in its conversation and record both turns."""
        session_id, query = self._prepare(session_id, message)
        answer = self.engine.ask(query)
        return self._record(session_id, message, query, answer)

    def stream(self, session_id: str | None, message: str) -> tuple[str, str, Iterator[str | ChatReply]]:
        """Like `send`, but the answer text arrives in pieces before the final reply; errors in the
        message or session are raised before anything is streamed."""
        session_id, query = self._prepare(session_id, message)

        def pieces() -> Iterator[str | ChatReply]:
            for item in self.engine.stream(query):
                if isinstance(item, Answer):
                    yield self._record(session_id, message, query, item)
                else:
                    yield item

        return session_id, query, pieces()

    def _prepare(self, session_id: str | None, message: str) -> tuple[str, str]:
        message = self.engine.validate(message)
        history = self.sessions.history(session_id) if session_id else []
        query = self.engine.validate(self.resolver.resolve(history, message))
        return session_id or self.sessions.create(), query

    def _record(self, session_id: str, message: str, query: str, answer: Answer) -> ChatReply:
        answer = answer.model_copy(update={"question": message})
        self.sessions.append(
            session_id,
            [
                Turn(role="user", content=message, query=query),
                Turn(role="assistant", content=answer.answer, citations=answer.citations, abstained=answer.abstained),
            ],
        )
        return ChatReply(session_id=session_id, query=query, answer=answer)


def history_from_messages(messages: Sequence[tuple[str, str]]) -> tuple[list[Turn], str]:
    """OpenAI-style (role, content) messages as turns before the last user message, and that message."""
    turns = [Turn(role=role, content=content) for role, content in messages if role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidInput("The last message must come from the user: it is the question to answer.")
    return turns[:-1], turns[-1].content
