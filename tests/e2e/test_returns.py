"""Over HTTP against ``make run``'s stack: a delivered order is returned in part; the resellable
unit is back in ``available``; a second return beyond what was delivered is a 422."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from standardwebhooks import Webhook

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for


def _order(stack: RunningStack, order_id: str) -> dict[str, Any]:
    return stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"]).json()  # type: ignore[no-any-return]


def _available(stack: RunningStack, warehouse: str, sku: str) -> int:
    items = stack.get(f"/v1/inventory?warehouse={warehouse}", stack.config["keys"]["admin"]).json()["items"]
    return int(next(i["available"] for i in items if i["sku"] == sku))


def _delivered(stack: RunningStack, number: str) -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {"carrier": "ups", "tracking_number": number, "status": "delivered", "occurred_at": at},
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


def test_a_delivered_order_is_returned_in_part(local_stack: RunningStack) -> None:
    stack = local_stack
    key = stack.channel_key("web")
    lines = [{"sku": "NTBK-A5-DOT", "quantity": 3, "unit_price": "12.00"}]
    placed = stack.post(
        "/v1/orders", order_body(f"RET-{uuid.uuid4().hex[:8]}", "mary@example.com", lines=lines), key
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wait_for("confirmation", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10)
    work = _order(stack, order_id)["fulfillments"][0]
    warehouse = work["warehouse_id"]
    wh_key = stack.config["keys"]["warehouses"][warehouse]
    number = f"1Z{uuid.uuid4().hex[:14].upper()}"
    for action, body in (
        ("pick", {"lines": [{"sku": "NTBK-A5-DOT", "quantity": 3}]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 900}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        assert stack.post(f"/v1/fulfillments/{work['id']}/{action}", body, wh_key).status_code == 200
    _delivered(stack, number)
    wait_for("delivery", lambda: _order(stack, order_id)["status"] == "delivered", timeout=10)

    before = _available(stack, warehouse, "NTBK-A5-DOT")
    rma = stack.post(
        f"/v1/orders/{order_id}/returns",
        {"lines": [{"sku": "NTBK-A5-DOT", "quantity": 2, "reason": "duplicate gift"}]},
        key,
    )
    assert rma.status_code == 201, rma.text
    assert rma.json()["status"] == "approved"
    received = stack.post(
        f"/v1/returns/{rma.json()['id']}/receive",
        {
            "items": [
                {"sku": "NTBK-A5-DOT", "quantity": 1, "condition": "resellable"},
                {"sku": "NTBK-A5-DOT", "quantity": 1, "condition": "damaged"},
            ]
        },
        wh_key,
    )
    assert received.status_code == 200, received.text
    assert received.json()["refund"]["total"] == "24.00"
    assert _available(stack, warehouse, "NTBK-A5-DOT") == before + 1  # only the resellable unit
    assert _order(stack, order_id)["status"] == "partially_returned"

    beyond = stack.post(
        f"/v1/orders/{order_id}/returns",
        {"lines": [{"sku": "NTBK-A5-DOT", "quantity": 2, "reason": "again"}]},
        key,
    )
    assert beyond.status_code == 422, beyond.text
    assert beyond.headers["content-type"] == "application/problem+json"
