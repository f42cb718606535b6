"""The answer side of the chat page in a real Chromium against a real `qa serve`: source cards, [n] previews and
copying a quote with its citation, Markdown, the short answer and the support label, errors in a reader's words,
Retry, banners that do not stack, an axe-core accessibility check in light and dark, and a phone's width.

Needs Debian's Chromium at /usr/bin/chromium. Screenshots go to test-artifacts/. The short answer and the support
labels are the engine's own; a few tests edit the server's reply on its way to the page to reach states the seed
article does not produce (a weak label on a given answer, a short answer outside its quote, a model's Markdown).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.conftest import LiveServer
from tests.fake_openai import FakeOpenAI
from tests.test_generative import KEY, SOVEREIGNTY, llm_env, number_of
from tests.web import ask, screenshot

TIMEOUT_MS = 15_000
TRUSS = "What did Truss demand?"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`qa serve` over a private copy of the seeded data directory."""
    data = tmp_path_factory.mktemp("web-answer") / "data"
    shutil.copytree(seeded_dir, data)
    live = LiveServer(data)
    yield live
    live.stop()


def open_page(browser: Browser, url: str, **options: Any) -> tuple[BrowserContext, Page, list[str]]:
    """A fresh context on the chat page (options: viewport, color_scheme, locale, permissions); the script errors
    and Content-Security-Policy complaints it logs."""
    context = browser.new_context(**{"viewport": DESKTOP, "locale": "en-GB", **options})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(url + "/")
    expect(page.locator("#articles li").first).to_be_visible()
    return context, page, errors


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """The chat page at desktop width, allowed to use the clipboard; fails on any script error."""
    context, page, errors = open_page(browser, server.url, permissions=["clipboard-read", "clipboard-write"])
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def api(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A JSON request to the page's own server (what the page is compared with)."""
    response = page.request.fetch(page.url.rstrip("/") + path, method=method, data=body)
    assert response.ok, response.text()
    return response.json()


def edit_done(page: Page, change: Callable[[dict[str, Any]], None]) -> None:
    """Let the real server answer the next questions, changing its final `done` event on the way to the page."""

    def handle(route: Route) -> None:
        response = route.fetch()
        events = response.text().split("\n\n")
        for i, event in enumerate(events):
            if event.startswith("event: done\n"):
                head, data = event.split("\ndata: ", 1)
                reply = json.loads(data)
                change(reply)
                events[i] = f"{head}\ndata: {json.dumps(reply)}"
        route.fulfill(response=response, body="\n\n".join(events))

    page.route("**/api/chat/stream", handle)


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]} {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# ---- sources, previews, copying ---------------------------------------------------------------------------------


def test_sources_are_one_card_per_article_and_do_not_repeat_the_answer(page: Page) -> None:
    expected = api(page, "POST", "/api/ask", {"question": TRUSS})
    quotes = [c["quote"] for c in expected["citations"]]
    assert len(quotes) == 2 and len({c["article_id"] for c in expected["citations"]}) == 1, expected

    bubble = ask(page, TRUSS)
    cards = bubble.locator(".source-card")
    expect(cards).to_have_count(1)  # two quotes of one article: one card, its title once
    card = cards.first
    expect(card.locator(".citation-title")).to_have_text(expected["citations"][0]["title"])
    expect(card.locator(".citation-source")).to_have_text("TDI")
    expect(card.locator("time.citation-date")).to_have_attribute("datetime", "2022-02-11")
    expect(card.locator(".card-quotes li")).to_have_count(2)
    # each quote is in the answer once; the card points at it by its opening words
    answer_text = bubble.locator(".message-text").inner_text()
    sources_text = bubble.locator(".sources").inner_text()
    for quote in quotes:
        assert answer_text.count(quote) == 1, answer_text
        assert quote not in sources_text, sources_text
    expect(card.locator(".in-answer-note")).to_have_count(2)
    screenshot(page, "answer-sources.png")


def test_a_card_names_the_other_outlets_carrying_the_same_quote(page: Page) -> None:
    def syndicate(reply: dict[str, Any]) -> None:
        copy = {"article_id": "wire/1", "title": "Truss in Moscow", "source": "Harbor Wire", "start": 0, "end": 10}
        reply["citations"][0]["copies"] = [copy, {**copy, "article_id": "wire/2"}]

    edit_done(page, syndicate)
    card = ask(page, TRUSS).locator(".source-card")
    expect(card).to_have_count(1)
    expect(card.locator(".copies-label")).to_have_text("Also carried by Harbor Wire")  # each outlet once


def test_a_marker_previews_its_passage_on_hover_and_copies_the_quote_with_its_citation(page: Page) -> None:
    expected = api(page, "POST", "/api/ask", {"question": TRUSS})
    first = expected["citations"][0]
    article = api(page, "GET", f"/api/articles/{first['article_id']}")

    bubble = ask(page, TRUSS)
    preview = page.locator("#cite-preview")
    expect(preview).to_have_count(0)
    bubble.locator(".message-text .cite").first.hover()
    expect(preview).to_be_visible()
    expect(preview.locator(".preview-quote")).to_have_text(first["quote"])
    expect(preview.locator(".preview-source")).to_have_text("TDI")
    expect(preview.locator("time")).to_have_attribute("datetime", "2022-02-11")
    # a sentence either side, exactly as the article has them around the quote
    context = preview.locator(".preview-context")
    expect(context).to_have_count(2)
    before, after = (t.strip() for t in context.all_text_contents())
    text = article["text"]
    assert before and text[: first["start"]].rstrip().endswith(before), before
    assert "." not in before.rstrip(".") and "\n" not in before, before  # one sentence (or heading), no more
    assert after and text[first["end"] :].lstrip().startswith(after), after
    screenshot(page, "answer-preview.png")

    preview.get_by_role("button", name="Copy quote with citation").click()
    expect(preview.locator(".preview-status")).to_have_text("Copied the quote with its citation.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"“{first['quote']}” — TDI, “{first['title']}”, 11 Feb 2022.", copied

    # "Read in the article" opens the panel at the passage, which is announced
    preview.get_by_role("button", name="Read in the article").click()
    expect(preview).to_have_count(0)
    expect(page.locator("#article-panel mark")).to_have_text(first["quote"])
    expect(page.locator("#panel-status")).to_have_text(f"Highlighted passage: {first['quote']}")


def test_each_quote_of_a_source_card_copies_with_its_citation_by_keyboard(page: Page) -> None:
    expected = api(page, "POST", "/api/ask", {"question": TRUSS})
    second = expected["citations"][1]
    card = ask(page, TRUSS).locator(".source-card").first
    expect(card.get_by_role("button", name="Copy quote with citation")).to_have_count(2)  # one per quote
    # from the quote, the next stop is its copy button; Enter copies without a pointer
    card.locator(f'.card-quotes li[data-n="{second["n"]}"] .citation-open').focus()
    page.keyboard.press("Tab")
    copy = card.get_by_role("button", name=f"Copy quote with citation [{second['n']}]")
    expect(copy).to_be_focused()
    page.keyboard.press("Enter")
    expect(card.locator(".card-status")).to_have_text("Copied the quote with its citation.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"“{second['quote']}” — TDI, “{second['title']}”, 11 Feb 2022.", copied
    screenshot(page, "answer-card-copy.png")


def test_a_marker_previews_on_keyboard_focus_and_the_preview_is_reachable_by_keyboard(page: Page) -> None:
    bubble = ask(page, TRUSS)
    second = bubble.locator(".message-text .cite").nth(1)
    page.locator("#question").focus()
    # Shift+Tab back from the question box through the answer to the second marker, as a keyboard user would
    for _ in range(40):
        if page.evaluate("document.activeElement?.matches('.message-text .cite[data-n=\"2\"]')"):
            break
        page.keyboard.press("Shift+Tab")
    expect(second).to_be_focused()
    preview = page.locator("#cite-preview")
    expect(preview).to_be_visible()
    expect(second).to_have_attribute("aria-expanded", "true")
    expect(preview.locator(".preview-title")).to_contain_text("[2]")
    # Tab goes from the marker into its preview; Escape closes it and gives focus back to the marker
    page.keyboard.press("Tab")
    expect(preview.get_by_role("button", name="Read in the article")).to_be_focused()
    page.keyboard.press("Escape")
    expect(preview).to_have_count(0)
    expect(second).to_be_focused()
    expect(second).to_have_attribute("aria-expanded", "false")
    # Enter on the marker opens the article at its passage
    page.keyboard.press("Enter")
    expect(page.locator("#article-panel mark")).to_be_visible()


# ---- what the answer says -----------------------------------------------------------------------------------------

MARKDOWN_ANSWER = (
    "**Truss** made two demands:\n\n"
    "- Russia must respect the *sovereignty* of Ukraine [1].\n"
    "- The world must see troops withdraw, see [the talks](https://example.org/talks) [2].\n\n"
    '<img src=x onerror="window.pwned=1"> [bad link](javascript:window.pwned=2) `code` \\*not italic\\* [7]'
)


def markdown_stream(citations: list[dict[str, Any]]) -> str:
    """A streamed reply holding Markdown (as a model may write it), with the real server's citations."""
    done = {"question": TRUSS, "query": TRUSS, "session_id": "md", "answer": MARKDOWN_ANSWER, "abstained": False}
    events = [
        ("session", {"session_id": "md", "query": TRUSS}),
        ("delta", {"text": MARKDOWN_ANSWER[:40]}),
        ("delta", {"text": MARKDOWN_ANSWER[40:]}),
        ("citations", {"citations": citations}),
        ("done", {**done, "citations": citations}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def test_markdown_answers_are_built_as_nodes_and_their_markers_still_work(page: Page) -> None:
    citations = api(page, "POST", "/api/ask", {"question": TRUSS})["citations"]
    body = markdown_stream(citations)
    page.route(
        "**/api/chat/stream",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body),
    )
    bubble = ask(page, TRUSS)
    text = bubble.locator(".message-text")
    expect(text.locator("p strong").first).to_have_text("Truss")
    expect(text.locator("ul > li")).to_have_count(2)
    expect(text.locator("ul > li em")).to_have_text("sovereignty")
    link = text.locator("a")
    expect(link).to_have_count(1)  # the javascript: link stays text
    expect(link).to_have_attribute("href", "https://example.org/talks")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(text.locator("code")).to_have_text("code")
    expect(text).to_contain_text("[bad link](javascript:window.pwned=2)")
    expect(text).to_contain_text("*not italic*")
    expect(text).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(text.locator("img")).to_have_count(0)
    expect(text).to_contain_text("[7]")  # a marker with no citation stays text
    expect(text.locator(".cite")).to_have_count(2)
    assert page.evaluate("window.pwned") is None
    # a marker inside a list item previews and opens its passage
    marker = text.locator("ul > li .cite").nth(1)
    marker.hover()
    expect(page.locator("#cite-preview .preview-quote")).to_have_text(citations[1]["quote"])
    marker.click()
    expect(page.locator("#article-panel mark")).to_have_text(citations[1]["quote"])
    screenshot(page, "answer-markdown.png")


@pytest.mark.parametrize("fallback", [False, True], ids=["extractive", "fallback"])
def test_an_extractive_answer_is_shown_verbatim_not_as_markdown(page: Page, fallback: bool) -> None:
    """A quote is the article's text: its asterisks are the article's, not formatting. So too when the extractive
    answerer stood in for a model that failed (its backend says "extractive (fallback: ...)")."""
    if fallback:
        edit_done(page, lambda r: r.update(backend="extractive (fallback: The server at 127.0.0.1 answered 503)"))
    text = (
        "Lisburg, 3 March 2025. The port authority met on Monday to set the harbour toll for the coming year.\n\n"
        "The harbour toll is *not* raised this year, the port authority said. Ferries run as before."
    )
    title = "Harbour toll unchanged in Lisburg"
    api(page, "POST", "/api/articles", {"id": "verbatim/toll", "title": title, "text": text})
    question = "What did the port authority say about the harbour toll?"
    try:
        expected = api(page, "POST", "/api/ask", {"question": question})
        assert expected["backend"] == "extractive" and "*not*" in expected["answer"], expected
        bubble = ask(page, question)
        expect(bubble.locator(".message-text")).to_contain_text("*not* raised")
        expect(bubble.locator(".message-text em")).to_have_count(0)
        expect(bubble.locator(".message-text .cite").first).to_be_enabled()
    finally:
        api(page, "DELETE", "/api/articles/verbatim%2Ftoll")


def test_the_short_answer_comes_first_and_bold_inside_its_quote(page: Page) -> None:
    """The engine's own short answer (qa/span.py), as the server sends it."""
    question = "When did Moscow get a written reply from Washington and the alliance?"
    expected = api(page, "POST", "/api/ask", {"question": question})
    fact = expected["short_answer"]["text"]
    assert fact == "26 January 2022"
    bubble = ask(page, question)
    short = bubble.locator(".short-answer")
    expect(short.locator("strong")).to_have_text(fact)
    expect(short.locator(".cite")).to_have_text(f"[{expected['short_answer']['citation']}]")
    # first: before the answer text, below only the support label
    shown = "b => [...b.children].filter(e => e.offsetParent && !e.matches('.visually-hidden')).map(e => e.className)"
    order = bubble.evaluate(shown)
    assert order[1:3] == ["short-answer", "message-text"] and order[0].startswith("support-label"), order
    expect(bubble.locator(".message-text strong.short-in-quote")).to_have_text(fact)
    cited = next(c for c in expected["citations"] if c["n"] == expected["short_answer"]["citation"])
    expect(bubble.locator(".message-text")).to_contain_text(cited["quote"])


def test_a_short_answer_that_is_not_in_its_quote_is_not_shown(page: Page) -> None:
    edit_done(page, lambda r: r.update(short_answer={"text": "Boris Johnson", "citation": 1, "start": 0, "end": 13}))
    bubble = ask(page, TRUSS)
    expect(bubble.locator(".message-text")).to_contain_text("troops withdraw")
    expect(bubble.locator(".short-answer")).to_have_count(0)
    expect(bubble.locator("strong")).to_have_count(0)


def test_a_weak_answer_looks_different_from_a_strong_one(page: Page) -> None:
    labels = iter(["strong", "weak"])
    edit_done(page, lambda r: r.update(support=0.42, support_label=next(labels)))
    strong = ask(page, TRUSS)
    weak = ask(page, "What did Truss demand again?")
    expect(weak).to_contain_class("weak")
    expect(weak.locator(".support-label")).to_have_text("Weak match – check the sources")
    expect(strong.locator(".support-label")).to_have_text("Strong match")
    style = "e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.backgroundColor]; }"
    assert strong.evaluate(style) != weak.evaluate(style)
    weak.scroll_into_view_if_needed()
    screenshot(page, "answer-weak.png")


def test_the_servers_own_support_labels_show_as_strong_and_weak(page: Page) -> None:
    """No edited stream: the support the engine computes reaches the page as it is."""
    strong = ask(page, "In which city were the Lavrov-Truss talks held?")
    expect(strong.locator(".support-label")).to_have_text("Strong match")
    expect(strong).not_to_contain_class("weak")
    weak = ask(page, "When will Lavrov visit London?")
    expect(weak.locator(".support-label")).to_have_text("Weak match – check the sources")
    expect(weak).to_contain_class("weak")


# ---- failures ----------------------------------------------------------------------------------------------------


def test_identical_banners_do_not_stack_and_retry_asks_again(page: Page) -> None:
    page.route("**/api/chat/stream", lambda route: route.abort())
    for _ in range(2):
        page.fill("#question", TRUSS)
        page.click("#ask")
        expect(page.locator("#ask")).to_be_enabled()
    alerts = page.locator("#alerts .alert")
    expect(alerts).to_have_count(1)
    expect(alerts).to_contain_text("Cannot reach the server")
    expect(alerts.locator(".alert-count")).to_have_text("(2 times)")
    expect(alerts).not_to_contain_text("qa serve")
    page.unroute("**/api/chat/stream")
    alerts.get_by_role("button", name="Retry").click()
    answer = page.locator(".message.assistant")
    expect(answer).to_have_count(1)
    expect(answer).to_contain_text("troops withdraw")
    expect(alerts).to_have_count(0)


def test_a_failed_answer_has_a_retry(page: Page) -> None:
    cut = 'event: session\ndata: {"session_id": "s1", "query": "q"}\n\nevent: delta\ndata: {"text": "Half an ans"}\n\n'
    page.route(
        "**/api/chat/stream",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=cut),
        times=1,
    )
    page.fill("#question", TRUSS)
    page.click("#ask")
    failed = page.locator(".message.assistant.failed")
    expect(failed).to_contain_text("Half an ans")
    failed.get_by_role("button", name="Retry").click()
    expect(failed).to_have_count(0)
    answers = page.locator(".message.assistant")
    expect(answers).to_have_count(1)
    expect(answers).to_contain_text("troops withdraw")
    expect(page.locator(".message.user")).to_have_count(1)


def test_a_refused_question_has_no_retry(page: Page) -> None:
    page.fill("#question", "Why " + "really " * 350 + "?")
    page.click("#ask")
    alert = page.locator("#alerts .alert")
    expect(alert).to_contain_text("the limit is 2,000")
    expect(alert).not_to_contain_text("QA_")  # the setting's name is for the operator
    expect(alert.get_by_role("button", name="Retry")).to_have_count(0)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def llm_server(fake: FakeOpenAI, seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`qa serve` answering with a model (the scripted OpenAI-compatible server)."""
    data = tmp_path_factory.mktemp("web-answer-llm") / "data"
    shutil.copytree(seeded_dir, data)
    live = LiveServer(data, **llm_env(fake))
    yield live
    live.stop()


def test_a_model_failure_is_told_in_a_readers_words(browser: Browser, fake: FakeOpenAI, llm_server: LiveServer) -> None:
    fake.reset()
    fake.fail_next(401)  # the server's own message says "Check OPENAI_API_KEY": for its operator, not a reader
    context, page, errors = open_page(browser, llm_server.url)
    try:
        page.fill("#question", TRUSS)
        page.click("#ask")
        alert = page.locator("#alerts .alert")
        expect(alert).to_contain_text("The answering service")
        assert not re.search(r"[A-Z]+_[A-Z_]+|\bqa [a-z]+", alert.inner_text()), alert.inner_text()
        expect(page.locator("#ask")).to_be_enabled()
    finally:
        context.close()
    assert not errors, errors


def test_a_model_answer_with_markdown_renders_through_the_real_checker(
    browser: Browser, fake: FakeOpenAI, llm_server: LiveServer
) -> None:
    """A model's bold and link survive the server's sentence check and reach the page as nodes."""
    fake.reset()
    fake.reply_by(
        lambda body: (
            f"Truss said Russia must respect the **sovereignty of Ukraine** [{number_of(body, SOVEREIGNTY)}]. "
            f"She said [the world](https://example.org/) must see troops withdraw [{number_of(body, SOVEREIGNTY)}]."
        )
    )
    context, page, errors = open_page(browser, llm_server.url)
    try:
        bubble = ask(page, TRUSS)
        expect(bubble.locator(".message-text strong")).to_have_text("sovereignty of Ukraine")
        expect(bubble.locator(".message-text a")).to_have_attribute("href", "https://example.org/")
        expect(bubble.locator(".message-text")).not_to_contain_text("**")
        expect(bubble.locator(".message-text .cite").first).to_be_enabled()
    finally:
        context.close()
    assert not errors, errors


# ---- accessibility and a phone's width --------------------------------------------------------------------------


def test_the_accessibility_check_can_fail(page: Page) -> None:
    """The check below is real: an image with no text alternative is a critical finding."""
    page.evaluate("document.body.append(Object.assign(document.createElement('img'), {src: 'data:,'}))")
    assert any(v.startswith("image-alt") for v in serious_violations(page))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_accessibility_violations(
    browser: Browser, server: LiveServer, scheme: str, viewport: dict[str, int]
) -> None:
    context, page, errors = open_page(browser, server.url, viewport=viewport, color_scheme=scheme)
    try:
        assert serious_violations(page) == []  # the empty page
        edit_done(page, lambda r: r.update(support=0.4, support_label="weak"))
        bubble = ask(page, TRUSS)
        bubble.locator(".message-text .cite").first.focus()
        expect(page.locator("#cite-preview .preview-context").first).to_be_visible()
        assert serious_violations(page) == []  # an answer, its sources and an open preview
        bubble.locator(".message-text .cite").nth(1).click()
        expect(page.locator("#article-panel mark")).to_be_visible()
        assert serious_violations(page) == []  # the article panel
        width = "phone" if viewport is PHONE else "desktop"
        screenshot(page, f"answer-{width}-{scheme}.png")
    finally:
        context.close()
    assert not errors, errors


FOCUS_RING = """e => {
  e.focus();
  const s = getComputedStyle(e);
  return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor];
}"""

# the contrast of two CSS colors "rgb(r, g, b)", as WCAG computes it
CONTRAST = """([a, b]) => {
  const lum = (c) => {
    const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      const x = v / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_focus_rings_and_field_borders_stand_out(browser: Browser, server: LiveServer, scheme: str) -> None:
    context, page, errors = open_page(browser, server.url, color_scheme=scheme)
    try:
        page.keyboard.press("Tab")  # keyboard focus: :focus-visible applies
        surface = page.evaluate("getComputedStyle(document.querySelector('.chat')).backgroundColor")
        for selector in ("#question", "#ask", "#filter-source"):
            page.locator(selector).focus()
            style, width, color = page.locator(selector).evaluate(FOCUS_RING)
            assert style == "solid" and width >= 2, (selector, style, width)
            ratio = page.evaluate(CONTRAST, [color, surface])
            assert ratio >= 3, (selector, color, surface, ratio)
        for selector in ("#question", "#filter-since", "#filter-source"):
            border = page.locator(selector).evaluate("e => getComputedStyle(e).borderTopColor")
            ratio = page.evaluate(CONTRAST, [border, surface])
            assert ratio >= 3, (selector, border, surface, ratio)
    finally:
        context.close()
    assert not errors, errors


OVERFLOWING = """b => {
  const box = b.getBoundingClientRect();
  const out = [];
  for (const e of b.querySelectorAll('*')) {
    if (e.closest('.visually-hidden') || e.offsetParent === null) continue;
    const r = e.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(`${e.tagName}.${e.className} sticks out`);
    else if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible') {
      out.push(`${e.tagName}.${e.className} cuts its text`);
    }
  }
  return out;
}"""


def test_a_phone_shows_the_question_box_answer_and_sources_without_sideways_scrolling(
    browser: Browser, server: LiveServer
) -> None:
    context, page, errors = open_page(browser, server.url, viewport=PHONE)
    try:
        # the empty box shows its whole placeholder (two lines beside the button), not half of its second line
        question = page.locator("#question")
        assert question.evaluate("q => q.scrollHeight <= q.clientHeight"), question.evaluate(
            "q => [q.scrollHeight, q.clientHeight]"
        )
        expected = api(page, "POST", "/api/ask", {"question": TRUSS})
        fact = "troops withdraw"
        cited = expected["citations"][1]
        at = cited["start"] + cited["quote"].index(fact)
        edit_done(
            page,
            lambda r: r.update(
                short_answer={"text": fact, "citation": 2, "start": at, "end": at + len(fact)},
                support=0.4,
                support_label="weak",
            ),
        )
        bubble = ask(page, TRUSS)
        expect(bubble.locator(".source-card")).to_be_visible()
        for element in ("#question", "#ask"):
            box = page.locator(element).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (element, box)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        assert bubble.evaluate(OVERFLOWING) == []
        bubble.locator(".message-text .cite").first.hover()
        preview = page.locator("#cite-preview")
        expect(preview.locator(".preview-context").first).to_be_visible()
        assert bubble.evaluate(OVERFLOWING) == []  # the preview stays inside the answer's width
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "answer-phone.png")
    finally:
        context.close()
    assert not errors, errors


def test_a_phone_folds_the_filters_behind_a_button_whose_line_says_what_is_active(
    browser: Browser, server: LiveServer
) -> None:
    context, page, errors = open_page(browser, server.url, viewport=PHONE)
    try:
        filters, toggle = page.locator("#filters"), page.locator("#filters-toggle")
        expect(page.locator("#filter-source option")).to_have_count(2)  # the outlets are known
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(toggle).to_have_text("Filters none active")
        expect(page.locator("#filter-fields")).to_be_hidden()
        folded = filters.bounding_box()
        assert folded is not None and folded["height"] <= 60, folded  # a button's height, not ~150 px of fields
        assert serious_violations(page) == []
        # by keyboard: Tab to the button, Enter opens it, the fields follow it
        toggle.focus()
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#filter-source")).to_be_visible()
        page.keyboard.press("Tab")
        expect(page.locator("#filter-since")).to_be_focused()
        page.select_option("#filter-source", "TDI")
        page.fill("#filter-as-of", "2022-03-01")
        assert serious_violations(page) == []
        toggle.click()
        expect(page.locator("#filter-fields")).to_be_hidden()
        # folded again, it says what is active
        expect(toggle).to_have_text("Filters 2 active")
        expect(page.locator("#filter-summary")).to_be_visible()
        expect(page.locator("#filter-summary-text")).to_have_text("Questions use: TDI · as of 1 Mar 2022")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "filters-phone.png")
    finally:
        context.close()
    assert not errors, errors


def test_at_desktop_width_the_filters_show_without_a_button(page: Page) -> None:
    expect(page.locator("#filters-toggle")).to_be_hidden()
    expect(page.locator("#filter-source")).to_be_visible()
