"""`/v1/chat/completions` and `/v1/models`, so OpenAI clients chat with the articles.

The reply's content carries the [n] markers; the citations travel beside it as `citations` (on the completion,
and on the last chunk of a stream), which OpenAI clients keep as an extra field.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, format_sse_event

from api.schemas import ChatCompletionRequest
from qa.conversation import Chat, history_from_messages
from qa.domain import Answer

MODEL_ID = "newsqa"


def install(app: FastAPI, chat: Chat) -> None:
    """Add the OpenAI-compatible routes."""

    @app.get("/v1/models", tags=["openai"])
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "newsqa"}]}

    @app.post(
        "/v1/chat/completions",
        tags=["openai"],
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
    )
    def completions(body: ChatCompletionRequest) -> dict[str, Any] | EventSourceResponse:
        """Any model name is accepted: the articles answer, whatever a client asks for."""
        history, message = history_from_messages([(m.role, m.text()) for m in body.messages])
        message = chat.engine.validate(message)
        query = chat.engine.validate(chat.resolver.resolve(history, message))
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            answer = chat.engine.ask(query).model_copy(update={"question": message})
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                **_extras(answer, query),
            }
        pieces = chat.engine.stream(query)
        first = next(pieces)  # errors surface as HTTP errors, before the stream starts

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return format_sse_event(data_str=json.dumps(payload, ensure_ascii=False))

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            item = first
            while True:
                if isinstance(item, Answer):
                    yield chunk({}, "stop", **_extras(item, query))
                    break
                yield chunk({"content": item})
                item = next(pieces)
            yield format_sse_event(data_str="[DONE]")

        return EventSourceResponse(events())


def _extras(answer: Answer, query: str) -> dict[str, Any]:
    return {
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "abstained": answer.abstained,
        "query": query,
    }
