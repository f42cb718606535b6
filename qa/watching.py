"""Polling feeds: each feed on its own schedule, one log line per poll and per failure, a feed that is down
retried later and later (exponential backoff) while the others go on, until told to stop.

The poll itself is the caller's (the service's conditional index of one feed), so that `qa watch` and the
feeds `qa serve` polls in the background write through the same path as `qa index`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qa.domain import IndexReport

Poll = Callable[[str], IndexReport]  # one feed -> what indexing its new and changed items did
MAX_DOUBLINGS = 4  # a feed that keeps failing is tried every 16 intervals at the least often
log = logging.getLogger("qa.watch")


@dataclass
class _Feed:
    url: str
    due: float = 0.0  # time.monotonic() at which it is polled next
    failures: int = 0  # polls in a row that failed


class Stop(Protocol):
    """What tells a watch to stop: a threading.Event, or the CLI's signal flag (qa.cli.watch)."""

    def is_set(self) -> bool:
        """Whether to stop."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for it; whether it is set."""
        ...


@dataclass
class FeedWatcher:
    """Polls `feeds` every `every` seconds each until `stop` is set."""

    feeds: Sequence[str]
    every: float
    poll: Poll
    polls: int = 0  # polls made so far (a feed's poll that failed included)
    _feeds: list[_Feed] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._feeds = [_Feed(url) for url in dict.fromkeys(self.feeds)]  # a feed named twice is polled once
        # One line per poll is ours to write: the HTTP client's line per request would double it.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))

    def run(self, stop: Stop, max_polls: int | None = None) -> None:
        """Poll until `stop` is set (or, for a bounded run, `max_polls` polls were made). A poll under way when
        `stop` is set finishes first: what it indexed is whole."""
        log.info("polling %d feed(s) every %s", len(self._feeds), _duration(self.every))
        while not stop.is_set() and (max_polls is None or self.polls < max_polls):
            feed = min(self._feeds, key=lambda f: f.due)
            wait = feed.due - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            self._poll(feed)

    def _poll(self, feed: _Feed) -> None:
        self.polls += 1
        try:
            report = self.poll(feed.url)
        except Exception as exc:  # a store or model that failed this once: the watch goes on
            self._failed(feed, str(exc) or type(exc).__name__)
            return
        down = [f for f in report.failed if f.path == feed.url]
        for failure in report.failed:
            if failure not in down:
                log.warning("feed %s: skipped %s: %s", feed.url, failure.path, failure.reason)
        if down:
            self._failed(feed, down[0].reason)
            return
        feed.failures, feed.due = 0, time.monotonic() + self.every
        changed = bool(report.added or report.updated)
        log.info(
            "feed %s: %s",
            feed.url,
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
            if changed or report.unchanged
            else "nothing new",
        )

    def _failed(self, feed: _Feed, reason: str) -> None:
        feed.failures += 1
        delay = self.every * 2 ** min(feed.failures, MAX_DOUBLINGS)
        feed.due = time.monotonic() + delay
        log.warning("feed %s: %s; next try in %s", feed.url, reason, _duration(delay))


def start_watching(feeds: Sequence[str], every: float, poll: Poll) -> Callable[[], None]:
    """Poll the feeds in a background thread (for a server); returns what stops it (waiting a while for a poll
    under way to finish)."""
    stop = threading.Event()
    watcher = FeedWatcher(feeds, every, poll)
    thread = threading.Thread(target=watcher.run, args=(stop,), name="feed-watch", daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join(timeout=30)  # a feed being indexed finishes its poll; a daemon thread never blocks the exit

    return stopper


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
