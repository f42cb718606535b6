"""Publication dates at ingest: every source of a date, normalised to ISO 8601 with an offset; datelines inferred
and marked so; unknown stays unknown; a date that cannot be read is a warning, and the article is still indexed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from indexer.dates import DateError, dateline_date, iso, parse_date
from indexer.loaders import load_paths, make_article
from qa.catalog import Catalog
from qa.domain import ArticleInfo
from tests.conftest import RunQA


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2022-10-20T09:30:00+01:00", "2022-10-20T09:30:00+01:00"),
        ("2022-10-20T09:30:00Z", "2022-10-20T09:30:00+00:00"),
        ("2022-10-20T09:30:00.123456Z", "2022-10-20T09:30:00+00:00"),
        ("2022-10-20 09:30", "2022-10-20T09:30:00+00:00"),  # naive: taken as UTC
        ("2022-10-20", "2022-10-20T00:00:00+00:00"),
        ("Thu, 20 Oct 2022 09:30:00 +0100", "2022-10-20T09:30:00+01:00"),  # RFC 822, as RSS writes it
        ("Thu, 20 Oct 2022 09:30:00 GMT", "2022-10-20T09:30:00+00:00"),
        ("20 October 2022 10:00 EST", "2022-10-20T10:00:00-05:00"),
        ("Oct. 20, 2022", "2022-10-20T00:00:00+00:00"),
        (dt.date(2022, 10, 20), "2022-10-20T00:00:00+00:00"),  # YAML front matter gives a date
        (dt.datetime(2022, 10, 20, 9, 30), "2022-10-20T09:30:00+00:00"),
    ],
)
def test_dates_in_every_form_are_stored_as_iso_with_an_offset(written: object, stored: str) -> None:
    assert iso(parse_date(written)) == stored


@pytest.mark.parametrize("written", ["soon", "Oct 20", "October 2022", "2022-13-45", "", 2022])
def test_what_is_not_a_whole_date_is_refused_not_completed(written: object) -> None:
    with pytest.raises(DateError):
        parse_date(written)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("LONDON, Oct. 20, 2022 (Reuters) - Liz Truss resigned on Thursday.", dt.date(2022, 10, 20)),
        ("20 October 2022 - The prime minister resigned.", dt.date(2022, 10, 20)),
        ("Monday 20 October 2022\n\nThe prime minister resigned.", dt.date(2022, 10, 20)),
        ("Moscow, 11 February 2022 (TDI): Russian Foreign Minister", dt.date(2022, 2, 11)),
    ],
)
def test_a_dateline_at_the_top_gives_the_date(text: str, day: dt.date) -> None:
    found = dateline_date(text)
    assert found is not None and found.date() == day and found.tzinfo is not None
    article = make_article({"id": "a"}, text, "a")
    assert article.published == f"{day.isoformat()}T00:00:00+00:00" and article.published_inferred


@pytest.mark.parametrize(
    ("text", "url", "day"),
    [
        ("LISBURG, March 3 (Pennant Sports) - Rovers appointed.", "https://example.com/s/2025/rovers", "2025-03-03"),
        ("PORT EMMERICH, Sept 5 (Harbor Wire) - The toll rose.", "https://example.com/2025/09/orla", "2025-09-05"),
        ("No dateline opens this text.", "https://news.example.com/2024/02/29/leap-day", "2024-02-29"),
    ],
)
def test_a_dateline_or_url_without_a_year_takes_the_year_its_url_files_it_under(text: str, url: str, day: str) -> None:
    article = make_article({"id": "a", "url": url}, text, "a")
    assert article.published == f"{day}T00:00:00+00:00" and article.published_inferred


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("LISBURG, March 3 (Pennant Sports) - Rovers appointed.", None),  # no year anywhere: not guessed
        ("LISBURG, March 3 (Pennant Sports) - Rovers appointed.", "https://example.com/rovers-appointed"),
        ("No dateline opens this text.", "https://example.com/2025/story"),  # a year alone dates nothing
        ("No dateline opens this text.", "https://example.com/2025/02/30/story"),  # no such day
        ("The May 3 vote was close.", "https://example.com/2025/vote"),  # a date inside a sentence is no dateline
    ],
)
def test_a_dateline_without_a_year_stays_undated_without_a_year_in_its_url(text: str, url: str | None) -> None:
    article = make_article({"id": "a", "url": url} if url else {"id": "a"}, text, "a")
    assert article.published is None and not article.published_inferred


@pytest.mark.parametrize(
    "text",
    [
        "The meeting on 20 October 2022 was long.",  # a date inside the text is not the article's
        "WASHINGTON (AP) — The senate voted.",
        "Nothing dated here at all.",
    ],
)
def test_unknown_stays_unknown(text: str) -> None:
    article = make_article({"id": "a"}, text, "a")
    assert article.published is None and not article.published_inferred


def test_a_given_date_wins_over_the_dateline() -> None:
    article = make_article({"id": "a", "date": "2022-10-21T08:00:00Z"}, "LONDON, Oct. 20, 2022 (Reuters) - Text.", "a")
    assert article.published == "2022-10-21T08:00:00+00:00" and not article.published_inferred


def test_an_unreadable_date_is_a_warning_naming_the_article(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="indexer"):
        article = make_article({"id": "odd", "published": "next Tuesday-ish"}, "20 October 2022 - Text.", "odd")
    assert article.published is None and not article.published_inferred  # no dateline overrules what was given
    (line,) = [r.getMessage() for r in caplog.records]
    assert "article 'odd'" in line and "next Tuesday-ish" in line and "indexed without a date" in line


def test_an_impossible_date_in_front_matter_is_a_warning_not_the_end_of_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # YAML reads an unquoted 2022-02-30 as a timestamp and PyYAML raised a ValueError: a traceback, and the
    # folder's other files were never indexed
    _write(tmp_path, "bad.md", "---\ntitle: Leap\npublished: 2022-02-30\n---\nThe council met.")
    _write(tmp_path, "good.md", "---\ntitle: Fine\ndate: 2022-02-28\n---\nThe council met again.")
    with caplog.at_level(logging.WARNING, logger="indexer"):
        loaded, failures = load_paths([tmp_path])
    dates = {item.article.id: item.article.published for item in loaded}
    assert dates == {"bad": None, "good": "2022-02-28T00:00:00+00:00"} and failures == []
    assert any("2022-02-30" in r.getMessage() and "indexed without a date" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "front", ["---\ntitle: Never closed\n\nThe council met.", "---\n- a list\n---\nThe council met."]
)
def test_front_matter_that_gives_no_fields_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, front: str
) -> None:
    _write(tmp_path, "odd.md", front)
    with caplog.at_level(logging.WARNING, logger="indexer"):
        loaded, failures = load_paths([tmp_path])
    assert [item.article.id for item in loaded] == ["odd"] and failures == []
    assert any("odd.md: the front matter" in r.getMessage() for r in caplog.records)


def _write(folder: Path, name: str, content: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def test_every_file_format_carries_its_date(tmp_path: Path) -> None:
    _write(tmp_path, "front.md", "---\ntitle: T\ndate: 2022-10-20 09:30:00+01:00\n---\nBody.")
    _write(tmp_path, "lines.jsonl", json.dumps({"id": "j", "text": "Body.", "date": "2022-10-20T09:30:00Z"}) + "\n")
    page = "<html><head>{}</head><body><p>Body of the page.</p>{}</body></html>"
    _write(tmp_path, "og.html", page.format('<meta property="article:published_time" content="2022-10-20T09:30Z">', ""))
    _write(tmp_path, "meta.html", page.format('<meta name="date" content="2022-10-20">', ""))
    _write(tmp_path, "published.html", page.format('<meta name="published" content="2022-10-20T11:30+02:00">', ""))
    json_ld = {"@context": "https://schema.org", "@graph": [{"@type": "NewsArticle", "datePublished": "2022-10-20"}]}
    _write(tmp_path, "ld.html", page.format(f'<script type="application/ld+json">{json.dumps(json_ld)}</script>', ""))
    _write(tmp_path, "time.html", page.format("", '<time datetime="2022-10-20T09:30:00+00:00">Thursday</time>'))
    _write(tmp_path, "none.html", page.format("", ""))
    _write(tmp_path, "dateline.txt", "LONDON, Oct. 20, 2022 (Reuters) - Liz Truss resigned.")
    loaded, failures = load_paths([tmp_path])
    assert failures == []
    dates = {i.article.id: (i.article.published, i.article.published_inferred) for i in loaded}
    assert dates == {
        "front": ("2022-10-20T09:30:00+01:00", False),
        "j": ("2022-10-20T09:30:00+00:00", False),
        "og": ("2022-10-20T09:30:00+00:00", False),
        "meta": ("2022-10-20T00:00:00+00:00", False),
        "published": ("2022-10-20T11:30:00+02:00", False),
        "ld": ("2022-10-20T00:00:00+00:00", False),
        "time": ("2022-10-20T09:30:00+00:00", False),
        "none": (None, False),
        "dateline": ("2022-10-20T00:00:00+00:00", True),
    }


def test_a_catalog_from_before_inferred_dates_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL, published TEXT, published_ts INTEGER, "
        "source TEXT, url TEXT, chunks INTEGER NOT NULL, content_hash TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '',"
        " version TEXT NOT NULL DEFAULT '')"
    )
    old.execute("INSERT INTO articles VALUES ('old', 'Old', '2022-10-20', 1666224000, NULL, NULL, 2, 'h', '', 'v')")
    old.commit()
    old.close()
    catalog = Catalog(path)
    assert not catalog.infos(["old"])["old"].published_inferred
    with catalog.transaction() as writer:
        info = ArticleInfo(id="new", title="New", published="2022-10-21T00:00:00+00:00", chunks=1, content_hash="h")
        writer.put(info.model_copy(update={"published_inferred": True}), 1666310400)
    assert catalog.infos(["new"])["new"].published_inferred
    assert [a.id for a in catalog.page(10, order="newest").articles] == ["new", "old"]
    catalog.close()


def test_indexing_warns_about_a_bad_date_and_lists_iso_dates_newest_first(tmp_path: Path, run_qa: RunQA) -> None:
    folder = tmp_path / "news"
    _write(folder, "older.md", "---\ntitle: Older\npublished: 2022-10-19\n---\nThe older article about trains.")
    _write(folder, "newer.md", "---\ntitle: Newer\npublished: 2022-10-20T09:30:00Z\n---\nThe newer article on buses.")
    _write(folder, "dated.txt", "LONDON, Oct. 18, 2022 (Reuters) - A dateline article about ferries.")
    _write(folder, "odd.md", "---\ntitle: Odd\npublished: sometime soon\n---\nAn article whose date is not a date.")
    done = run_qa("index", str(folder))
    assert done.returncode == 0, done.stderr
    assert "4 added" in done.stdout and "0 failed" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "article 'odd'" in warnings[0] and "sometime soon" in warnings[0], done.stderr
    assert "Traceback" not in done.stderr
    listed = run_qa("list")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if any(i in line for i in ("older", "newer", "dated", "odd"))]
    assert [row.split()[1] for row in rows] == ["newer", "older", "dated", "odd"]  # newest first, undated last
    assert "2022-10-20T09:30:00+00:00" in rows[0] and "2022-10-19 " in rows[1] and "~2022-10-18 " in rows[2]
    page = json.loads(run_qa("list", "--json").stdout)
    by_id = {a["id"]: a for a in page["articles"]}
    assert by_id["dated"]["published_inferred"] is True and by_id["newer"]["published_inferred"] is False
    assert by_id["odd"]["published"] is None
