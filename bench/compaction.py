"""Compaction benchmark: how long writers wait while the catalog's vector file is compacted. Run: python
bench/compaction.py.

A catalog (qa/catalog.py) is filled with synthetic articles of 10 chunks (384-d vectors) in random date order,
100 articles a transaction, as a replica applies a bulk import; the compactions that starts (each on a thread of
its own) run beside those writes. Then the file is compacted by hand, twice, while another thread writes one
article a transaction, as a server's catch-ups would. A writer waits for a compaction only while its switch holds
the writers' turn, so the longest transaction during a compaction is what a write (and a question waiting for its
catch-up) can wait. Printed as JSON: the import's seconds and its transactions' median and longest, the
generation it ended on (one more for each compaction), then each compaction by hand with the one-article
transactions beside it (how many, p99, longest).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.catalog import Catalog  # noqa: E402
from qa.domain import ArticleInfo, published_timestamp  # noqa: E402

_CHUNKS = 10
_WINDOW = 100
_DAYS = 730


def _article(n: int, pick: random.Random) -> tuple[ArticleInfo, int | None]:
    day = (dt.date(2024, 1, 1) + dt.timedelta(days=pick.randrange(_DAYS))).isoformat()
    info = ArticleInfo(id=f"bench/{n:07d}", title="t", published=day, chunks=_CHUNKS, content_hash="h", version="v")
    return info, published_timestamp(day)


def _import(catalog: Catalog, articles: int, vectors: np.ndarray, pick: random.Random) -> dict[str, float]:
    """The bulk import, a window a transaction; its compactions are over when this returns."""
    took = []
    began = time.perf_counter()
    for first in range(0, articles, _WINDOW):
        started = time.perf_counter()
        with catalog.transaction() as writer:
            for n in range(first, min(first + _WINDOW, articles)):
                info, published_ts = _article(n, pick)
                writer.put(info, published_ts, b"", vectors)
        took.append(time.perf_counter() - started)
    writes = time.perf_counter() - began
    catalog.settle()
    return {
        "import_writes_s": writes,
        "import_settled_s": time.perf_counter() - began,
        "window_transaction_p50_ms": statistics.median(took) * 1000,
        "window_transaction_longest_ms": max(took) * 1000,
    }


def _compact_beside_a_writer(
    catalog: Catalog, first_id: int, vectors: np.ndarray, pick: random.Random
) -> dict[str, float]:
    """One compaction by hand, with one-article transactions beside it until it is over."""
    took: list[float] = []
    done = threading.Event()

    def write() -> None:
        n = first_id
        while not done.is_set():
            started = time.perf_counter()
            with catalog.transaction() as writer:
                info, published_ts = _article(n, pick)
                writer.put(info, published_ts, b"", vectors)
            took.append(time.perf_counter() - started)
            n += 1
            time.sleep(0.002)

    writer = threading.Thread(target=write, name="bench-writer")
    writer.start()
    began = time.perf_counter()
    try:
        switched = catalog.compact()
    finally:
        done.set()
        writer.join()
    ordered = sorted(took)
    return {
        "compaction_s": time.perf_counter() - began,
        "switched": switched,
        "writes_beside": len(took),
        "write_p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "write_longest_ms": ordered[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000, help="articles of the import")
    parser.add_argument("--work", type=Path, default=None, help="directory for the catalog (default: a temporary one)")
    args = parser.parse_args()
    vectors = np.random.default_rng(0).standard_normal((_CHUNKS, 384)).astype(np.float32)
    pick = random.Random(0)
    with tempfile.TemporaryDirectory(dir=args.work) as directory:
        path = Path(directory) / "catalog.sqlite3"
        catalog = Catalog(path)
        figures: dict[str, object] = {"articles": args.articles, **_import(catalog, args.articles, vectors, pick)}
        with sqlite3.connect(path) as db:
            figures["generation_after_import"] = db.execute("SELECT generation FROM vector_file").fetchone()[0]
        figures["by_hand"] = [
            _compact_beside_a_writer(catalog, 10_000_000 + 100_000 * k, vectors, pick) for k in range(2)
        ]
        catalog.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
