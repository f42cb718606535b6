"""`/v1/chat/completions` and `/v1/models`, so OpenAI clients chat with the articles.

The reply's content carries the [n] markers; the rest of the answer (citations, abstained, sentences, backend,
the standalone `query`...) travels beside it, on the completion and on the last chunk of a stream: OpenAI clients
keep unknown fields (`completion.model_extra`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse

from api import sse
from api.deps import Service
from api.schemas import ChatCompletionRequest
from api.security import REFUSALS, Reader
from qa.domain import ResolvedAnswer

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Reader], responses=REFUSALS)
MODEL_ID = "newsqa"
RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/event-stream": {}}}}


@router.get("/models")
def models() -> dict[str, Any]:
    """The one model: the articles."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "newsqa"}]}


@router.post("/chat/completions", response_model=None, responses=RESPONSES)
def completions(body: ChatCompletionRequest, service: Service) -> dict[str, Any] | EventSourceResponse:
    """Any model name is accepted: the articles answer, whatever a client asks for."""
    envelope = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
    if body.stream:
        pieces = service.complete_stream(body.conversation(), within=body.within(), as_of=body.as_of)
        return EventSourceResponse(sse.ending_in_error_event(_chunks(envelope, pieces)))
    answer = service.complete(body.conversation(), within=body.within(), as_of=body.as_of)
    return {
        **envelope,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **beside_content(answer),
    }


def beside_content(answer: ResolvedAnswer) -> dict[str, Any]:
    """Everything of the answer but its text (which is the message content)."""
    return answer.model_dump(mode="json", exclude={"answer"})


def _chunks(envelope: dict[str, Any], pieces: Iterator[str | ResolvedAnswer]) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse.event({**envelope, "object": "chat.completion.chunk", "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    for item in pieces:
        yield chunk({"content": item}) if isinstance(item, str) else chunk({}, "stop", **beside_content(item))
    yield sse.event("[DONE]")
