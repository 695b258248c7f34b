"""The operations console without a browser: sessions, CSRF, CSP, escaping, and each page's use
cases, through Chalice's test client against the infra stack in moto.

The browser's view (Playwright driving Chromium against the local stack) is tests/e2e/test_console.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.adapters.api_keys import ApiKeyStore, hash_key
from chalicelib.adapters.dynamodb.items import serialize
from chalicelib.api.console.visit import _base_path, plain_error
from chalicelib.api.console_session import (
    COOKIE_NAME,
    SECURE_COOKIE_NAME,
    SessionInvalid,
    csrf_token,
    csrf_valid,
    issue_session,
    read_cookie,
    request_is_https,
    same_origin,
    verify_session,
)
from chalicelib.domain.auth import Role
from chalicelib.domain.errors import ConcurrencyConflict, Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.tokens import issue_token
from chalicelib.service.kpis import counter_name
from tests.integration.conftest import Stack, order_body, order_of, place, post_json

LOCAL = {"host": "127.0.0.1:8000"}
KEYS = ["console-test-key"]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


# --- the session and CSRF rules, pure -----------------------------------------------------------


def test_a_session_names_the_key_by_its_hash_and_expires() -> None:
    key_hash = hash_key("oms_ad_secret")
    token = issue_session(key_hash, keys=KEYS, now=NOW)
    assert "oms_ad_secret" not in token
    assert verify_session(token, keys=KEYS, now=NOW + timedelta(hours=7)) == key_hash
    with pytest.raises(SessionInvalid):
        verify_session(token, keys=KEYS, now=NOW + timedelta(hours=8, seconds=1))
    with pytest.raises(SessionInvalid):
        verify_session(token, keys=["another-key"], now=NOW)
    with pytest.raises(SessionInvalid):
        verify_session(token[:-2] + "xx", keys=KEYS, now=NOW)
    # Still valid during a key rotation (the new key first, the old one second).
    assert verify_session(token, keys=["new-key", *KEYS], now=NOW) == key_hash


def test_a_link_token_is_not_a_session() -> None:
    feedback = issue_token("feedback", "ord_1", key=KEYS[0], now=NOW, lifetime=timedelta(days=1))
    with pytest.raises(SessionInvalid):
        verify_session(feedback, keys=KEYS, now=NOW)


def test_the_csrf_token_is_bound_to_the_session() -> None:
    one = issue_session(hash_key("a"), keys=KEYS, now=NOW)
    other = issue_session(hash_key("b"), keys=KEYS, now=NOW)
    token = csrf_token(one, keys=KEYS)
    assert csrf_valid(one, token, keys=KEYS)
    assert csrf_valid(one, token, keys=["rotated", *KEYS])
    assert not csrf_valid(other, token, keys=KEYS)
    assert not csrf_valid(one, None, keys=KEYS)
    assert not csrf_valid(one, "", keys=KEYS)
    assert not csrf_valid(one, token[:-1] + "A", keys=KEYS)
    assert not csrf_valid(one, "é" * 43, keys=KEYS)


def test_cookies_are_read_by_name_whatever_else_the_header_holds() -> None:
    assert read_cookie(None) is None
    assert read_cookie("other=1; oms_console=abc.def") == "abc.def"
    assert read_cookie('weird="x; oms_console=abc.def') == "abc.def"
    assert read_cookie(f"{COOKIE_NAME}=plain; {SECURE_COOKIE_NAME}=hosted") == "hosted"
    assert read_cookie("oms_console=") is None


@pytest.mark.parametrize(
    ("headers", "https"),
    [
        ({"host": "127.0.0.1:8000"}, False),
        ({"host": "localhost:8000"}, False),
        ({"host": "[::1]:8000"}, False),
        ({"host": "abc.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"}, True),
        ({"host": "127.0.0.1:8000", "x-forwarded-proto": "https"}, True),
        ({"host": "ops.example.com"}, True),  # unknown: the safe side
        ({"host": "ops.example.com", "x-forwarded-proto": "http"}, False),
    ],
)
def test_secure_cookies_except_on_plain_http_to_loopback(headers: dict[str, str], https: bool) -> None:
    assert request_is_https(headers) is https


def test_posts_from_another_site_are_recognised() -> None:
    host = {"host": "127.0.0.1:8000"}
    assert same_origin(host)
    assert same_origin({**host, "origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"})
    assert not same_origin({**host, "origin": "http://evil.example"})
    assert not same_origin({**host, "origin": "null"})
    assert not same_origin({**host, "sec-fetch-site": "cross-site"})
    assert not same_origin({**host, "sec-fetch-site": "same-site"})


@pytest.mark.parametrize(
    ("context_path", "route", "params", "base"),
    [
        ("/console/orders", "/console/orders", {}, ""),  # chalice's local server
        ("/api/console/orders", "/console/orders", {}, "/api"),  # API Gateway's stage
        ("/ops/console/orders/ord_1", "/console/orders/{order_id}", {"order_id": "ord_1"}, "/ops"),
        ("/api/console/orders/ord%5F1", "/console/orders/{order_id}", {"order_id": "ord_1"}, "/api"),
    ],
)
def test_links_keep_the_path_the_browser_used(
    context_path: str, route: str, params: dict[str, str], base: str
) -> None:
    request = SimpleNamespace(
        context={"path": context_path, "stage": "api"}, path=route, uri_params=params or None
    )
    assert _base_path(SimpleNamespace(request=request)) == base  # type: ignore[arg-type]


def test_use_case_errors_in_plain_words() -> None:
    assert plain_error(NotFound("order", "ord_x")) == (404, "Not found: order ord_x does not exist.")
    assert (
        plain_error(Conflict("too late to cancel: fulfillments f1 (packed) are packed or shipped"))[0] == 409
    )
    assert plain_error(InputInvalid([FieldError(["lines"], "SKU X is not in the order")])) == (
        422,
        "SKU X is not in the order",
    )
    assert "Someone else changed" in plain_error(ConcurrencyConflict("x"))[1]


# --- the console over HTTP (Chalice's test client) ----------------------------------------------


def _form(data: dict[str, str] | list[tuple[str, str]]) -> bytes:
    return urlencode(data).encode()


class Console:
    """A signed-in (or not) visitor of the console, keeping the cookie like a browser would."""

    def __init__(self, client: Client, **headers: str) -> None:
        self.client = client
        self.headers = {**LOCAL, **headers}
        self.cookie: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(self.headers)
        if self.cookie:
            headers["cookie"] = self.cookie
        return {**headers, **(extra or {})}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self._headers())

    def post(self, path: str, data: dict[str, str] | list[tuple[str, str]], **extra: str) -> Any:
        headers = self._headers({"content-type": "application/x-www-form-urlencoded", **extra})
        return self.client.http.post(path, headers=headers, body=_form(data))

    def sign_in(self, key: str) -> Any:
        response = self.post("/console/signin", {"key": key})
        set_cookie = response.headers.get("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        return response

    def csrf(self, path: str = "/console/orders") -> str:
        page = self.get(path)
        assert page.status_code == 200, page.body
        match = re.search(r'name="csrf" value="([^"]+)"', page.body.decode())
        assert match, "every signed-in page carries the CSRF token"
        return match.group(1)


def _text(response: Any) -> str:
    return str(response.body.decode())


def test_the_sign_in_page_is_public_and_sends_its_policy(client: Client, stack: Stack) -> None:
    page = Console(client).get("/console")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "img-src 'self' data:",
    ):
        assert directive in csp
    body = _text(page)
    assert '<form method="post" action="/console/signin"' in body
    assert '<label for="key">' in body and "<script" not in body


def test_a_wrong_key_gets_no_cookie_and_sees_no_page(client: Client, stack: Stack) -> None:
    visitor = Console(client)
    response = visitor.sign_in("oms_ad_not-a-real-key")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert "unknown or has been revoked" in _text(response)
    for path in ("/console/orders", "/console/attention", "/console/inventory", "/console/kpis"):
        page = visitor.get(path)
        assert page.status_code == 303, path
        assert page.headers["Location"] == "/console"
    # A made-up cookie is no better, and is cleared.
    visitor.cookie = f"{COOKIE_NAME}=forged.token"
    page = visitor.get("/console/orders")
    assert page.status_code == 303
    assert "Max-Age=0" in page.headers["Set-Cookie"]


@pytest.mark.parametrize("role_key", ["web", "wh-east"])
def test_channel_and_warehouse_keys_cannot_use_the_console(
    client: Client, stack: Stack, role_key: str
) -> None:
    visitor = Console(client)
    response = visitor.sign_in(stack.keys[role_key])
    assert response.status_code == 403
    assert "needs an admin key" in _text(response)
    assert "Set-Cookie" not in response.headers
    # A session cookie forged for such a key (signed correctly) is refused too.
    token = issue_session(hash_key(stack.keys[role_key]), keys=["link-signing-key-1"], now=datetime.now(UTC))
    visitor.cookie = f"{COOKIE_NAME}={token}"
    assert visitor.get("/console/orders").status_code == 303


def test_the_admin_signs_in_with_a_safe_cookie(client: Client, stack: Stack) -> None:
    visitor = Console(client)
    response = visitor.sign_in(stack.keys["admin"])
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/orders"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    assert {"Path=/", "HttpOnly", "SameSite=Strict"} <= set(attributes)
    assert "Secure" not in attributes  # plain http on 127.0.0.1
    assert stack.keys["admin"] not in cookie
    assert visitor.get("/console").headers["Location"] == "/console/orders"
    assert visitor.get("/console/orders").status_code == 200


def test_behind_api_gateway_the_cookie_is_secure_and_links_keep_the_stage(
    client: Client, stack: Stack
) -> None:
    visitor = Console(
        client, host="abc.execute-api.us-east-1.amazonaws.com", **{"x-forwarded-proto": "https"}
    )
    cookie = visitor.sign_in(stack.keys["admin"]).headers["Set-Cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE_NAME}=")
    assert "Secure" in [part.strip() for part in cookie.split(";")]
    assert visitor.get("/console/orders").status_code == 200


def test_every_page_has_its_policy_and_no_script(client: Client, stack: Stack) -> None:
    order = place(client, stack, order_body("WEB-CSP-1"))
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    for path in (
        "/console/orders",
        f"/console/orders/{order['id']}",
        "/console/attention",
        "/console/inventory",
        "/console/kpis",
        "/console/static/console.css",
        "/console/orders/ord_missing",
    ):
        page = visitor.get(path)
        assert page.status_code in (200, 404), (path, page.status_code, page.body[:300])
        assert "default-src 'self'" in page.headers["Content-Security-Policy"], path
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert b"<script" not in page.body, path
    assert visitor.get("/console/static/console.css").headers["Content-Type"].startswith("text/css")
    assert visitor.get("/console/static/app.js").status_code == 404
    missing = visitor.get("/console/orders/ord_missing")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")


def test_posts_need_the_session_csrf_token(client: Client, stack: Stack) -> None:
    order = place(client, stack, order_body("WEB-CSRF-1"))
    path = f"/console/orders/{order['id']}/holds"
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()
    assert visitor.post(path, {"reason": "manual"}).status_code == 403
    assert visitor.post(path, {"reason": "manual", "csrf": "x" * 43}).status_code == 403
    # Another admin's session token does not fit this session.
    other = Console(client)
    other.sign_in(ApiKeyStore(stack.client("dynamodb"), stack.table).mint(Role.ADMIN, None).raw_key)
    assert visitor.post(path, {"reason": "manual", "csrf": other.csrf()}).status_code == 403
    assert order_of(client, stack, order["id"])["holds"] == []
    # From another site, even with the right token.
    refused = visitor.post(path, {"reason": "manual", "csrf": token}, origin="http://evil.example")
    assert refused.status_code == 403
    assert order_of(client, stack, order["id"])["holds"] == []
    done = visitor.post(path, {"reason": "manual", "note": "call the customer", "csrf": token})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/console/orders/{order['id']}?done=hold_placed"
    held = order_of(client, stack, order["id"])
    assert held["status"] == "on_hold"
    assert held["holds"][0]["note"] == "call the customer"
    assert held["holds"][0]["placed_by"].startswith("admin:key_")
    # Without a session a POST answers with the sign-in page.
    assert Console(client).post(path, {"reason": "manual", "csrf": token}).status_code == 401


def test_a_revoked_key_ends_the_session_at_the_next_request(client: Client, stack: Stack) -> None:
    store = ApiKeyStore(stack.client("dynamodb"), stack.table)
    extra = store.mint(Role.ADMIN, None, label="second admin").raw_key
    visitor = Console(client)
    visitor.sign_in(extra)
    assert visitor.get("/console/orders").status_code == 200
    store.revoke(extra)
    response = visitor.get("/console/orders")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console"


def test_sign_out_clears_the_cookie(client: Client, stack: Stack) -> None:
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    response = visitor.post("/console/signout", {"csrf": visitor.csrf()})
    assert response.status_code == 303
    assert response.headers["Location"] == "/console"
    assert response.headers["Set-Cookie"].startswith(f"{COOKIE_NAME}=;")
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_values_are_escaped_on_every_page(client: Client, stack: Stack) -> None:
    evil = "<script>alert(1)</script>"
    body = order_body("WEB-<b>X</b>", customer={"email": "eve@example.com", "name": evil})
    order = place(client, stack, body)
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()
    visitor.post(f"/console/orders/{order['id']}/holds", {"reason": "manual", "note": evil, "csrf": token})
    for path in (
        f"/console/orders/{order['id']}",
        "/console/orders?q=eve%40example.com",
        "/console/attention",
        "/console/orders?q=%3Cscript%3E",
    ):
        text = _text(visitor.get(path))
        assert "<script" not in text, path
        assert "<b>X</b>" not in text, path
    detail = _text(visitor.get(f"/console/orders/{order['id']}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "WEB-&lt;b&gt;X&lt;/b&gt;" in detail


def test_orders_page_filters_searches_and_counts(client: Client, stack: Stack) -> None:
    web = place(client, stack, order_body("WEB-FIND-1"))
    mobile = place(
        client,
        stack,
        order_body("MOB-FIND-1", customer={"email": "bob@example.com", "name": "Bob"}),
        "mobile",
    )
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    page = _text(visitor.get("/console/orders"))
    assert "WEB-FIND-1" in page and "MOB-FIND-1" in page
    assert re.search(r'badge-placed">placed</span>\s*<span class="count">2</span>', page)
    by_channel = _text(visitor.get("/console/orders?channel=mobile"))
    assert "MOB-FIND-1" in by_channel and "WEB-FIND-1" not in by_channel
    assert re.search(r'badge-placed">placed</span>\s*<span class="count">1</span>', by_channel)
    by_external_id = _text(visitor.get("/console/orders?q=WEB-FIND-1"))
    assert f"/console/orders/{web['id']}" in by_external_id and "MOB-FIND-1" not in by_external_id
    other_channel = _text(visitor.get("/console/orders?q=MOB-FIND-1&channel=web"))
    assert f"/console/orders/{mobile['id']}" not in other_channel and "No orders match" in other_channel
    by_id = _text(visitor.get(f"/console/orders?q={web['id']}"))
    assert "WEB-FIND-1" in by_id
    by_email = _text(visitor.get("/console/orders?q=BOB%40example.com"))
    assert "MOB-FIND-1" in by_email and "WEB-FIND-1" not in by_email
    assert "looks through 100 orders at a time" in by_email
    assert "No orders" in _text(visitor.get("/console/orders?status=delivered"))
    bad = visitor.get("/console/orders?status=lost&from=yesterday")
    assert bad.status_code == 422
    assert "There is no status" in _text(bad) and "must be a date" in _text(bad)
    today = datetime.now(UTC).date()
    future = _text(visitor.get(f"/console/orders?from={today + timedelta(days=2)}"))
    assert "WEB-FIND-1" not in future


def test_orders_page_pages_with_the_api_cursor(client: Client, stack: Stack) -> None:
    for n in range(27):
        place(client, stack, order_body(f"WEB-PAGE-{n:02d}"))
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    first = _text(visitor.get("/console/orders"))
    assert first.count('<tr>\n      <th scope="row">') == 25
    match = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first)
    assert match
    second = _text(visitor.get(match.group(1).replace("&amp;", "&")))
    assert "WEB-PAGE-00" in second and "WEB-PAGE-01" in second and "WEB-PAGE-26" not in second
    assert 'rel="next"' not in second
    # A cursor that belongs to no listing starts again from the first page.
    assert visitor.get("/console/orders?cursor=bm90LWEtY3Vyc29y").status_code == 303


def test_order_actions_use_the_api_rules_and_say_why_they_fail(client: Client, stack: Stack) -> None:
    order = place(
        client,
        stack,
        order_body("WEB-ACT-1", lines=[{"sku": "TSHIRT-M", "quantity": 3, "unit_price": "19.99"}]),
    )
    path = f"/console/orders/{order['id']}"
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()
    visitor.post(f"{path}/holds", {"reason": "fraud_review", "csrf": token})
    page = _text(visitor.get(f"{path}?done=hold_placed"))
    assert "The hold was placed." in page
    assert f'action="{path}/holds/fraud_review/release"' in page
    released = visitor.post(f"{path}/holds/fraud_review/release", {"csrf": token})
    assert released.status_code == 303
    assert order_of(client, stack, order["id"])["holds"] == []
    again = visitor.post(f"{path}/holds/fraud_review/release", {"csrf": token})
    assert again.status_code == 404 and "does not exist" in _text(again)
    no_reason = visitor.post(f"{path}/cancel", {"reason": "", "scope": "order", "csrf": token})
    assert no_reason.status_code == 422 and "Give a reason" in _text(no_reason)
    too_many = visitor.post(
        f"{path}/cancel",
        [("reason", "customer asked"), ("scope", "lines"), ("qty:TSHIRT-M", "9"), ("csrf", token)],
    )
    assert too_many.status_code == 422
    some = visitor.post(
        f"{path}/cancel",
        [("reason", "customer asked"), ("scope", "lines"), ("qty:TSHIRT-M", "1"), ("csrf", token)],
    )
    assert some.status_code == 303 and some.headers["Location"].endswith("done=lines_cancelled")
    assert order_of(client, stack, order["id"])["lines"][0]["cancelled"] == 1
    whole = visitor.post(f"{path}/cancel", {"reason": "customer asked", "scope": "order", "csrf": token})
    assert whole.status_code == 303
    assert order_of(client, stack, order["id"])["status"] == "cancelled"
    late = visitor.post(f"{path}/holds", {"reason": "manual", "csrf": token})
    assert late.status_code == 409
    assert "can no longer be held" in _text(late)
    timeline = _text(visitor.get(path))
    for event_type in ("order.placed", "order.on_hold", "order.lines_cancelled", "order.cancelled"):
        assert f'<th scope="row">{event_type}</th>' in timeline


def test_needs_attention_lists_holds_unmatched_tracking_and_dead_letter_queues(
    client: Client, stack: Stack
) -> None:
    order = place(client, stack, order_body("WEB-ATT-1"))
    post_json(client, f"/v1/orders/{order['id']}/holds", {"reason": "manual"}, stack.keys["admin"])
    today = datetime.now(UTC).date().isoformat()
    stack.client("dynamodb").put_item(
        TableName=stack.table,
        Item=serialize({"pk": f"KPI#{today}", "sk": "unmatched_tracking_events", "value": 4}),
    )
    sqs = stack.client("sqs")
    dlq = sqs.get_queue_url(QueueName="oms-itest-receipt-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    page = _text(visitor.get("/console/attention"))
    assert "WEB-ATT-1" in page
    assert re.search(rf'<th scope="row">{today}</th><td class="num">4</td>', page)
    assert re.search(r'oms-itest-receipt-dlq</th><td class="num">1</td>', page)
    assert "oms-itest-notify-dlq" in page
    assert "Nothing is late." in page and "No delivery problems." in page


def test_inventory_lists_stock_and_records_a_cycle_count(client: Client, stack: Stack) -> None:
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    page = _text(visitor.get("/console/inventory?warehouse=wh-west"))
    assert "POSTER" in page and "wh-east</td>" not in page
    assert "stock-out" in _text(visitor.get("/console/inventory?show=low"))
    token = visitor.csrf("/console/inventory")
    counted = visitor.post(
        "/console/inventory/counts", {"warehouse": "wh-east", "sku": "MUG", "counted": "3", "csrf": token}
    )
    assert counted.status_code == 200
    assert "Cycle count recorded for MUG in wh-east: 3 counted, 5 expected (-2)" in _text(counted)
    unknown = visitor.post(
        "/console/inventory/counts", {"warehouse": "wh-east", "sku": "NOPE", "counted": "1", "csrf": token}
    )
    assert unknown.status_code == 422 and "unknown SKU NOPE" in _text(unknown)
    bad = visitor.post(
        "/console/inventory/counts", {"warehouse": "wh-east", "sku": "MUG", "counted": "lots", "csrf": token}
    )
    assert bad.status_code == 422 and "whole number" in _text(bad)


def test_kpi_page_draws_charts_from_the_counters(client: Client, stack: Stack) -> None:
    today = datetime.now(UTC).date()
    dynamodb = stack.client("dynamodb")
    for day, channel, metric, value in [
        (today, "web", "orders_placed", 3),
        (today, "mobile", "orders_placed", 2),
        (today - timedelta(days=1), "web", "orders_placed", 1),
        (today, "web", "order_to_ship_hours#24", 2),
        (today, "web", "shipped_fulfillments", 2),
        (today, "web", "on_time_ship", 1),
        (today, "web", "csat_sum", 9),
        (today, "web", "csat_responses", 2),
    ]:
        dynamodb.put_item(
            TableName=stack.table,
            Item=serialize(
                {"pk": f"KPI#{day.isoformat()}", "sk": counter_name(channel, metric), "value": value}
            ),
        )
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    page = visitor.get("/console/kpis")
    assert page.status_code == 200
    text = _text(page)
    nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    assert text.count("<svg") == 4
    assert text.count(f'<style type="text/css" nonce="{nonce}">') == 4
    assert 'style="' not in text
    orders_chart = text[text.index('id="chart-orders"') : text.index('id="chart-ship-hours"')]
    assert orders_chart.count('class="rect reactive tooltip-trigger"') >= 3
    assert ">web<" in orders_chart and ">mobile<" in orders_chart
    assert "50.0 %" in text  # the on-time rate, as a figure and on its bar
    assert "4.50 / 5" in text
    web_only = _text(visitor.get(f"/console/kpis?channel=web&from={today - timedelta(days=1)}&to={today}"))
    assert ">mobile<" not in web_only
    bad = visitor.get(f"/console/kpis?from={today}&to={today - timedelta(days=3)}")
    assert bad.status_code == 422 and "must not be before from" in _text(bad)
