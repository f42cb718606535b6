"""The chat page in a real Chromium against a real `qa serve` on loopback: streaming, citations, articles, errors.

Needs Debian's Chromium at /usr/bin/chromium (playwright's own browsers are not downloaded). Screenshots go to
test-artifacts/ at the repo root.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer
from tests.web import ask, screenshot

TIMEOUT_MS = 15_000

GRAIN_TITLE = "Grain deal talks in Istanbul"
GRAIN_TEXT = (
    "Delegations from Russia, Ukraine, Turkey and the United Nations met in Istanbul to discuss grain shipments "
    "from the Black Sea. The delegations agreed to reopen the port of Odesa for grain exports on 22 July 2022. "
    "Officials said the first ships could leave within weeks."
)


# records whether an answer bubble was ever shown in its "typing" state with the dots visible
TYPING_PROBE = """
window.__sawTyping = false;
new MutationObserver(() => {
  if (document.querySelector('.message.assistant.typing .typing-dots')) window.__sawTyping = true;
}).observe(document, { subtree: true, childList: true, attributes: true });
"""


@dataclass(frozen=True)
class Server:
    url: str
    log: Path

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """A JSON request to the server (for expectations the page is compared with)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`qa serve` over a private copy of the seeded data directory."""
    data = tmp_path_factory.mktemp("web") / "data"
    shutil.copytree(seeded_dir, data)
    live = LiveServer(data)
    yield Server(live.url, live.log)
    live.stop()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) on the chat page; fails on any script error, and on anything
    the Content-Security-Policy blocked (the page and the docs must satisfy it)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(TYPING_PROBE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(server.url + "/")
    expect(page.locator("#articles li").first).to_be_visible()
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def test_streamed_answer_with_citation_opens_the_article_with_the_passage_marked(page: Page, server: Server) -> None:
    expected = server.call("POST", "/api/ask", {"question": "What did Truss demand?"})
    assert expected["citations"], expected

    page.fill("#question", "What did Truss demand?")
    page.click("#ask")
    bubble = page.locator(".message.assistant").first
    expect(bubble).to_be_visible()
    expect(bubble).to_contain_text("troops withdraw")
    expect(bubble.locator(".sources")).to_be_visible()
    expect(bubble).not_to_contain_class("abstained")
    expect(page.locator("#ask")).to_be_enabled()
    assert page.evaluate("window.__sawTyping"), "no typing state was shown while the answer streamed"

    first_quote = expected["citations"][0]["quote"]
    # the answer quotes it in full; its source card points at it by its opening words instead of repeating it
    expect(bubble.locator(".message-text")).to_contain_text(first_quote)
    card_quote = bubble.locator('.source-card .card-quotes li[data-n="1"] .citation-quote')
    expect(card_quote).to_have_text(" ".join(first_quote.split()[:8]) + "…")
    expect(card_quote).to_have_class("citation-quote in-answer")
    cite = bubble.locator(".cite").first
    expect(cite).to_have_text("[1]")
    cite.click()

    panel = page.locator("#article-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#panel-title")).to_have_text(expected["citations"][0]["title"])
    mark = panel.locator("mark")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    assert mark.text_content() == first_quote
    assert page.evaluate("[window.scrollX, window.scrollY]") == [0, 0], "the page itself scrolled"
    screenshot(page, "chat.png")

    # the citation list opens the other passage; Escape closes the panel
    if len(expected["citations"]) > 1:
        bubble.locator(".citation-open").nth(1).click()
        expect(mark).to_have_text(expected["citations"][1]["quote"])
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_follow_up_continues_the_conversation(page: Page) -> None:
    ask(page, "What did Truss demand?")
    session_id = page.evaluate("sessionStorage.getItem('newsqa.session_id')")
    assert session_id

    follow_up = ask(page, "And how did Lavrov respond?")
    expect(follow_up).to_contain_text("Lavrov")
    expect(follow_up.locator(".cite").first).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('newsqa.session_id')") == session_id
    expect(page.locator(".message.user .understood")).to_have_count(0)  # "And how…" → "How…" is no news

    # a pronoun is resolved from the conversation, and the page says how it was understood
    ask(page, "What else did he say?")
    expect(page.locator(".message.user").last.locator(".understood")).to_contain_text("(Lavrov)")

    # the conversation survives a reload (same tab session), and "New conversation" starts afresh
    page.reload()
    expect(page.locator(".message.assistant")).to_have_count(3)
    expect(page.locator(".message.user").last.locator(".understood")).to_contain_text("(Lavrov)")
    page.click("#new-conversation")
    expect(page.locator(".message")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('newsqa.session_id')") is None


def test_an_abstained_answer_is_marked_as_such(page: Page) -> None:
    bubble = ask(page, "What is the recipe for banana bread?")
    expect(bubble).to_contain_class("abstained")
    expect(bubble.locator(".abstain-label")).to_be_visible()
    expect(bubble.locator(".sources h3")).to_contain_text("do not answer")


def test_a_conversation_the_server_forgot_starts_afresh(page: Page) -> None:
    page.evaluate("sessionStorage.setItem('newsqa.session_id', 'no-such-session')")
    answer = ask(page, "What did Truss demand?")
    expect(answer).to_contain_text("troops withdraw")
    expect(page.locator(".notice")).to_contain_text("no longer on the server")
    expect(page.locator("#alerts .alert")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('newsqa.session_id')") not in (None, "no-such-session")


def test_add_an_article_ask_about_it_and_remove_it(page: Page) -> None:
    page.click("#add-open")  # "Add an article" opens the form in a dialog
    expect(page.locator("#add-dialog")).to_be_visible()
    page.fill("#add-title", GRAIN_TITLE)
    page.fill("#add-date", "2022-07-22")
    page.fill("#add-source", "Test wire")
    page.fill("#add-text", GRAIN_TEXT)
    page.click("#add-article button[type=submit]")
    expect(page.locator("#add-dialog")).to_be_hidden()
    expect(page.locator("#library-toast")).to_contain_text("Added")  # beside the button the reader used
    item = page.locator("#articles li.article-item", has_text=GRAIN_TITLE)
    expect(item).to_be_visible()
    expect(item).to_contain_text("Test wire")
    expect(page.locator("#add-title")).to_have_value("")

    answer = ask(page, "Which port was reopened for grain exports?")
    expect(answer).to_contain_text("Odesa")
    screenshot(page, "articles.png")

    item.get_by_role("button", name="Remove").click()  # no dialog: Undo is the way back
    expect(item).to_have_count(0)
    expect(page.locator("#articles li.toast-row")).to_contain_text("Removed")  # in the removed row's place
    expect(page.locator("#articles li.article-item")).to_have_count(1)


def test_with_no_article_no_example_question_but_a_way_to_add_one_then_one_about_it(
    browser: Browser, tmp_path: Path
) -> None:
    live = LiveServer(tmp_path / "data")  # nothing indexed
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(60_000)  # the first article loads the model
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live.url + "/")
        expect(page.locator("#no-articles")).to_be_visible()
        expect(page.locator("#suggestions .suggestion")).to_have_count(0)

        page.click("#no-articles-add")
        expect(page.locator("#add-dialog")).to_be_visible()
        page.fill("#add-title", GRAIN_TITLE)
        page.fill("#add-text", GRAIN_TEXT)
        page.click("#add-submit")
        example = page.locator("#suggestions .suggestion")
        expect(example).to_have_text([f"What does “{GRAIN_TITLE}” report?"])
        expect(page.locator("#no-articles")).to_be_hidden()

        example.click()
        bubble = page.locator(".message.assistant")
        expect(bubble).not_to_contain_class("typing")
        expect(bubble).not_to_contain_class("abstained")
        expect(bubble.locator(".citation-title").first).to_have_text(GRAIN_TITLE)
        context.close()
        assert not errors, errors
    finally:
        live.stop()


def test_the_article_list_comes_a_page_at_a_time(page: Page, server: Server) -> None:
    ids = [f"paging/{n:02d}" for n in range(50)]  # with the seed, one more than a page
    try:
        for n, article_id in enumerate(ids):
            text = f"Bulletin number {n} reports calm weather over the harbour."
            server.call("POST", "/api/articles", {"id": article_id, "title": f"Bulletin {n}", "text": text})
        page.reload()
        expect(page.locator("#articles li")).to_have_count(50)
        expect(page.locator("#article-count")).to_have_text("51")
        more = page.locator("#more-articles")
        expect(more).to_have_text("Show more (1 left)")
        more.click()
        expect(page.locator("#articles li")).to_have_count(51)
        expect(more).to_be_hidden()
    finally:
        for article_id in ids:
            server.call("DELETE", f"/api/articles/{article_id}")


def test_server_text_is_shown_as_text(page: Page, server: Server) -> None:
    title = '<img src=x onerror="window.pwned=1"> & <b>bold</b>'
    added = server.call("POST", "/api/articles", {"id": "nested/escape test", "title": title, "text": "Plain text."})
    try:
        page.reload()
        item = page.locator("#articles li", has_text="<b>bold</b>")
        expect(item).to_be_visible()
        expect(item.locator("img, b")).to_have_count(0)
        item.locator(".open-article").click()  # an id with "/" and a space round-trips
        expect(page.locator("#panel-title")).to_have_text(title)
        expect(page.locator("#panel-body")).to_have_text("Plain text.")
        assert page.evaluate("window.pwned") is None
    finally:
        server.call("DELETE", "/api/articles/" + urllib.request.quote(added["article"]["id"], safe=""))


def test_offsets_past_non_bmp_characters_mark_exactly_the_quote(page: Page, server: Server) -> None:
    """Citation offsets count code points; the page must not slice UTF-16 units (emoji are two)."""
    text = (
        "Odesa 🌾🌾 port reopened. The freighter Razoni 🚢 carried 26,000 tonnes of corn to Lebanon. "
        "It left on 1 August."
    )
    server.call("POST", "/api/articles", {"id": "emoji/razoni", "title": "First grain ship 🚢 leaves", "text": text})
    try:
        expected = server.call("POST", "/api/ask", {"question": "How much corn did the Razoni carry?"})
        quote = expected["citations"][0]["quote"]
        assert "🚢" in quote and expected["citations"][0]["article_id"] == "emoji/razoni"
        answer = ask(page, "How much corn did the Razoni carry?")
        answer.locator(".cite").first.click()
        mark = page.locator("#article-panel mark")
        expect(mark).to_be_visible()
        assert mark.text_content() == quote
        expect(page.locator("#panel-warning")).to_be_hidden()
    finally:
        server.call("DELETE", "/api/articles/emoji%2Frazoni")


def test_a_refused_question_shows_the_server_message_and_the_form_recovers(page: Page) -> None:
    long_question = "Why " + "really " * 350 + "?"
    assert len(long_question) > 2000
    page.fill("#question", long_question)
    page.click("#ask")
    alert = page.locator("#alerts")
    expect(alert).to_contain_text("the limit is 2,000")
    expect(alert.locator(".alert")).to_have_count(1)
    screenshot(page, "error.png")
    expect(page.locator("#ask")).to_be_enabled()
    expect(page.locator("#question")).to_be_editable()
    expect(page.locator("#question")).to_have_value(long_question)  # given back to edit
    expect(page.locator(".message")).to_have_count(0)  # nothing half-done left in the log

    answer = ask(page, "What did Truss demand?")
    expect(answer).to_contain_text("troops withdraw")
    expect(alert.locator(".alert")).to_have_count(0)


def test_an_unreachable_server_is_reported(page: Page) -> None:
    page.route("**/api/chat/stream", lambda route: route.abort())
    page.fill("#question", "What did Truss demand?")
    page.click("#ask")
    expect(page.locator("#alerts")).to_contain_text("Cannot reach the server")
    expect(page.locator("#ask")).to_be_enabled()
    expect(page.locator("#question")).to_have_value("What did Truss demand?")


def test_a_stream_cut_short_is_reported_and_the_form_recovers(page: Page) -> None:
    cut = 'event: session\ndata: {"session_id": "s1", "query": "q"}\n\nevent: delta\ndata: {"text": "Half an ans"}\n\n'
    page.route(
        "**/api/chat/stream",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=cut),
    )
    page.fill("#question", "What did Truss demand?")
    page.click("#ask")
    bubble = page.locator(".message.assistant")
    expect(bubble).to_contain_class("failed")
    expect(bubble).to_contain_text("Half an ans")
    expect(page.locator("#alerts")).to_contain_text("cut off")
    expect(page.locator("#ask")).to_be_enabled()


def test_api_docs_render_offline(page: Page, server: Server) -> None:
    """/docs is served from the package's own copy of Swagger UI: no CDN, so it works offline."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("News QA")
    expect(page.locator(".opblock-summary-path", has_text="/api/ask")).to_be_visible()
    assert requested and all(url.startswith(server.url) for url in requested), requested
