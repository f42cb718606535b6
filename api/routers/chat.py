"""Conversations: a turn at once or streamed, and the history of a session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from fastapi.sse import EventSourceResponse

from api import sse
from api.deps import Service
from api.schemas import ChatRequest, Removed, RenameRequest
from api.security import REFUSALS, Reader
from qa.access import Caller
from qa.domain import ChatAnswer, ChatHistory, ConversationInfo
from qa.service import ChatStream
from qa.text import slug

router = APIRouter(prefix="/api/chat", tags=["chat"], dependencies=[Reader], responses=REFUSALS)
MARKDOWN: dict[int | str, dict[str, Any]] = {200: {"content": {"text/markdown": {}}, "description": "Markdown"}}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "Events"}}


@router.post("")
def chat(body: ChatRequest, service: Service, caller: Caller = Reader) -> ChatAnswer:
    """One turn of a conversation; leave session_id out to start one. A conversation is its API key's alone."""
    return service.chat(body.session_id, body.message, within=body.within(), as_of=body.as_of, owner=caller.key_id)


@router.post("/stream", response_model=None, responses=EVENT_STREAM)
def chat_stream(body: ChatRequest, service: Service, caller: Caller = Reader) -> EventSourceResponse:
    """Server-Sent Events: `session`, `delta` {text} as the answer is produced, `citations`, `done` (the whole
    reply, as POST /api/chat returns it); `error` if something fails once streaming began."""
    return EventSourceResponse(
        sse.ending_in_error_event(
            _events(
                service.chat_stream(
                    body.session_id, body.message, within=body.within(), as_of=body.as_of, owner=caller.key_id
                )
            )
        )
    )


@router.get("")
def conversations(
    service: Service,
    limit: Annotated[int, Query(ge=1, le=500, description="Conversations to list.")] = 100,
    caller: Caller = Reader,
) -> list[ConversationInfo]:
    """The caller's stored conversations (those of its API key), the most recently active first; each titled by its
    name or its first question."""
    return service.conversations(limit, owner=caller.key_id)


@router.get("/{session_id}")
def history(session_id: str, service: Service, caller: Caller = Reader) -> ChatHistory:
    """The turns of a conversation, oldest first."""
    return service.history(session_id, owner=caller.key_id)


@router.patch("/{session_id}")
def rename(session_id: str, body: RenameRequest, service: Service, caller: Caller = Reader) -> ConversationInfo:
    """Name a conversation (1 to 200 characters; spaces at the ends do not count)."""
    return service.rename_conversation(session_id, body.name, owner=caller.key_id)


@router.delete("/{session_id}")
def delete(session_id: str, service: Service, caller: Caller = Reader) -> Removed:
    """Delete a conversation and its turns."""
    service.delete_conversation(session_id, owner=caller.key_id)
    return Removed(removed=session_id)


@router.get("/{session_id}/export", response_model=None, responses=MARKDOWN)
def export(session_id: str, service: Service, caller: Caller = Reader) -> PlainTextResponse:
    """The conversation as Markdown: each question and answer, the quotes as footnotes with outlet, title, date."""
    info, markdown = service.export_conversation(session_id, owner=caller.key_id)
    name = slug(info.title)[:60] or "conversation"
    return PlainTextResponse(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.md"'},
    )


def _events(stream: ChatStream) -> Iterator[bytes]:
    yield sse.event({"session_id": stream.session_id, "query": stream.query}, "session")
    for item in stream.pieces:
        if isinstance(item, str):
            yield sse.event({"text": item}, "delta")
        else:
            yield sse.event({"citations": [c.model_dump(mode="json") for c in item.citations]}, "citations")
            yield sse.event(item.model_dump(mode="json"), "done")
