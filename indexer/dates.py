"""Publication dates: read from whatever an article carries, normalised to one ISO 8601 form with an offset.

Sources, most trusted first: an explicit field (front matter or JSON Lines `published`/`date`, a feed entry's
published/updated), an HTML page's metadata (`article:published_time`, `<meta name="published|date">`, JSON-LD
`datePublished`, `<time datetime>`), and as a last resort a dateline at the top of the text ("LONDON, Oct. 20, 2022
(Reuters) -"), which is marked as inferred. A time without a zone is taken as UTC. A date that lacks its day or
its year is not completed from today's: unknown stays unknown. The one completion made is from the article's own
address: news sites file stories under /2025/ or /2025/03/03/, so a dateline without its year ("LISBURG, March 3
(Pennant Sports) -") takes the year of its URL, and a URL with a whole date dates an article that has nothing else.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dateutil import parser as date_parser
from dateutil import tz

from qa.dateline import DATELINE as _DATELINE
from qa.dateline import PARTIAL_DATELINE as _PARTIAL_DATELINE

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser

# Zone abbreviations dateutil does not know by itself (it would drop them and give a naive time).
_ZONES = {
    name: tz.tzoffset(name, hours * 3600)
    for name, hours in {
        "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
        "IST": 5.5, "JST": 9, "AEST": 10, "AEDT": 11, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
        "MDT": -6, "PST": -8, "PDT": -7,
    }.items()
}  # fmt: skip
# Two defaults that differ in every part: a part the text lacks shows up as a difference between the two parses.
_DEFAULT_A = dt.datetime(1901, 1, 1)
_DEFAULT_B = dt.datetime(1902, 2, 2)
# A year, optionally with month and day, as a path segment of a news URL: /2025/, /2025/03/03/, /2025/3/3/.
_URL_DATE = re.compile(r"/((?:19|20)\d{2})/(?:(\d{1,2})/(?:(\d{1,2})/)?)?")
# RFC 822 as feeds write it, with a numeric or universal zone: the standard library reads it fifty times faster.
_RFC822 = re.compile(
    r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|GMT|UTC?|Z)$"
)
_HTML_META = (
    'meta[property="article:published_time"]',
    'meta[name="article:published_time"]',
    'meta[itemprop="datePublished"]',
    'meta[name="published"]',
    'meta[name="date"]',
    'meta[name="pubdate"]',
    'meta[name="dc.date"]',
    'meta[name="DC.date.issued"]',
)


class DateError(ValueError):
    """A value that was meant as a date but cannot be read as one."""


def parse_date(value: object) -> dt.datetime:
    """A timezone-aware datetime from an ISO 8601 string, an RFC 822 date (feeds, e-mail), a written-out date
    ("20 October 2022", "Oct. 20, 2022 09:30 EST"), or a date/datetime object. Naive times are taken as UTC.
    Raises DateError for anything else, including a date without its day or year."""
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if not isinstance(value, str) or not value.strip():
        raise DateError(f"{value!r} is not a date")
    text = value.strip()
    try:  # the common case, and thousands a second: ISO 8601 through the standard library
        return _aware(dt.datetime.fromisoformat(text))
    except ValueError:
        pass
    if _RFC822.match(text):  # as RSS writes it: "Thu, 20 Oct 2022 09:30:00 +0100"
        try:
            return _aware(email.utils.parsedate_to_datetime(text))
        except (TypeError, ValueError):
            pass  # a day or month out of range: dateutil says so below
    return _written(text)  # other zones, words, other orders


def iso(when: dt.datetime) -> str:
    """The stored form: ISO 8601 with its offset, to the second ("2022-10-20T09:30:00+00:00")."""
    return _aware(when).isoformat(timespec="seconds")


def dateline_date(text: str, url: str | None = None) -> dt.datetime | None:
    """The date of a dateline that opens the text ("LONDON, Oct. 20, 2022 (Reuters) -", "20 October 2022 -",
    "Monday 20 October 2022"), or None when the text does not open with one. With the article's URL, a dateline
    without its year takes the URL's year, and a URL with a whole date stands in for a missing dateline."""
    head = text[:200]
    if found := _DATELINE.match(head):
        try:
            return _written(found["date"])
        except DateError:
            return None
    year, month, day = _url_date(url)
    if year is None:
        return None
    if found := _PARTIAL_DATELINE.match(head):
        try:
            return _written(f"{found['date']} {year}")
        except DateError:
            return None
    if month is not None and day is not None:
        try:
            return dt.datetime(year, month, day, tzinfo=dt.UTC)
        except ValueError:
            return None
    return None


def _url_date(url: str | None) -> tuple[int | None, int | None, int | None]:
    """The year (and month and day, when the path has them) a news URL files its article under."""
    found = _URL_DATE.search(urlsplit(url).path) if url else None
    if not found:
        return None, None, None
    year, month, day = found.groups()
    return int(year), int(month) if month else None, int(day) if day else None


def html_date(tree: LexborHTMLParser) -> str | None:
    """The publication date an HTML page declares, as written: its metadata, then JSON-LD `datePublished`, then
    the first `<time datetime>`; None when it declares none."""
    for selector in _HTML_META:
        node = tree.css_first(selector)
        if node is not None and (content := (node.attributes.get("content") or "").strip()):
            return content
    for node in tree.css('script[type="application/ld+json"]'):
        if found := _json_ld_date(node.text(deep=True)):
            return found
    for node in tree.css("time[datetime]"):
        if stamp := (node.attributes.get("datetime") or "").strip():
            return stamp
    return None


def _json_ld_date(source: str) -> str | None:
    try:
        data = json.loads(source)
    except ValueError:
        return None  # a broken JSON-LD block is common on the web: the page may still date itself elsewhere
    for item in _json_objects(data):
        found = item.get("datePublished") or item.get("dateCreated")
        if isinstance(found, str) and found.strip():
            return found.strip()
    return None


def _json_objects(data: object) -> Iterator[dict[str, object]]:
    """Every object of a JSON-LD document, outermost first (articles often sit inside "@graph")."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, dict | list):
                yield from _json_objects(value)
    elif isinstance(data, list):
        for value in data:
            yield from _json_objects(value)


def _written(text: str) -> dt.datetime:
    """A date in words or digits, through dateutil; parts it lacks are not filled in."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown zone name: reported below as a naive time, taken as UTC
            first = date_parser.parse(text, default=_DEFAULT_A, tzinfos=_ZONES)
            second = date_parser.parse(text, default=_DEFAULT_B, tzinfos=_ZONES)
    except (ValueError, OverflowError) as exc:
        raise DateError(f"'{text}' is not a date") from exc
    if first.date() != second.date():
        raise DateError(f"'{text}' lacks its day, month or year")
    return _aware(first)


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None and when.utcoffset() is not None else when.replace(tzinfo=dt.UTC)
