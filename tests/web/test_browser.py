"""The caseworker's path in a real browser (Debian's Chromium driven by Playwright) between two
real nodes: log in, open the queue, confirm a match on both sides, see the contact handed over,
switch to Swahili. Screenshots are kept in artifacts/screenshots/ (the caseworker guide uses
them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matching.synthetic import generate
from node.testing.processes import let_evaluate, pair, settled, wait_until
from node.testing.web import PASSWORD, add_users

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (bash .ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)  # fmt: skip
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(browser, node, user: str, *, phone: bool = False):
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{node.url}/queue")
    assert "/login" in page.url
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/queue.*"))
    return page


def test_both_caseworkers_confirm_and_see_each_others_contact(network, browser):
    regs = generate(60, 50, overlap=0.5, seed=21)
    a = network("Kwale Rescue", regs.missing)
    b = network("Mombasa Shelter", regs.found)
    # The default roles, with B comparing the keys: each caseworker sees one of the two ways the
    # match page explains what agrees (B lists the agreeing keys, A points to B's evidence).
    pair(a, b)
    let_evaluate(b, a)
    add_users(a.home, {"amina": "caseworker"})
    add_users(b.home, {"baraka": "caseworker"})
    a.start(sync_interval=0.5)
    b.start(sync_interval=0.5)
    wait_until(lambda: settled(a, b) and a.matches(), timeout=120)

    page_a = log_in(browser, a, "amina")
    assert page_a.locator("table.list tbody tr").count() >= 1
    shot(page_a, "01-review-queue")
    page_a.click("table.list tbody tr >> nth=0 >> a")
    match_url = page_a.url
    match_id = match_url.rsplit("/", 1)[-1]
    assert page_a.get_by_role("heading", name="What agrees", exact=True).count() == 1
    assert "Mombasa Shelter compared the keys" in page_a.locator("#compared-by").inner_text()
    shot(page_a, "02-match-detail")
    page_a.fill("textarea[name=note]", "Mother's name and home village agree")
    page_a.click("button[value=confirm]")
    assert page_a.locator("#status").inner_text() == "confirmed"

    page_b = log_in(browser, b, "baraka", phone=True)
    page_b.goto(f"{b.url}/matches/{match_id}")

    def peer_decided(page) -> bool:
        page.reload()
        return "Kwale Rescue decided" in page.content()

    wait_until(lambda: peer_decided(page_b), timeout=60)
    assert page_b.locator("#agreeing li").count() >= 1
    shot(page_b, "03-match-on-a-phone")
    page_b.fill("textarea[name=note]", "She named her mother and village")
    page_b.click("button[value=confirm]")

    def handed_over(page) -> bool:
        page.reload()
        return page.locator("#contact").count() == 1

    wait_until(lambda: handed_over(page_a) and handed_over(page_b), timeout=90)
    assert page_a.locator("#status").inner_text() == "contact exchanged"
    # Closing the case needs an outcome chosen on purpose: none is preselected, and the form
    # is not sent without one.
    outcome = page_a.locator("select[name=outcome]")
    assert outcome.input_value() == ""
    page_a.click("form[action$='/close'] button.primary")
    assert page_a.url == match_url
    assert page_a.locator("#status").inner_text() == "contact exchanged"
    assert "Baraka M." in page_a.locator("#contact").inner_text()
    assert "Amina M." in page_b.locator("#contact").inner_text()
    shot(page_a, "04-contact-handed-over")

    page_a.click("button[value=sw]")
    assert page_a.locator("#status").inner_text() == "mawasiliano yamebadilishwa"
    assert "Mawasiliano huko Mombasa Shelter" in page_a.content()
    shot(page_a, "05-swahili")
