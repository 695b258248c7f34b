"""Stock levels pushed to fake stores on 127.0.0.1 from the app on moto, driven by the event pump:
coalesced (a burst of reservations costs a handful of calls), per location for Shopify and summed
for WooCommerce, retried through the queue when throttled, kept when the token is refused, and
not asked again for a SKU the store does not sell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.bootstrap import reset_services, services
from chalicelib.workers import stock_sync as worker
from infra.local.pump import EventPump
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving
from tests.integration.conftest import Stack, order_body, patch_json, place, post_json

EAST = "gid://shopify/Location/7001"
WEST = "gid://shopify/Location/7002"


@pytest.fixture(autouse=True)
def stock_sync_env(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> None:
    """Loopback stores allowed (as in the local stack); pushes one second after a burst starts."""
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "true")
    monkeypatch.setenv("OMS_STOCK_SYNC_DELAY_SECONDS", "1")
    reset_services()


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    fake = FakeShopify()
    for sku in ("TSHIRT-M", "MUG"):
        fake.add_variant(sku, locations={EAST: 0, WEST: 0})
    with serving(fake):
        yield fake


@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    fake = FakeWooCommerce()
    fake.add_product("TSHIRT-M", stock_quantity=0)
    parent = fake.add_product("MUG-PARENT")
    fake.add_variation(parent, "MUG", stock_quantity=0)
    with serving(fake):
        yield fake


def connect_shopify(client: Client, stack: Stack, fake: FakeShopify, token: str | None = None) -> None:
    body = {
        "store_api": {"url": fake.url, "access_token": token or fake.access_token},
        "locations": {"wh-east": EAST, "wh-west": WEST},
        "stock_sync": True,
    }
    response = patch_json(client, "/v1/channels/shop", body, stack.keys["admin"])
    assert response.status_code == 200, response.body


def connect_woo(client: Client, stack: Stack, fake: FakeWooCommerce) -> None:
    body = {
        "store_api": {
            "url": fake.url,
            "consumer_key": fake.consumer_key,
            "consumer_secret": fake.consumer_secret,
        },
        "stock_sync": True,
    }
    response = patch_json(client, "/v1/channels/woo", body, stack.keys["admin"])
    assert response.status_code == 200, response.body


def available(sku: str) -> dict[str, int]:
    levels = services().uow_factory().get_stock([sku], ["wh-east", "wh-west"])
    return {warehouse: level.available for (warehouse, _), level in levels.items()}


def shopify_level(fake: FakeShopify, sku: str) -> dict[str, int]:
    item = next(i for s, i in fake.variants if s == sku)
    return {location: fake.available[(item, location)] for location in (EAST, WEST)}


def set_calls(fake: FakeShopify) -> list[dict[str, Any]]:
    return [
        body["variables"]
        for body in fake.graphql_requests()
        if "inventorySetQuantities" in body.get("query", "") and "variables" in body
    ]


def sku_lookups(fake: FakeShopify, sku: str) -> int:
    return sum(
        1
        for body in fake.graphql_requests()
        if "productVariants" in body.get("query", "") and sku in json.dumps(body.get("variables"))
    )


def dead_letters(stack: Stack) -> int:
    sqs = stack.client("sqs")
    url = stack.outputs["StockSyncDlqUrl"]
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def test_connecting_a_store_pushes_every_sku_it_sells_per_mapped_location(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)

    for sku in ("TSHIRT-M", "MUG"):
        levels = available(sku)
        assert shopify_level(shopify, sku) == {EAST: levels["wh-east"], WEST: levels["wh-west"]}
    assert dead_letters(stack) == 0


def test_a_burst_of_100_reservations_on_one_sku_costs_a_handful_of_store_calls(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)
    before = len(set_calls(shopify))
    pushes_handled: list[str] = []
    real_push = worker.push_sku

    def counting_push(ctx: Any, channel_id: str, sku: str, **kwargs: Any) -> Any:
        pushes_handled.append(sku)
        return real_push(ctx, channel_id, sku, **kwargs)

    monkeypatch.setattr(worker, "push_sku", counting_push)

    for n in range(100):
        line = [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "19.99"}]
        place(client, stack, order_body(f"BURST-{n}", lines=line))
    pump.run_until_idle(timeout=300)

    pushes = set_calls(shopify)[before:]
    assert 1 <= len(pushes) <= 5, f"{len(pushes)} inventorySetQuantities calls for 100 reservations"
    # Coalesced before the store: only a handful of push messages were even sent.
    assert 1 <= pushes_handled.count("TSHIRT-M") <= 5, pushes_handled
    levels = available("TSHIRT-M")
    assert sum(levels.values()) == 0  # 70 on hand, all reserved; the other 30 units backordered
    assert shopify_level(shopify, "TSHIRT-M") == {EAST: levels["wh-east"], WEST: levels["wh-west"]}


def test_woocommerce_gets_the_sum_over_every_warehouse_on_the_product_or_variation(
    client: Client, stack: Stack, pump: EventPump, woo: FakeWooCommerce
) -> None:
    connect_woo(client, stack, woo)
    pump.run_until_idle(timeout=60)
    place(client, stack, order_body("WOO-1", lines=[{"sku": "MUG", "quantity": 3, "unit_price": "9.99"}]))
    pump.run_until_idle(timeout=60)

    stocked = {p.sku: p.stock_quantity for p in woo.products.values()}
    assert stocked["TSHIRT-M"] == sum(available("TSHIRT-M").values()) == 70
    assert stocked["MUG"] == sum(available("MUG").values()) == 32


def test_a_throttled_push_is_sent_again_through_the_queue_and_never_reaches_the_dead_letter_queue(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)
    shopify.answer_429_next(retry_after="1", times=6)  # more than the queue's 5 receives

    place(client, stack, order_body("THR-1", lines=[{"sku": "MUG", "quantity": 2, "unit_price": "9.99"}]))
    pump.run_until_idle(timeout=60)

    levels = available("MUG")
    assert shopify_level(shopify, "MUG") == {EAST: levels["wh-east"], WEST: levels["wh-west"]}
    assert sum(1 for r in shopify.requests if r.status == 429) == 6
    assert dead_letters(stack) == 0


def test_a_refused_token_keeps_the_push_pending_until_the_store_is_connected_again(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)
    shopify.answer_401_next(times=1)

    place(client, stack, order_body("TOK-1", lines=[{"sku": "MUG", "quantity": 4, "unit_price": "9.99"}]))
    pump.run_until_idle(timeout=60)
    levels = available("MUG")
    assert shopify_level(shopify, "MUG") != {EAST: levels["wh-east"], WEST: levels["wh-west"]}
    # Another change finds the push pending (its marker dirty) and sends nothing.
    place(client, stack, order_body("TOK-2", lines=[{"sku": "MUG", "quantity": 1, "unit_price": "9.99"}]))
    pump.run_until_idle(timeout=60)
    assert shopify_level(shopify, "MUG") != {
        EAST: available("MUG")["wh-east"],
        WEST: available("MUG")["wh-west"],
    }

    connect_shopify(client, stack, shopify, token=shopify.access_token)  # the operator fixes the channel
    pump.run_until_idle(timeout=60)

    levels = available("MUG")
    assert shopify_level(shopify, "MUG") == {EAST: levels["wh-east"], WEST: levels["wh-west"]}
    assert dead_letters(stack) == 0


def test_a_sku_the_store_does_not_sell_is_asked_once_until_its_product_changes(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)
    assert sku_lookups(shopify, "POSTER") == 1

    for n in range(3):
        line = [{"sku": "POSTER", "quantity": 1, "unit_price": "5.00"}]
        place(client, stack, order_body(f"POS-{n}", lines=line))
        pump.run_until_idle(timeout=60)
    assert sku_lookups(shopify, "POSTER") == 1

    shopify.add_variant("POSTER", locations={EAST: 0, WEST: 0})
    product = {"name": "Poster, framed", "weight_grams": 300, "length_mm": 220, "width_mm": 180}
    product["height_mm"] = 40
    put = client.http.put(
        "/v1/products/POSTER",
        headers={"x-api-key": stack.keys["admin"], "Content-Type": "application/json", "If-Match": "1"},
        body=json.dumps(product),
    )
    assert put.status_code in (200, 201), put.body
    pump.run_until_idle(timeout=60)

    levels = available("POSTER")
    assert shopify_level(shopify, "POSTER") == {EAST: levels.get("wh-east", 0), WEST: levels["wh-west"]}


def test_a_goods_receipt_is_pushed(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    connect_shopify(client, stack, shopify)
    pump.run_until_idle(timeout=60)

    received = post_json(client, "/v1/inventory/wh-west/MUG/receipts", {"quantity": 12}, stack.keys["admin"])
    assert received.status_code in (200, 201), received.body
    pump.run_until_idle(timeout=60)

    assert shopify_level(shopify, "MUG")[WEST] == available("MUG")["wh-west"] == 42
