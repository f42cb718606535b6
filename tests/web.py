"""What the browser tests share: asking through the page's form, and saving a screenshot as a test artifact."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts"


def ask(page: Page, question: str, timeout: float | None = None) -> Locator:
    """Ask through the form; the newest assistant bubble, once its answer is complete (waiting up to `timeout`
    ms for each step, playwright's default when None)."""
    before = page.locator(".message.assistant").count()
    page.fill("#question", question)
    page.click("#ask")
    bubble = page.locator(".message.assistant").nth(before)
    expect(bubble).to_be_visible(timeout=timeout)
    expect(bubble).not_to_contain_class("typing", timeout=timeout)
    expect(page.locator("#ask")).to_be_enabled(timeout=timeout)
    return bubble


def screenshot(page: Page, name: str, full: bool = False) -> None:
    """Save the page (the whole page with `full`) to test-artifacts/NAME."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full)
