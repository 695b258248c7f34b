"""Over HTTP against ``make run``'s stack, with fake Shopify and WooCommerce APIs on 127.0.0.1: a
store order arrives by its signed webhook, ships in two parcel groups from two warehouses and is
delivered; the write-back leaves the store with what the OMS did (Shopify: two fulfillments with
their tracking numbers and a DELIVERED event; WooCommerce: a note per group, the order completed,
a delivered note), and the stock sync leaves the store's inventory equal to the OMS's available.
The write-back is asynchronous: each test polls the fake store to a deadline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, post_store_order, wait_for
from tests.e2e.test_delivery import _carrier_event
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WRITE_BACK_TIMEOUT = 30.0
#: Shopify location ids the demo warehouses map to.
EAST, WEST = "gid://shopify/Location/1", "gid://shopify/Location/2"
#: Generous: a stock push follows a burst by a few seconds, on a busy machine.
SYNC_TIMEOUT = 90.0


def _oms_available(stack: RunningStack, skus: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """(sku, warehouse) -> the OMS's available, for both demo warehouses (0 where not stocked)."""
    listing = stack.get("/v1/inventory", stack.config["keys"]["admin"])
    assert listing.status_code == 200, listing.text
    found = {(line["sku"], line["warehouse_id"]): line["available"] for line in listing.json()["items"]}
    return {(sku, wh): found.get((sku, wh), 0) for sku in skus for wh in ("wh-east", "wh-west")}


def _json_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "content-type": "application/json"}


def _split_skus(stack: RunningStack) -> tuple[str, str]:
    """Two new products, one stocked only in wh-east and one only in wh-west: an order of both
    ships as two fulfillments."""
    admin = stack.config["keys"]["admin"]
    tag = uuid.uuid4().hex[:6].upper()
    skus = (f"WB-EAST-{tag}", f"WB-WEST-{tag}")
    product = {
        "name": "Write-back tee",
        "length_mm": 300,
        "width_mm": 250,
        "height_mm": 30,
        "weight_grams": 200,
    }
    for sku, warehouse in zip(skus, ("wh-east", "wh-west"), strict=True):
        created = requests.put(
            f"{stack.api_url}/v1/products/{sku}",
            json=product,
            headers=_json_headers(admin),
            timeout=HTTP_TIMEOUT,
        )
        assert created.status_code == 201, created.text
        stocked = requests.put(
            f"{stack.api_url}/v1/inventory/{warehouse}/{sku}",
            json={"on_hand": 10},
            headers=_json_headers(admin),
            timeout=HTTP_TIMEOUT,
        )
        assert stocked.status_code == 200, stocked.text
    return skus


def _set_store_api(stack: RunningStack, channel: str, store_api: dict[str, str] | None, **more: Any) -> None:
    response = requests.patch(
        f"{stack.api_url}/v1/channels/{channel}",
        json={"store_api": store_api, **more},
        headers=_json_headers(stack.config["keys"]["admin"]),
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def connected(local_stack: RunningStack) -> Iterator[Callable[..., None]]:
    """Connects a demo channel's store API (with stock sync) for the test, and disconnects it after."""
    channels: list[str] = []

    def connect(channel: str, store_api: dict[str, str], **more: Any) -> None:
        channels.append(channel)
        _set_store_api(local_stack, channel, store_api, stock_sync=True, **more)

    yield connect
    for channel in channels:
        _set_store_api(local_stack, channel, None)


def _store_order(stack: RunningStack, channel: str, external_id: str) -> dict[str, Any]:
    admin = stack.config["keys"]["admin"]

    def confirmed() -> dict[str, Any] | None:
        listing = stack.get(f"/v1/orders?channel={channel}&limit=100", admin).json()
        mine = [o for o in listing["items"] if o["external_id"] == external_id]
        return mine[0] if mine and mine[0]["status"] == "confirmed" else None

    placed = wait_for(f"the {channel} order to be confirmed", confirmed, timeout=20)
    order = stack.get(f"/v1/orders/{placed['id']}", admin).json()
    assert sorted(f["warehouse_id"] for f in order["fulfillments"]) == ["wh-east", "wh-west"]
    return order  # type: ignore[no-any-return]


def _ship(stack: RunningStack, order: dict[str, Any], warehouse: str, numbers: list[str]) -> None:
    work = next(f for f in order["fulfillments"] if f["warehouse_id"] == warehouse)
    key = stack.config["keys"]["warehouses"][warehouse]
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 400} for _ in numbers]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_numbers": numbers}),
    ):
        response = stack.post(f"/v1/fulfillments/{work['id']}/{action}", body, key)
        assert response.status_code == 200, response.text


def _numbers(prefix: str, count: int) -> list[str]:
    return [f"1Z{prefix}{uuid.uuid4().hex[:10].upper()}" for _ in range(count)]


def test_a_shopify_order_shipped_in_two_parcels_and_delivered_is_written_back_to_the_store(
    local_stack: RunningStack, connected: Callable[..., None]
) -> None:
    stack = local_stack
    east_sku, west_sku = _split_skus(stack)
    shop_order = json.loads((FIXTURES / "shopify" / "orders-create.json").read_bytes())
    shop_order["id"] = int(str(uuid.uuid4().int)[:15])
    shop_order["line_items"] = [
        {**shop_order["line_items"][0], "sku": east_sku, "quantity": 2},
        {**shop_order["line_items"][1], "sku": west_sku, "quantity": 1},
    ]
    with serving(shopify := FakeShopify()):
        gid = shopify.add_order(shop_order["id"], [(east_sku, 2), (west_sku, 1)])
        for sku in (east_sku, west_sku):
            shopify.add_variant(sku, locations={EAST: 0, WEST: 0})
        connected(
            "shopify-demo",
            {"url": shopify.url, "access_token": shopify.access_token},
            locations={"wh-east": EAST, "wh-west": WEST},
        )
        post_store_order(stack, "shopify", "shopify-demo", shop_order)
        order = _store_order(stack, "shopify-demo", str(shop_order["id"]))
        east_numbers, west_numbers = _numbers("E", 2), _numbers("W", 1)

        _ship(stack, order, "wh-east", east_numbers)
        _ship(stack, order, "wh-west", west_numbers)
        assert _carrier_event(stack, west_numbers[0], "delivered", "2026-12-01T16:00:00Z").status_code == 200

        def written() -> list[Any] | None:
            fulfillments = shopify.order(gid).fulfillments
            delivered = [f for f in fulfillments if any(e["status"] == "DELIVERED" for e in f.events)]
            return fulfillments if len(fulfillments) == 2 and delivered else None

        fulfillments = wait_for(
            "two fulfillments and a delivered event in Shopify", written, WRITE_BACK_TIMEOUT
        )
        by_numbers = {tuple(t["number"] for t in f.tracking): f for f in fulfillments}
        assert set(by_numbers) == {tuple(east_numbers), tuple(west_numbers)}
        assert [e["status"] for e in by_numbers[tuple(west_numbers)].events] == ["DELIVERED"]
        assert by_numbers[tuple(east_numbers)].events == []
        assert shopify.operations().count("fulfillmentCreate") == 2

        def levels_in_shopify() -> bool:
            available = _oms_available(stack, (east_sku, west_sku))
            with shopify.lock:
                items = dict(shopify.variants)
                levels = {
                    (sku, warehouse): shopify.available[(items[sku], location)]
                    for sku in (east_sku, west_sku)
                    for warehouse, location in (("wh-east", EAST), ("wh-west", WEST))
                }
            return levels == available

        wait_for("Shopify's inventory levels to equal the OMS's available", levels_in_shopify, SYNC_TIMEOUT)


def test_a_woocommerce_order_shipped_in_two_parcels_and_delivered_is_written_back_to_the_store(
    local_stack: RunningStack, connected: Callable[..., None]
) -> None:
    stack = local_stack
    east_sku, west_sku = _split_skus(stack)
    woo_order = json.loads((FIXTURES / "woocommerce" / "order-created-processing.json").read_bytes())
    woo_order["id"] = int(uuid.uuid4().int % 10**9)
    woo_order["line_items"] = [
        {**woo_order["line_items"][0], "sku": east_sku, "quantity": 2},
        {**woo_order["line_items"][1], "sku": west_sku, "quantity": 1},
    ]
    with serving(woo := FakeWooCommerce()):
        woo.add_order(woo_order["id"])
        for sku in (east_sku, west_sku):
            woo.add_product(sku, stock_quantity=0)
        connected(
            "woocommerce-demo",
            {"url": woo.url, "consumer_key": woo.consumer_key, "consumer_secret": woo.consumer_secret},
        )
        post_store_order(stack, "woocommerce", "woocommerce-demo", woo_order)
        order = _store_order(stack, "woocommerce-demo", str(woo_order["id"]))
        east_numbers, west_numbers = _numbers("E", 2), _numbers("W", 1)

        _ship(stack, order, "wh-east", east_numbers)
        _ship(stack, order, "wh-west", west_numbers)
        assert _carrier_event(stack, east_numbers[1], "delivered", "2026-12-01T16:00:00Z").status_code == 200

        store_order = woo.orders[woo_order["id"]]

        def written() -> bool:
            texts = [n.note for n in store_order.notes]
            return store_order.status == "completed" and any("delivered." in t for t in texts)

        wait_for(
            "two parcel notes, completed and a delivered note in WooCommerce", written, WRITE_BACK_TIMEOUT
        )
        notes = [n.note for n in store_order.notes]
        shipped = [n for n in notes if n.startswith("Shipped")]
        assert len(shipped) == 2 and all(n.customer_note for n in store_order.notes)
        east_note = next(n for n in shipped if east_numbers[0] in n)
        assert east_numbers[1] in east_note and "ups.com" in east_note
        assert any(west_numbers[0] in n for n in shipped if n is not east_note)
        assert [n for n in notes if "delivered." in n] == [
            f"Your parcels {', '.join(east_numbers)} were delivered."
        ]

        def levels_in_woocommerce() -> bool:
            available = _oms_available(stack, (east_sku, west_sku))
            with woo.lock:
                stock = {p.sku: p.stock_quantity for p in woo.products.values()}
            return all(
                stock.get(sku) == sum(v for (s, _), v in available.items() if s == sku)
                for sku in (east_sku, west_sku)
            )

        wait_for("WooCommerce's stock to equal the OMS's available", levels_in_woocommerce, SYNC_TIMEOUT)
