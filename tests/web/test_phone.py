"""Pages on a phone-sized screen in a real browser (Debian's Chromium driven by Playwright):
statistics tables keep their column labels, where list tables fold into cards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.testing.web import PASSWORD

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (bash .ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def test_statistics_tables_keep_their_column_labels_on_a_phone(served, browser):
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{served.url}/login?next=/stats")
    page.fill("input[name=name]", "amina")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/stats.*"))
    headers = page.locator(".stats-table table.list thead th")
    assert headers.count() >= 4
    for i in range(headers.count()):
        assert headers.nth(i).is_visible(), headers.nth(i).inner_text()
    labels = [headers.nth(i).inner_text().strip() for i in range(headers.count())]
    assert {"missing", "found", "total"} <= set(labels), labels
    # A list table (the queue) still folds into cards on a phone: its header row is hidden.
    page.goto(f"{served.url}/records")
    assert not page.locator("table.list thead").is_visible()
