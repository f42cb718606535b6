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
from qa.embedder import first_word_pieces, word_pieces

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
    limit = body.token_limit()
    if body.stream:
        pieces = service.complete_stream(body.conversation(), within=body.within(), as_of=body.as_of)
        return EventSourceResponse(sse.ending_in_error_event(_chunks(envelope, pieces, limit)))
    answer = service.complete(body.conversation(), within=body.within(), as_of=body.as_of)
    cut = first_word_pieces(answer.answer, limit) if limit else None
    content = answer.answer if cut is None else cut
    prompt_tokens = sum(word_pieces(text) for _, text in body.conversation())
    completion_tokens = word_pieces(content)
    return {
        **envelope,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop" if cut is None else "length",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        **beside_content(answer),
    }


def beside_content(answer: ResolvedAnswer) -> dict[str, Any]:
    """Everything of the answer but its text (which is the message content)."""
    return answer.model_dump(mode="json", exclude={"answer"})


def _chunks(envelope: dict[str, Any], pieces: Iterator[str | ResolvedAnswer], limit: int | None) -> Iterator[bytes]:
    """The stream's chunks; past `limit` tokens the content stops (the answer is still read to its end, so the
    last chunk carries its citations) and the finish reason is `length`."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse.event({**envelope, "object": "chat.completion.chunk", "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    sent, cut = "", False
    for item in pieces:
        if not isinstance(item, str):
            yield chunk({}, "length" if cut else "stop", **beside_content(item))
        elif not cut:
            kept = first_word_pieces(sent + item, limit) if limit else None
            cut = kept is not None
            piece = item if kept is None else kept[len(sent) :]
            sent += piece
            if piece:
                yield chunk({"content": piece})
    yield sse.event("[DONE]")
