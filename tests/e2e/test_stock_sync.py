"""Over HTTP against ``make run``'s stack: a fake Shopify and a fake WooCommerce store on 127.0.0.1
connected with stock sync; orders arrive by their signed webhooks, goods are received, an order is
cancelled, and the stores' inventory levels end equal to the OMS's ``available``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, post_store_order, wait_for
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EAST, WEST = "gid://shopify/Location/1", "gid://shopify/Location/2"
#: The demo catalogue's SKUs the fake stores sell (the others are unknown to them).
SOLD = ("TSHIRT-M", "MUG-CER-WHT", "TEE-ORG-BLK-M")
#: Generous: the push follows a burst by a few seconds, on a busy machine.
SYNC_TIMEOUT = 90


def patch(stack: RunningStack, path: str, body: Any) -> requests.Response:
    headers = {"content-type": "application/json", "x-api-key": stack.config["keys"]["admin"]}
    return requests.patch(stack.api_url + path, json=body, headers=headers, timeout=HTTP_TIMEOUT)


@pytest.fixture
def stores(local_stack: RunningStack) -> Iterator[tuple[FakeShopify, FakeWooCommerce]]:
    """The two demo channels connected to fake stores with stock sync, disconnected afterwards."""
    shopify, woo = FakeShopify(), FakeWooCommerce()
    for sku in SOLD:
        shopify.add_variant(sku, locations={EAST: 0, WEST: 0})
        woo.add_product(sku, stock_quantity=0)
    with serving(shopify), serving(woo):
        connected = patch(
            local_stack,
            "/v1/channels/shopify-demo",
            {
                "store_api": {"url": shopify.url, "access_token": shopify.access_token},
                "locations": {"wh-east": EAST, "wh-west": WEST},
                "stock_sync": True,
            },
        )
        assert connected.status_code == 200, connected.text
        woo_api = {"url": woo.url, "consumer_key": woo.consumer_key, "consumer_secret": woo.consumer_secret}
        connected = patch(
            local_stack, "/v1/channels/woocommerce-demo", {"store_api": woo_api, "stock_sync": True}
        )
        assert connected.status_code == 200, connected.text
        try:
            yield shopify, woo
        finally:
            for channel in ("shopify-demo", "woocommerce-demo"):
                patch(local_stack, f"/v1/channels/{channel}", {"stock_sync": False, "store_api": None})


def oms_available(stack: RunningStack) -> dict[tuple[str, str], int]:
    listing = stack.get("/v1/inventory", stack.config["keys"]["admin"])
    assert listing.status_code == 200, listing.text
    return {(line["sku"], line["warehouse_id"]): line["available"] for line in listing.json()["items"]}


def shopify_levels(fake: FakeShopify) -> dict[tuple[str, str], int]:
    with fake.lock:
        items = dict(fake.variants)
        return {
            (sku, warehouse): fake.available[(items[sku], location)]
            for sku in SOLD
            for warehouse, location in (("wh-east", EAST), ("wh-west", WEST))
        }


def woo_levels(fake: FakeWooCommerce) -> dict[str, int | None]:
    with fake.lock:
        return {p.sku: p.stock_quantity for p in fake.products.values()}


def in_sync(stack: RunningStack, shopify: FakeShopify, woo: FakeWooCommerce) -> bool:
    available = oms_available(stack)
    expected_shopify = {
        (sku, wh): available.get((sku, wh), 0) for sku in SOLD for wh in ("wh-east", "wh-west")
    }
    expected_woo = {sku: sum(v for (s, _), v in available.items() if s == sku) for sku in SOLD}
    return shopify_levels(shopify) == expected_shopify and woo_levels(woo) == expected_woo


def deliver_shopify(stack: RunningStack) -> str:
    order = json.loads((FIXTURES / "shopify" / "orders-create.json").read_bytes())
    order["id"] = int(str(uuid.uuid4().int)[:19])
    for line in order["line_items"]:
        line["sku"] = {"MUG": "MUG-CER-WHT"}.get(line["sku"], line["sku"])
    post_store_order(stack, "shopify", "shopify-demo", order)
    return str(order["id"])


def deliver_woo(stack: RunningStack) -> str:
    order = json.loads((FIXTURES / "woocommerce" / "order-created-processing.json").read_bytes())
    order["id"] = int(uuid.uuid4().int % 10**9)
    order["line_items"] = order["line_items"][:1]
    order["line_items"][0]["sku"] = "TEE-ORG-BLK-M"
    post_store_order(stack, "woocommerce", "woocommerce-demo", order)
    return str(order["id"])


def placed(stack: RunningStack, channel: str, external_id: str) -> dict[str, Any] | None:
    listing = stack.get(f"/v1/orders?channel={channel}&limit=100", stack.config["keys"]["admin"]).json()
    mine = [o for o in listing["items"] if o["external_id"] == external_id]
    return mine[0] if mine else None


def test_the_stores_inventory_levels_end_equal_to_the_oms_available(
    local_stack: RunningStack, stores: tuple[FakeShopify, FakeWooCommerce]
) -> None:
    stack, (shopify, woo) = local_stack, stores
    admin = stack.config["keys"]["admin"]
    # Connecting pushed the whole catalogue.
    wait_for(
        "the catalogue pushed to both stores", lambda: in_sync(stack, shopify, woo), timeout=SYNC_TIMEOUT
    )

    shopify_order = deliver_shopify(stack)
    woo_order = deliver_woo(stack)
    wait_for("the Shopify order", lambda: placed(stack, "shopify-demo", shopify_order), timeout=30)
    woo_placed = wait_for(
        "the WooCommerce order", lambda: placed(stack, "woocommerce-demo", woo_order), timeout=30
    )
    received = stack.post("/v1/inventory/wh-west/TSHIRT-M/receipts", {"quantity": 7}, admin)
    assert received.status_code == 201, received.text
    cancelled = stack.post(
        f"/v1/orders/{woo_placed['id']}/cancel", {"reason": "customer changed their mind"}, admin
    )
    assert cancelled.status_code == 200, cancelled.text

    wait_for(
        "the stores' levels to equal available", lambda: in_sync(stack, shopify, woo), timeout=SYNC_TIMEOUT
    )
    assert shopify.operations().count("inventorySetQuantities") >= 1
    assert any(r.method == "PUT" for r in woo.requests)
