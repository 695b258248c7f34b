"""Delivery exceptions through the routes, DynamoDB (moto) and the app's own workers: a parcel
declared lost and reshipped (the e-mail sent once, the KPIs counted), and a damaged parcel
restocked and refunded; repeats answer the same, conflicting requests 409 problem+json."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

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
from tests.integration.test_fulfillment_journey import ok, pick_all, step, stock_of


def shipped(client: Client, stack: Stack, pump: EventPump, external_id: str, quantity: int) -> dict[str, Any]:
    body = order_body(external_id, lines=[{"sku": "MUG", "quantity": quantity, "unit_price": "7.50"}])
    order = place(client, stack, body)
    pump.run_until_idle(timeout=20)
    (f,) = order_of(client, stack, order["id"])["fulfillments"]
    ok(step(client, stack, f, "pick", pick_all(f)))
    ok(step(client, stack, f, "pack", {"packages": [{"box": "S", "weight_grams": 500}]}))
    ship = {"carrier": "ups", "service": "ground", "tracking_number": f"1Z{external_id}"}
    return ok(step(client, stack, f, "ship", ship))


def test_a_lost_parcel_is_reshipped_once_and_counted(client: Client, stack: Stack, pump: EventPump) -> None:
    order = shipped(client, stack, pump, "EXC-LOST", 2)
    (lost,) = order["fulfillments"]
    admin = stack.keys["admin"]
    declared = ok(post_json(client, f"/v1/fulfillments/{lost['id']}/exception", {"kind": "lost"}, admin))
    assert declared["fulfillments"][0]["status"] == "lost"
    assert declared["fulfillments"][0]["delivery_exception"]["source"] == "operations"

    reship = {"action": "reship"}
    first = ok(post_json(client, f"/v1/fulfillments/{lost['id']}/resolution", reship, admin))
    again = ok(post_json(client, f"/v1/fulfillments/{lost['id']}/resolution", reship, admin))
    refused = post_json(client, f"/v1/fulfillments/{lost['id']}/resolution", {"action": "refund"}, admin)

    assert first == again
    assert first["status"] == "in_fulfillment"
    new = next(f for f in first["fulfillments"] if f["reship_of"] == lost["id"])
    assert new["status"] == "released"
    assert stock_of(stack, "MUG", "wh-east")["reserved"] == 2
    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "resolved already (reship)" in json.loads(refused.body)["detail"]
    pump.run_until_idle(timeout=20)
    pump.run_until_idle(timeout=20)
    assert sum("sending your order EXC-LOST again" in m.subject for m in sent_emails()) == 1
    types = [e["type"] for e in timeline(client, stack, order["id"])]
    assert types.count("fulfillment.exception_recorded") == types.count("fulfillment.resolved") == 1
    day = timeline(client, stack, order["id"])[-1]["occurred_at"][:10]
    report = json.loads(get(client, f"/v1/kpis?from={day}&to={day}", admin).body)
    assert (report["delivery_exceptions"], report["reshipments"]) == (1, 1)


def test_a_damaged_parcel_is_restocked_and_refunded(client: Client, stack: Stack, pump: EventPump) -> None:
    order = shipped(client, stack, pump, "EXC-DMG", 2)
    (damaged,) = order["fulfillments"]
    key = stack.keys["wh-east"]
    path = f"/v1/fulfillments/{damaged['id']}"
    ok(post_json(client, f"{path}/exception", {"kind": "damaged", "note": "crushed box"}, key))
    before = stock_of(stack, "MUG", "wh-east")
    items = [
        {"sku": "MUG", "quantity": 1, "resellable": True},
        {"sku": "MUG", "quantity": 1, "resellable": False},
    ]

    ok(post_json(client, f"{path}/resolution", {"action": "restock", "items": items}, key))
    too_many = post_json(client, f"{path}/resolution", {"action": "restock", "items": items[:1]}, key)
    refunded = ok(post_json(client, f"{path}/resolution", {"action": "refund"}, key))
    other_warehouse = post_json(client, f"{path}/resolution", {"action": "refund"}, stack.keys["wh-west"])
    no_items = post_json(client, f"{path}/resolution", {"action": "restock"}, key)

    after = stock_of(stack, "MUG", "wh-east")
    assert (after["on_hand"] - before["on_hand"], after["available"] - before["available"]) == (1, 1)
    assert too_many.status_code == 409
    assert refunded["status"] == "cancelled"
    assert refunded["fulfillments"][0]["resolution"]["refund_total"] == refunded["totals"]["total"]
    assert other_warehouse.status_code == 404
    assert no_items.status_code == 422
    refund = next(e for e in timeline(client, stack, order["id"]) if e["type"] == "refund.requested")
    assert (refund["data"]["rma_id"], refund["data"]["fulfillment_id"]) == (None, damaged["id"])


def test_the_openapi_document_declares_the_exception_and_resolution_routes(
    client: Client, stack: Stack
) -> None:
    document = json.loads(get(client, "/v1/openapi.json", None).body)

    for action, schema in (("exception", "ExceptionRequest"), ("resolution", "ResolutionRequest")):
        operation = document["paths"][f"/v1/fulfillments/{{fulfillment_id}}/{action}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{schema}"}
        assert {"401", "404", "409", "422"} <= set(operation["responses"])
    actions = document["components"]["schemas"]["ResolutionRequest"]["properties"]["action"]
    assert set(actions["enum"]) == {"reship", "refund", "restock"}
