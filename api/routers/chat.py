"""Conversations: a turn at once or streamed, and the history of a session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse

from api import sse
from api.deps import Service
from api.schemas import ChatRequest
from api.security import REFUSALS, Reader
from qa.domain import ChatAnswer, ChatHistory
from qa.service import ChatStream

router = APIRouter(prefix="/api/chat", tags=["chat"], dependencies=[Reader], responses=REFUSALS)
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "Events"}}


@router.post("")
def chat(body: ChatRequest, service: Service) -> ChatAnswer:
    """One turn of a conversation; leave session_id out to start one."""
    return service.chat(body.session_id, body.message, within=body.within(), as_of=body.as_of)


@router.post("/stream", response_model=None, responses=EVENT_STREAM)
def chat_stream(body: ChatRequest, service: Service) -> EventSourceResponse:
    """Server-Sent Events: `session`, `delta` {text} as the answer is produced, `citations`, `done` (the whole
    reply, as POST /api/chat returns it); `error` if something fails once streaming began."""
    return EventSourceResponse(
        sse.ending_in_error_event(
            _events(service.chat_stream(body.session_id, body.message, within=body.within(), as_of=body.as_of))
        )
    )


@router.get("/{session_id}")
def history(session_id: str, service: Service) -> ChatHistory:
    """The turns of a conversation, oldest first."""
    return service.history(session_id)


def _events(stream: ChatStream) -> Iterator[bytes]:
    yield sse.event({"session_id": stream.session_id, "query": stream.query}, "session")
    for item in stream.pieces:
        if isinstance(item, str):
            yield sse.event({"text": item}, "delta")
        else:
            yield sse.event({"citations": [c.model_dump(mode="json") for c in item.citations]}, "citations")
            yield sse.event(item.model_dump(mode="json"), "done")
