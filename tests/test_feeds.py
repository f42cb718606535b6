"""Feeds and pages as inputs: RSS and Atom files, feeds and article pages over real HTTP on loopback, the failures
a user meets (404, timeout, unreachable host, a page without text, a malformed feed), idempotent re-runs, changed
items replaced, conditional GET, and the watch loop going on past a feed that is down."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from indexer.loaders import LoadedArticle
from indexer.pages import Fetcher
from indexer.sources import iter_sources
from qa.domain import LoadFailure
from qa.errors import LoadError
from qa.service import NewsService
from qa.settings import Settings
from qa.watching import FeedWatcher
from qa.wiring import open_service
from tests.conftest import RunQA, free_port, qa_env, run_qa_in

PAGE = """<html><head><title>{title} | Loopback News</title>
<meta property="og:site_name" content="Loopback News">
<meta property="article:published_time" content="2022-10-20T09:30:00+01:00">
</head><body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{title}</h1>
<p>Liz Truss resigned as prime minister of the United Kingdom on Thursday after six weeks in office, the shortest
tenure of any prime minister in British history.</p>
<p>Speaking outside Downing Street, she said she could not deliver the mandate on which she had been elected by the
Conservative Party, and that a leadership election would be completed within the next week.</p>
<p>The pound rose against the dollar after the announcement, and opposition parties called for a general election.</p>
</article><footer>Copyright Loopback News</footer></body></html>"""
EMPTY_PAGE = "<html><head><title>Front page</title></head><body><nav><a href='/a'>A</a></nav></body></html>"


def rss(items: list[dict[str, str]], title: str = "Loopback Wire") -> str:
    """An RSS 2.0 document of these items (guid, title, link, description, pubDate, source)."""
    parts = []
    for item in items:
        source = f'<source url="http://127.0.0.1/">{item["source"]}</source>' if "source" in item else ""
        parts.append(
            f"<item><guid>{item['guid']}</guid><title>{item['title']}</title><link>{item.get('link', '')}</link>"
            f"<description><![CDATA[{item['description']}]]></description>"
            f"<pubDate>{item.get('pubDate', '')}</pubDate>{source}</item>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://127.0.0.1/</link><description>d</description>{''.join(parts)}</channel></rss>"
    )


ITEMS = [
    # Short items link to pages, which are fetched for their text: on loopback, where nothing listens on port 9.
    {
        "guid": "urn:wire:1",
        "title": "Truss resigns",
        "link": "http://127.0.0.1:9/truss",
        "description": "<p>Liz Truss resigned on Thursday after six weeks as prime minister of the United Kingdom.</p>",
        "pubDate": "Thu, 20 Oct 2022 09:30:00 +0100",
    },
    {
        "guid": "urn:wire:2",
        "title": "Sunak favourite",
        "link": "http://127.0.0.1:9/sunak",
        "description": "Rishi Sunak is the favourite to succeed Truss as leader of the Conservative Party.",
        "pubDate": "Fri, 21 Oct 2022 07:00:00 GMT",
        "source": "Syndicated Daily",
    },
]
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Desk</title><id>urn:atom:desk</id>
<updated>2022-10-21T10:00:00Z</updated>
<entry><id>http://news.invalid/atom/ferries</id><title>Ferries cancelled</title>
<link href="http://news.invalid/atom/ferries"/><updated>2022-10-21T10:00:00Z</updated>
<published>2022-10-21T08:15:00+02:00</published>
<content type="html">&lt;p&gt;All ferries across the Channel were cancelled because of the storm.&lt;/p&gt;
</content></entry>
<entry><id>urn:atom:2</id><title>No date</title><summary>An item without any date at all.</summary></entry>
</feed>"""


@dataclass
class Route:
    """What the loopback server answers on one path."""

    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    hang: bool = False  # answer nothing until the test ends (a timeout)


@dataclass
class Site:
    """A web site on 127.0.0.1: routes by path, and the headers of every request it got."""

    url: str
    routes: dict[str, Route]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def hits(self, path: str) -> list[dict[str, str]]:
        """The headers of the requests for `path`."""
        return [headers for got, headers in self.requests if got == path]


@pytest.fixture
def site() -> Iterator[Site]:
    """A threaded HTTP server on loopback (nothing leaves the machine)."""
    state = Site("", {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.hang:
                state.release.wait(30)
                return
            etag_match = route.etag and self.headers.get("If-None-Match") == route.etag
            date_match = route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            if etag_match or (date_match and not self.headers.get("If-None-Match")):
                self.send_response(304)
                self.end_headers()
                return
            body = route.body.encode() if isinstance(route.body, str) else route.body
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet: the test reads state.requests instead
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    opened = open_service(Settings(data_dir=tmp_path / "data"))
    yield opened
    opened.close()


def _articles(items: list[LoadedArticle | LoadFailure]) -> dict[str, LoadedArticle]:
    return {i.article.id: i for i in items if isinstance(i, LoadedArticle)}


def test_rss_and_atom_files_give_articles_with_ids_dates_and_outlets(tmp_path: Path) -> None:
    (tmp_path / "wire.rss").write_text(rss(ITEMS), encoding="utf-8")
    (tmp_path / "desk.atom").write_text(ATOM, encoding="utf-8")
    items = list(iter_sources([tmp_path / "wire.rss", str(tmp_path / "desk.atom")]))
    assert [i for i in items if isinstance(i, LoadFailure)] == []
    found = {k: v.article for k, v in _articles(items).items()}
    truss, sunak = found["feed/" + _hash("urn:wire:1")], found["feed/" + _hash("urn:wire:2")]
    assert (
        truss.title == "Truss resigns" and truss.source == "Loopback Wire" and truss.url == "http://127.0.0.1:9/truss"
    )
    assert truss.published == "2022-10-20T09:30:00+01:00" and truss.text.startswith("Liz Truss resigned on Thursday")
    assert sunak.source == "Syndicated Daily" and sunak.published == "2022-10-21T07:00:00+00:00"
    ferries = found["news.invalid/atom/ferries"]
    assert ferries.source == "Atom Desk" and ferries.published == "2022-10-21T08:15:00+02:00"
    assert ferries.text == "All ferries across the Channel were cancelled because of the storm."
    undated = found["feed/" + _hash("urn:atom:2")]
    assert undated.published is None and undated.text == "An item without any date at all."
    assert {v.origin for v in _articles(items).values()} == {
        str((tmp_path / "wire.rss").resolve()),
        str((tmp_path / "desk.atom").resolve()),
    }


def _hash(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def test_a_malformed_feed_file_is_one_failure_and_the_rest_still_loads(tmp_path: Path) -> None:
    (tmp_path / "broken.xml").write_text("this is <not a feed", encoding="utf-8")
    (tmp_path / "good.txt").write_text("A good article.", encoding="utf-8")
    items = list(iter_sources([tmp_path / "broken.xml", tmp_path / "good.txt"]))
    failures = [i for i in items if isinstance(i, LoadFailure)]
    assert len(failures) == 1 and failures[0].path.endswith("broken.xml")
    assert failures[0].reason.startswith("not an RSS or Atom feed")
    assert list(_articles(items)) == ["good"]


def test_feeds_and_pages_over_http_with_every_failure_on_its_own_line(site: Site, service: NewsService) -> None:
    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml")
    site.routes["/story"] = Route(PAGE.format(title="Truss resigns as prime minister"))
    site.routes["/front"] = Route(EMPTY_PAGE)
    site.routes["/bad.rss"] = Route("this is not a feed {", content_type="application/rss+xml")
    closed = f"http://127.0.0.1:{free_port()}/feed.rss"  # nothing listens there
    urls = [f"{site.url}/wire.rss", f"{site.url}/story", f"{site.url}/front", f"{site.url}/gone", f"{site.url}/bad.rss"]
    report = service.index_paths([*urls, closed])
    failures = {f.path: f.reason for f in report.failed}
    assert failures == {
        f"{site.url}/front": "the page has no article text (is it an article page?)",
        f"{site.url}/gone": "the server answered 404 Not Found",
        f"{site.url}/bad.rss": failures[f"{site.url}/bad.rss"],
        closed: failures[closed],
    }, failures
    assert failures[f"{site.url}/bad.rss"].startswith("not an RSS or Atom feed")
    assert failures[closed].startswith("cannot reach the host")
    assert len(report.added) == 3  # two items and the page
    page = service.get_article("127.0.0.1/story")
    assert page.title == "Truss resigns as prime minister" and page.source == "Loopback News"
    assert page.published == "2022-10-20T09:30:00+01:00" and page.url == f"{site.url}/story"
    assert "Downing Street" in page.text and "Home" not in page.text and "Copyright" not in page.text
    assert all(headers["user-agent"].startswith("newsqa/") for _, headers in site.requests)


def test_a_short_item_takes_the_text_of_the_page_it_links_to(site: Site) -> None:
    site.routes["/story"] = Route(PAGE.format(title="Truss resigns"))
    teaser = {"guid": "urn:t:1", "title": "Truss resigns", "link": f"{site.url}/story", "description": "Teaser."}
    broken = {"guid": "urn:t:2", "title": "Gone", "link": f"{site.url}/missing", "description": "Its own summary."}
    site.routes["/teasers.rss"] = Route(rss([teaser, broken]), content_type="application/rss+xml")
    found = {a.article.title: a.article for a in _articles(list(iter_sources([f"{site.url}/teasers.rss"]))).values()}
    assert "Downing Street" in found["Truss resigns"].text
    assert found["Gone"].text == "Its own summary."  # the page could not be had: the item keeps its summary


def test_a_server_that_never_answers_is_a_timeout_line(site: Site) -> None:
    site.routes["/slow.rss"] = Route(hang=True)
    fetcher = Fetcher(timeout=httpx.Timeout(0.5))
    try:
        with pytest.raises(LoadError, match="timed out"):
            fetcher.get(f"{site.url}/slow.rss")
    finally:
        fetcher.close()


def test_a_response_over_the_size_cap_is_refused(site: Site) -> None:
    site.routes["/huge.rss"] = Route("x" * 5000, content_type="application/rss+xml")
    fetcher = Fetcher(max_bytes=1000)
    try:
        with pytest.raises(LoadError, match="over the 1,000-byte limit"):
            fetcher.get(f"{site.url}/huge.rss")
    finally:
        fetcher.close()


def test_rerunning_a_feed_indexes_nothing_twice_and_a_changed_item_is_replaced(
    site: Site, service: NewsService
) -> None:
    url = f"{site.url}/wire.rss"
    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml")
    first = service.index_paths([url])
    assert len(first.added) == 2 and not first.failed
    again = service.index_paths([url])
    assert again.added == [] and again.updated == [] and len(again.unchanged) == 2 and again.chunks_embedded == 0
    changed = [dict(ITEMS[0], description="<p>Liz Truss resigned; a leadership election follows within a week.</p>")]
    site.routes["/wire.rss"] = Route(rss([*changed, ITEMS[1]]), content_type="application/rss+xml")
    third = service.index_paths([url])
    assert third.updated == ["127.0.0.1/" + _hash("urn:wire:1")] and third.added == []
    assert service.list_articles().total == 2
    assert "leadership election" in service.get_article("127.0.0.1/" + _hash("urn:wire:1")).text


def test_conditional_get_sends_the_validators_and_a_304_indexes_nothing(site: Site, service: NewsService) -> None:
    stamp = formatdate(1666254600, usegmt=True)
    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml", etag='"v1"', last_modified=stamp)
    url = f"{site.url}/wire.rss"
    first = service.index_paths([url], conditional=True)
    assert len(first.added) == 2
    assert "if-none-match" not in site.hits("/wire.rss")[0]
    second = service.index_paths([url], conditional=True)
    headers = site.hits("/wire.rss")[1]
    assert headers["if-none-match"] == '"v1"' and headers["if-modified-since"] == stamp
    assert (second.added, second.updated, second.unchanged, second.failed) == ([], [], [], [])
    state = json.loads((service.settings.data_dir / "feeds.json").read_text())
    assert state[url] == {"etag": '"v1"', "last_modified": stamp}
    # A new version of the feed: fetched in full, the new item added, the others left as they are.
    extra = {"guid": "urn:wire:3", "title": "Third", "description": "A third item about the pound and the dollar."}
    site.routes["/wire.rss"] = Route(rss([*ITEMS, extra]), content_type="application/rss+xml", etag='"v2"')
    third = service.index_paths([url], conditional=True)
    assert third.added == ["127.0.0.1/" + _hash("urn:wire:3")] and len(third.unchanged) == 2


def test_the_watch_loop_goes_on_past_a_feed_that_is_down(
    site: Site, service: NewsService, caplog: pytest.LogCaptureFixture
) -> None:
    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml", etag='"v1"')
    down = f"{site.url}/down.rss"  # 404 until it comes back
    up = f"{site.url}/wire.rss"
    watcher = FeedWatcher([down, up], every=0, poll=lambda url: service.index_paths([url], conditional=True))
    with caplog.at_level(logging.INFO, logger="qa.watch"):
        watcher.run(threading.Event(), max_polls=4)
        site.routes["/down.rss"] = Route(rss([dict(ITEMS[0], guid="urn:other:1")]), content_type="application/rss+xml")
        watcher.run(threading.Event(), max_polls=6)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith(f"feed {down}: the server answered 404") and "next try in" in line for line in lines)
    assert f"feed {up}: 2 added, 0 updated, 0 unchanged" in lines
    assert f"feed {up}: nothing new" in lines  # the later polls: 304
    assert f"feed {down}: 1 added, 0 updated, 0 unchanged" in lines  # back up: indexed
    assert service.list_articles().total == 3


def test_the_watch_loop_stops_when_told(service: NewsService) -> None:
    stop = threading.Event()
    stop.set()
    watcher = FeedWatcher(["http://127.0.0.1:9/x.rss"], every=60, poll=lambda url: service.index_paths([url]))
    watcher.run(stop)
    assert watcher.polls == 0


def test_qa_index_takes_urls_and_reports_failures_in_one_line_each(site: Site, run_qa: RunQA) -> None:
    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml")
    done = run_qa("index", f"{site.url}/wire.rss", f"{site.url}/gone")
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout and "1 failed" in done.stdout
    assert f"skipped {site.url}/gone: the server answered 404 Not Found" in done.stderr
    assert "Traceback" not in done.stderr


def test_qa_watch_refuses_bad_usage_in_one_line(tmp_path: Path) -> None:
    for args, phrase in [(["watch"], "name the feeds"), (["watch", "http://127.0.0.1:9/a", "--every", "soon"], "soon")]:
        done = run_qa_in(tmp_path / "data", *args)
        assert done.returncode == 2, (done.stdout, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and phrase in lines[0], done.stderr


def test_qa_watch_refuses_a_feed_file_that_is_not_there_instead_of_polling_it_for_ever(tmp_path: Path) -> None:
    """A missing path (a typo, or a URL without its scheme) is an error at once; a URL that is down is retried."""
    for feed in (str(tmp_path / "no-such.rss"), "example.com/feed.rss"):
        done = subprocess.run(
            [sys.executable, "-m", "qa", "watch", feed],
            capture_output=True,
            text=True,
            env=qa_env(tmp_path / "data"),
            timeout=120,  # before the check, this ran until killed
        )
        assert done.returncode == 2, (done.stdout, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert (
            len(lines) == 1
            and lines[0] == f"error: no such feed file: {feed}. Give a feed's http(s) URL or the path of a feed file."
        ), done.stderr


def test_the_server_polls_qa_feeds_in_the_background(site: Site, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from tests.conftest import holds_within

    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml")
    settings = Settings(data_dir=tmp_path / "data", feeds=[f"{site.url}/wire.rss"], feed_every="1h")
    with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        assert holds_within(120, lambda: service.list_articles().total == 2)
        response = client.get("/api/articles", params={"order": "newest"})
        assert response.status_code == 200, response.text
        listed = response.json()["articles"]
        assert [a["title"] for a in listed] == ["Sunak favourite", "Truss resigns"]
        assert all(a["published_inferred"] is False for a in listed)


def test_a_feed_of_thousands_of_items_streams_item_by_item(tmp_path: Path) -> None:
    from indexer.sources import count_sources

    many = [
        {"guid": f"urn:big:{n}", "title": f"Item {n}", "description": f"Item number {n} of the big feed."}
        for n in range(3000)
    ]
    path = tmp_path / "big.rss"
    path.write_text(rss(many), encoding="utf-8")
    assert count_sources([path]) == 3000  # the progress bar's total, counted without parsing
    stream = iter_sources([path])
    first = next(stream)
    assert isinstance(first, LoadedArticle) and first.article.title == "Item 0"
    rest = list(stream)
    assert len({i.article.id for i in rest if isinstance(i, LoadedArticle)} | {first.article.id}) == 3000


def test_feed_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from pydantic import ValidationError

    monkeypatch.setenv("QA_FEEDS", "http://127.0.0.1:9/a.rss, http://127.0.0.1:9/b.rss")
    monkeypatch.setenv("QA_FEED_EVERY", "2h")
    settings = Settings()
    assert settings.feeds == ["http://127.0.0.1:9/a.rss", "http://127.0.0.1:9/b.rss"]
    assert settings.feed_every == dt.timedelta(hours=2)
    monkeypatch.setenv("QA_FEEDS", '["http://127.0.0.1:9/c.rss"]')
    assert Settings().feeds == ["http://127.0.0.1:9/c.rss"]
    monkeypatch.setenv("QA_FEED_EVERY", "0s")
    with pytest.raises(ValidationError, match="at most once a second"):
        Settings()


def test_a_page_in_a_legacy_charset_is_read_in_it(site: Site) -> None:
    body = PAGE.format(title="Café society").replace("Downing Street", "Downing Street café").encode("iso-8859-1")
    site.routes["/legacy"] = Route(body, content_type="text/html; charset=ISO-8859-1")
    (item,) = list(iter_sources([f"{site.url}/legacy"]))
    assert isinstance(item, LoadedArticle), item
    assert item.article.title == "Café society" and "Downing Street café" in item.article.text


def test_qa_watch_logs_each_poll_and_stops_cleanly_on_sigterm(site: Site, tmp_path: Path) -> None:

    from tests.conftest import REPO, holds_within, qa_env

    site.routes["/wire.rss"] = Route(rss(ITEMS), content_type="application/rss+xml", etag='"v1"')
    log = tmp_path / "watch.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa", "watch", f"{site.url}/wire.rss", f"{site.url}/down.rss", "--every", "1h"],
            env=qa_env(tmp_path / "data"),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        assert holds_within(120, lambda: "next try in 2h" in log.read_text()), log.read_text()
        assert holds_within(120, lambda: "2 added" in log.read_text()), log.read_text()
    finally:
        process.terminate()  # SIGTERM: it stops between polls
        code = process.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert f"feed {site.url}/wire.rss: 2 added, 0 updated, 0 unchanged" in text
    assert f"feed {site.url}/down.rss: the server answered 404 Not Found; next try in 2h" in text
    assert "Traceback" not in text and "httpx" not in text  # one line per poll: no line per request


def test_the_watch_stop_flag_set_by_a_signal_handler_ends_its_wait() -> None:
    import signal

    from qa.cli.watch import SignalFlag

    flag = SignalFlag()
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: flag.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        assert flag.wait(120) is True  # woken by the handler, not by the end of the two minutes
        assert flag.is_set()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert SignalFlag().wait(0.01) is False
