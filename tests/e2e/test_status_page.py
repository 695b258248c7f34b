"""The customer's status page in a real browser (Debian's Chromium through Playwright, as the
console's tests): a customer opens the link of an e-mail the local stack sent, sees the parcel's
tracking timeline and starts a return with the keyboard, on a phone (375 x 812) and on a desktop
(1280 x 800). On both: the console's CSP and no violation of it, one h1 and headings in order, a
label for every input, visible focus, and on the phone no horizontal scrolling.

Screenshots land in ``test-output/status/`` (git-ignored); with ``OMS_DOCS_SCREENSHOTS=1`` the
phone's view of the page is also written to ``docs/images/status-page.png`` (the picture in
docs/customer-communication.md).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from tests.e2e.conftest import HTTP_TIMEOUT, ROOT, RunningStack, order_body, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
Page = playwright_api.Page
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = ROOT / "test-output" / "status"
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "status-page.png"
TIMEOUT_MS = 10_000
SKU = "NTBK-A5-DOT"
STATUS_LINK = re.compile(r"https?://\S+/orders/status/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


def _tab(chromium: Any, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    context = chromium.new_context(
        viewport=viewport, is_mobile=viewport == PHONE, has_touch=viewport == PHONE
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return context, page, violations


def _order(stack: RunningStack, order_id: str) -> dict[str, Any]:
    return stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"]).json()  # type: ignore[no-any-return]


def _scan(stack: RunningStack, number: str, status: str, hours_ago: float, location: str) -> None:
    at = (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {
                "carrier": "ups",
                "tracking_number": number,
                "status": status,
                "occurred_at": at,
                "location": location,
            },
        }
    )
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(stack.config["webhook_secrets"]["standard_webhooks"]).sign(
            webhook_id, now, body
        ),
    }
    response = requests.post(
        stack.api_url + "/v1/webhooks/carriers/standard",
        data=body.encode(),
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text


def _delivered_order(stack: RunningStack) -> tuple[dict[str, Any], str, str]:
    """An order of two notebooks, shipped and delivered after three scans: (order, customer's
    e-mail address, tracking number)."""
    email = f"lin+{uuid.uuid4().hex[:8]}@example.com"
    lines = [{"sku": SKU, "quantity": 2, "unit_price": "12.00"}]
    placed = stack.post(
        "/v1/orders", order_body(f"STA-{uuid.uuid4().hex[:8]}", email, lines=lines), stack.channel_key("web")
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wait_for("confirmation", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10)
    work = _order(stack, order_id)["fulfillments"][0]
    warehouse_key = stack.config["keys"]["warehouses"][work["warehouse_id"]]
    number = f"1Z{uuid.uuid4().hex[:14].upper()}"
    for action, body in (
        ("pick", {"lines": [{"sku": SKU, "quantity": 2}]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 900}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        answer = stack.post(f"/v1/fulfillments/{work['id']}/{action}", body, warehouse_key)
        assert answer.status_code == 200, answer.text
    for status, hours, place in (
        ("in_transit", 30, "Chicago, IL"),
        ("out_for_delivery", 4, "Springfield, IL"),
        ("delivered", 1, "Springfield, IL"),
    ):
        _scan(stack, number, status, hours, place)
    wait_for("delivery", lambda: _order(stack, order_id)["status"] == "delivered", timeout=15)
    return _order(stack, order_id), email, number


def _link_in_email(stack: RunningStack, email: str, subject_word: str) -> str:
    """The status link of the customer's e-mail whose subject has ``subject_word``, as sent."""

    def found() -> str | None:
        for message in stack.emails():
            if message["To"] == email and subject_word in message["Subject"].lower():
                text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
                link = STATUS_LINK.search(text)
                html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
                assert link is not None and link.group(0) in html, "the status link is in both parts"
                return link.group(0)
        return None

    return str(wait_for(f"the {subject_word} e-mail", found, timeout=15))


def _check_page(page: Page, response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert page.locator("main").count() == 1 and page.locator("header").count() == 1
    levels: list[int] = page.eval_on_selector_all("h1, h2, h3, h4", "els => els.map(e => +e.tagName[1])")
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
    unlabelled: list[str] = page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        "els => els.filter(e => !e.labels || e.labels.length === 0).map(e => e.name || e.id)",
    )
    assert unlabelled == []


def _no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def _focus_is_visible(page: Page) -> bool:
    return bool(page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle !== 'none'"))


def _tab_to(page: Page, label: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText || '').trim(); }"
        )
        if focused == label:
            return
    pytest.fail(f"{label!r} cannot be reached with the Tab key")


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _start_return_with_the_keyboard(page: Page, reason: str) -> None:
    """Quantity 1, a reason, a note, then Enter in the note field sends the form."""
    _tab_to(page, "Quantity to return")
    assert _focus_is_visible(page)
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Reason")).to_be_focused()
    page.keyboard.type(reason)  # a closed select picks the option the typed letters start
    page.keyboard.press("Tab")
    expect(page.get_by_label("Anything to add? (optional)")).to_be_focused()
    page.keyboard.type("ordered twice by mistake")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_customer_opens_the_status_page_from_the_email_and_starts_a_return_on_a_phone(
    local_stack: RunningStack, chromium: Any
) -> None:
    stack = local_stack
    order, email, number = _delivered_order(stack)
    link = _link_in_email(stack, email, "delivered")
    context, page, violations = _tab(chromium, PHONE)
    try:
        opened = page.goto(link)
        assert opened is not None and opened.status == 200
        _check_page(page, opened)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order['external_id']}")
        timeline = page.get_by_role("list", name="Tracking history of parcel 1, newest first")
        expect(timeline.locator("li")).to_have_count(3)
        expect(timeline.locator("li").first).to_contain_text("Delivered")
        expect(timeline.locator("li").last).to_contain_text("Chicago, IL")
        expect(page.get_by_text(number)).to_be_visible()
        assert _no_horizontal_scroll(page)
        _shot(page, "phone-01-status")
        if os.environ.get("OMS_DOCS_SCREENSHOTS"):
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)

        # The skip link first, visibly focused; then the form, by keyboard only.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
        assert _focus_is_visible(page)
        _start_return_with_the_keyboard(page, "Wrong")
        assert "?return=rma_" in page.url
        expect(page.get_by_role("status")).to_contain_text("Your return is approved")
        assert _no_horizontal_scroll(page)
        _shot(page, "phone-02-return-started")
    finally:
        context.close()
    assert violations == [], "the page broke its own Content-Security-Policy"
    returns = [
        e
        for e in stack.get(f"/v1/orders/{order['id']}/events", stack.config["keys"]["admin"]).json()["items"]
        if e["type"] == "return.requested"
    ]
    assert [(r["data"]["return_status"], r["data"]["lines"]) for r in returns] == [
        ("approved", [{"sku": SKU, "quantity": 1, "reason": "Wrong item sent: ordered twice by mistake"}])
    ]


def test_the_status_page_at_desktop_width_with_the_confirmation_emails_link(
    local_stack: RunningStack, chromium: Any
) -> None:
    stack = local_stack
    order, email, _ = _delivered_order(stack)
    link = _link_in_email(stack, email, "confirmed")  # sent before the delivery: still good
    context, page, violations = _tab(chromium, DESKTOP)
    try:
        opened = page.goto(link)
        assert opened is not None and opened.status == 200
        _check_page(page, opened)
        expect(
            page.get_by_role("list", name="Tracking history of parcel 1, newest first").locator("li")
        ).to_have_count(3)
        assert _no_horizontal_scroll(page)
        _shot(page, "desktop-01-status")
        _start_return_with_the_keyboard(page, "Does")
        expect(page.get_by_role("status")).to_contain_text("Your return is approved")
        expect(page.get_by_role("heading", name=re.compile(r"^Return rma_"))).to_have_count(1)
        # One unit is left to return: the browser itself refuses two (the field's maximum) ...
        quantity = page.get_by_label("Quantity to return")
        quantity.fill("2")
        assert quantity.evaluate("e => e.validity.rangeOverflow") is True
        # ... and a quantity without a reason comes back from the server as the page, explained.
        quantity.fill("1")
        with page.expect_navigation():
            page.get_by_role("button", name="Start the return").click()
        expect(page.get_by_role("alert")).to_contain_text("choose a reason for returning it")
        expect(page.get_by_label("Quantity to return")).to_have_value("1")  # what was typed stays
        _check_page(page, page.context.request.get(link))
        _shot(page, "desktop-02-form-error")
    finally:
        context.close()
    assert violations == [], "the page broke its own Content-Security-Policy"
    bad = requests.get(link[:-4] + "AAAA", timeout=HTTP_TIMEOUT)
    assert bad.status_code == 404 and order["external_id"] not in bad.text
