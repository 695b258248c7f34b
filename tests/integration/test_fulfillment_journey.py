"""Steps 3-5 through the routes and the app's own workers: pick, pack, ship, cancel, backorders, SLA."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.bootstrap import services
from infra.local.pump import EventPump
from tests.integration.conftest import (
    Stack,
    get,
    messages,
    order_body,
    order_of,
    place,
    post_json,
    sent_emails,
    timeline,
)


def stock_of(stack: Stack, sku: str, warehouse: str) -> dict[str, int]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table,
        Key={"pk": {"S": f"SKU#{sku}"}, "sk": {"S": f"WH#{warehouse}"}},
        ConsistentRead=True,
    )["Item"]
    return {name: int(item[name]["N"]) for name in ("on_hand", "reserved", "available")}


def step(
    client: Client, stack: Stack, fulfillment: dict[str, Any], action: str, body: Any, key: str | None = None
) -> Any:
    return post_json(
        client,
        f"/v1/fulfillments/{fulfillment['id']}/{action}",
        body,
        key or stack.keys[fulfillment["warehouse_id"]],
    )


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    return json.loads(response.body)  # type: ignore[no-any-return]


def work_at(order: dict[str, Any], warehouse: str) -> dict[str, Any]:
    return next(f for f in order["fulfillments"] if f["warehouse_id"] == warehouse)


def pick_all(fulfillment: dict[str, Any]) -> dict[str, Any]:
    return {"lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in fulfillment["lines"]]}


def test_a_split_order_is_picked_packed_and_shipped_at_both_warehouses(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    body = order_body(
        lines=[
            {"sku": "LAST-UNITS", "quantity": 2, "unit_price": "4.00"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},
        ]
    )
    order = place(client, stack, body)
    pump.run_until_idle(timeout=20)
    order = order_of(client, stack, order["id"])
    assert order["status"] == "confirmed"
    east, west = work_at(order, "wh-east"), work_at(order, "wh-west")
    assert east["status"] == west["status"] == "released"
    assert east["ship_by"] and west["ship_by"]

    after_pick = ok(step(client, stack, east, "pick", pick_all(east)))
    assert after_pick["status"] == "in_fulfillment"
    advice = ok(get(client, f"/v1/fulfillments/{east['id']}/packaging", stack.keys["wh-east"]))
    recommended = advice["recommendation"]["packages"][0]["box_code"]
    assert recommended == "S"
    ok(step(client, stack, east, "pack", {"packages": [{"box": recommended, "weight_grams": 700}]}))
    shipped_east = ok(
        step(
            client,
            stack,
            east,
            "ship",
            {"carrier": "usps", "service": "ground", "tracking_number": "9400100000000000000001"},
        )
    )
    assert shipped_east["status"] == "partially_shipped"
    assert stock_of(stack, "LAST-UNITS", "wh-east") == {"on_hand": 8, "reserved": 0, "available": 8}

    ok(step(client, stack, west, "pick", pick_all(west)))
    ok(step(client, stack, west, "pack", {"packages": [{"box": "M", "weight_grams": 400}]}))
    shipped = ok(
        step(
            client,
            stack,
            west,
            "ship",
            {"carrier": "ups", "service": "ground", "tracking_numbers": ["1Z999AA10123456784"]},
        )
    )
    assert shipped["status"] == "shipped"
    west_now = work_at(shipped, "wh-west")
    assert west_now["shipment"]["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert west_now["recommended_boxes"] == ["S"]  # M was not the advice, and that is on record
    pump.run_until_idle(timeout=20)

    subjects = [m.subject for m in sent_emails()]
    assert sum("confirmed" in s for s in subjects) == 1
    assert sum("shipped" in s for s in subjects) == 2
    types = [e["type"] for e in timeline(client, stack, order["id"])]
    assert types.count("fulfillment.shipped") == 2
    packed = [e for e in timeline(client, stack, order["id"]) if e["type"] == "fulfillment.packed"]
    assert [p["data"]["boxes_other_than_recommended"] for p in packed] == [[], ["M"]]


def test_a_short_pick_backorders_the_rest_until_goods_are_received(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    order = place(client, stack, order_body(lines=[{"sku": "MUG", "quantity": 4, "unit_price": "7.50"}]))
    pump.run_until_idle(timeout=20)
    east = work_at(order_of(client, stack, order["id"]), "wh-east")
    assert stock_of(stack, "MUG", "wh-east") == {"on_hand": 5, "reserved": 4, "available": 1}

    short = ok(step(client, stack, east, "pick", {"lines": [{"sku": "MUG", "quantity": 1}]}))
    backorder = next(f for f in short["fulfillments"] if f["warehouse_id"] is None)
    assert backorder["lines"] == [{"sku": "MUG", "quantity": 3}]
    assert short["lines"][0]["backordered"] == 3
    # The shelf held 3 fewer than the books said: on-hand and reserved both drop by 3.
    assert stock_of(stack, "MUG", "wh-east") == {"on_hand": 2, "reserved": 1, "available": 1}
    types = [e["type"] for e in timeline(client, stack, order["id"])]
    assert "fulfillment.short_picked" in types
    adjustments = [i for i in stack.items("SKU#MUG") if i["sk"]["S"].startswith("EVENT#wh-east#")]
    assert [json.loads(json.dumps(a["type"]))["S"] for a in adjustments] == ["inventory.adjusted"]

    receipt = post_json(client, "/v1/inventory/wh-east/MUG/receipts", {"quantity": 2}, stack.keys["wh-west"])
    assert receipt.status_code == 403  # another warehouse's stock
    receipt = post_json(
        client,
        "/v1/inventory/wh-east/MUG/receipts",
        {"quantity": 10, "reference": "PO-77"},
        stack.keys["wh-east"],
    )
    assert receipt.status_code == 201, receipt.body
    pump.run_until_idle(timeout=20)

    after = order_of(client, stack, order["id"])
    allocated = next(f for f in after["fulfillments"] if f["id"] == backorder["id"])
    assert (allocated["warehouse_id"], allocated["status"]) == ("wh-east", "released")
    assert allocated["ship_by"] is not None
    assert after["lines"][0]["backordered"] == 0
    assert stock_of(stack, "MUG", "wh-east") == {"on_hand": 12, "reserved": 4, "available": 8}
    assert any("backorder" in m.subject or "on its way" in m.subject for m in sent_emails())
    picks = [m for m in messages(stack, warehouse_inbox["wh-east"]) if m["fulfillment_id"] == backorder["id"]]
    assert [p["lines"] for p in picks] == [[{"sku": "MUG", "quantity": 3}]]


def test_backorders_are_allocated_first_come_first_served(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    first = place(
        client, stack, order_body("FIRST", lines=[{"sku": "SOLD-OUT", "quantity": 2, "unit_price": "1.00"}])
    )
    second = place(
        client, stack, order_body("SECOND", lines=[{"sku": "SOLD-OUT", "quantity": 2, "unit_price": "1.00"}])
    )
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, first["id"])["status"] == "backordered"
    post_json(client, "/v1/inventory/wh-east/SOLD-OUT/receipts", {"quantity": 3}, stack.keys["admin"])
    pump.run_until_idle(timeout=20)
    one, two = order_of(client, stack, first["id"]), order_of(client, stack, second["id"])
    assert one["status"] == "confirmed" and one["lines"][0]["backordered"] == 0
    assert two["status"] == "backordered" and two["lines"][0]["backordered"] == 1
    waiting = [f for f in two["fulfillments"] if f["warehouse_id"] is None and f["status"] == "pending"]
    assert [f["lines"] for f in waiting] == [[{"sku": "SOLD-OUT", "quantity": 1}]]
    assert stock_of(stack, "SOLD-OUT", "wh-east") == {"on_hand": 3, "reserved": 3, "available": 0}


def test_cancelling_before_packing_restores_stock_and_after_packing_is_refused(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(
        client, stack, order_body(lines=[{"sku": "TSHIRT-M", "quantity": 3, "unit_price": "19.99"}])
    )
    pump.run_until_idle(timeout=20)
    assert stock_of(stack, "TSHIRT-M", "wh-east")["available"] == 47
    partly = ok(
        post_json(
            client,
            f"/v1/orders/{order['id']}/cancel",
            {"reason": "changed mind", "lines": [{"sku": "TSHIRT-M", "quantity": 1}]},
            stack.keys["web"],
        )
    )
    assert partly["status"] == "confirmed" and partly["lines"][0]["cancelled"] == 1
    assert stock_of(stack, "TSHIRT-M", "wh-east")["available"] == 48
    whole = ok(
        post_json(client, f"/v1/orders/{order['id']}/cancel", {"reason": "changed mind"}, stack.keys["web"])
    )
    assert whole["status"] == "cancelled"
    assert stock_of(stack, "TSHIRT-M", "wh-east") == {"on_hand": 50, "reserved": 0, "available": 50}
    pump.run_until_idle(timeout=20)
    assert sum("cancelled" in m.subject for m in sent_emails()) == 2

    packed = place(
        client, stack, order_body("WEB-2", lines=[{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "1.00"}])
    )
    pump.run_until_idle(timeout=20)
    work = work_at(order_of(client, stack, packed["id"]), "wh-east")
    ok(step(client, stack, work, "pick", pick_all(work)))
    ok(step(client, stack, work, "pack", {"packages": [{"box": "S", "weight_grams": 350}]}))
    late = post_json(client, f"/v1/orders/{packed['id']}/cancel", {"reason": "too late"}, stack.keys["web"])
    assert late.status_code == 409
    problem = json.loads(late.body)
    assert work["id"] in problem["detail"] and "packed" in problem["detail"]
    assert stock_of(stack, "TSHIRT-M", "wh-east")["reserved"] == 1
    other_channel = post_json(
        client, f"/v1/orders/{packed['id']}/cancel", {"reason": "x"}, stack.keys["mobile"]
    )
    assert other_channel.status_code == 404  # another channel's order looks missing


def test_warehouse_steps_are_scoped_idempotent_and_refused_out_of_order(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(client, stack, order_body())
    pump.run_until_idle(timeout=20)
    work = work_at(order_of(client, stack, order["id"]), "wh-east")
    assert step(client, stack, work, "pick", pick_all(work), key=stack.keys["wh-west"]).status_code == 404
    too_early = step(
        client, stack, work, "ship", {"carrier": "usps", "service": "ground", "tracking_number": "TRACK0001"}
    )
    assert too_early.status_code == 409
    problem = json.loads(too_early.body)
    assert problem["current_state"] == "released" and "pick" in problem["allowed_actions"]
    first = ok(step(client, stack, work, "pick", pick_all(work)))
    again = ok(step(client, stack, work, "pick", pick_all(work)))
    assert again == first  # the identical repeat changes nothing
    different = step(client, stack, work, "pick", {"lines": [{"sku": "TSHIRT-M", "quantity": 1}]})
    assert different.status_code == 409
    unknown_box = step(client, stack, work, "pack", {"packages": [{"box": "XXL", "weight_grams": 100}]})
    assert unknown_box.status_code == 422
    ok(
        step(
            client,
            stack,
            work,
            "pack",
            {"packages": [{"box": "S", "weight_grams": 100}, {"box": "S", "weight_grams": 100}]},
        )
    )
    wrong_count = step(
        client, stack, work, "ship", {"carrier": "usps", "service": "ground", "tracking_number": "TRACK0002"}
    )
    assert wrong_count.status_code == 422
    assert get(client, "/v1/fulfillments/ful_nope/packaging", stack.keys["admin"]).status_code == 404


def test_a_tracking_number_cannot_serve_two_shipments(client: Client, stack: Stack, pump: EventPump) -> None:
    orders = [place(client, stack, order_body(f"T-{n}")) for n in range(2)]
    pump.run_until_idle(timeout=20)
    responses = []
    for order in orders:
        work = work_at(order_of(client, stack, order["id"]), "wh-east")
        ok(step(client, stack, work, "pick", pick_all(work)))
        ok(step(client, stack, work, "pack", {"packages": [{"box": "S", "weight_grams": 100}]}))
        responses.append(
            step(
                client,
                stack,
                work,
                "ship",
                {"carrier": "fedex", "service": "home", "tracking_number": "794600000001"},
            )
        )
    assert [r.status_code for r in responses] == [200, 409]


def test_the_pick_list_groups_work_by_bin_in_walking_order(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    for n, lines in enumerate([[("MUG", 1), ("TSHIRT-M", 2)], [("TSHIRT-M", 1)], [("LAST-UNITS", 1)]]):
        place(
            client,
            stack,
            order_body(f"W-{n}", lines=[{"sku": s, "quantity": q, "unit_price": "1.00"} for s, q in lines]),
        )
    pump.run_until_idle(timeout=20)
    assert get(client, "/v1/warehouses/wh-east/pick-lists", stack.keys["wh-west"]).status_code == 403
    pick_list = json.loads(
        get(client, "/v1/warehouses/wh-east/pick-lists?limit=10", stack.keys["wh-east"]).body
    )
    assert len(pick_list["fulfillments"]) == 3
    stops = [(s["bin"], s["sku"], s["quantity"], len(s["tasks"])) for s in pick_list["stops"]]
    # Seeded bins: A-<length of the sku>: MUG A-03, TSHIRT-M A-08, LAST-UNITS A-10.
    assert stops == [("A-03", "MUG", 1, 1), ("A-08", "TSHIRT-M", 3, 2), ("A-10", "LAST-UNITS", 1, 1)]


def test_work_past_its_promise_is_reported_once(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    svc = services()
    order = place(client, stack, order_body())
    pump.run_until_idle(timeout=20)

    class Later:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(days=5)

    from chalicelib.service.sweepers import sweep_sla

    first = sweep_sla(svc.uow_factory, svc.queries, svc.ids, Later())
    second = sweep_sla(svc.uow_factory, svc.queries, svc.ids, Later())
    work = work_at(order_of(client, stack, order["id"]), "wh-east")
    assert first == [work["id"]] and second == []
    assert work["sla_breached_at"] is not None
    pump.run_until_idle(timeout=20)
    alerts = [m for m in messages(stack, warehouse_inbox["operations"]) if m["type"] == "sla.breached"]
    assert [a["fulfillment_id"] for a in alerts] == [work["id"]]
    # The schedule is wired to the same use case.
    assert client.lambda_.invoke(
        "sla_sweeper",
        client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        ),
    ).payload == {"breached": []}


def test_packing_reads_the_warehouses_box_catalogue_once(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    from chalicelib.adapters.aws import client as aws_client

    order = place(client, stack, order_body(lines=[{"sku": "POSTER", "quantity": 1, "unit_price": "5.00"}]))
    pump.run_until_idle(timeout=20)
    work = order_of(client, stack, order["id"])["fulfillments"][0]
    ok(step(client, stack, work, "pick", pick_all(work)))
    catalogue_reads: list[str] = []

    def on_query(params: dict[str, Any], **_: Any) -> None:
        pk = params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S", "")
        if pk.startswith("BOXES#"):
            catalogue_reads.append(pk)

    events = aws_client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.Query", on_query)
    try:
        # The boxes named are checked against the catalogue and the advice is recomputed from it.
        ok(step(client, stack, work, "pack", {"packages": [{"box": "S", "weight_grams": 400}]}))
    finally:
        events.unregister("provide-client-params.dynamodb.Query", on_query)
    assert catalogue_reads == [f"BOXES#{work['warehouse_id']}"]
