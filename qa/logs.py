"""The process's log lines, as text or as one JSON object a line, each carrying the request it was logged for.

A shell that serves requests sets `REQUEST_ID` for the duration of each; every line logged meanwhile, by any
logger and in any thread the request's context reaches (the framework's thread pool copies it), carries that id.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Literal

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "{levelname}{name}{message}"  # and `time` (ISO 8601, UTC) first, then whatever the line adds
_RENAMED = {"levelname": "level", "name": "logger"}


def current_request_id() -> str | None:
    """The id of the request being served in this context (None outside a request)."""
    return REQUEST_ID.get()


class RequestContext(logging.Filter):
    """Stamps each record with the request id, and with the trace and span ids when a span is being recorded (so
    that a log line leads to its trace). On the handler: records of every logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


def make_handler(log_format: LogFormat, stream: object = None) -> logging.Handler:
    """A handler writing to `stream` (stderr) in the format asked for, with the request context on every line."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.addFilter(RequestContext())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, style="{", rename_fields=_RENAMED, timestamp="time"))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"}))
    return handler


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Send every logger's lines through one handler on stderr (replacing the root's handlers)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
