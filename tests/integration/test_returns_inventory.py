"""Returns and inventory through the routes and workers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.bootstrap import services
from chalicelib.service.inventory import stock_report
from infra.local.pump import EventPump
from tests.integration.conftest import (
    Stack,
    get,
    order_body,
    order_of,
    place,
    post_json,
    sent_emails,
    timeline,
)
from tests.integration.test_delivery import shipped_order, standard_event, standard_post


def stock_of(stack: Stack, sku: str, warehouse: str) -> dict[str, int]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table,
        Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"WH#{warehouse}"}},
        ConsistentRead=True,
    )["Item"]
    return {name: int(item[name]["N"]) for name in ("on_hand", "reserved", "available")}


def delivered_order(client: Client, stack: Stack, pump: EventPump, number: str) -> dict[str, Any]:
    order = shipped_order(client, stack, pump, "ups", number)
    at = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        standard_post(client, standard_event(number, "delivered", at), webhook_id=f"d-{number}").status_code
        == 200
    )
    pump.run_until_idle(timeout=20)
    delivered = order_of(client, stack, order["id"])
    assert delivered["status"] == "delivered"
    return delivered


def test_a_delivered_order_is_returned_in_part_and_resellable_units_go_back_on_the_shelf(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZRETURN0001")  # 2 x TSHIRT-M at 19.99
    before = stock_of(stack, "TSHIRT-M", "wh-east")
    request = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "too small"}]},
        stack.keys["web"],
    )
    assert request.status_code == 201, request.body
    rma = json.loads(request.body)
    assert rma["status"] == "approved" and rma["id"].startswith("rma_")
    assert request.headers["Location"] == f"/v1/returns/{rma['id']}"

    too_many = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 2, "reason": "changed mind"}]},
        stack.keys["web"],
    )
    assert too_many.status_code == 422
    assert "1 delivered and not yet returned" in json.loads(too_many.body)["errors"][0]["msg"]

    received = post_json(
        client,
        f"/v1/returns/{rma['id']}/receive",
        {"items": [{"sku": "TSHIRT-M", "quantity": 1, "condition": "resellable"}]},
        stack.keys["wh-east"],
    )
    assert received.status_code == 200, received.body
    rma = json.loads(received.body)
    assert rma["status"] == "received"
    assert rma["refund"] == {
        "currency": "USD",
        "items": "19.99",
        "discount": "0.00",
        "tax": "0.00",
        "shipping": "0.00",
        "total": "19.99",
    }
    after = stock_of(stack, "TSHIRT-M", "wh-east")
    assert (after["on_hand"] - before["on_hand"], after["available"] - before["available"]) == (1, 1)
    assert order_of(client, stack, order["id"])["status"] == "partially_returned"
    types = [e["type"] for e in timeline(client, stack, order["id"])]
    # One change, two events with consecutive versions: the receipt, then the refund request.
    assert types.index("refund.requested") == types.index("return.received") + 1
    pump.run_until_idle(timeout=20)
    subjects = [m.subject for m in sent_emails()]
    assert any("is approved" in s for s in subjects) and any("We received your return" in s for s in subjects)
    again = post_json(
        client,
        f"/v1/returns/{rma['id']}/receive",
        {"items": [{"sku": "TSHIRT-M", "quantity": 1, "condition": "resellable"}]},
        stack.keys["wh-east"],
    )
    assert (
        again.status_code == 200 and stock_of(stack, "TSHIRT-M", "wh-east") == after
    )  # a repeat is harmless


def test_returning_everything_refunds_shipping_and_damaged_units_are_written_off(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZRETURN0002")
    rma = json.loads(
        post_json(
            client,
            f"/v1/orders/{order['id']}/returns",
            {"lines": [{"sku": "TSHIRT-M", "quantity": 2, "reason": "broken"}]},
            stack.keys["admin"],
        ).body
    )
    before = stock_of(stack, "TSHIRT-M", "wh-east")
    received = post_json(
        client,
        f"/v1/returns/{rma['id']}/receive",
        {
            "items": [
                {"sku": "TSHIRT-M", "quantity": 1, "condition": "damaged"},
                {"sku": "TSHIRT-M", "quantity": 1, "condition": "wrong_item"},
            ],
            "warehouse_id": "wh-east",
        },
        stack.keys["admin"],
    )
    refund = json.loads(received.body)["refund"]
    # Damaged is refunded, a wrong item is not; shipping (0 here) would be refunded with the last unit.
    assert refund["items"] == "19.99" and refund["total"] == "19.99"
    assert stock_of(stack, "TSHIRT-M", "wh-east") == before  # nothing resellable came back
    assert order_of(client, stack, order["id"])["status"] == "returned"


def test_a_return_outside_the_window_is_recorded_as_rejected(
    client: Client, stack: Stack, pump: EventPump, monkeypatch: Any
) -> None:
    order = delivered_order(client, stack, pump, "1ZRETURN0003")
    monkeypatch.setenv("OMS_RETURN_WINDOW_DAYS", "0")
    from chalicelib.bootstrap import reset_services

    reset_services()
    response = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "late"}]},
        stack.keys["web"],
    )
    rma = json.loads(response.body)
    assert (response.status_code, rma["status"]) == (201, "rejected")
    assert "return window closed" in rma["rejection_reason"]
    refused = post_json(
        client,
        f"/v1/returns/{rma['id']}/receive",
        {"items": [{"sku": "TSHIRT-M", "quantity": 1, "condition": "resellable"}]},
        stack.keys["wh-east"],
    )
    assert refused.status_code == 409


def test_returns_need_a_delivery_and_the_right_keys(client: Client, stack: Stack, pump: EventPump) -> None:
    order = place(client, stack, order_body())
    response = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "x"}]},
        stack.keys["web"],
    )
    assert response.status_code == 422  # nothing delivered yet
    assert (
        post_json(
            client,
            f"/v1/orders/{order['id']}/returns",
            {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "x"}]},
            stack.keys["mobile"],
        ).status_code
        == 404
    )
    assert get(client, "/v1/returns/rma_nope", stack.keys["admin"]).status_code == 404


def test_cycle_counts_adjust_stock_and_levels_can_be_set(client: Client, stack: Stack) -> None:
    key = stack.keys["wh-east"]
    count = post_json(client, "/v1/inventory/wh-east/MUG/counts", {"counted": 3}, key)
    assert count.status_code == 201, count.body
    assert json.loads(count.body)["data"] == {"expected": 5, "counted": 3, "delta": -2, "reserved": 0}
    assert stock_of(stack, "MUG", "wh-east") == {"on_hand": 3, "reserved": 0, "available": 3}
    assert post_json(client, "/v1/inventory/wh-west/MUG/counts", {"counted": 3}, key).status_code == 403

    put = client.http.put(
        "/v1/inventory/wh-east/MUG",
        headers={"x-api-key": key, "Content-Type": "application/json"},
        body=json.dumps({"on_hand": 12, "reorder_point": 4, "overstock_level": 10, "bin": "C-1"}),
    )
    assert put.status_code == 200, put.body
    level = json.loads(put.body)
    assert (level["on_hand"], level["available"], level["reorder_point"], level["bin"]) == (12, 12, 4, "C-1")

    listing = json.loads(
        get(client, "/v1/inventory?warehouse=wh-east&overstock=true", stack.keys["admin"]).body
    )
    assert [(i["sku"], i["overstock"]) for i in listing["items"]] == [("MUG", True)]
    low = json.loads(get(client, "/v1/inventory?below_reorder_point=true", stack.keys["admin"]).body)["items"]
    assert ("wh-east", "SOLD-OUT") in {
        (i["warehouse_id"], i["sku"]) for i in low
    }  # a stock-out counts as low


def test_the_stock_report_computes_days_of_cover_from_shipped_units(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    shipped_order(client, stack, pump, "ups", "1ZCOVER00001")  # ships 2 x TSHIRT-M from wh-east today

    class Tomorrow:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(days=1)

    report = stock_report(services().uow_factory, services().stock, clock=Tomorrow())
    line = next(ln for ln in report.cover if (ln.warehouse_id, ln.sku) == ("wh-east", "TSHIRT-M"))
    # 48 available / (2 shipped / 28 days) = 672.0 days
    assert (line.available, line.shipped_last_28_days, str(line.days_of_cover)) == (48, 2, "672.0")
    assert ("wh-east", "SOLD-OUT") in {(ln.warehouse_id, ln.sku) for ln in report.stock_outs}
    result = client.lambda_.invoke(
        "stock_report",
        client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        ),
    ).payload
    assert result["stock_outs"] >= 1
