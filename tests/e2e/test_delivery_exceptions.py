"""Over HTTP against ``make run``'s stack: a parcel declared lost is reshipped (the customer told
by e-mail) and the reship is picked, packed, shipped and delivered, leaving the order delivered;
a parcel the carrier returns to the sender is restocked (its resellable unit back in stock) and
refunded (``refund.requested`` on the order's timeline)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from standardwebhooks import Webhook

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for

SKU = "NTBK-A5-DOT"


def _order(stack: RunningStack, order_id: str, path: str = "") -> dict[str, Any]:
    response = stack.get(f"/v1/orders/{order_id}{path}", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _available(stack: RunningStack, warehouse: str, sku: str) -> int:
    items = stack.get(f"/v1/inventory?warehouse={warehouse}", stack.config["keys"]["admin"]).json()["items"]
    return int(next(i["available"] for i in items if i["sku"] == sku))


def _carrier_says(stack: RunningStack, number: str, status: str) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {"carrier": "ups", "tracking_number": number, "status": status, "occurred_at": at},
        }
    )
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(stack.config["webhook_secrets"]["standard_webhooks"]).sign(
            webhook_id, now, body
        ),
    }
    response = requests.post(
        stack.api_url + "/v1/webhooks/carriers/standard",
        data=body.encode(),
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text


def _ship(stack: RunningStack, work: dict[str, Any], quantity: int) -> str:
    """Pick, pack and ship ``work``; its tracking number."""
    wh_key = stack.config["keys"]["warehouses"][work["warehouse_id"]]
    number = f"1Z{uuid.uuid4().hex[:14].upper()}"
    for action, body in (
        ("pick", {"lines": [{"sku": SKU, "quantity": quantity}]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 900}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        response = stack.post(f"/v1/fulfillments/{work['id']}/{action}", body, wh_key)
        assert response.status_code == 200, response.text
    return number


def _shipped_order(stack: RunningStack, email: str, quantity: int) -> tuple[str, dict[str, Any], str]:
    lines = [{"sku": SKU, "quantity": quantity, "unit_price": "12.00"}]
    placed = stack.post(
        "/v1/orders", order_body(f"EXC-{uuid.uuid4().hex[:8]}", email, lines=lines), stack.channel_key("web")
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wait_for("confirmation", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10)
    work = _order(stack, order_id)["fulfillments"][0]
    number = _ship(stack, work, quantity)
    return order_id, work, number


def test_a_lost_parcel_is_reshipped_and_delivered(local_stack: RunningStack) -> None:
    stack = local_stack
    admin = stack.config["keys"]["admin"]
    email = f"grace+{uuid.uuid4().hex[:8]}@example.com"
    order_id, lost, _ = _shipped_order(stack, email, 2)

    declared = stack.post(
        f"/v1/fulfillments/{lost['id']}/exception", {"kind": "lost", "note": "no scan"}, admin
    )
    assert declared.status_code == 200, declared.text
    reshipped = stack.post(f"/v1/fulfillments/{lost['id']}/resolution", {"action": "reship"}, admin)
    assert reshipped.status_code == 200, reshipped.text
    assert reshipped.json()["status"] == "in_fulfillment"
    refund = stack.post(f"/v1/fulfillments/{lost['id']}/resolution", {"action": "refund"}, admin)
    assert refund.status_code == 409 and refund.headers["content-type"] == "application/problem+json"

    reship = next(f for f in _order(stack, order_id)["fulfillments"] if f["reship_of"] == lost["id"])
    assert reship["status"] == "released"
    number = _ship(stack, reship, 2)
    assert _order(stack, order_id)["status"] == "shipped"
    _carrier_says(stack, number, "delivered")
    wait_for("delivery of the reship", lambda: _order(stack, order_id)["status"] == "delivered", timeout=10)

    def reship_mails() -> list[Any]:
        return [m for m in stack.emails() if m["To"] == email and "again" in m["Subject"]]

    assert len(wait_for("the reship e-mail", reship_mails, timeout=10)) == 1
    statuses = {f["id"]: f["status"] for f in _order(stack, order_id)["fulfillments"]}
    assert statuses == {lost["id"]: "reshipped", reship["id"]: "delivered"}


def test_a_parcel_returned_to_sender_is_restocked_and_refunded(local_stack: RunningStack) -> None:
    stack = local_stack
    order_id, returned, number = _shipped_order(stack, f"alan+{uuid.uuid4().hex[:8]}@example.com", 2)
    warehouse = returned["warehouse_id"]
    wh_key = stack.config["keys"]["warehouses"][warehouse]
    _carrier_says(stack, number, "returned_to_sender")

    def back_at_sender() -> bool:
        (f,) = _order(stack, order_id)["fulfillments"]
        return f["status"] == "returned_to_sender" and f["delivery_exception"]["source"] == "carrier"

    wait_for("the carrier's return", back_at_sender, timeout=10)
    before = _available(stack, warehouse, SKU)
    items = [
        {"sku": SKU, "quantity": 1, "resellable": True},
        {"sku": SKU, "quantity": 1, "resellable": False},
    ]
    restocked = stack.post(
        f"/v1/fulfillments/{returned['id']}/resolution", {"action": "restock", "items": items}, wh_key
    )
    assert restocked.status_code == 200, restocked.text
    assert _available(stack, warehouse, SKU) == before + 1  # only the resellable unit
    assert _order(stack, order_id)["status"] == "shipped"  # restocked, not yet resolved for the customer

    refunded = stack.post(f"/v1/fulfillments/{returned['id']}/resolution", {"action": "refund"}, wh_key)

    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "cancelled"
    refunds = [e for e in _order(stack, order_id, "/events")["items"] if e["type"] == "refund.requested"]
    assert [(r["data"]["fulfillment_id"], r["data"]["refund"]["total"]) for r in refunds] == [
        (returned["id"], refunded.json()["totals"]["total"])
    ]
