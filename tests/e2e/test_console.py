"""The operations console in a real browser: Playwright for Python driving Debian's Chromium
(``/usr/bin/chromium``, headless) against the local stack ``make run`` starts.

One browser for the module, with a fresh profile; each test opens its own pages. Screenshots of
every page land in ``test-output/console/`` (git-ignored). ``.ci/run`` installs Chromium; on a
developer machine without it these tests are skipped (in CI they fail instead).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, RunningStack, order_body, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
Page = playwright_api.Page
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
#: The flags this machine's image is known to work with: no sandbox as root, and nothing that
#: phones home (the closed network refuses those connections, many at a time).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "console"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="oms-console-chromium-")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh tab with no session; it fails the test on any Content-Security-Policy violation."""
    browser.clear_cookies()
    tab = browser.new_page()
    violations: list[str] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    tab.close()
    assert violations == [], "the pages broke their own Content-Security-Policy"


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _visit(page: Page, url: str) -> Any:
    """Open ``url`` and check what every console page promises: its CSP, one h1 and headings
    in order, a label for every control."""
    response = page.goto(url)
    assert response is not None and response.ok, url
    _check_page(page, response)
    return response


def _check_page(page: Page, response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp, page.url
    levels: list[int] = page.eval_on_selector_all("h1, h2, h3, h4", "els => els.map(e => +e.tagName[1])")
    assert levels[0] == 1 and levels.count(1) == 1, (page.url, levels)
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), (page.url, levels)
    unlabelled: list[str] = page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.name || e.id)",
    )
    assert unlabelled == [], (page.url, unlabelled)


def _sign_in(page: Page, stack: RunningStack, key: str) -> None:
    page.goto(stack.api_url + "/console")
    page.get_by_label("Admin API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def _status(stack: RunningStack, order_id: str) -> str:
    return str(stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"]).json()["status"])


def _place_held_order(stack: RunningStack) -> dict[str, Any]:
    """An order placed through the API, confirmed by the receipt worker, then held by an admin."""
    external_id = f"WEB-CON-{uuid.uuid4().hex[:8]}"
    email = f"ops+{uuid.uuid4().hex[:6]}@example.com"
    response = stack.post("/v1/orders", order_body(external_id, email), stack.channel_key("web"))
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    wait_for("the order to be confirmed", lambda: _status(stack, order["id"]) == "confirmed", timeout=10)
    held = stack.post(
        f"/v1/orders/{order['id']}/holds",
        {"reason": "manual", "note": "customer called to change the size"},
        stack.config["keys"]["admin"],
    )
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "on_hold"
    return order


def _tab_to(page: Page, accessible_name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's text or label is ``accessible_name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText || '').trim(); }"
        )
        if focused == accessible_name:
            return
    pytest.fail(f"{accessible_name!r} cannot be reached with the Tab key")


def _focus_is_visible(page: Page) -> bool:
    return bool(page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle !== 'none'"))


def test_an_operator_finds_an_order_and_releases_its_hold_with_the_keyboard(
    local_stack: RunningStack, page: Page
) -> None:
    stack = local_stack
    order = _place_held_order(stack)

    sign_in = _visit(page, stack.api_url + "/console")
    assert sign_in.status == 200
    _shot(page, "01-sign-in")
    # Keyboard only: the key field has focus, Enter submits.
    expect(page.get_by_label("Admin API key")).to_be_focused()
    page.keyboard.type(stack.config["keys"]["admin"])
    with page.expect_navigation() as signed_in:
        page.keyboard.press("Enter")
    assert page.url == stack.api_url + "/console/orders"
    _check_page(page, signed_in.value)
    assert "key" not in page.url and stack.config["keys"]["admin"] not in page.url
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "oms_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/"
    assert not session["secure"]  # plain http on 127.0.0.1
    expect(page.locator(".counts")).to_contain_text("on hold")
    _shot(page, "02-orders")

    # The skip link comes first and moves focus to the page's content, visibly.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    assert _focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Search by external id, with the keyboard.
    _tab_to(page, "External id, order id, customer e-mail or words of a note")
    assert _focus_is_visible(page)
    page.keyboard.type(order["external_id"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _check_page(page, page.context.request.get(page.url))
    results = page.get_by_role("table")
    expect(results).to_contain_text(order["external_id"])
    expect(results).to_contain_text("on hold")
    _shot(page, "03-orders-search")

    page.get_by_role("link", name=order["external_id"]).click()
    page.wait_for_url(f"**/console/orders/{order['id']}")
    _check_page(page, page.context.request.get(page.url))
    expect(page.get_by_role("heading", level=1)).to_contain_text(order["external_id"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("on hold")
    timeline = page.get_by_role("table", name="Timeline")
    for event_type in ("order.placed", "order.confirmed", "order.on_hold"):
        expect(timeline).to_contain_text(event_type)
    expect(page.locator(".holds")).to_contain_text("customer called to change the size")
    _shot(page, "04-order-on-hold")

    # Release the hold: Tab to the button, Enter; the page shows the new status.
    _tab_to(page, "Release manual")
    assert _focus_is_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The hold was released.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("confirmed")
    expect(page.get_by_role("table", name="Timeline")).to_contain_text("released manual")
    assert _status(stack, order["id"]) == "confirmed"
    _shot(page, "05-order-released")


def test_the_other_pages_render_and_the_kpi_charts_have_data(local_stack: RunningStack, page: Page) -> None:
    stack = local_stack
    response = stack.post(
        "/v1/orders",
        order_body(f"WEB-KPI-{uuid.uuid4().hex[:8]}", "kpi@example.com"),
        stack.channel_key("web"),
    )
    assert response.status_code == 201, response.text
    admin = stack.config["keys"]["admin"]

    today = datetime.now(UTC).date()

    def placed_today() -> bool:
        # The kpi worker counts order.placed from the stream: wait until it has.
        report = stack.get(f"/v1/kpis?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}", admin)
        return report.status_code == 200 and report.json()["orders_placed"] > 0

    _sign_in(page, stack, admin)
    page.wait_for_url("**/console/orders")

    _visit(page, stack.api_url + "/console/attention")
    for heading in ("Orders on hold", "SLA breaches", "Delivery problems", "Unmatched tracking events"):
        expect(page.get_by_role("heading", name=re.compile(heading))).to_be_visible()
    expect(page.get_by_role("table", name="Dead-letter queues")).to_contain_text("oms-local-receipt-dlq")
    _shot(page, "06-needs-attention")

    _visit(page, stack.api_url + "/console/inventory")
    expect(page.get_by_role("table", name="Stock levels")).to_contain_text("TEE-ORG-BLK-M")
    page.get_by_label("SKU").fill("BKND-OAK-PR")
    page.get_by_label("Units counted").fill("8")
    page.locator("#count-warehouse").select_option("wh-east")
    page.get_by_role("button", name="Record count").click()
    expect(page.get_by_role("status")).to_contain_text("Cycle count recorded for BKND-OAK-PR in wh-east")
    _shot(page, "07-inventory")

    wait_for("the kpi worker to count an order", placed_today, timeout=20)
    _visit(page, stack.api_url + "/console/kpis")
    chart = page.locator("#chart-orders svg")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.rect")
    assert bars.count() >= 1, "the orders chart draws a bar per channel and day with data"
    heights = bars.evaluate_all("els => els.map(e => e.getBBox().height)")
    assert max(heights) > 0
    # The chart's own stylesheet (nonce) applied: the bars wear the palette, not SVG's black.
    fill = bars.first.evaluate("e => getComputedStyle(e).fill")
    assert fill not in ("rgb(0, 0, 0)", "black"), fill
    assert page.locator("figure.chart svg").count() == 4
    _shot(page, "08-kpis")


def test_a_wrong_key_sees_no_page_and_other_roles_cannot_sign_in(
    local_stack: RunningStack, page: Page
) -> None:
    stack = local_stack
    for path in ("/console/orders", "/console/attention", "/console/inventory", "/console/kpis"):
        page.goto(stack.api_url + path)
        assert page.url == stack.api_url + "/console", path
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the operations console")

    _sign_in(page, stack, "oms_ad_this-is-not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert page.context.cookies() == []
    _shot(page, "09-sign-in-wrong-key")

    for key in (stack.channel_key("web"), stack.config["keys"]["warehouses"]["wh-east"]):
        _sign_in(page, stack, key)
        expect(page.get_by_role("alert")).to_contain_text("needs an admin key")
        assert page.context.cookies() == []
        page.goto(stack.api_url + "/console/orders")
        assert page.url == stack.api_url + "/console"


def test_a_post_without_the_csrf_token_is_refused(local_stack: RunningStack, page: Page) -> None:
    stack = local_stack
    order = _place_held_order(stack)
    _sign_in(page, stack, stack.config["keys"]["admin"])
    page.wait_for_url("**/console/orders")
    release = f"{stack.api_url}/console/orders/{order['id']}/holds/manual/release"
    # The browser's own cookie jar, so the session is there; only the token is missing or wrong.
    for form in ({}, {"csrf": "not-the-token"}):
        refused = page.context.request.post(release, form=form)
        assert refused.status == 403
        assert "default-src 'self'" in refused.headers["content-security-policy"]
        assert "did not come from the console" in refused.text()
    assert _status(stack, order["id"]) == "on_hold"
    page.goto(stack.api_url + f"/console/orders/{order['id']}")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    forged = page.context.request.post(
        release, form={"csrf": token}, headers={"origin": "http://attacker.example"}
    )
    assert forged.status == 403
    assert _status(stack, order["id"]) == "on_hold"
    accepted = page.context.request.post(release, form={"csrf": token}, max_redirects=0)
    assert accepted.status == 303
    assert _status(stack, order["id"]) == "confirmed"
