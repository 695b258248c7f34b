"""Over HTTP against ``make run``'s stack: an order edited before picking (a line added, a unit
removed) moves the stock and the totals, asks the store for the difference and tells the customer;
once picking started the same kind of edit is refused with the reason."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.e2e.conftest import RunningStack, order_body, wait_for

CHARGER, CABLE = "CHRG-USBC-65W", "CBL-USBC-2M"


def _order(stack: RunningStack, order_id: str) -> dict[str, Any]:
    response = stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _available(stack: RunningStack, warehouse: str, sku: str) -> int:
    items = stack.get(f"/v1/inventory?warehouse={warehouse}", stack.config["keys"]["admin"]).json()["items"]
    return int(next(i["available"] for i in items if i["sku"] == sku))


def _events(stack: RunningStack, order_id: str) -> list[dict[str, Any]]:
    response = stack.get(f"/v1/orders/{order_id}/events", stack.channel_key("web"))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _place(stack: RunningStack, email: str) -> str:
    lines = [{"sku": CHARGER, "quantity": 2, "unit_price": "39.00"}]
    placed = stack.post(
        "/v1/orders", order_body(f"EDIT-{uuid.uuid4().hex[:8]}", email, lines=lines), stack.channel_key("web")
    )
    assert placed.status_code == 201, placed.text
    order_id = str(placed.json()["id"])
    wait_for(
        "the order to be confirmed", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10
    )
    return order_id


def test_an_edit_before_picking_moves_stock_and_totals_and_emits_the_adjustment(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    email = f"edith+{uuid.uuid4().hex[:8]}@example.com"
    order_id = _place(stack, email)
    (work,) = _order(stack, order_id)["fulfillments"]
    warehouse = work["warehouse_id"]
    chargers, cables = _available(stack, warehouse, CHARGER), _available(stack, warehouse, CABLE)

    response = stack.post(
        f"/v1/orders/{order_id}/edits",
        {
            "add": [{"sku": CABLE, "quantity": 1, "unit_price": "9.00"}],
            "change": [{"sku": CHARGER, "quantity": 1}],
            "reason": "one charger is enough, and a cable",
        },
        stack.channel_key("web"),
        **{"Idempotency-Key": f"edit-{order_id}"},
    )

    assert response.status_code == 200, response.text
    edited = response.json()
    assert [(li["sku"], li["quantity"], li["line_total"]) for li in edited["lines"]] == [
        (CHARGER, 1, "39.00"),
        (CABLE, 1, "9.00"),
    ]
    assert Decimal(edited["totals"]["total"]) == Decimal("48.00")
    (after,) = edited["fulfillments"]  # the cable joined the parcel the warehouse has not picked
    assert (after["id"], after["status"]) == (work["id"], "released")
    assert sorted((li["sku"], li["quantity"]) for li in after["lines"]) == [(CABLE, 1), (CHARGER, 1)]
    assert (_available(stack, warehouse, CHARGER), _available(stack, warehouse, CABLE)) == (
        chargers + 1,
        cables - 1,
    )
    events = {e["type"]: e["data"] for e in _events(stack, order_id)}
    assert (events["order.edited"]["previous_total"], events["order.edited"]["total"]) == ("78.00", "48.00")
    adjustment = events["payment.adjustment_requested"]
    assert (adjustment["amount"], adjustment["currency"], adjustment["edit_id"]) == (
        "-30.00",
        "USD",
        events["order.edited"]["edit_id"],
    )

    def edit_mail() -> list[Any]:
        return [m for m in stack.emails() if m["To"] == email and "was changed" in m["Subject"]]

    (mail,) = wait_for(f"the edit's e-mail to {email}", edit_mail, timeout=10)
    assert (
        "Total: 48.00 USD (before the change: 78.00 USD)."
        in mail.get_body(preferencelist=("plain",)).get_content()
    )


def test_an_edit_after_picking_started_is_refused_naming_the_fulfillment(local_stack: RunningStack) -> None:
    stack = local_stack
    order_id = _place(stack, f"pia+{uuid.uuid4().hex[:8]}@example.com")
    (work,) = _order(stack, order_id)["fulfillments"]
    warehouse_key = stack.config["keys"]["warehouses"][work["warehouse_id"]]
    picked = stack.post(
        f"/v1/fulfillments/{work['id']}/pick", {"lines": [{"sku": CHARGER, "quantity": 2}]}, warehouse_key
    )
    assert picked.status_code == 200, picked.text
    chargers = _available(stack, work["warehouse_id"], CHARGER)

    refused = stack.post(
        f"/v1/orders/{order_id}/edits",
        {"change": [{"sku": CHARGER, "quantity": 1}], "reason": "too late"},
        stack.channel_key("web"),
    )

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/picking-started")
    assert problem["fulfillment_ids"] == [work["id"]]
    assert _available(stack, work["warehouse_id"], CHARGER) == chargers
    assert [li["quantity"] for li in _order(stack, order_id)["lines"]] == [2]
    assert "order.edited" not in [e["type"] for e in _events(stack, order_id)]
