"""POST /v1/orders and the reads, through Chalice's test client against the infra stack in moto."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.aws import client as aws_client
from tests.integration.conftest import Stack, get, order_body, post_json


def stock_of(stack: Stack, sku: str, warehouse: str) -> dict[str, int]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"WH#{warehouse}"}}
    )["Item"]
    return {name: int(item[name]["N"]) for name in ("on_hand", "reserved", "available")}


def assert_problem(response: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.body)
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    if type_suffix:
        assert body["type"].endswith(type_suffix), body["type"]
    assert "Traceback" not in response.body.decode()
    return body


def assert_nothing_written(stack: Stack) -> None:
    assert stack.items("ORDER#") == []
    assert stack.items("DEDUP#") == []


def test_a_channel_places_an_order_and_gets_201_with_its_location(client: Client, stack: Stack) -> None:
    response = post_json(client, "/v1/orders", order_body(), stack.keys["web"])
    assert response.status_code == 201
    order = json.loads(response.body)
    assert order["id"].startswith("ord_")
    assert response.headers["Location"] == f"/v1/orders/{order['id']}"
    assert order["status"] == "placed"
    assert order["channel_id"] == "web"
    assert order["totals"]["total"] == "39.98"
    assert [f["warehouse_id"] for f in order["fulfillments"]] == ["wh-east"]
    assert stock_of(stack, "TSHIRT-M", "wh-east") == {"on_hand": 50, "reserved": 2, "available": 48}


def test_the_placed_order_can_be_read_back_with_its_fulfillments_and_timeline(
    client: Client, stack: Stack
) -> None:
    order = json.loads(post_json(client, "/v1/orders", order_body(), stack.keys["web"]).body)
    read = get(client, f"/v1/orders/{order['id']}", stack.keys["web"])
    assert read.status_code == 200
    assert json.loads(read.body) == order
    events = json.loads(get(client, f"/v1/orders/{order['id']}/events", stack.keys["admin"]).body)["items"]
    assert [(e["type"], e["version"]) for e in events] == [("order.placed", 1)]
    assert events[0]["data"]["fulfillments"][0]["warehouse_id"] == "wh-east"


def test_an_order_no_single_warehouse_can_fill_is_split(client: Client, stack: Stack) -> None:
    body = order_body(
        lines=[
            {"sku": "TSHIRT-M", "quantity": 1, "unit_price": "19.99"},
            {"sku": "POSTER", "quantity": 2, "unit_price": "5.00"},
        ]
    )
    order = json.loads(post_json(client, "/v1/orders", body, stack.keys["web"]).body)
    by_warehouse = {f["warehouse_id"]: f["lines"] for f in order["fulfillments"]}
    # wh-west holds both SKUs, so greedy cover sends everything there in one parcel.
    assert by_warehouse == {"wh-west": [{"sku": "TSHIRT-M", "quantity": 1}, {"sku": "POSTER", "quantity": 2}]}

    body = order_body(
        "WEB-1002",
        lines=[
            {"sku": "LAST-UNITS", "quantity": 1, "unit_price": "1.00"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},
        ],
    )
    order = json.loads(post_json(client, "/v1/orders", body, stack.keys["web"]).body)
    assert sorted(f["warehouse_id"] for f in order["fulfillments"]) == ["wh-east", "wh-west"]


def test_a_shortage_under_the_backorder_policy_is_accepted_as_backordered(
    client: Client, stack: Stack
) -> None:
    body = order_body(
        lines=[
            {"sku": "SOLD-OUT", "quantity": 3, "unit_price": "9.00"},
            {"sku": "MUG", "quantity": 1, "unit_price": "7.50"},
        ]
    )
    response = post_json(client, "/v1/orders", body, stack.keys["web"])
    assert response.status_code == 201
    order = json.loads(response.body)
    assert order["status"] == "backordered"
    assert [(line["sku"], line["backordered"]) for line in order["lines"]] == [("SOLD-OUT", 3), ("MUG", 0)]
    assert stock_of(stack, "SOLD-OUT", "wh-east")["available"] == 0


def test_a_shortage_under_the_reject_policy_is_a_409_and_writes_nothing(client: Client, stack: Stack) -> None:
    body = order_body(lines=[{"sku": "SOLD-OUT", "quantity": 1, "unit_price": "9.00"}])
    problem = assert_problem(
        post_json(client, "/v1/orders", body, stack.keys["marketplace"]), 409, "insufficient_stock"
    )
    assert problem["shortages"] == {"SOLD-OUT": 1}
    assert_nothing_written(stack)


def test_the_same_idempotency_key_and_body_returns_the_original_order(client: Client, stack: Stack) -> None:
    first = post_json(client, "/v1/orders", order_body(), stack.keys["web"], **{"Idempotency-Key": "k-1"})
    again = post_json(client, "/v1/orders", order_body(), stack.keys["web"], **{"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert json.loads(again.body)["id"] == json.loads(first.body)["id"]
    assert len(stack.items("ORDER#")) == len(stack.items(f"ORDER#{json.loads(first.body)['id']}"))
    assert stock_of(stack, "TSHIRT-M", "wh-east")["reserved"] == 2


def test_the_same_idempotency_key_with_another_body_is_a_409(client: Client, stack: Stack) -> None:
    post_json(client, "/v1/orders", order_body(), stack.keys["web"], **{"Idempotency-Key": "k-2"})
    other = order_body(lines=[{"sku": "MUG", "quantity": 1, "unit_price": "7.50"}])
    assert_problem(
        post_json(client, "/v1/orders", other, stack.keys["web"], **{"Idempotency-Key": "k-2"}),
        409,
        "idempotency-key-reused",
    )


def test_a_retried_store_request_without_a_key_never_makes_a_second_order(
    client: Client, stack: Stack
) -> None:
    first = json.loads(post_json(client, "/v1/orders", order_body(), stack.keys["web"]).body)
    again = post_json(client, "/v1/orders", order_body(), stack.keys["web"])
    assert again.status_code == 200
    assert json.loads(again.body)["id"] == first["id"]
    changed = order_body(lines=[{"sku": "MUG", "quantity": 1, "unit_price": "7.50"}])
    assert_problem(post_json(client, "/v1/orders", changed, stack.keys["web"]), 409, "conflict")
    # Another channel may use the same external id: uniqueness is per channel.
    assert post_json(client, "/v1/orders", order_body(), stack.keys["mobile"]).status_code == 201


def test_placement_makes_exactly_one_dynamodb_write_call(client: Client, stack: Stack) -> None:
    writes: list[str] = []
    write_operations = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.split(".")[-1]
        if operation in write_operations:
            writes.append(operation)

    # A container's first request with a key reads the key and records its last use (once per
    # key cache period, docs/reference-data.md): that write is the key's, not the placement's.
    assert get(client, "/v1/orders?limit=1", stack.keys["web"]).status_code == 200
    dynamodb = aws_client("dynamodb")
    dynamodb.meta.events.register("before-call.dynamodb.*", count)
    body = order_body(
        lines=[
            {"sku": "LAST-UNITS", "quantity": 1, "unit_price": "1.00"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},
        ]
    )
    response = post_json(client, "/v1/orders", body, stack.keys["web"], **{"Idempotency-Key": "one-write"})
    assert response.status_code == 201
    assert writes == ["TransactWriteItems"]


def test_placement_reads_products_and_stock_in_one_batch(client: Client, stack: Stack) -> None:
    calls: list[str] = []
    aws_client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: calls.append(event_name.split(".")[-1])
    )
    body = order_body(
        lines=[
            {"sku": "LAST-UNITS", "quantity": 1, "unit_price": "1.00"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},
        ]
    )
    post_json(client, "/v1/orders", body, stack.keys["web"])  # warms the key, channel and warehouse caches
    calls.clear()
    response = post_json(
        client,
        "/v1/orders",
        order_body("WEB-2002", lines=json.loads(json.dumps(body["lines"]))),
        stack.keys["web"],
    )
    assert response.status_code == 201
    # One dedup lookup (the external id; no Idempotency-Key sent), one batch read, one transaction.
    assert calls == ["GetItem", "BatchGetItem", "TransactWriteItems"]


# --- bad input: always a problem, never a 500, nothing written -------------------------------------------


def test_malformed_json_is_a_400(client: Client, stack: Stack) -> None:
    assert_problem(
        post_json(client, "/v1/orders", '{"external_id": ', stack.keys["web"]), 400, "malformed-json"
    )
    assert_nothing_written(stack)


def test_schema_errors_are_a_422_listing_every_field(client: Client, stack: Stack) -> None:
    body = order_body(currency="usd", customer={"email": "not-an-email", "name": ""})
    del body["shipping_address"]
    problem = assert_problem(
        post_json(client, "/v1/orders", body, stack.keys["web"]), 422, "validation-error"
    )
    locations = {tuple(error["loc"]) for error in problem["errors"]}
    assert {("currency",), ("customer", "email"), ("customer", "name"), ("shipping_address",)} <= locations
    assert_nothing_written(stack)


def test_an_unknown_sku_is_a_422_naming_the_line(client: Client, stack: Stack) -> None:
    body = order_body(
        lines=[
            {"sku": "TSHIRT-M", "quantity": 1, "unit_price": "1.00"},
            {"sku": "NO-SUCH-THING", "quantity": 1, "unit_price": "1.00"},
        ]
    )
    problem = assert_problem(post_json(client, "/v1/orders", body, stack.keys["web"]), 422)
    assert [error["loc"] for error in problem["errors"]] == [["lines", 1, "sku"]]
    assert_nothing_written(stack)


@pytest.mark.parametrize("quantity", [0, -1, 10_001, "2", 1.5])
def test_a_quantity_that_is_not_a_sane_positive_integer_is_a_422(
    client: Client, stack: Stack, quantity: Any
) -> None:
    body = order_body(lines=[{"sku": "TSHIRT-M", "quantity": quantity, "unit_price": "1.00"}])
    problem = assert_problem(post_json(client, "/v1/orders", body, stack.keys["web"]), 422)
    assert problem["errors"][0]["loc"] == ["lines", 0, "quantity"]
    assert_nothing_written(stack)


@pytest.mark.parametrize(("currency", "price"), [("USD", "19.999"), ("JPY", "100.5"), ("USD", 19.99)])
def test_a_price_the_currency_cannot_express_is_a_422(
    client: Client, stack: Stack, currency: str, price: Any
) -> None:
    body = order_body(currency=currency, lines=[{"sku": "TSHIRT-M", "quantity": 1, "unit_price": price}])
    problem = assert_problem(post_json(client, "/v1/orders", body, stack.keys["web"]), 422)
    assert problem["errors"][0]["loc"] == ["lines", 0, "unit_price"]
    assert_nothing_written(stack)


def test_a_body_above_256_kib_is_a_413(client: Client, stack: Stack) -> None:
    body = order_body(shipping_method="x" * (300 * 1024))
    assert_problem(post_json(client, "/v1/orders", body, stack.keys["web"]), 413)
    assert_nothing_written(stack)


def test_an_order_too_large_for_one_transaction_is_a_422_naming_the_limit(
    client: Client, stack: Stack
) -> None:
    from tests.integration.conftest import seed  # a catalogue big enough to overflow one transaction

    skus = {f"BULK-{n:03d}": {"wh-east": 5, "wh-west": 5} for n in range(60)}
    seed(stack, extra_skus=skus)
    lines = [{"sku": sku, "quantity": 8, "unit_price": "1.00"} for sku in skus]  # 8 > 5: every SKU splits
    problem = assert_problem(
        post_json(client, "/v1/orders", order_body(lines=lines), stack.keys["web"]), 422, "order-too-large"
    )
    assert problem["limit"] == 100
    assert "100" in problem["detail"]
    assert_nothing_written(stack)


def test_a_body_that_is_not_json_is_a_415_problem(client: Client, stack: Stack) -> None:
    response = client.http.post(
        "/v1/orders", headers={"Content-Type": "text/plain", "x-api-key": stack.keys["web"]}, body="hello"
    )
    assert_problem(response, 415)


def test_totals_are_exact_decimals(client: Client, stack: Stack) -> None:
    body = order_body(
        lines=[{"sku": "TSHIRT-M", "quantity": 3, "unit_price": "0.10"}],
        shipping_total="4.90",
        tax_total="0.03",
        discount_total="0.01",
    )
    order = json.loads(post_json(client, "/v1/orders", body, stack.keys["web"]).body)
    assert order["totals"] == {
        "subtotal": "0.30",
        "shipping": "4.90",
        "tax": "0.03",
        "discount": "0.01",
        "total": "5.22",
    }
    assert Decimal(order["totals"]["total"]) == Decimal("5.22")


# --- authentication and scope ------------------------------------------------------------------------------


def test_a_missing_or_unknown_key_is_a_401(client: Client, stack: Stack) -> None:
    assert_problem(post_json(client, "/v1/orders", order_body(), None), 401)
    assert_problem(post_json(client, "/v1/orders", order_body(), "oms_ch_not-a-real-key"), 401)
    assert_problem(get(client, "/v1/orders", None), 401)
    assert_nothing_written(stack)


def test_a_key_of_the_wrong_role_is_a_403(client: Client, stack: Stack) -> None:
    assert_problem(post_json(client, "/v1/orders", order_body(), stack.keys["wh-east"]), 403)
    assert_problem(post_json(client, "/v1/orders", order_body(), stack.keys["admin"]), 403)
    assert_nothing_written(stack)


def test_a_channel_never_reads_another_channels_orders(client: Client, stack: Stack) -> None:
    order = json.loads(post_json(client, "/v1/orders", order_body(), stack.keys["web"]).body)
    # Another channel's order answers exactly as a missing one (tests/integration/test_api_hardening.py).
    assert_problem(get(client, f"/v1/orders/{order['id']}", stack.keys["mobile"]), 404)
    assert_problem(get(client, f"/v1/orders/{order['id']}/events", stack.keys["mobile"]), 404)
    assert_problem(get(client, "/v1/orders?channel=web", stack.keys["mobile"]), 403)
    mobile_list = json.loads(get(client, "/v1/orders", stack.keys["mobile"]).body)
    assert mobile_list["items"] == []
    assert get(client, f"/v1/orders/{order['id']}", stack.keys["admin"]).status_code == 200


def test_holds_are_for_admins_only(client: Client, stack: Stack) -> None:
    order = json.loads(post_json(client, "/v1/orders", order_body(), stack.keys["web"]).body)
    hold = {"reason": "manual", "note": "customer called"}
    assert_problem(post_json(client, f"/v1/orders/{order['id']}/holds", hold, stack.keys["web"]), 403)
    response = post_json(client, f"/v1/orders/{order['id']}/holds", hold, stack.keys["admin"])
    assert response.status_code == 200
    assert json.loads(response.body)["status"] == "on_hold"


def test_an_unknown_order_is_a_404_problem(client: Client, stack: Stack) -> None:
    assert_problem(get(client, "/v1/orders/ord_nope", stack.keys["admin"]), 404)


def test_health_needs_no_key(client: Client, stack: Stack) -> None:
    response = get(client, "/v1/health", None)
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok"}
