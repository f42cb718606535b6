"""What each polled feed's server said about the version it last sent (ETag, Last-Modified), kept in a small JSON
file in the data directory, so that the next poll is a conditional GET and an unchanged feed costs one 304."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from indexer.pages import Validators

log = logging.getLogger("indexer")


class FeedState:
    """The validators of each feed. New ones are staged while a feed's items are indexed and saved only after
    they all were: a run that stops half-way fetches the feed in full next time instead of skipping it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known = self._read()
        self._staged: dict[str, Validators] = {}

    def known(self, url: str) -> Validators | None:
        """What the server said last time about this feed (None: never fetched, or it said nothing)."""
        return self._known.get(url)

    def stage(self, url: str, validators: Validators) -> None:
        """Remember these validators once `save` is called."""
        self._staged[url] = validators

    def save(self) -> None:
        """Write the staged validators (merged with what another process may have written meanwhile)."""
        if not self._staged:
            return
        merged = {**self._read(), **self._staged}
        record = {url: {"etag": v.etag, "last_modified": v.last_modified} for url, v in sorted(merged.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".feeds-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(record, file, indent=1)
            os.replace(temporary, self.path)  # readers see the old file or the new one, never half of one
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._known, self._staged = merged, {}

    def _read(self) -> dict[str, Validators]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                str(url): Validators(value.get("etag"), value.get("last_modified")) for url, value in record.items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as exc:
            # Only the next poll's cost depends on it: fetch every feed in full rather than stop.
            log.warning("%s cannot be read (%s); every feed will be fetched in full", self.path, exc)
            return {}
