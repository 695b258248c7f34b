"""Over HTTP against ``make run``'s stack: an order split across both warehouses goes placement ->
confirmed -> pick -> pack -> ship at each warehouse, the order follows its fulfillments, and the
customer's e-mails land in the local mailbox."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import RunningStack, order_body, wait_for


def _order(stack: RunningStack, order_id: str) -> dict[str, Any]:
    response = stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _step(stack: RunningStack, fulfillment: dict[str, Any], action: str, body: Any) -> dict[str, Any]:
    key = stack.config["keys"]["warehouses"][fulfillment["warehouse_id"]]
    response = stack.post(f"/v1/fulfillments/{fulfillment['id']}/{action}", body, key)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_split_order_is_picked_packed_and_shipped_at_both_warehouses(local_stack: RunningStack) -> None:
    stack = local_stack
    email = f"grace+{uuid.uuid4().hex[:8]}@example.com"
    external_id = f"SPLIT-{uuid.uuid4().hex[:8]}"
    # The cap is stocked only in the east, the plant pot only in the west: two parcels.
    lines = [
        {"sku": "CAP-CANV-OLV", "quantity": 1, "unit_price": "18.00"},
        {"sku": "PLNT-POT-TER", "quantity": 2, "unit_price": "12.50"},
    ]
    placed = stack.post("/v1/orders", order_body(external_id, email, lines=lines), stack.channel_key("web"))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wait_for(
        "the order to be confirmed", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10
    )

    order = _order(stack, order_id)
    work = {f["warehouse_id"]: f for f in order["fulfillments"]}
    assert set(work) == {"wh-east", "wh-west"}
    statuses = []
    for warehouse in ("wh-east", "wh-west"):
        fulfillment = work[warehouse]
        key = stack.config["keys"]["warehouses"][warehouse]
        pick_list = stack.get(f"/v1/warehouses/{warehouse}/pick-lists?limit=50", key).json()
        assert fulfillment["id"] in {f["fulfillment_id"] for f in pick_list["fulfillments"]}
        after_pick = _step(
            stack,
            fulfillment,
            "pick",
            {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in fulfillment["lines"]]},
        )
        statuses.append(after_pick["status"])
        advice = stack.get(f"/v1/fulfillments/{fulfillment['id']}/packaging?carrier=usps", key).json()
        boxes = [p["box_code"] for p in advice["recommendation"]["packages"]]
        assert boxes, advice
        _step(stack, fulfillment, "pack", {"packages": [{"box": box, "weight_grams": 900} for box in boxes]})
        numbers = [f"9400{uuid.uuid4().int % 10**18:018d}" for _ in boxes]
        shipped = _step(
            stack, fulfillment, "ship", {"carrier": "usps", "service": "ground", "tracking_numbers": numbers}
        )
        statuses.append(shipped["status"])

    assert statuses == ["in_fulfillment", "partially_shipped", "partially_shipped", "shipped"]

    def shipped_mails() -> list[Any]:
        mine = [m for m in stack.emails() if m["To"] == email]
        return [m for m in mine if "shipped" in m["Subject"]] if len(mine) >= 3 else []

    mails = wait_for(f"the confirmation and two shipping e-mails to {email}", shipped_mails, timeout=10)
    assert len(mails) == 2
    text = mails[0].get_body(preferencelist=("plain",)).get_content()
    assert "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400" in text
