"""RSS and Atom feeds (feedparser): each item becomes an article with a stable id, so reading a feed again never
adds an item twice, and an item whose text or metadata changed replaces the article it gave before."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from indexer.loaders import LoadedArticle, html_text, make_article
from indexer.pages import url_id
from qa.domain import Article, LoadFailure
from qa.errors import LoadError
from qa.text import is_url

FEED_SUFFIXES = (".xml", ".rss", ".atom")
SHORT_SUMMARY = 500  # characters: an item's text shorter than this is a teaser; its linked page has the article
PageText = Callable[[str], str | None]  # a link -> the linked page's main text (None when it cannot be had)


def looks_like_feed(content_type: str, content: bytes) -> bool:
    """Whether a response is a feed rather than a page: its declared type, or else how its document begins."""
    declared = content_type.split(";")[0].strip().lower()
    if "rss" in declared or "atom" in declared or declared in ("application/xml", "text/xml"):
        return True
    head = content[:1000].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return any(mark in head for mark in (b"<rss", b"<feed", b"<rdf:rdf"))


def count_items(content: bytes) -> int:
    """About how many items a feed has, counted without parsing it (a progress bar's total)."""
    return content.count(b"<item") + content.count(b"<entry")


def feed_articles(
    content: bytes, location: str, origin: str, page_text: PageText | None = None
) -> Iterator[LoadedArticle | LoadFailure]:
    """The items of a feed as articles, one at a time, and a failure for each item that cannot be one. Raises
    LoadError when the document is not a feed. `page_text` fetches a linked page for an item whose text is short."""
    import feedparser

    parsed = feedparser.parse(io.BytesIO(content))  # a stream, so that feedparser never fetches anything itself
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        problem = str(parsed.get("bozo_exception") or "no feed element").strip().splitlines()[0]
        raise LoadError(f"not an RSS or Atom feed ({problem})")
    outlet = parsed.feed.get("title") or None
    feed_host = urlsplit(location).hostname or "feed"
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            yield LoadedArticle(entry_article(entry, outlet, feed_host, page_text), origin)
        except LoadError as exc:
            label = entry.get("id") or entry.get("link") or entry.get("title") or f"item {number}"
            yield LoadFailure(path=f"{location} [{label}]", reason=str(exc))


def entry_article(entry: Any, outlet: str | None, feed_host: str, page_text: PageText | None = None) -> Article:
    """One feed item as an article: id from its guid (or link), text from its content or summary (or the linked
    page's main text when that is short), title, outlet, date and link."""
    key = str(entry.get("id") or entry.get("link") or "").strip()
    if not key:
        raise LoadError("the item has neither a guid nor a link, so it has no stable id")
    article_id = url_id(key) if is_url(key) else f"{feed_host}/{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    link = str(entry.get("link") or "") or None
    text = _item_text(entry)
    if page_text is not None and link and len(text) < SHORT_SUMMARY and (full := page_text(link)):
        text = full if len(full) > len(text) else text
    source = entry.get("source", {}).get("title") or outlet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # feedparser's notice about mapping updated/published
        published = entry.get("published") or entry.get("updated")
    fields = {
        "id": article_id,
        "title": entry.get("title"),
        "published": published,
        "source": source,
        "url": link,
    }
    return make_article(fields, text, default_title=article_id)


def _item_text(entry: Any) -> str:
    """The item's fullest text: its content if it has any, else its summary (HTML made plain text)."""
    bodies = [part for part in entry.get("content", []) if part.get("value")]
    if not bodies and entry.get("summary"):
        bodies = [entry.get("summary_detail") or {"value": entry["summary"], "type": "text/html"}]
    if not bodies:
        return ""
    body = max(bodies, key=lambda part: len(part["value"]))
    if "html" in str(body.get("type", "text/html")):
        return html_text(f"<html><body>{body['value']}</body></html>")
    return str(body["value"])
