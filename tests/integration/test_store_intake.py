"""Shopify and WooCommerce order webhooks, signed with test secrets, through the intake worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import SECRETS, Stack, get, order_of
from tests.integration.test_console import Console

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(store: str, name: str) -> bytes:
    return (FIXTURES / store / name).read_bytes()


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify(
    client: Client,
    body: bytes,
    topic: str = "orders/create",
    *,
    secret: str | None = None,
    webhook_id: str | None = None,
) -> Any:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign(secret or SECRETS["webhooks/shopify/shop"][0], body),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "oms-demo.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-10",
    }
    return client.http.post("/v1/webhooks/channels/shopify/shop", headers=headers, body=body)


def woocommerce(client: Client, body: bytes, topic: str, *, secret: str | None = None) -> Any:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Signature": sign(secret or SECRETS["webhooks/woocommerce/woo"][0], body),
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Source": "https://woo.example/",
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": str(uuid.uuid4()),
    }
    return client.http.post("/v1/webhooks/channels/woocommerce/woo", headers=headers, body=body)


def orders_of(client: Client, stack: Stack, channel: str) -> list[dict[str, Any]]:
    return json.loads(get(client, f"/v1/orders?channel={channel}", stack.keys["admin"]).body)["items"]  # type: ignore[no-any-return]


def status(response: Any) -> tuple[int, str]:
    return response.status_code, json.loads(response.body).get("status", "")


def test_a_shopify_order_becomes_a_confirmed_order_once(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    body = fixture("shopify", "orders-create.json")
    assert status(shopify(client, body, webhook_id="wh-1")) == (200, "accepted")
    assert status(shopify(client, body, webhook_id="wh-1")) == (200, "duplicate")
    # The store re-sends the same order under a new webhook id: still one order.
    assert status(shopify(client, body, webhook_id="wh-2")) == (200, "accepted")
    pump.run_until_idle(timeout=30)

    orders = orders_of(client, stack, "shop")
    assert len(orders) == 1
    order = order_of(client, stack, orders[0]["id"])
    assert order["external_id"] == "820982911946154508"  # above 2**53, digit for digit
    assert order["status"] == "confirmed"
    assert [(li["sku"], li["quantity"]) for li in order["lines"]] == [("TSHIRT-M", 2), ("MUG", 1)]


def test_a_wrong_secret_is_refused_and_the_previous_secret_still_works(client: Client, stack: Stack) -> None:
    body = fixture("shopify", "orders-create.json")
    refused = shopify(client, body, secret="not-the-secret")
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert stack.items("INBOUND#shop") == []
    assert status(shopify(client, body, secret=SECRETS["webhooks/shopify/shop"][1])) == (200, "accepted")
    tampered = shopify(
        client, body.replace(b"TSHIRT-M", b"TSHIRT-L"), secret=SECRETS["webhooks/shopify/shop"][0]
    )
    assert status(tampered) == (200, "accepted")  # signed after the change: fine
    resigned = body.replace(b"TSHIRT-M", b"TSHIRT-L")
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "x",
        "X-Shopify-Hmac-Sha256": sign(SECRETS["webhooks/shopify/shop"][0], body),
    }
    forged = client.http.post("/v1/webhooks/channels/shopify/shop", headers=headers, body=resigned)
    assert forged.status_code == 401


def test_unplaceable_lines_are_kept_on_the_order_on_hold_never_dropped(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    assert shopify(client, fixture("shopify", "orders-create-unknown-sku.json")).status_code == 200
    pump.run_until_idle(timeout=30)
    order = order_of(client, stack, orders_of(client, stack, "shop")[0]["id"])
    assert order["status"] == "on_hold"
    assert [h["reason"] for h in order["holds"]] == ["unresolved_lines", "manual"]
    assert [(line["title"], line["sku"], line["reason"]) for line in order["unresolved_lines"]] == [
        ("Limited Hoodie", "HOODIE-LTD-L", "SKU 'HOODIE-LTD-L' is not in the catalogue"),
        ("Gift card", None, "no SKU"),
    ]
    assert "Limited Hoodie" in order["holds"][0]["note"]
    assert "Gift card" in order["holds"][1]["note"]


HOODIE = {
    "name": "Limited hoodie, L",
    "length_mm": 300,
    "width_mm": 250,
    "height_mm": 60,
    "weight_grams": 700,
}


def test_an_order_of_an_unknown_sku_waits_on_hold_until_the_product_exists_and_is_then_confirmed(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    admin = stack.keys["admin"]
    payload = json.loads(fixture("shopify", "orders-create.json"))
    del payload["line_items"][1]
    payload["line_items"][0]["sku"] = "HOODIE-LTD-L"  # 2 x 19.99, not in the catalogue
    body = json.dumps(payload).encode()
    assert status(shopify(client, body, webhook_id="wh-1")) == (200, "accepted")
    assert status(shopify(client, body, webhook_id="wh-2")) == (200, "accepted")  # re-sent
    pump.run_until_idle(timeout=30)

    (listed,) = orders_of(client, stack, "shop")
    path = f"/v1/orders/{listed['id']}"
    held = order_of(client, stack, listed["id"])
    assert (held["status"], [h["reason"] for h in held["holds"]], held["lines"]) == (
        "on_hold",
        ["unresolved_lines"],
        [],
    )
    assert [
        (u["sku"], u["quantity"], u["unit_price"], u["store_line_id"]) for u in held["unresolved_lines"]
    ] == [("HOODIE-LTD-L", 2, "19.99", "466157049")]
    # The unresolved lines count: 39.98 + 5.00 shipping + 4.19 tax - 5.25 discount.
    assert (held["totals"]["subtotal"], held["totals"]["total"]) == ("39.98", "43.92")
    assert held["fulfillments"] == []

    refused = client.http.delete(f"{path}/holds/unresolved_lines", headers={"x-api-key": admin})
    problem = json.loads(refused.body)
    assert (refused.status_code, refused.headers["Content-Type"]) == (409, "application/problem+json")
    assert problem["unknown_skus"] == ["HOODIE-LTD-L"] and "HOODIE-LTD-L" in problem["detail"]
    assert order_of(client, stack, listed["id"])["status"] == "on_hold"

    headers = {"x-api-key": admin, "Content-Type": "application/json"}
    created = client.http.put("/v1/products/HOODIE-LTD-L", headers=headers, body=json.dumps(HOODIE))
    assert created.status_code == 201
    stocked = client.http.put(
        "/v1/inventory/wh-east/HOODIE-LTD-L", headers=headers, body=json.dumps({"on_hand": 10})
    )
    assert stocked.status_code == 200

    released = client.http.delete(f"{path}/holds/unresolved_lines", headers={"x-api-key": admin})
    assert released.status_code == 200
    pump.run_until_idle(timeout=30)
    order = order_of(client, stack, listed["id"])
    assert (order["status"], order["holds"], order["unresolved_lines"]) == ("confirmed", [], [])
    assert [(li["sku"], li["quantity"], li["line_total"]) for li in order["lines"]] == [
        ("HOODIE-LTD-L", 2, "39.98")
    ]
    assert [(f["warehouse_id"], f["status"]) for f in order["fulfillments"]] == [("wh-east", "released")]
    (level,) = [i for i in stack.items("SKU#HOODIE-LTD-L") if i["sk"]["S"] == "WH#wh-east"]
    assert (level["reserved"]["N"], level["available"]["N"]) == ("2", "8")


def test_the_console_lists_the_held_store_order_and_refuses_its_release_naming_the_unknown_sku(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    payload = json.loads(fixture("shopify", "orders-create.json"))
    del payload["line_items"][1]
    payload["line_items"][0]["sku"] = "HOODIE-LTD-L"
    assert shopify(client, json.dumps(payload).encode()).status_code == 200
    pump.run_until_idle(timeout=30)
    (listed,) = orders_of(client, stack, "shop")
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])

    attention = visitor.get("/console/attention").body.decode()
    assert listed["id"] in attention and "unresolved lines (line &#39;" in attention

    path = f"/console/orders/{listed['id']}"
    page = visitor.get(path).body.decode()
    assert f'action="{path}/holds/unresolved_lines/release"' in page
    assert "Create the missing products" in page and "store line 466157049" in page
    assert '<option value="unresolved_lines"' not in page  # not a hold a person places
    refused = visitor.post(f"{path}/holds/unresolved_lines/release", {"csrf": visitor.csrf()})
    assert refused.status_code == 409 and "HOODIE-LTD-L" in refused.body.decode()
    assert order_of(client, stack, listed["id"])["status"] == "on_hold"


def test_an_unpaid_shopify_order_waits_for_payment_and_an_update_releases_it(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    pending = fixture("shopify", "orders-create-pending.json")
    assert shopify(client, pending).status_code == 200
    pump.run_until_idle(timeout=30)
    order_id = orders_of(client, stack, "shop")[0]["id"]
    held = order_of(client, stack, order_id)
    assert held["status"] == "on_hold" and [h["reason"] for h in held["holds"]] == ["payment_pending"]

    paid = json.loads(pending)
    paid["financial_status"] = "paid"
    assert shopify(client, json.dumps(paid).encode(), topic="orders/updated").status_code == 200
    pump.run_until_idle(timeout=30)
    assert order_of(client, stack, order_id)["status"] == "confirmed"


def test_a_shopify_update_changes_the_address_and_a_cancellation_cancels(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    assert shopify(client, fixture("shopify", "orders-create.json")).status_code == 200
    pump.run_until_idle(timeout=30)
    order_id = orders_of(client, stack, "shop")[0]["id"]
    assert (
        shopify(client, fixture("shopify", "orders-updated.json"), topic="orders/updated").status_code == 200
    )
    pump.run_until_idle(timeout=30)
    updated = order_of(client, stack, order_id)
    assert (updated["shipping_address"]["line1"], updated["shipping_address"]["city"]) == (
        "20 W 34th St",
        "New York",
    )
    assert (
        shopify(client, fixture("shopify", "orders-cancelled.json"), topic="orders/cancelled").status_code
        == 200
    )
    pump.run_until_idle(timeout=30)
    assert order_of(client, stack, order_id)["status"] == "cancelled"


def test_an_older_shopify_version_delivered_late_changes_nothing(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    """Shopify's update reaches us first, its create (retried after a failure) later."""
    shopify(client, fixture("shopify", "orders-updated.json"), topic="orders/updated")
    pump.run_until_idle(timeout=30)
    (placed,) = orders_of(client, stack, "shop")
    assert placed["store_updated_at"] == "2024-09-12T15:02:45.000Z"

    assert shopify(client, fixture("shopify", "orders-create.json")).status_code == 200
    pump.run_until_idle(timeout=30)

    order = order_of(client, stack, placed["id"])
    assert (order["shipping_address"]["line1"], order["version"]) == ("20 W 34th St", placed["version"])
    assert order["store_updated_at"] == "2024-09-12T15:02:45.000Z"


def test_other_shopify_topics_are_acknowledged_and_ignored(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    response = shopify(client, b'{"id": 1}', topic="products/update")
    assert status(response) == (200, "ignored")
    pump.run_until_idle(timeout=30)
    assert orders_of(client, stack, "shop") == []


def test_woocommerce_ping_on_hold_and_cancellation(client: Client, stack: Stack, pump: EventPump) -> None:
    ping = client.http.post(
        "/v1/webhooks/channels/woocommerce/woo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=fixture("woocommerce", "ping.txt"),
    )
    assert ping.status_code == 200
    assert (
        woocommerce(
            client, fixture("woocommerce", "order-updated-on-hold.json"), "order.updated", secret="wrong"
        ).status_code
        == 401
    )
    assert (
        woocommerce(client, fixture("woocommerce", "order-updated-on-hold.json"), "order.updated").status_code
        == 200
    )
    assert (
        woocommerce(
            client, fixture("woocommerce", "order-created-processing.json"), "order.created"
        ).status_code
        == 200
    )
    pump.run_until_idle(timeout=30)
    by_external = {o["external_id"]: o for o in orders_of(client, stack, "woo")}
    on_hold = order_of(client, stack, by_external["5128"]["id"])
    assert on_hold["status"] == "on_hold" and [h["reason"] for h in on_hold["holds"]] == ["payment_pending"]
    assert order_of(client, stack, by_external["5127"]["id"])["status"] == "confirmed"

    # The store cancels order 5127 (placed above as "processing").
    assert (
        woocommerce(client, fixture("woocommerce", "order-cancelled.json"), "order.updated").status_code
        == 200
    )
    pump.run_until_idle(timeout=30)
    assert order_of(client, stack, by_external["5127"]["id"])["status"] == "cancelled"


def test_a_store_channel_of_the_wrong_kind_or_unknown_is_refused_like_a_bad_signature(
    client: Client, stack: Stack
) -> None:
    body = fixture("shopify", "orders-create.json")
    response = client.http.post(
        "/v1/webhooks/channels/shopify/woo", headers={"Content-Type": "application/json"}, body=body
    )
    assert response.status_code == 401
    assert (
        client.http.post(
            "/v1/webhooks/channels/shopify/nope", headers={"Content-Type": "application/json"}, body=body
        ).status_code
        == 401
    )
