"""Order edits through the route and the app's own workers, over the infra stack in moto: one
transaction with the stock, the customer's e-mail, the warehouse's new work, backorders served
from units an edit frees, and the refusals as problem+json."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import (
    Stack,
    messages,
    order_body,
    order_of,
    place,
    post_json,
    sent_emails,
    timeline,
)
from tests.integration.test_console import Console
from tests.integration.test_fulfillment_journey import ok, pick_all, step, stock_of, work_at


def edit(
    client: Client, stack: Stack, order_id: str, body: dict[str, Any], key: str | None = None, **headers: str
) -> Any:
    return post_json(client, f"/v1/orders/{order_id}/edits", body, key or stack.keys["web"], **headers)


def test_an_edit_before_picking_moves_stock_totals_and_tells_the_customer_and_the_warehouse(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    order = place(
        client, stack, order_body(lines=[{"sku": "TSHIRT-M", "quantity": 3, "unit_price": "19.99"}])
    )
    pump.run_until_idle(timeout=20)
    for url in warehouse_inbox.values():
        messages(stack, url)  # the pick work of the placement
    emails_before = len(sent_emails())

    response = edit(
        client,
        stack,
        order["id"],
        {
            "add": [{"sku": "POSTER", "quantity": 2, "unit_price": "5.00"}],
            "change": [{"sku": "TSHIRT-M", "quantity": 2}],
            "reason": "customer asked",
        },
        **{"Idempotency-Key": "edit-1"},
    )

    edited = ok(response)
    assert [(li["sku"], li["quantity"]) for li in edited["lines"]] == [("TSHIRT-M", 2), ("POSTER", 2)]
    assert edited["totals"]["total"] == "49.98"
    assert stock_of(stack, "TSHIRT-M", "wh-east") == {"on_hand": 50, "reserved": 2, "available": 48}
    assert stock_of(stack, "POSTER", "wh-west") == {"on_hand": 10, "reserved": 2, "available": 8}
    assert work_at(edited, "wh-west")["status"] == "released"
    repeat = edit(
        client,
        stack,
        order["id"],
        {
            "add": [{"sku": "POSTER", "quantity": 2, "unit_price": "5.00"}],
            "change": [{"sku": "TSHIRT-M", "quantity": 2}],
            "reason": "customer asked",
        },
        **{"Idempotency-Key": "edit-1"},
    )
    assert ok(repeat)["version"] == edited["version"]

    pump.run_until_idle(timeout=20)

    events = timeline(client, stack, order["id"])
    types = [e["type"] for e in events]
    assert types.count("order.edited") == 1
    adjustment = next(e for e in events if e["type"] == "payment.adjustment_requested")
    assert (adjustment["data"]["amount"], adjustment["data"]["currency"]) == ("-9.99", "USD")
    new_emails = sent_emails()[emails_before:]
    assert ["changed" in e.subject for e in new_emails] == [True]
    assert [m["lines"] for m in messages(stack, warehouse_inbox["wh-west"])] == [
        [{"sku": "POSTER", "quantity": 2}]
    ]


def test_an_edit_after_picking_is_refused_with_the_reason_and_the_fulfillment(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(
        client, stack, order_body(lines=[{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}])
    )
    pump.run_until_idle(timeout=20)
    work = work_at(order_of(client, stack, order["id"]), "wh-east")
    ok(step(client, stack, work, "pick", pick_all(work)))

    response = edit(
        client, stack, order["id"], {"change": [{"sku": "TSHIRT-M", "quantity": 1}], "reason": "x"}
    )

    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert problem["type"].endswith("/picking-started")
    assert problem["fulfillment_ids"] == [work["id"]]
    assert stock_of(stack, "TSHIRT-M", "wh-east")["reserved"] == 2


def test_bad_edits_are_refused_as_problems_and_an_unknown_order_is_not_found(
    client: Client, stack: Stack
) -> None:
    order = place(client, stack, order_body())

    unknown_sku = edit(
        client,
        stack,
        order["id"],
        {"add": [{"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}], "reason": "x"},
    )
    zero = edit(
        client,
        stack,
        order["id"],
        {"add": [{"sku": "MUG", "quantity": 0, "unit_price": "1.00"}], "reason": "x"},
    )
    missing = edit(client, stack, "ord_missing", {"change": [{"sku": "MUG", "quantity": 1}], "reason": "x"})
    other_channel = edit(
        client,
        stack,
        order["id"],
        {"change": [{"sku": "TSHIRT-M", "quantity": 1}], "reason": "x"},
        key=stack.keys["marketplace"],
    )

    assert (unknown_sku.status_code, json.loads(unknown_sku.body)["errors"][0]["loc"]) == (
        422,
        ["add", 0, "sku"],
    )
    assert zero.status_code == 422
    assert missing.status_code == 404
    assert other_channel.status_code == 404  # as a missing order: another tenant's is not shown


def test_units_an_edit_frees_go_to_the_oldest_backorder(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    first = place(
        client, stack, order_body("WEB-A", lines=[{"sku": "MUG", "quantity": 5, "unit_price": "8.00"}])
    )
    pump.run_until_idle(timeout=20)
    # East has no mug left; West's 30 go first to an order there, then the rest waits.
    waiting = place(
        client, stack, order_body("WEB-B", lines=[{"sku": "MUG", "quantity": 32, "unit_price": "8.00"}])
    )
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, waiting["id"])["status"] == "backordered"

    ok(edit(client, stack, first["id"], {"change": [{"sku": "MUG", "quantity": 3}], "reason": "fewer mugs"}))
    pump.run_until_idle(timeout=20)

    assert order_of(client, stack, waiting["id"])["status"] == "confirmed"
    assert stock_of(stack, "MUG", "wh-east") == {"on_hand": 5, "reserved": 5, "available": 0}


def test_the_console_timeline_shows_the_edit_and_the_adjustment(client: Client, stack: Stack) -> None:
    order = place(
        client, stack, order_body(lines=[{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}])
    )
    ok(
        edit(
            client, stack, order["id"], {"change": [{"sku": "TSHIRT-M", "quantity": 1}], "reason": "one only"}
        )
    )
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])

    page = visitor.get(f"/console/orders/{order['id']}").body.decode()

    assert '<th scope="row">order.edited</th>' in page
    assert "edited (api): -1 TSHIRT-M; total 39.98 → 19.99" in page
    assert "payment adjustment -19.99 USD" in page
