"""Web sources: fetching a URL (httpx, with timeouts, a User-Agent, a size cap and conditional GET) and reading
an article page's main text and metadata (trafilatura; the date as the page declares it, see indexer.dates)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser

from indexer.dates import html_date
from indexer.loaders import make_article
from qa.domain import Article
from qa.errors import LoadError

USER_AGENT = "newsqa/0.1 (news question answering; feed reader)"
TIMEOUT = httpx.Timeout(20.0, connect=10.0)  # a slow site is one failure line, not a stalled run
MAX_BYTES = 10_000_000  # a feed or page larger than this is refused: no news page is, and memory stays bounded
MAX_ID_CHARS = 200  # article ids the API accepts (ArticleDraft.id)
MIN_PAGE_CHARS = 100  # main text shorter than this is a menu's leftovers or a label (trafilatura keeps trying)


@dataclass(frozen=True)
class Validators:
    """What a server said identifies the version it sent (for a conditional GET next time)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A response's body (None for 304 Not Modified) and what describes it."""

    url: str
    content: bytes | None
    content_type: str
    validators: Validators


def url_id(url: str) -> str:
    """A stable, readable article id for a URL: host and path ("example.com/news/truss-resigns"), the scheme and
    a trailing slash left out so that http/https and both spellings of a link are one article; a hash of it when
    it is too long to be an id."""
    parts = urlsplit(url.strip())
    readable = (parts.hostname or "") + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    if len(readable) <= MAX_ID_CHARS:
        return readable
    return f"{parts.hostname}/{hashlib.sha256(readable.encode()).hexdigest()[:16]}"


class Fetcher:
    """One HTTP client for a run (connections reused), closed by the caller."""

    def __init__(self, timeout: httpx.Timeout = TIMEOUT, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.seconds = timeout.read or 0.0
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}, trust_env=False
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def get(self, url: str, known: Validators | None = None) -> Fetched:
        """The body at `url`, or no body when `known` still describes it (304). Raises LoadError with one line
        that says what went wrong: host unreachable, timeout, an HTTP error status, a body over the size cap."""
        headers = {}
        if known and known.etag:
            headers["If-None-Match"] = known.etag
        if known and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched(url, None, "", known or Validators())
                if response.status_code >= 400:
                    reason = response.reason_phrase or "error"
                    raise LoadError(f"the server answered {response.status_code} {reason}")
                content = self._body(response)
                validators = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
                return Fetched(str(response.url), content, response.headers.get("content-type", ""), validators)
        except httpx.TimeoutException:
            raise LoadError(f"no answer within {self.seconds:g} s (timed out); try again later") from None
        except httpx.InvalidURL as exc:
            raise LoadError(f"not a URL that can be fetched: {exc}") from None
        except httpx.HTTPError as exc:
            raise LoadError(f"cannot reach the host: {_first_line(exc)}; check the URL and the network") from None

    def _body(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise LoadError(f"the response is {int(declared):,} bytes, over the {self.max_bytes:,}-byte limit")
        parts, size = [], 0
        for part in response.iter_bytes():
            size += len(part)
            if size > self.max_bytes:  # the length was not declared, or was wrong: stop reading at the cap
                raise LoadError(f"the response is over the {self.max_bytes:,}-byte limit")
            parts.append(part)
        return b"".join(parts)


def page_article(content: bytes, url: str, article_id: str | None = None, content_type: str = "") -> Article:
    """The article on a web page: its main text, title, outlet and date. Raises LoadError when the page has no
    article text (a front page, a login wall, a script-only page)."""
    html = decoded(content, content_type)
    document, text = _extract(html, url)
    fields: dict[str, Any] = {
        "id": article_id or url_id(url),
        "title": getattr(document, "title", None) or None,
        # The page's own declaration first: trafilatura's date keeps the day but drops the time of day.
        "published": html_date(LexborHTMLParser(html)) or getattr(document, "date", None),
        "source": getattr(document, "sitename", None) or urlsplit(url).hostname,
        "url": url,
    }
    return make_article(fields, text, default_title=url)


def main_text(content: bytes, url: str, content_type: str = "") -> str:
    """A page's main text alone (a feed item's full text, when its summary is short); LoadError without one."""
    return _extract(decoded(content, content_type), url)[1]


def decoded(content: bytes, content_type: str = "") -> str:
    """A page's text: in the charset its Content-Type names, else UTF-8, else Windows-1252 (what browsers assume
    for an undeclared legacy page)."""
    declared = [p.split("=", 1)[1].strip(" \"'") for p in content_type.split(";") if p.strip().startswith("charset=")]
    for encoding in [*declared, "utf-8"]:
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("cp1252", errors="replace")


def _extract(html: str, url: str) -> tuple[Any, str]:
    """trafilatura's document (with metadata) and its text, one paragraph a block."""
    import trafilatura  # loaded for pages only: a fifth of a second that `qa index FOLDER` need not pay

    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    text = str(getattr(document, "text", None) or "").strip()
    if len(text) < MIN_PAGE_CHARS:
        raise LoadError("the page has no article text (is it an article page?)")
    lines = [line for line in text.splitlines() if line.strip()]
    title = str(getattr(document, "title", None) or "").strip()
    if title and len(lines) > 1 and lines[0].strip() == title:  # trafilatura repeats the headline as a first line
        lines = lines[1:]
    return document, "\n\n".join(lines)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
