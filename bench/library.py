"""The article list's search at scale. Run: .venv/bin/python bench/library.py [--articles 20000]

Builds a catalog and a keyword index of N synthetic articles (no model: one chunk each, titles and text drawn from a
word pool, five outlets, dates over two years) in a temporary directory, then times what GET /api/articles does for
the page: a plain page, a title search, a title-and-text search (the keyword index's best 200 passages holding
every word, then the catalog), an outlet-and-window filter, and the exact-title lookup of the add dialog's
duplicate check. Prints the median of repeated calls in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.catalog import ArticleMatch, Catalog  # noqa: E402
from qa.chunking import chunk_id  # noqa: E402
from qa.domain import ArticleInfo, SearchFilter  # noqa: E402
from qa.keyword import KeywordDoc, KeywordIndex  # noqa: E402
from qa.service import TEXT_MATCHES, _articles_of  # noqa: E402

_POOL = """minister harbour election council storm bridge bank rate inflation budget mayor river port grain talks
strike court ruling energy pipeline wind farm hospital school railway airport tariff export festival museum ferry
drought flood treaty summit senate governor league final season transfer coach"""
WORDS = _POOL.split()
OUTLETS = ["Harbor Wire", "Coastline Herald", "The Lisburg Ledger", "Meridian Business Daily", "Pennant Sports"]
START = 1_700_000_000  # seconds since the epoch: late 2023


def build(directory: Path, articles: int, seed: int = 0) -> tuple[Catalog, KeywordIndex]:
    rng = random.Random(seed)
    catalog = Catalog(directory / "catalog.sqlite3")
    keyword = KeywordIndex(directory / "keyword")
    with catalog.transaction() as writer, keyword.writing(bulk=True) as words:
        docs = []
        for n in range(articles):
            title = " ".join(rng.choices(WORDS, k=7)).capitalize() + f" {n}"
            text = " ".join(rng.choices(WORDS, k=300))
            source = rng.choice(OUTLETS)
            published = START + rng.randrange(0, 2 * 365 * 86400)
            info = ArticleInfo(id=f"a{n:06d}", title=title, source=source, chunks=1, content_hash=str(n))
            writer.put(info, published)
            docs.append(KeywordDoc(chunk_id(info.id, 0), info.id, text, source, published))
        words.add(docs)
    return catalog, keyword


def median_ms(action: Callable[[], object], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog, keyword = build(Path(tmp), args.articles)
        window = SearchFilter(sources=["Harbor Wire"], since="2024-03-01", until="2024-06-30")  # type: ignore[arg-type]

        def text_search(q: str) -> object:
            ids = _articles_of(keyword.containing_all(q, TEXT_MATCHES))
            return catalog.page(50, order="newest", match=ArticleMatch(search=q, text_ids=ids))

        cases: dict[str, Callable[[], object]] = {
            "page of 50, newest first": lambda: catalog.page(50, order="newest"),
            "title search 'harbour storm'": lambda: catalog.page(
                50, order="newest", match=ArticleMatch(search="harbour storm")
            ),
            "title + text search 'harbour storm'": lambda: text_search("harbour storm"),
            "outlet + 4-month window": lambda: catalog.page(50, order="newest", match=ArticleMatch(within=window)),
            "exact title (duplicate check)": lambda: catalog.page(1, match=ArticleMatch(title="Nothing like it")),
        }
        print(f"{args.articles} articles")
        for name, action in cases.items():
            print(f"  {name:40s} {median_ms(action):8.1f} ms")
        catalog.close()


if __name__ == "__main__":
    main()
