"""Ingest costs besides the model: reading dates and reading feeds. Run: .venv/bin/python bench/dates.py

Prints, for each kind of input, how many a second one core handles: dates through indexer.dates.parse_date (ISO
8601, RFC 822 as RSS writes it, words), whole articles through make_article (a given ISO date, a dateline found at
the top of the text, no date at all), and the items of a 3,000-item RSS file through indexer.sources.iter_sources
(parsed, text made plain, dated; not embedded). Embedding, at about 14 chunks a second here, dwarfs all of them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.dates import parse_date  # noqa: E402
from indexer.loaders import make_article  # noqa: E402
from indexer.sources import iter_sources  # noqa: E402

TEXT = "The prime minister resigned on Thursday after six weeks in office. " * 20


def rate(action: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls a second, over about `seconds` of calls."""
    done, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(100):
            action()
        done += 100
    return done / elapsed


def feed_rate(items: int = 3000) -> float:
    """Items a second read from an RSS file of `items` items."""
    entries = "".join(
        f"<item><guid>urn:bench:{n}</guid><title>Item {n}</title><pubDate>Thu, 20 Oct 2022 09:30:00 +0100</pubDate>"
        f"<description><![CDATA[<p>{TEXT}</p>]]></description></item>"
        for n in range(items)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.rss"
        path.write_text(f'<rss version="2.0"><channel><title>Bench</title>{entries}</channel></rss>', encoding="utf-8")
        began = time.perf_counter()
        count = sum(1 for _ in iter_sources([path]))
        return count / (time.perf_counter() - began)


def main() -> None:
    cases: list[tuple[str, Callable[[], object]]] = [
        ("date: ISO 8601", lambda: parse_date("2022-10-20T09:30:00+01:00")),
        ("date: RFC 822", lambda: parse_date("Thu, 20 Oct 2022 09:30:00 +0100")),
        ("date: words", lambda: parse_date("20 October 2022")),
        ("article: ISO date given", lambda: make_article({"id": "a", "published": "2022-10-20T09:30Z"}, TEXT, "a")),
        ("article: dateline", lambda: make_article({"id": "a"}, "LONDON, Oct. 20, 2022 (Reuters) - " + TEXT, "a")),
        ("article: no date", lambda: make_article({"id": "a"}, TEXT, "a")),
    ]
    print(f"{'input':<28} {'per second':>12}")
    for name, action in cases:
        print(f"{name:<28} {rate(action):>12,.0f}")
    print(f"{'feed items (3,000-item RSS)':<28} {feed_rate():>12,.0f}")


if __name__ == "__main__":
    main()
