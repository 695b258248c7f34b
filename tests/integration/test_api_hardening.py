"""Tenant isolation, existence oracles and malformed input, through the routes on moto.

Each test here pins one defect of the external review: a warehouse key reading any
channel's return, answers that tell a foreign object from a missing one, and inputs
that used to end in a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import Stack, get, order_body, place, post_json
from tests.integration.test_returns_inventory import delivered_order

PROBLEM_JSON = "application/problem+json"


def problem_of(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON), response.body
    body = json.loads(response.body)
    assert isinstance(body, dict) and body["status"] == response.status_code
    return body


def without(ident: str, response: Any) -> tuple[int, str]:
    """The answer with the id it names blanked out, to compare a foreign object's with a missing one's."""
    return response.status_code, response.body.decode().replace(ident, "<id>")


# --- defect 3: warehouse keys and returns ---------------------------------------------------------


def test_a_warehouse_key_reads_the_returns_of_orders_it_shipped_and_no_others(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZISOLATE01")  # shipped from wh-east
    created = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "too small"}]},
        stack.keys["web"],
    )
    rma_id = json.loads(created.body)["id"]

    assert get(client, f"/v1/returns/{rma_id}", stack.keys["wh-east"]).status_code == 200
    foreign = get(client, f"/v1/returns/{rma_id}", stack.keys["wh-west"])
    missing = get(client, "/v1/returns/rma_doesnotexist", stack.keys["wh-west"])
    assert foreign.status_code == 404
    assert without(rma_id, foreign) == without("rma_doesnotexist", missing)


# --- defect 4: existence oracles ------------------------------------------------------------------


def test_another_channels_order_answers_exactly_like_a_missing_one(client: Client, stack: Stack) -> None:
    order_id = place(client, stack, order_body("ORACLE-1"))["id"]  # the web channel's
    for path in ("/v1/orders/{}", "/v1/orders/{}/events", "/v1/orders/{}/tracking"):
        foreign = get(client, path.format(order_id), stack.keys["mobile"])
        missing = get(client, path.format("ord_doesnotexist"), stack.keys["mobile"])
        assert foreign.status_code == 404, path
        assert without(order_id, foreign) == without("ord_doesnotexist", missing), path
    cancel = {"reason": "changed mind"}
    foreign = post_json(client, f"/v1/orders/{order_id}/cancel", cancel, stack.keys["mobile"])
    missing = post_json(client, "/v1/orders/ord_doesnotexist/cancel", cancel, stack.keys["mobile"])
    assert without(order_id, foreign) == without("ord_doesnotexist", missing)


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "shopify-secret-new"])
def test_a_store_webhook_to_an_unknown_channel_answers_like_a_bad_signature_to_a_known_one(
    client: Client, stack: Stack, signature: str
) -> None:
    body = json.dumps({"id": 1}).encode()
    if signature == "shopify-secret-new":  # the known store's real secret: still no use elsewhere
        signature = shopify_signature(signature, body)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "w-1",
    }
    known_bad = client.http.post(
        "/v1/webhooks/channels/shopify/shop",
        headers={**headers, "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl"},
        body=body,
    )
    for channel_id in ("nosuchchannel", "woo", "web"):  # unknown, another kind, not a store
        answer = client.http.post(f"/v1/webhooks/channels/shopify/{channel_id}", headers=headers, body=body)
        assert answer.status_code == 401, (channel_id, answer.body)
        assert without(channel_id, answer) == without("shop", known_bad)


def test_the_woocommerce_ping_is_answered_the_same_for_any_channel_id(client: Client, stack: Stack) -> None:
    ping = {"Content-Type": "application/x-www-form-urlencoded"}
    known = client.http.post("/v1/webhooks/channels/woocommerce/woo", headers=ping, body=b"webhook_id=7")
    unknown = client.http.post("/v1/webhooks/channels/woocommerce/nosuch", headers=ping, body=b"webhook_id=7")
    assert (known.status_code, known.body) == (unknown.status_code, unknown.body) == (200, known.body)


# --- defect 5: malformed input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 50_000,
        b"[" * 100 + b"]" * 100,
        b'{"rating": ' + b"9" * 5_000 + b"}",
        b'{"rating": 1e999999}',
        b'{"rating": NaN}',
        b'{"rating": -Infinity}',
        b'{"rating": 5, "comment": "\\ud800"}',
        b"\xff\xfe{}",
        b"[" * 40 + b'"' + b'\\"' * 120_000,
    ],
    ids=[
        "50000-brackets",
        "nested-100",
        "5000-digits",
        "huge-float",
        "nan",
        "infinity",
        "lone-surrogate",
        "not-utf8",
        "unterminated-string-of-escaped-quotes",  # was quadratic in the depth scan
    ],
)
def test_a_malformed_json_body_is_a_400_problem_without_a_key(client: Client, body: bytes) -> None:
    response = client.http.post(
        "/v1/feedback/some-token", headers={"Content-Type": "application/json"}, body=body
    )
    assert response.status_code == 400, response.body
    assert problem_of(response)["type"].endswith("/malformed-json")


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01",
        "9999-12-31",
        "2026-02-30",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00+25:00",
    ],
)
def test_an_impossible_or_unrepresentable_date_in_a_query_is_a_422(
    client: Client, stack: Stack, moment: str
) -> None:
    for name in ("created_from", "created_to"):
        response = get(client, f"/v1/orders?{name}={moment.replace('+', '%2B')}", stack.keys["admin"])
        if response.status_code == 200:
            continue  # a far date that still has a meaning
        assert response.status_code == 422, (name, response.body)
        assert problem_of(response)["errors"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    "text",
    ["Ada\x00Lovelace", "Ada \u202eecalevoL", "Ada\u2066x\u2069", "Ada\x1b[31m", "Ada\x85", "Ada\nLovelace"],
)
def test_control_and_bidi_characters_in_names_and_addresses_are_refused(
    client: Client, stack: Stack, text: str
) -> None:
    body = order_body("CTRL-1")
    body["shipping_address"]["line1"] = text
    body["customer"]["name"] = text
    response = post_json(client, "/v1/orders", body, stack.keys["web"])
    assert response.status_code == 422, response.body
    locs = {tuple(e["loc"]) for e in problem_of(response)["errors"]}
    assert locs == {("shipping_address", "line1"), ("customer", "name")}


def test_a_free_text_note_keeps_its_newlines_but_not_other_controls(client: Client, stack: Stack) -> None:
    order_id = place(client, stack, order_body("NOTE-1"))["id"]
    path = f"/v1/orders/{order_id}/holds"
    refused = post_json(client, path, {"reason": "manual", "note": "call\x00 first"}, stack.keys["admin"])
    assert refused.status_code == 422, refused.body
    kept = post_json(client, path, {"reason": "manual", "note": "call first\nthen ship"}, stack.keys["admin"])
    assert kept.status_code == 200, kept.body


@pytest.mark.parametrize(
    "path",
    [
        "/v1/kpis?from=9999-12-31&to=9999-12-31",
        "/v1/kpis?from=0001-01-01&to=0001-01-01",
        "/v1/kpis?from=2026-02-29&to=2026-03-01",
        "/v1/orders?limit=" + "9" * 5_000,
        "/v1/orders?limit=-0",
        "/v1/orders?created_from=2026-11-26&created_to=0001-01-01",
        "/v1/warehouses/wh-east/pick-lists?limit=" + "9" * 5_000,
        "/v1/inventory?below_reorder_point=" + "1" * 5_000,
    ],
    ids=[
        "kpis-year-9999",
        "kpis-year-1",
        "kpis-not-a-leap-year",
        "limit-5000-digits",
        "limit-minus-zero",
        "range-backwards",
        "pick-list-limit-5000-digits",
        "flag-5000-digits",
    ],
)
def test_calendar_edges_and_huge_numbers_in_queries_are_answered_without_a_5xx(
    client: Client, stack: Stack, path: str
) -> None:
    response = get(client, path, stack.keys["admin"])
    assert response.status_code < 500, response.body
    if response.status_code >= 400:
        assert problem_of(response)["status"] == response.status_code
