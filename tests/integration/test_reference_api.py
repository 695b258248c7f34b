"""Reference data over the API on moto: warehouses, products, boxes and API keys, with versions
as ETags, problems for bad input, one transaction per change and its event in the audit listing."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import Stack, get, order_body, order_of, post_json

WAREHOUSE = {
    "name": "Leipzig hub",
    "address": {"name": "Leipzig hub", "line1": "Hafenstr. 1", "city": "Leipzig", "country": "DE"},
    "country": "DE",
    "timezone": "Europe/Berlin",
    "priority": 0,
    "cutoff": "13:30",
    "business_days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    "holidays": ["2026-12-25", "2026-12-26"],
}
PRODUCT = {
    "name": "Glass carafe, 1 l",
    "length_mm": 110,
    "width_mm": 110,
    "height_mm": 280,
    "weight_grams": 650,
    "keep_upright": True,
}
BOX = {
    "inner_length_mm": 150,
    "inner_width_mm": 150,
    "inner_height_mm": 300,
    "outer_length_mm": 156,
    "outer_width_mm": 156,
    "outer_height_mm": 306,
    "tare_weight_grams": 180,
    "max_weight_grams": 5000,
    "cost": "0.95",
}


def send(client: Client, method: str, path: str, key: str, body: Any = None, **headers: str) -> Any:
    all_headers = {"Content-Type": "application/json", "x-api-key": key, **headers}
    raw = b"" if body is None else json.dumps(body).encode()
    return client.http.request(method, path, headers=all_headers, body=raw)


def test_a_warehouse_is_created_read_and_replaced_only_with_the_version_read(
    client: Client, stack: Stack
) -> None:
    admin = stack.keys["admin"]
    created = send(client, "PUT", "/v1/warehouses/wh-leipzig", admin, WAREHOUSE)
    assert created.status_code == 201, created.body
    assert created.headers["ETag"] == '"1"'
    read = get(client, "/v1/warehouses/wh-leipzig", admin)
    assert json.loads(read.body)["holidays"] == ["2026-12-25", "2026-12-26"]

    blind = send(client, "PUT", "/v1/warehouses/wh-leipzig", admin, {**WAREHOUSE, "priority": 5})
    assert blind.status_code == 428 and blind.headers["Content-Type"] == "application/problem+json"
    changed = send(
        client, "PUT", "/v1/warehouses/wh-leipzig", admin, {**WAREHOUSE, "priority": 5}, **{"If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    stale = send(
        client, "PUT", "/v1/warehouses/wh-leipzig", admin, {**WAREHOUSE, "priority": 9}, **{"If-Match": '"1"'}
    )
    assert stale.status_code == 412 and json.loads(stale.body)["current_version"] == 2
    listed = json.loads(get(client, "/v1/warehouses", admin).body)["items"]
    assert [w["id"] for w in listed][:1] == ["wh-east"]  # priority 1 < 5
    assert {w["id"] for w in listed} >= {"wh-east", "wh-west", "wh-leipzig"}


def test_bad_reference_data_is_a_problem_and_writes_nothing(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    for path, body in (
        ("/v1/warehouses/wh-x", {**WAREHOUSE, "timezone": "Europe/Atlantis"}),
        ("/v1/warehouses/wh-x", {**WAREHOUSE, "cutoff": "25:00"}),
        ("/v1/warehouses/WH X", WAREHOUSE),
        ("/v1/products/SKU-X", {**PRODUCT, "weight_grams": 0}),
        ("/v1/products/SKU-X", {**PRODUCT, "bins": {"wh-nowhere": "A-1"}}),
        ("/v1/warehouses/wh-east/boxes/BIG", {**BOX, "outer_length_mm": 100}),
    ):
        answer = send(client, "PUT", path, admin, body)
        assert answer.status_code == 422, (path, answer.body)
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert get(client, "/v1/warehouses/wh-x", admin).status_code == 404
    assert get(client, "/v1/products/SKU-X", admin).status_code == 404
    assert get(client, "/v1/warehouses/wh-east/boxes/BIG", admin).status_code == 404
    audit = json.loads(get(client, "/v1/audit", admin).body)["items"]
    assert {e["type"] for e in audit} == {"api_key.minted"}  # the keys the test stack minted
    bad_match = send(client, "PUT", "/v1/products/SKU-X", admin, PRODUCT, **{"If-Match": "yesterday"})
    assert bad_match.status_code == 400


def test_a_product_change_writes_bins_through_and_never_rewrites_a_placed_order(
    client: Client, stack: Stack
) -> None:
    admin = stack.keys["admin"]
    created = send(client, "PUT", "/v1/products/CARAFE-1", admin, {**PRODUCT, "bins": {"wh-east": "K-01-1"}})
    assert created.status_code == 201, created.body
    assert post_json(
        client, "/v1/inventory/wh-east/CARAFE-1/receipts", {"quantity": 5}, admin
    ).status_code in (
        200,
        201,
    )
    stock = json.loads(get(client, "/v1/inventory?warehouse=wh-east", admin).body)["items"]
    assert next(s for s in stock if s["sku"] == "CARAFE-1")["bin"] == "K-01-1"
    order = json.loads(
        post_json(
            client,
            "/v1/orders",
            order_body("CARAFE-ORDER", lines=[{"sku": "CARAFE-1", "quantity": 1, "unit_price": "20.00"}]),
            stack.keys["web"],
        ).body
    )
    renamed = send(
        client,
        "PUT",
        "/v1/products/CARAFE-1",
        admin,
        {**PRODUCT, "name": "Carafe", "active": False},
        **{"If-Match": created.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.body
    assert order_of(client, stack, order["id"])["lines"] == order["lines"]
    refused = post_json(
        client,
        "/v1/orders",
        order_body("CARAFE-2", lines=[{"sku": "CARAFE-1", "quantity": 1, "unit_price": "20.00"}]),
        stack.keys["web"],
    )
    assert refused.status_code == 422 and "not sold" in refused.body.decode()


def test_products_are_listed_a_page_at_a_time(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    for n in range(5):
        assert send(client, "PUT", f"/v1/products/PAGE-{n}", admin, PRODUCT).status_code == 201
    seen, cursor = [], None
    while True:
        page = json.loads(
            get(client, "/v1/products?limit=2" + (f"&cursor={cursor}" if cursor else ""), admin).body
        )
        seen += [p["sku"] for p in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert [s for s in seen if s.startswith("PAGE-")] == [f"PAGE-{n}" for n in range(5)]
    assert get(client, "/v1/products?cursor=forged", admin).status_code == 422


def test_a_box_is_added_recommended_and_retired(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    assert send(client, "PUT", "/v1/warehouses/wh-east/boxes/TALL", admin, BOX).status_code == 201
    codes = [b["code"] for b in json.loads(get(client, "/v1/warehouses/wh-east/boxes", admin).body)["items"]]
    assert "TALL" in codes
    stale = send(client, "DELETE", "/v1/warehouses/wh-east/boxes/TALL", admin, **{"If-Match": '"7"'})
    assert stale.status_code == 412
    retired = send(client, "DELETE", "/v1/warehouses/wh-east/boxes/TALL", admin)
    assert retired.status_code == 200, retired.body
    assert get(client, "/v1/warehouses/wh-east/boxes/TALL", admin).status_code == 404
    types = [e["type"] for e in json.loads(get(client, "/v1/audit", admin).body)["items"]]
    assert types[:2] == ["box.retired", "box.changed"]


def test_a_key_minted_over_the_api_works_is_listed_without_its_value_and_revoked_by_id(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    admin = stack.keys["admin"]
    minted = post_json(
        client, "/v1/api-keys", {"role": "warehouse", "scope": "wh-west", "label": "west"}, admin
    )
    assert minted.status_code == 201, minted.body
    key = json.loads(minted.body)
    assert get(client, "/v1/warehouses/wh-west/pick-lists", key["key"]).status_code == 200
    listing = get(client, "/v1/api-keys", admin).body.decode()
    assert key["key_id"] in listing and key["key"] not in listing
    listed = next(k for k in json.loads(listing)["items"] if k["key_id"] == key["key_id"])
    assert listed["last_used_at"] is not None and listed["label"] == "west"
    assert (
        post_json(client, "/v1/api-keys", {"role": "warehouse", "scope": "wh-nowhere"}, admin).status_code
        == 422
    )
    revoked = send(client, "DELETE", f"/v1/api-keys/{key['key_id']}", admin)
    assert revoked.status_code == 200 and json.loads(revoked.body)["revoked_at"]
    assert get(client, "/v1/warehouses/wh-west/pick-lists", key["key"]).status_code == 401
    types = [e["type"] for e in json.loads(get(client, "/v1/audit", admin).body)["items"]]
    assert types[:2] == ["api_key.revoked", "api_key.minted"]
    assert key["key"] not in get(client, "/v1/audit", admin).body.decode()
    pump.run_until_idle(timeout=30)  # the events leave through the stream like any other


def test_a_deactivated_warehouse_gets_no_new_orders_but_keeps_its_work(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    first = json.loads(post_json(client, "/v1/orders", order_body("BEFORE"), stack.keys["web"]).body)
    placed_at = {f["warehouse_id"] for f in first["fulfillments"]}
    assert placed_at == {"wh-east"}
    current = json.loads(get(client, "/v1/warehouses/wh-east", admin).body)
    spec = {k: v for k, v in current.items() if k not in ("id", "version")}
    off = send(
        client,
        "PUT",
        "/v1/warehouses/wh-east",
        admin,
        {**spec, "active": False},
        **{"If-Match": f'"{current["version"]}"'},
    )
    assert off.status_code == 200, off.body
    second = json.loads(post_json(client, "/v1/orders", order_body("AFTER"), stack.keys["web"]).body)
    assert {f["warehouse_id"] for f in second["fulfillments"]} == {"wh-west"}
    assert {f["warehouse_id"] for f in order_of(client, stack, first["id"])["fulfillments"]} == {"wh-east"}
