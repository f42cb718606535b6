"""Every kind of input `qa index` takes, in one stream: files and folders (indexer.loaders), feed files (.xml,
.rss, .atom), and http(s) URLs of feeds or article pages. A source that fails is one failure in the report; the
others are still indexed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from indexer.feeds import FEED_SUFFIXES, count_items, feed_articles, looks_like_feed
from indexer.feedstate import FeedState
from indexer.loaders import LoadedArticle, count_articles, iter_articles
from indexer.pages import Fetcher, main_text, page_article, url_id
from qa.domain import LoadFailure
from qa.errors import LoadError
from qa.text import is_url

Source = str | Path
log = logging.getLogger("indexer")


def iter_sources(
    sources: Iterable[Source], feed_state: FeedState | None = None
) -> Iterator[LoadedArticle | LoadFailure]:
    """The articles of every source, one at a time (a feed of thousands of items streams through). With
    `feed_state`, a feed URL is fetched with a conditional GET and one that has not changed gives nothing; its new
    validators are staged there for the caller to save once the items are indexed."""
    fetcher: Fetcher | None = None
    try:
        for source in sources:
            if is_url(source):
                fetcher = fetcher or Fetcher()
                yield from _url_articles(str(source), fetcher, feed_state)
            elif _is_feed_file(Path(source)):
                yield from _feed_file(Path(source))
            else:
                yield from iter_articles([source])
    finally:
        if fetcher is not None:
            fetcher.close()


def count_sources(sources: Iterable[Source]) -> int:
    """How many articles the sources offer at most, as far as can be told without fetching (a URL counts 0)."""
    total = 0
    for source in sources:
        if is_url(source):
            continue
        path = Path(source)
        if _is_feed_file(path):
            total += count_items(path.read_bytes())
        else:
            total += count_articles([path])
    return total


def local_folders(sources: Sequence[Source]) -> list[Path]:
    """The folders among the sources (whose vanished files are removed from the index)."""
    return [Path(s) for s in sources if not is_url(s) and Path(s).is_dir()]


def _is_feed_file(path: Path) -> bool:
    return path.suffix.lower() in FEED_SUFFIXES and path.is_file()


def _feed_file(path: Path) -> Iterator[LoadedArticle | LoadFailure]:
    try:
        yield from feed_articles(path.read_bytes(), str(path), origin=str(path.resolve()))
    except (OSError, LoadError) as exc:
        yield LoadFailure(path=str(path), reason=str(exc))


def _url_articles(url: str, fetcher: Fetcher, feed_state: FeedState | None) -> Iterator[LoadedArticle | LoadFailure]:
    """A feed's items, or the article on a page; nothing when a conditional GET says the feed has not changed."""
    try:
        fetched = fetcher.get(url, feed_state.known(url) if feed_state else None)
        if fetched.content is None:
            log.debug("%s: not modified since the last poll", url)
            return
        if looks_like_feed(fetched.content_type, fetched.content):

            def linked_text(link: str) -> str | None:
                """A linked page's main text; the item keeps its summary when the page cannot be had."""
                try:
                    page = fetcher.get(link)
                    return main_text(page.content or b"", link, page.content_type)
                except LoadError as exc:
                    log.debug("%s: keeping the item's summary: %s", link, exc)
                    return None

            yield from feed_articles(fetched.content, url, origin=url, page_text=linked_text)
        else:
            yield LoadedArticle(
                page_article(fetched.content, url, url_id(url), fetched.content_type), origin=url, where=url
            )
    except LoadError as exc:
        yield LoadFailure(path=url, reason=str(exc))
        return
    if feed_state is not None:
        feed_state.stage(url, fetched.validators)
