"""`qa watch FEED...`: poll feeds and index what is new or changed, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from qa.cli.console import err, fail, load_settings, run
from qa.logs import configure_logging
from qa.settings import parse_every
from qa.text import is_url

SLICE = 0.2  # seconds between two looks at the stop flag while waiting for the next poll


class SignalFlag:
    """A stop flag that a signal handler may set. A threading.Event may not be set there: Python runs the handler
    on the main thread, which may hold the event's lock at that very moment (inside Event.wait), and the process
    then hangs on its own lock: the likely reason a SIGTERM sent just as a poll ended once left `qa watch` running
    in CI."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        """Ask the watch to stop (no lock taken)."""
        self._set = True

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking every SLICE to look at the flag; whether it is set."""
        end = time.monotonic() + timeout
        while not self._set and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, SLICE))
        return self._set


def watch(
    feeds: Annotated[
        list[str] | None,
        typer.Argument(help="RSS/Atom feed URLs (or feed files); default: QA_FEEDS", show_default=False),
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="How often to poll each feed: 90s, 15m, 1h (QA_FEED_EVERY)")
    ] = None,
) -> None:
    """Poll feeds and index their new and changed items (a conditional GET each time: an unchanged feed costs a
    304). One log line per poll and per failure; a feed that is down is retried later and later."""
    from qa.watching import FeedWatcher
    from qa.wiring import open_service

    config = load_settings()
    urls = list(feeds or config.feeds)
    if not urls:
        raise fail("name the feeds to watch (qa watch URL...) or set QA_FEEDS", 2)
    # A URL that is down is retried for ever (feeds come back); a path that is not there is a typo, not an outage.
    if missing := [f for f in urls if not is_url(f) and not Path(f).exists()]:
        raise fail(f"no such feed file: {', '.join(missing)}. Give a feed's http(s) URL or the path of a feed file.", 2)
    try:
        interval = parse_every(every) if every is not None else config.feed_every
    except ValueError as exc:
        raise fail(f"--every: {exc}", 2) from None
    configure_logging(config.log_format, config.log_level)
    service = run(lambda: open_service(config, bulk=True))
    stop = SignalFlag()

    def stop_now(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: stop in the middle of a poll (what was written stays whole)
            raise KeyboardInterrupt
        err.print("stopping after the poll under way (Ctrl-C again to stop at once)")
        stop.set()

    signal.signal(signal.SIGINT, stop_now)
    signal.signal(signal.SIGTERM, stop_now)
    watcher = FeedWatcher(urls, interval.total_seconds(), lambda url: service.index_paths([url], conditional=True))
    try:
        run(lambda: watcher.run(stop))
    finally:
        service.close()
