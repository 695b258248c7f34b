"""Over HTTP against ``make run``'s stack: a business opens a warehouse, adds a product and a box
and mints the warehouse's key over the API, receives stock, and an order for the new product is
sourced to the new warehouse, picked from the product's bin, packed in the new box (which packing
recommends) and shipped with the new key. Every change is in the audit listing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for


def put(stack: RunningStack, path: str, body: Any, key: str, **headers: str) -> requests.Response:
    return requests.put(
        stack.api_url + path,
        json=body,
        headers={"content-type": "application/json", "x-api-key": key, **headers},
        timeout=HTTP_TIMEOUT,
    )


def test_a_new_warehouse_product_box_and_key_made_over_the_api_ship_an_order(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    admin = stack.config["keys"]["admin"]
    tag = uuid.uuid4().hex[:6]
    warehouse_id, sku, box = f"wh-dallas-{tag}", f"LANTERN-{tag}".upper(), "TUBE-L"

    opened = put(
        stack,
        f"/v1/warehouses/{warehouse_id}",
        {
            "name": "Dallas annex",
            "address": {"name": "Dallas annex", "line1": "1 Elm St", "city": "Dallas", "country": "US"},
            "country": "US",
            "timezone": "America/Chicago",
            "priority": 90,  # least preferred: the other tests' orders never come here
            "cutoff": "23:59",
            "business_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "holidays": ["2026-12-25", "2027-01-01"],
        },
        admin,
    )
    assert opened.status_code == 201, opened.text
    product = put(
        stack,
        f"/v1/products/{sku}",
        {
            "name": "Camping lantern",
            "length_mm": 120,
            "width_mm": 120,
            "height_mm": 260,
            "weight_grams": 800,
            "keep_upright": True,
            "bins": {warehouse_id: "L-01-1"},
        },
        admin,
    )
    assert product.status_code == 201, product.text
    carton = put(
        stack,
        f"/v1/warehouses/{warehouse_id}/boxes/{box}",
        {
            "inner_length_mm": 260,
            "inner_width_mm": 130,
            "inner_height_mm": 280,
            "outer_length_mm": 266,
            "outer_width_mm": 136,
            "outer_height_mm": 286,
            "tare_weight_grams": 220,
            "max_weight_grams": 8000,
            "cost": "1.10",
        },
        admin,
    )
    assert carton.status_code == 201, carton.text
    minted = stack.post(
        "/v1/api-keys", {"role": "warehouse", "scope": warehouse_id, "label": "Dallas"}, admin
    )
    assert minted.status_code == 201, minted.text
    key = minted.json()["key"]

    received = stack.post(
        f"/v1/inventory/{warehouse_id}/{sku}/receipts", {"quantity": 6, "reference": "PO-1"}, key
    )
    assert received.status_code in (200, 201), received.text

    placed = stack.post(
        "/v1/orders",
        order_body(
            f"LANTERN-{tag}",
            f"camper+{tag}@example.com",
            lines=[{"sku": sku, "quantity": 2, "unit_price": "35.00"}],
        ),
        stack.channel_key("web"),
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    def confirmed() -> dict[str, Any] | None:
        order = stack.get(f"/v1/orders/{order_id}", admin).json()
        return order if order["status"] == "confirmed" else None

    order = wait_for("the order to be confirmed", confirmed, timeout=15)
    [work] = order["fulfillments"]
    assert work["warehouse_id"] == warehouse_id
    # The promise follows the warehouse's calendar: a day it ships, never one of its holidays.
    ship_day = datetime.fromisoformat(work["ship_by"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/Chicago")
    )
    assert ship_day.date().isoformat() not in ("2026-12-25", "2027-01-01")

    pick_list = stack.get(f"/v1/warehouses/{warehouse_id}/pick-lists?limit=10", key).json()
    assert [f["fulfillment_id"] for f in pick_list["fulfillments"]] == [work["id"]]
    assert [(s["bin"], s["sku"], s["quantity"]) for s in pick_list["stops"]] == [("L-01-1", sku, 2)]
    picked = stack.post(f"/v1/fulfillments/{work['id']}/pick", {"lines": [{"sku": sku, "quantity": 2}]}, key)
    assert picked.status_code == 200, picked.text
    advice = stack.get(f"/v1/fulfillments/{work['id']}/packaging?carrier=ups", key)
    assert advice.status_code == 200, advice.text
    boxes = [p["box_code"] for p in advice.json()["recommendation"]["packages"]]
    assert boxes and set(boxes) == {box}
    packed = stack.post(
        f"/v1/fulfillments/{work['id']}/pack",
        {"packages": [{"box": code, "weight_grams": 1900} for code in boxes]},
        key,
    )
    assert packed.status_code == 200, packed.text
    shipped = stack.post(
        f"/v1/fulfillments/{work['id']}/ship",
        {
            "carrier": "ups",
            "service": "ground",
            "tracking_numbers": [f"1ZDAL{tag.upper()}{n}" for n in range(len(boxes))],
        },
        key,
    )
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"

    # The new key is the warehouse's only: it cannot see the seeded warehouses' work.
    assert stack.get("/v1/warehouses/wh-east/pick-lists", key).status_code == 403
    stock = stack.get(f"/v1/inventory?warehouse={warehouse_id}", admin).json()["items"]
    assert [(s["sku"], s["on_hand"], s["reserved"]) for s in stock] == [(sku, 4, 0)]
    audit = stack.get("/v1/audit?limit=50", admin).json()["items"]
    mine = [(e["type"], e["data"]["id"]) for e in audit if e["data"]["id"] in (warehouse_id, sku, box)]
    assert ("warehouse.changed", warehouse_id) in mine
    assert ("product.changed", sku) in mine
    assert ("box.changed", box) in mine
    assert minted.json()["key_id"] in {e["data"]["id"] for e in audit if e["type"] == "api_key.minted"}
