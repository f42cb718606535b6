"""Every error as JSON `{"error": {"message", "type"}, "request_id"}` (the OpenAI shape, and the id the server
logged the request under): 4xx for the client's mistakes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import HEADER
from qa.errors import EMPTY_QUESTION, UNKNOWN_ARTICLE, UNKNOWN_SESSION, NotIndexed, QAError
from qa.logs import current_request_id

log = logging.getLogger("api")

# What a client does next, in fields and routes: the core's messages leave that to each shell.
HINTS = {
    EMPTY_QUESTION: "Send a question with some words in it.",
    NotIndexed.default_code: "Add an article first: POST /api/articles.",
    UNKNOWN_ARTICLE: "GET /api/articles lists the ids.",
    UNKNOWN_SESSION: "Leave session_id out to start a new conversation.",
}


def error_body(message: str, kind: str) -> dict[str, Any]:
    """The one error body, with the id of the request it answers (when there is one)."""
    return {"error": {"message": message, "type": kind}, "request_id": current_request_id()}


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    """The one error response. It carries its X-Request-ID itself: a 500 is sent from outside the middleware."""
    request_id = current_request_id()
    headers = {HEADER: request_id} if request_id else None
    return JSONResponse(error_body(message, kind), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to JSON; anything else is a logged 500."""

    @app.exception_handler(QAError)
    async def domain_error(_: Request, exc: QAError) -> JSONResponse:
        hint = HINTS.get(exc.code)
        return error_response(exc.http_status, f"{exc} {hint}" if hint else str(exc), type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "The request body is not valid JSON.", "malformed_json")
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        return error_response(422, f"{where}: {message}", "invalid_request")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "Internal error; the server log has the details.", "internal_error")


class BodyLimit:
    """Refuse request bodies over a limit with 413, whether or not they declare their length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        # Read the body up front (at most max_bytes of it), then replay it: the framework turns any error raised
        # while it reads the body into a 400, so the limit has to be enforced before the app sees the request.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, f"The request body is larger than {self.max_bytes:,} bytes (QA_MAX_BODY_BYTES).", "too_large"
        )
        await response(scope, receive, send)
