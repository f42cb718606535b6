"""The chat page over dated news, in a real Chromium against a real `qa serve`: the filter bar (dates, outlet, as
of, only the selected articles), dates and outlets on the sources, and the timeline of a story.

Needs Debian's Chromium at /usr/bin/chromium (playwright's own browsers are not downloaded). The articles are the
dated evaluation set (eval/dated/articles: fictional 2025 news from five outlets).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer
from tests.web import ask

TIMEOUT_MS = 15_000
CEO = "Who is the chief executive of Norvale Energy?"
# the page's one date format: "8 Sep 2025", as the server writes "as of 8 Sep 2025"
DAY = r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}"
OUTLETS = ["Coastline Herald", "Harbor Wire", "Meridian Business Daily", "Pennant Sports", "The Lisburg Ledger"]


@pytest.fixture(scope="module")
def server(dated_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`qa serve` over a private copy of the dated articles' data directory."""
    data = tmp_path_factory.mktemp("web-dated") / "data"
    shutil.copytree(dated_dir, data)
    live = LiveServer(data)
    yield live
    live.stop()


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A fresh context on the chat page, once its article list and outlet choice are loaded; fails on any script
    error and on anything the Content-Security-Policy blocked."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(server.url + "/")
    expect(page.locator("#articles li").first).to_be_visible()
    expect(page.locator("#filter-source option")).to_have_count(1 + len(OUTLETS))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def ask_api(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/ask directly (what the page is compared with)."""
    request = urllib.request.Request(
        server.url + "/api/ask", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_an_outlet_keeps_every_source_to_it_and_survives_a_new_conversation(page: Page) -> None:
    page.select_option("#filter-source", "Harbor Wire")
    summary = page.locator("#filter-summary")
    expect(summary).to_contain_text("Harbor Wire")

    bubble = ask(page, CEO)
    outlets = bubble.locator(".source-card .citation-source")
    expect(outlets.first).to_be_visible()
    expect(outlets).to_have_count(bubble.locator(".source-card").count())
    assert set(outlets.all_text_contents()) == {"Harbor Wire"}

    page.click("#new-conversation")
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("#filter-source")).to_have_value("Harbor Wire")
    expect(summary).to_be_visible()
    page.click("#clear-filters")
    expect(page.locator("#filter-source")).to_have_value("")
    expect(summary).to_be_hidden()


def test_an_as_of_date_changes_the_answer(page: Page) -> None:
    page.fill("#filter-as-of", "2025-02-01")
    before = ask(page, CEO)
    expect(before.locator(".message-text")).not_to_contain_text("Okonjo")
    expect(before.locator(".answer-when")).to_contain_text("Reported as of")

    page.fill("#filter-as-of", "2025-09-01")
    after = ask(page, CEO)
    expect(after.locator(".message-text")).to_contain_text("Okonjo")
    # the older report of his appointment is shown beside the newest one, and marked as such
    earlier = after.locator(".source-card.earlier")
    expect(earlier.first.locator(".earlier-label")).to_have_text("Earlier reporting")


def test_a_relative_date_says_how_it_was_read(page: Page) -> None:
    page.fill("#filter-as-of", "2025-06-10")
    bubble = ask(page, "What happened to the Bank of Valdra rate last month?")
    read_as = bubble.locator(".answer-when .read-as")
    expect(read_as).to_contain_text("“last month” read as")
    # until is exclusive (1 June, 00:00): the window is shown up to the day before
    expect(read_as.locator("time")).to_have_count(2)
    assert [t.get_attribute("datetime") for t in read_as.locator("time").all()] == ["2025-05-01", "2025-05-31"]


def test_source_cards_show_the_outlet_and_the_date(page: Page, server: LiveServer) -> None:
    question = "How many people have been killed by Cyclone Orla?"
    expected = ask_api(server, {"question": question})["citations"]
    assert expected and all(c["published"] and c["source"] for c in expected)

    bubble = ask(page, question)
    # a card per article, its title once, whatever the number of its quotes
    cards = bubble.locator(".source-card")
    expect(cards).to_have_count(len({c["article_id"] for c in expected}))
    for citation in expected:
        card = cards.filter(has=page.locator(f'.card-quotes li[data-n="{citation["n"]}"]'))
        expect(card).to_have_count(1)
        expect(card.locator(".citation-title")).to_have_text(citation["title"])
        expect(card.locator(".citation-source")).to_have_text(citation["source"])
        expect(card.locator("time.citation-date")).to_have_attribute("datetime", citation["published"][:10])
        expect(card.locator("time.citation-date")).not_to_have_text("")


def test_a_question_about_how_a_story_developed_shows_its_timeline(page: Page) -> None:
    bubble = ask(page, "How did the Cyclone Orla death toll develop?")
    timeline = bubble.locator(".timeline")
    expect(timeline).to_have_attribute("aria-busy", "false")
    days = timeline.locator(".timeline-day time")
    expect(days.first).to_be_visible()
    stamps = [d.get_attribute("datetime") or "" for d in days.all()]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    assert {"2025-09-06", "2025-09-12"} <= set(stamps), stamps

    # an entry opens its article at the passage, from the keyboard too
    day = timeline.locator(".timeline-days > li", has=page.locator("time[datetime='2025-09-06']"))
    entry = day.locator(".timeline-open").first
    expect(entry).to_contain_text("27")
    expect(day.locator(".copies-label")).to_have_text("Also carried by The Lisburg Ledger")  # the syndicated copy
    quote = (entry.locator(".timeline-quote").text_content() or "").strip("“”")
    entry.focus()
    page.keyboard.press("Enter")
    mark = page.locator("#article-panel mark")
    expect(mark).to_have_text(quote)
    expect(page.locator("#panel-passage")).to_contain_text("Timeline")


def test_a_timeline_that_fails_is_a_note_in_the_answer(page: Page) -> None:
    page.route("**/api/timeline", lambda route: route.abort())
    bubble = ask(page, "How did the Cyclone Orla death toll develop?")
    expect(bubble.locator(".timeline-note")).to_contain_text("could not be loaded")
    expect(page.locator("#alerts .alert")).to_have_count(0)
    expect(bubble.locator(".citations li").first).to_be_visible()  # the answer itself stands


def test_no_timeline_is_drawn_under_no_answer(page: Page) -> None:
    # the filter leaves Cyclone Orla out: the answer abstains, and a timeline would be made of whatever came closest
    page.fill("#filter-since", "2025-05-01")
    page.fill("#filter-until", "2025-06-30")
    bubble = ask(page, "How did the death toll of Cyclone Orla change?")
    expect(bubble).to_contain_text("not answer")
    expect(bubble.locator(".citations li").first).to_be_visible()  # the closest passages are still shown
    expect(bubble.locator(".nothing-admitted")).to_have_count(0)  # the filters let articles through
    page.wait_for_load_state("networkidle")  # a timeline would be requested right after the answer
    expect(bubble.locator(".timeline")).to_have_count(0)


def test_filters_that_leave_no_article_say_so_and_what_to_do(page: Page) -> None:
    page.fill("#filter-since", "2021-03-01")
    page.fill("#filter-until", "2021-03-03")
    bubble = ask(page, "Who is the mayor of Lisburg?")
    dates = (
        "No article was published in the dates you chose (1 Mar 2021 – 3 Mar 2021). Widen the dates or clear the "
        "filter."
    )
    expect(bubble.locator(".abstain-label")).to_have_text("No answer in the articles")
    expect(bubble.locator(".message-text")).to_have_text(dates)  # not "the closest passages are cited below"

    page.select_option("#filter-source", "Harbor Wire")
    bubble = ask(page, "Who is the mayor of Lisburg?")
    expect(bubble.locator(".message-text")).to_have_text(
        "No article matches all your filters (Harbor Wire · published 1 Mar 2021 – 3 Mar 2021). Widen them or clear "
        "the filters."
    )

    # opened again, the conversation says the same, from the filters each question was asked with
    page.click("#clear-filters")
    page.reload()
    expect(page.locator(".message.assistant .message-text").first).to_have_text(dates)


def test_asking_only_the_selected_articles_cites_only_them(page: Page) -> None:
    # the unfiltered answer cites neither (it quotes the toll of 41 and later reports)
    titles = ["Orla death toll rises to 12", "Orla death toll climbs to 27 as rescuers reach cut-off villages"]
    for title in titles:
        page.get_by_label(f"Select “{title}”").check()
    expect(page.locator("#selection-count")).to_have_text("2 articles selected")
    expect(page.locator("#filter-summary")).to_contain_text("2 selected articles")

    bubble = ask(page, "How many people have been killed by Cyclone Orla?")
    cited = bubble.locator(".citations li .citation-title")
    expect(cited.first).to_be_visible()
    assert set(cited.all_text_contents()) <= set(titles), cited.all_text_contents()

    page.click("#clear-selection")
    expect(page.locator("#selection")).to_be_hidden()
    expect(page.locator("#articles input.pick:checked")).to_have_count(0)


def test_a_from_date_after_the_to_date_shows_the_server_message_and_the_form_recovers(page: Page) -> None:
    page.fill("#filter-since", "2025-06-01")
    page.fill("#filter-until", "2025-03-01")
    page.fill("#question", "Who is the mayor of Lisburg?")
    page.click("#ask")
    alert = page.locator("#alerts")
    expect(alert).to_contain_text("The date window is empty")
    expect(page.locator("#ask")).to_be_enabled()
    expect(page.locator("#question")).to_have_value("Who is the mayor of Lisburg?")  # given back to edit
    expect(page.locator(".message")).to_have_count(0)

    page.click("#clear-filters")
    bubble = ask(page, "Who is the mayor of Lisburg?")
    expect(bubble.locator(".citations li").first).to_be_visible()
    expect(alert.locator(".alert")).to_have_count(0)


def test_a_conversation_opened_again_shows_its_timeline_under_the_same_filters(page: Page) -> None:
    """A reload restores the stored turns with what the reader saw: the support label, the dates, the timeline, and
    the timeline still follows the filters the question was asked with (here: nothing after 8 September)."""
    page.fill("#filter-until", "2025-09-08")
    asked = ask(page, "How did the Cyclone Orla death toll develop?")
    expect(asked.locator(".timeline")).to_have_attribute("aria-busy", "false")
    label = asked.locator(".support-label").text_content()
    days_before = [d.get_attribute("datetime") for d in asked.locator(".timeline-day time").all()]
    assert days_before and max(d or "" for d in days_before) <= "2025-09-08", days_before
    page.fill("#filter-until", "")  # the restored timeline must not take the fields' filters of now
    page.reload()
    restored = page.locator(".message.assistant").last
    expect(restored.locator(".timeline")).to_have_attribute("aria-busy", "false")
    expect(restored.locator(".support-label")).to_have_text(label or "")
    days_after = [d.get_attribute("datetime") for d in restored.locator(".timeline-day time").all()]
    assert days_after == days_before


def test_every_date_has_one_format_whatever_the_readers_locale(browser: Browser, server: LiveServer) -> None:
    """A reader in the US (whose browser writes "Sep 8, 2025") sees "8 Sep 2025" everywhere, as the server's own
    words have it: the list, a source card, the preview, the timeline, the filters, the article, the server's
    messages; the conversation list has the time too."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="America/New_York"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(server.url + "/")
    day = re.compile(f"^{DAY}$")
    expect(page.locator("#articles .article-meta").first).to_have_text(re.compile(f"^{DAY} · "))

    page.fill("#filter-until", "2025-09-30")
    expect(page.locator("#filter-summary-text")).to_have_text("Questions use: published up to 30 Sep 2025")
    bubble = ask(page, "How did the Cyclone Orla death toll develop?")
    expect(bubble.locator(".answer-when")).to_have_text(re.compile(f"^Reported as of {DAY}$"))
    expect(bubble.locator("time.citation-date").first).to_have_text(day)
    expect(bubble.locator(".timeline")).to_have_attribute("aria-busy", "false")
    expect(bubble.locator(".timeline-day time").first).to_have_text(day)
    bubble.locator(".message-text button.cite").first.hover()
    expect(page.locator("#cite-preview time")).to_have_text(day)
    expect(page.locator(".conversation-meta").first).to_have_text(
        re.compile(f"^{DAY}, \\d{{2}}:\\d{{2}} · 1 question$")
    )
    bubble.locator("button.citation-open").first.click()
    expect(page.locator("#panel-meta")).to_have_text(re.compile(f"^{DAY} · "))

    # a server message's dates too (the window's end is the day after the one typed: it is left out)
    page.click("#panel-close")
    page.fill("#library-since", "2025-06-01")
    page.fill("#library-until", "2025-03-01")
    page.locator("#library-until").dispatch_event("change")
    expect(page.locator("#library-error")).to_have_text(
        "The date window is empty: it starts at 1 Jun 2025 but its last day is 1 Mar 2025."
    )
    context.close()
