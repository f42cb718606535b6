"""Each request's id, access line and HTTP metrics; the settings of FastAPI's span of each request.

The id comes from the client's X-Request-ID when that is short and plain (letters, digits, `.`, `_`, `-`, `:`),
else it is made here; it goes back in the X-Request-ID header, into every line logged while the request runs
(qa.logs) and into every error body (api.errors).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import MutableMapping
from time import perf_counter
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.logs import REQUEST_ID
from qa.telemetry import BUCKETS

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
UNMATCHED = "unmatched"  # the route label of requests no route took (404s): any path would be a new series

access = logging.getLogger("api.access")

REQUESTS = Counter(
    "qa_http_requests", "HTTP requests, by method, route template and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "qa_http_request_duration_seconds",
    "Seconds from a request's arrival to its last byte sent, by method and route template.",
    ["method", "route"],
    buckets=BUCKETS,
)


def request_id_from(scope: Scope) -> str:
    """The client's id when it is acceptable, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            if _SAFE_ID.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The template of the route that took the request (`/api/articles/{article_id}`, as the OpenAPI schema
    writes it), not its path."""
    route = scope.get("route")
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestContext:
    """Outermost of the app's own middleware: sets the request id, adds its header, writes the access line and
    counts the request. Pure ASGI (not BaseHTTPMiddleware) so that streamed answers pass through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        # Not reset on the way out: the server's last-resort 500 handler runs outside this middleware and still
        # needs the id; each request runs in its own task, so it never leaks into another request's context.
        REQUEST_ID.set(request_id)
        status = 500  # if the app fails before it answers, the server answers 500
        began = perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                if not any(key.lower() == _HEADER_KEY for key, _ in headers):
                    headers.append((_HEADER_KEY, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = perf_counter() - began
            method, route = scope["method"], route_of(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(seconds)
            access.info(
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    """Probes, scrapes and static files make no trace (they would drown the requests worth looking at)."""
    path = str(scope.get("path", ""))
    return path == "/metrics" or path.startswith(("/health", "/static"))


# FastAPI's own OpenTelemetry support makes each request's span (the parent of an ask's or an indexing run's) once
# a tracer provider is set (qa.telemetry.configure_tracing); until then it does nothing. Its spans for dependency
# resolution and serialisation are left out: the stages inside the ask are the ones worth reading.
TELEMETRY: TelemetryConfig = {"operation_spans": False, "metrics": False, "logs": False, "exclude": _untraced}


def install_observability(app: FastAPI) -> None:
    """Add the request middleware after every other middleware, so that it is the outermost of them."""
    app.add_middleware(RequestContext)
