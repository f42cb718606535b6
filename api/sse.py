"""Server-Sent Events: the one way a route streams."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi.sse import format_sse_event

from api.errors import error_body
from qa.errors import QAError

log = logging.getLogger("api")


def event(data: dict[str, Any] | str, name: str | None = None) -> bytes:
    """One event; `data` as JSON (a string goes as it is, like OpenAI's closing [DONE])."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return format_sse_event(event=name, data_str=text)


def ending_in_error_event(events: Iterator[bytes]) -> Iterator[bytes]:
    """The events, and if producing them fails once streaming began (the status line is gone), an `error` event
    that tells the client, in the same JSON as every other error."""
    try:
        yield from events
    except Exception as exc:
        log.exception("stream failed", exc_info=exc)
        message = str(exc) if isinstance(exc, QAError) else "Internal error; the server log has the details."
        yield event(error_body(message, type(exc).__name__), "error")
