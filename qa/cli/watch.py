"""`qa watch FEED...`: poll feeds and index what is new or changed, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from qa.cli.console import err, fail, load_settings, run
from qa.logs import configure_logging
from qa.settings import parse_every


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
    try:
        interval = parse_every(every) if every is not None else config.feed_every
    except ValueError as exc:
        raise fail(f"--every: {exc}", 2) from None
    configure_logging(config.log_format, config.log_level)
    service = run(lambda: open_service(config, bulk=True))
    stop = threading.Event()

    def stop_now(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: stop in the middle of a poll (what was written stays whole)
            raise KeyboardInterrupt
        err.print("stopping after the poll under way (Ctrl-C again to stop at once)")
        # Not stop.set() here: it takes the event's lock, which this thread (the main one, where Python runs the
        # handler) may hold at this very moment inside stop.wait, and then the process hangs on its own lock. Seen
        # once in CI: a SIGTERM just as a poll ended, and `qa watch` did not stop in 60 s.
        threading.Thread(target=stop.set, name="stop-watching").start()

    signal.signal(signal.SIGINT, stop_now)
    signal.signal(signal.SIGTERM, stop_now)
    watcher = FeedWatcher(urls, interval.total_seconds(), lambda url: service.index_paths([url], conditional=True))
    try:
        run(lambda: watcher.run(stop))
    finally:
        service.close()
