"""Every error as JSON `{"error": {"message", "type"}, "request_id"}` (the OpenAI shape, and the id the server
logged the request under): 4xx for the client's mistakes."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import HEADER
from qa.errors import (
    EMPTY_QUESTION,
    EMPTY_WINDOW,
    UNKNOWN_ARTICLE,
    UNKNOWN_FILTER_ARTICLE,
    UNKNOWN_SESSION,
    UNKNOWN_SOURCE,
    InvalidInput,
    NotIndexed,
    QAError,
    RateLimited,
    Unauthenticated,
)
from qa.logs import current_request_id

log = logging.getLogger("api")

# What a client does next, in fields and routes: the core's messages leave that to each shell.
HINTS = {
    EMPTY_QUESTION: "Send a question with some words in it.",
    NotIndexed.default_code: "Add an article first: POST /api/articles.",
    UNKNOWN_ARTICLE: "GET /api/articles lists the ids.",
    UNKNOWN_SESSION: "Leave session_id out to start a new conversation.",
    EMPTY_WINDOW: 'The field "until" must be later than "since" (e.g. {"since": "2025-03-01", "until": "2025-04-01"}).',
    UNKNOWN_SOURCE: 'The field "sources" takes outlets as GET /api/sources lists them.',
    UNKNOWN_FILTER_ARTICLE: 'The field "article_ids" takes ids as GET /api/articles lists them.',
}
# Fields that take a time: a bad one is answered with what works.
_TIME_FIELDS = ("since", "until", "as_of")
_TIME_EXAMPLE = "give ISO 8601, e.g. 2025-03-01 or 2025-03-01T09:30+01:00."


def error_body(message: str, kind: str, article_id: str | None = None) -> dict[str, Any]:
    """The one error body, with the id of the request it answers (when there is one) and of the article the error
    is about (when it names one: the article a new one's title clashes with)."""
    error = {"message": message, "type": kind} | ({"article_id": article_id} if article_id is not None else {})
    return {"error": error, "request_id": current_request_id()}


def error_response(
    status: int,
    message: str,
    kind: str,
    headers: Mapping[str, str] | None = None,
    article_id: str | None = None,
) -> JSONResponse:
    """The one error response. It carries its X-Request-ID itself: a 500 is sent from outside the middleware."""
    request_id = current_request_id()
    every = {**(headers or {}), **({HEADER: request_id} if request_id else {})}
    return JSONResponse(error_body(message, kind, article_id), status_code=status, headers=every or None)


def _headers(exc: QAError) -> dict[str, str] | None:
    """What a refused call needs besides the body: how to authenticate, when to retry."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to JSON; anything else is a logged 500."""

    @app.exception_handler(QAError)
    async def domain_error(_: Request, exc: QAError) -> JSONResponse:
        hint = HINTS.get(exc.code)
        message = f"{exc} {hint}" if hint else str(exc)
        return error_response(exc.http_status, message, type(exc).__name__, _headers(exc), exc.article_id)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "The request body is not valid JSON.", "malformed_json")
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        if where == "body" and first.get("type") in ("model_attributes_type", "dict_type"):
            # a form, a list or a bare string where an object was expected: say what to send
            return error_response(
                422,
                "The request body must be a JSON object, sent as Content-Type: application/json.",
                InvalidInput.__name__,
            )
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        if where.rsplit(".", 1)[-1] in _TIME_FIELDS and "ISO 8601" not in message:
            message = f"{message.rstrip('.')}; {_TIME_EXAMPLE}"
        return error_response(422, f"{where}: {message}", InvalidInput.__name__)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(_methods_at(request))}
        return error_response(exc.status_code, str(exc.detail), "http_error", headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "Internal error; the server log has the details.", "internal_error")


def _methods_at(request: Request) -> list[str]:
    """The methods the schema documents at this path (a literal path before templates, as the schema reads): the
    router names only those of the first route it tried."""
    path = request.url.path
    paths: dict[str, dict[str, object]] = request.app.openapi().get("paths", {})
    if path in paths:
        return sorted(method.upper() for method in paths[path])
    # a parameter is one path segment, unless no template matches so (an article id with "/" in it): the methods of
    # /api/chat/{session_id} are not those of /api/chat/{session_id}/export
    for segment in ("[^/]+", ".+"):
        methods: set[str] = set()
        for template, operations in paths.items():
            if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", segment, re.escape(template)), path):
                methods |= {method.upper() for method in operations}
        if methods:
            return sorted(methods)
    return []


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
