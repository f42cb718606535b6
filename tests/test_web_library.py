"""The article library and the conversation list in a real Chromium against a real `qa serve` over the dated
articles (46 fictional 2025 articles from five outlets), at desktop width and at a phone's 390 px: search and
filters, ticking articles to ask only them, the add dialog with its duplicate check, remove with Undo, and the
conversations kept, opened, renamed, exported and deleted. Screenshots go to test-artifacts/.

Needs Debian's Chromium at /usr/bin/chromium (playwright's own browsers are not downloaded).
"""

from __future__ import annotations

import json
import re
import shutil
import string
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from tests.conftest import LiveServer
from tests.web import ARTIFACTS, ask, screenshot

TIMEOUT_MS = 20_000
VALDRA = "Bank of Valdra cuts main rate to 4.50% as inflation eases"
MAYOR = "Who is the mayor of Lisburg?"
CEO = "Who is the chief executive of Norvale Energy?"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(dated_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("web-library") / "data"
    shutil.copytree(dated_dir, data)
    live = LiveServer(data)
    yield live
    live.stop()


def call(server: LiveServer, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    # a path with a title in any script is percent-encoded; the rest is sent as given
    request = urllib.request.Request(
        server.url + urllib.parse.quote(path, safe=string.printable),
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def open_page(browser: Browser, server: LiveServer, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(server.url + "/")
    expect(page.locator("#articles li").first).to_be_visible()
    expect(page.locator("#library-source option")).to_have_count(6)  # any outlet, and the five
    return page, errors


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A fresh context at desktop width; fails on any script error and anything the CSP blocked."""
    page, errors = open_page(browser, server, DESKTOP)
    yield page
    page.context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def phone(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """The same at a phone's width (390 px)."""
    page, errors = open_page(browser, server, PHONE)
    yield page
    page.context.close()
    assert not errors, f"script errors on the page: {errors}"


def rows(page: Page) -> Locator:
    return page.locator("#articles li.article-item")


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    assert page.evaluate("document.body.scrollWidth") <= width, "the page scrolls sideways"


# -- the library ------------------------------------------------------------------------------------------------


def test_search_and_filters_narrow_the_list_as_the_server_does(page: Page, server: LiveServer) -> None:
    expect(page.locator("#article-count")).to_have_text("46")
    page.fill("#library-q", "valdra")
    expected = call(server, "GET", "/api/articles?q=valdra&order=newest&limit=50")
    assert expected["total"] > 0
    expect(page.locator("#article-count")).to_have_text(str(expected["total"]))
    expect(rows(page).locator(".open-article")).to_have_text([a["title"] for a in expected["articles"]])

    page.select_option("#library-source", "Harbor Wire")
    wire = call(server, "GET", "/api/articles?q=valdra&order=newest&limit=50&source=Harbor%20Wire")
    assert 0 < wire["total"] < expected["total"]
    expect(rows(page).locator(".open-article")).to_have_text([a["title"] for a in wire["articles"]])
    for meta in rows(page).locator(".article-meta").all_text_contents():
        assert "Harbor Wire" in meta
    screenshot(page, "library.png")

    # a window that ends before it starts: the server's words, beside the fields; nothing else breaks
    page.fill("#library-since", "2025-06-01")
    page.fill("#library-until", "2025-03-01")
    page.locator("#library-until").dispatch_event("change")
    # in a reader's words: the API's hint about its fields is left out
    expect(page.locator("#library-error")).to_have_text(
        "The date window is empty: it starts at 1 Jun 2025 but its last day is 1 Mar 2025."
    )
    page.fill("#library-until", "")
    page.locator("#library-until").dispatch_event("change")
    expect(page.locator("#library-error")).to_be_hidden()

    page.fill("#library-q", "zqxwv flibbertigibbet")
    expect(page.locator("#articles-empty")).to_have_text("No article matches the search.")
    expect(rows(page)).to_have_count(0)


def test_example_questions_ask_about_the_newest_stories_and_are_answered(page: Page, server: LiveServer) -> None:
    examples = page.locator("#suggestions .suggestion")
    expect(examples).to_have_count(3)
    newest = call(server, "GET", "/api/articles?order=newest&limit=10")["articles"]
    titles = [a["title"] for a in newest]
    asked = [re.fullmatch("What does “(.+)” report\\?", text) for text in examples.all_text_contents()]
    about = [match.group(1) for match in asked if match]
    assert len(about) == 3 and about == [t for t in titles if t in about], (about, titles)  # newest first
    # a title with a date or a year in it is not asked about: the question would be read as asking about that time
    assert not any(re.search(r"\d", title) for title in about), about
    assert any(re.search(r"\d", title) for title in titles[: titles.index(about[-1])]), "none was left out"

    examples.first.click()
    bubble = page.locator(".message.assistant")
    expect(bubble).not_to_contain_class("typing", timeout=TIMEOUT_MS)
    expect(bubble).not_to_contain_class("abstained")
    article = next(a for a in newest if a["title"] == about[0])
    expect(bubble.locator(f'.source-card[data-article="{article["id"]}"]')).to_have_count(1)


def test_a_ticked_article_stays_ticked_across_searches_and_questions_ask_only_it(page: Page) -> None:
    title = "Three candidates register for Lisburg mayoral race"
    page.fill("#library-q", "mayoral race")
    page.get_by_label(f"Select “{title}”").check()
    expect(page.locator("#selection-count")).to_have_text("1 article selected")
    page.fill("#library-q", "")
    expect(page.locator("#article-count")).to_have_text("46")
    expect(page.get_by_label(f"Select “{title}”")).to_be_checked()
    expect(page.locator("#filter-summary")).to_contain_text("only 1 selected article")

    bubble = ask(page, MAYOR)
    cited = bubble.locator(".citations li .citation-title")
    expect(cited.first).to_be_visible()
    assert set(cited.all_text_contents()) == {title}


def test_add_dialog_by_keyboard_a_duplicate_title_kept_both_then_removed_and_undone(
    page: Page, server: LiveServer
) -> None:
    # keyboard only: the button opens the dialog at its first field; Escape closes it and focus goes back
    page.focus("#add-open")
    page.keyboard.press("Enter")
    expect(page.locator("#add-dialog")).to_be_visible()
    expect(page.locator("#add-title")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#add-dialog")).to_be_hidden()
    expect(page.locator("#add-open")).to_be_focused()

    page.keyboard.press("Enter")
    page.keyboard.type(VALDRA.upper())  # a duplicate in any case
    page.fill("#add-source", "Test wire")
    page.fill("#add-text", "A second account of the rate cut: the board voted six to one.")
    page.click("#add-submit")
    duplicate = page.locator("#add-duplicate")
    expect(duplicate).to_be_visible()
    expect(duplicate).to_contain_text(f"“{VALDRA}”")
    expect(page.locator("#add-replace")).to_be_focused()
    screenshot(page, "library-duplicate.png")
    page.click("#add-keep-both")
    expect(page.locator("#add-dialog")).to_be_hidden()
    expect(page.locator("#library-toast")).to_contain_text("Added")
    both = call(server, "GET", "/api/articles?" + urllib.parse.urlencode({"title": VALDRA}))
    assert both["total"] == 2, both
    copy = next(a for a in both["articles"] if a["source"] == "Test wire")
    expect(page.locator("#article-count")).to_have_text("47")

    # remove the copy: the confirmation is where the list is, with Undo under the keyboard focus
    page.fill("#library-q", VALDRA)
    matching = call(server, "GET", "/api/articles?" + urllib.parse.urlencode({"q": VALDRA}))["total"]
    expect(page.locator("#article-count")).to_have_text(str(matching))  # the search has come back
    item = page.locator(f'#articles li[data-id="{copy["id"]}"]')
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    item.get_by_role("button", name="Remove").click()
    expect(item).to_have_count(0)
    page.remove_listener("dialog", refuse)
    assert dialogs == [], "no dialog first: Undo, where the row was, is the way back"
    toast = page.locator(f'#articles li.toast-row[data-removed="{copy["id"]}"]')  # where the row was
    expect(toast).to_contain_text("Removed")
    undo = toast.get_by_role("button", name="Undo")
    expect(undo).to_be_focused()
    expect(undo).to_have_accessible_description(f"Removed “{VALDRA.upper()}”.")
    assert call(server, "GET", "/api/articles?" + urllib.parse.urlencode({"title": VALDRA}))["total"] == 1
    page.keyboard.press("Enter")
    expect(page.locator("#library-toast")).to_contain_text("Restored")
    expect(item).to_have_count(1)  # back in its place, under the focus
    expect(item.locator(".open-article")).to_be_focused()
    expect(toast).to_have_count(0)
    restored = call(server, "GET", f"/api/articles/{urllib.parse.quote(copy['id'], safe='')}")
    assert restored["source"] == "Test wire"
    assert restored["text"] == "A second account of the rate cut: the board voted six to one."
    call(server, "DELETE", f"/api/articles/{urllib.parse.quote(copy['id'], safe='')}")


def test_a_duplicate_title_can_replace_the_article(page: Page, server: LiveServer) -> None:
    title = "Harbour bulletin for replacing"
    call(server, "POST", "/api/articles", {"title": title, "text": "The harbour was calm on Monday."})
    try:
        page.click("#add-open")
        page.fill("#add-title", title)
        page.fill("#add-text", "The harbour was closed on Tuesday by a storm.")
        page.click("#add-submit")
        page.click("#add-replace")
        expect(page.locator("#library-toast")).to_contain_text(f"Replaced “{title}”")
        same = call(server, "GET", "/api/articles?" + urllib.parse.urlencode({"title": title}))
        assert same["total"] == 1
        text = call(server, "GET", f"/api/articles/{urllib.parse.quote(same['articles'][0]['id'], safe='')}")["text"]
        assert text == "The harbour was closed on Tuesday by a storm."
    finally:
        for article in call(server, "GET", "/api/articles?" + urllib.parse.urlencode({"title": title}))["articles"]:
            call(server, "DELETE", f"/api/articles/{urllib.parse.quote(article['id'], safe='')}")


def test_a_title_several_articles_share_names_each_and_replaces_the_one_chosen(page: Page, server: LiveServer) -> None:
    title = "Ferry timetable for the winter"
    copies = [
        {"id": "ferry-winter", "source": "Harbor Wire", "published": "2025-10-01"},
        {"id": "ferry-winter-2", "source": "Coastline Herald", "published": "2025-10-02"},
    ]
    for copy in copies:
        call(server, "POST", "/api/articles", {**copy, "title": title, "text": f"Ferries run hourly ({copy['id']})."})
    try:
        page.click("#add-open")
        page.fill("#add-title", title)
        page.fill("#add-text", "Ferries run every two hours this winter.")
        page.click("#add-submit")
        expect(page.locator("#add-duplicate-text")).to_have_text(
            f"2 articles titled “{title}” are already indexed. Replace one of them with this one, or keep them all?"
        )
        choices = page.locator("#add-duplicate-list label")
        expect(choices).to_have_text(
            [f"“{title}” — Harbor Wire, 1 Oct 2025", f"“{title}” — Coastline Herald, 2 Oct 2025"]
        )
        page.get_by_label(f"“{title}” — Coastline Herald, 2 Oct 2025").check()
        expect(page.locator("#add-duplicate")).to_be_visible()  # choosing is not an edit of the draft
        page.get_by_role("button", name="Replace the one chosen").click()
        expect(page.locator("#library-toast")).to_contain_text(f"Replaced “{title}”")
        texts = {c["id"]: call(server, "GET", f"/api/articles/{c['id']}")["text"] for c in copies}
        assert texts == {
            "ferry-winter": "Ferries run hourly (ferry-winter).",
            "ferry-winter-2": "Ferries run every two hours this winter.",
        }
    finally:
        for copy in copies:
            call(server, "DELETE", f"/api/articles/{copy['id']}")


def test_an_article_the_server_refuses_is_said_in_a_readers_words(page: Page, server: LiveServer) -> None:
    page.click("#add-open")
    status = page.locator("#add-status")
    # a title of signs alone: no id can be made of it (422)
    page.fill("#add-title", "?!")
    page.fill("#add-text", "Короткая заметка о погоде.")
    page.click("#add-submit")
    expect(status).to_have_text("Give the title at least one letter or digit.")
    expect(page.locator("#add-title")).to_be_focused()

    # text of zero-width spaces alone: nothing a question could find (422)
    page.fill("#add-title", "Blank")
    page.locator("#add-text").evaluate("field => { field.value = '\\u200b\\u200b'; }")
    page.click("#add-submit")
    expect(status).to_have_text("The text has no words: paste the article's text.")
    expect(page.locator("#add-text")).to_be_focused()

    # over the server's 500 characters (a browser that does not hold to the field's maxlength): the duplicate check
    # is refused first
    page.locator("#add-title").evaluate("(field, title) => { field.value = title; }", "Storm " * 100)
    page.click("#add-submit")
    expect(status).to_have_text("The title is too long: shorten it to 500 characters or fewer.")
    assert call(server, "GET", "/api/articles?limit=1")["total"] == 46


def test_a_title_in_another_script_is_added_and_a_near_title_offers_replace_or_keep_both(
    page: Page, server: LiveServer
) -> None:
    page.click("#add-open")
    page.fill("#add-title", "Новости дня")
    page.fill("#add-text", "Короткая заметка о погоде.")
    page.click("#add-submit")
    expect(page.locator("#library-toast")).to_contain_text("Added “Новости дня”")
    assert call(server, "GET", "/api/articles/новости-дня")["text"] == "Короткая заметка о погоде."

    # a title that differs from another's only in its signs gives the same id (409): the same choice as for the
    # same title, naming the article already there
    call(server, "POST", "/api/articles", {"title": "Harbour notice", "text": "The harbour opens at six."})
    try:
        page.click("#add-open")
        page.fill("#add-title", "Harbour notice!")
        page.fill("#add-text", "The harbour opens at seven.")
        page.click("#add-submit")
        expect(page.locator("#add-duplicate-text")).to_have_text(
            "An article titled “Harbour notice” is already indexed. Replace it with this one, or keep both?"
        )
        expect(page.get_by_role("button", name="Replace it")).to_be_focused()
        page.get_by_role("button", name="Keep both").click()
        expect(page.locator("#library-toast")).to_contain_text("Added “Harbour notice!”")
        kept = call(server, "GET", "/api/articles/harbour-notice-2")
        assert kept["title"] == "Harbour notice!" and kept["text"] == "The harbour opens at seven."
        assert call(server, "GET", "/api/articles/harbour-notice")["text"] == "The harbour opens at six."
    finally:
        for article_id in ("harbour-notice", "harbour-notice-2", "новости-дня"):
            call(server, "DELETE", f"/api/articles/{article_id}")
    assert call(server, "GET", "/api/articles?limit=1")["total"] == 46


def test_other_outlets_of_a_story_are_shown_when_the_server_names_them(page: Page) -> None:
    # the stories helper's field: the page shows it when the server sends it (routed here, so no server change)
    def with_outlets(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for article in body["articles"]:
            article["story_outlets"] = ["Coastline Herald", "Harbor Wire"]
        route.fulfill(response=response, json=body)

    page.route("**/api/articles?*", with_outlets)
    page.fill("#library-q", "valdra")
    expect(rows(page).first.locator(".also-in")).to_have_text("Also in Coastline Herald, Harbor Wire")


# -- conversations ---------------------------------------------------------------------------------------------


def conversation(page: Page, session_id: str) -> Locator:
    return page.locator(f'#conversations li[data-id="{session_id}"]')


def current_session(page: Page) -> str:
    session_id = page.evaluate("sessionStorage.getItem('newsqa.session_id')")
    assert session_id
    return str(session_id)


def test_conversations_are_kept_opened_renamed_exported_and_deleted(page: Page, server: LiveServer) -> None:
    ask(page, MAYOR)
    first_id = current_session(page)
    first = conversation(page, first_id)
    expect(first.locator(".open-conversation")).to_have_text(MAYOR)  # titled by its first question
    expect(first.locator(".open-conversation")).to_have_attribute("aria-current", "true")

    # a new conversation keeps the old one in the list
    page.click("#new-conversation")
    expect(page.locator(".message")).to_have_count(0)
    expect(first).to_have_count(1)
    expect(first.locator(".open-conversation")).not_to_have_attribute("aria-current", "true")
    ask(page, CEO)
    second = conversation(page, current_session(page))
    expect(second.locator(".open-conversation")).to_have_text(CEO)
    ids = page.locator("#conversations li").evaluate_all("items => items.map(i => i.dataset.id)")
    assert ids.index(current_session(page)) < ids.index(first_id), "newest first"

    # open the first again: its question and answer come back, and the next question continues it
    first.locator(".open-conversation").click()
    expect(page.locator(".message.user")).to_have_count(1)
    expect(page.locator(".message.user").first).to_contain_text(MAYOR)
    assert page.evaluate("sessionStorage.getItem('newsqa.session_id')") == first_id
    expect(first.locator(".open-conversation")).to_have_attribute("aria-current", "true")

    # rename by keyboard
    first.get_by_role("button", name=f"Rename “{MAYOR}”").click()
    field = page.get_by_label("Name of the conversation")
    expect(field).to_be_focused()
    field.fill("")
    page.keyboard.press("Enter")
    expect(page.locator(".rename-error")).to_contain_text("name")  # the server refused an empty name
    field.fill("Lisburg mayor")
    page.keyboard.press("Enter")
    renamed = conversation(page, first_id)
    expect(renamed.locator(".open-conversation")).to_have_text("Lisburg mayor")
    expect(renamed.locator(".open-conversation")).to_be_focused()
    screenshot(page, "conversations.png")

    # export: a Markdown file with the quotes as footnotes
    with page.expect_download() as download_info:
        renamed.get_by_role("button", name="Export “Lisburg mayor”").click()
    download = download_info.value
    assert download.suggested_filename == "lisburg-mayor.md"
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# Lisburg mayor\n")
    assert f"**Question:** {MAYOR}" in markdown
    assert "[^1]: " in markdown

    # delete the open one (after confirming): the page starts a new conversation
    page.once("dialog", lambda dialog: dialog.accept())
    renamed.get_by_role("button", name="Delete “Lisburg mayor”").click()
    expect(renamed).to_have_count(0)
    expect(page.locator(".message")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('newsqa.session_id')") is None
    assert first_id not in {c["session_id"] for c in call(server, "GET", "/api/chat")}


# -- at a phone's width ------------------------------------------------------------------------------------------


def test_the_library_and_the_conversations_fit_a_phone(phone: Page) -> None:
    no_sideways_scroll(phone)
    ask(phone, MAYOR)
    no_sideways_scroll(phone)
    library = phone.locator("[data-testid=library]")
    library.scroll_into_view_if_needed()
    phone.fill("#library-q", "valdra")
    expect(rows(phone).first).to_be_visible()
    no_sideways_scroll(phone)
    for box in [library.bounding_box(), phone.locator("[data-testid=conversation-list]").bounding_box()]:
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    for field in ["#library-q", "#library-source", "#library-since", "#library-until"]:
        box = phone.locator(field).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], (field, box)
    screenshot(phone, "library-phone.png", full=True)

    phone.click("#add-open")
    dialog = phone.locator("#add-dialog")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    for field in ["#add-title", "#add-date", "#add-source", "#add-url", "#add-text"]:
        field_box = phone.locator(field).bounding_box()
        assert field_box is not None and field_box["x"] + field_box["width"] <= PHONE["width"], (field, field_box)
    screenshot(phone, "add-dialog-phone.png")
    phone.keyboard.press("Escape")
    conversations = phone.locator("[data-testid=conversation-list]")
    conversations.scroll_into_view_if_needed()
    expect(conversation(phone, current_session(phone))).to_be_visible()
    conversations.screenshot(path=str(ARTIFACTS / "conversations-phone.png"))


def test_a_big_article_added_in_the_background_is_followed_to_the_end(browser: Browser, seeded_copy: Path) -> None:
    # a server that adds anything over 50 characters as a background job (202): the page follows the job
    live = LiveServer(seeded_copy, QA_BACKGROUND_ADD_CHARS="50")
    try:
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        context.set_default_timeout(60_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live.url + "/")
        expect(page.locator("#articles li.article-item")).to_have_count(1)
        page.click("#add-open")
        page.fill("#add-title", "Ferry strike ends")
        page.fill("#add-text", "The ferry workers ended their strike on Monday after a pay deal. " * 20)
        page.click("#add-submit")
        # the server's first write loads the indexing model: seconds on a busy machine, past expect's default 5 s
        expect(page.locator("#library-toast")).to_contain_text("Added “Ferry strike ends”", timeout=60_000)
        added = page.locator("#articles li.article-item", has_text="Ferry strike ends")
        expect(added).to_have_count(1)
        # a reader's words: passages, not the index's "chunks"
        expect(page.locator("#library-toast")).to_contain_text(re.compile(r"\(\d+ passages? indexed\)"))
        expect(added.locator(".article-meta")).to_contain_text(re.compile(r"\d+ passages?$"))
        expect(page.get_by_test_id("library")).not_to_contain_text("chunk")
        context.close()
        assert not errors, errors
    finally:
        live.stop()
