"""Cancelling long work between its steps: a client that went away, a job a client cancelled, a server stopping.

Work that can take long (embedding a big article) looks at its token between two steps and stops there, before
it writes anything: what is stored stays as it was.
"""

from __future__ import annotations

import threading

from qa.errors import QAError


class Cancelled(QAError):
    """The work was stopped before it wrote anything."""

    exit_code = 130
    http_status = 503
    default_code = "cancelled"


class CancelToken:
    """Set once by whoever wants the work stopped; looked at by the work between its steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = ""

    def cancel(self, reason: str = "The work was cancelled.") -> None:
        """Ask the work to stop at its next step (the first reason given is kept)."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether someone asked the work to stop."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if someone asked the work to stop."""
        if self._event.is_set():
            raise Cancelled(f"{self._reason} Nothing was stored.")
