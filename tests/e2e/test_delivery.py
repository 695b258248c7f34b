"""Over HTTP against ``make run``'s stack: a shipped order receives carrier events out of order
(delivered before in transit); it ends delivered, the timeline shows every update, one delivered
e-mail lands in the mailbox, and the feedback link from that e-mail records a rating."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for


def _order(stack: RunningStack, order_id: str, path: str = "") -> dict[str, Any]:
    response = stack.get(f"/v1/orders/{order_id}{path}", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _carrier_event(stack: RunningStack, number: str, status: str, at: str) -> requests.Response:
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {"carrier": "ups", "tracking_number": number, "status": status, "occurred_at": at},
        }
    )
    webhook_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    secret = stack.config["webhook_secrets"]["standard_webhooks"]
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }
    return requests.post(
        stack.api_url + "/v1/webhooks/carriers/standard",
        data=body.encode(),
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )


def test_out_of_order_carrier_events_end_delivered_and_the_feedback_link_works(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    email = f"hedy+{uuid.uuid4().hex[:8]}@example.com"
    placed = stack.post(
        "/v1/orders", order_body(f"DLV-{uuid.uuid4().hex[:8]}", email), stack.channel_key("web")
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wait_for("confirmation", lambda: _order(stack, order_id)["status"] == "confirmed", timeout=10)

    work = _order(stack, order_id)["fulfillments"][0]
    key = stack.config["keys"]["warehouses"][work["warehouse_id"]]
    number = f"1Z{uuid.uuid4().hex[:14].upper()}"
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 400}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        response = stack.post(f"/v1/fulfillments/{work['id']}/{action}", body, key)
        assert response.status_code == 200, response.text

    # The carrier's delivery scan arrives before its in-transit scan.
    assert _carrier_event(stack, number, "delivered", "2026-11-20T16:00:00Z").status_code == 200
    assert _carrier_event(stack, number, "in_transit", "2026-11-19T08:00:00Z").status_code == 200
    unknown = _carrier_event(stack, "1ZNOBODYSHIPPEDTHIS", "in_transit", "2026-11-19T08:00:00Z")
    assert unknown.status_code == 202

    def settled() -> bool:
        updates = [e for e in _order(stack, order_id, "/events")["items"] if e["type"] == "tracking.updated"]
        return len(updates) == 2

    wait_for("both carrier updates in the timeline", settled, timeout=10)
    assert _order(stack, order_id)["status"] == "delivered"
    history = _order(stack, order_id, "/tracking")["shipments"][0]["history"]
    assert [h["status"] for h in history] == ["in_transit", "delivered"]

    def delivered_mails() -> list[Any]:
        return [m for m in stack.emails() if m["To"] == email and "delivered" in m["Subject"]]

    mails = wait_for("the delivered e-mail", delivered_mails, timeout=10)
    assert len(mails) == 1
    text = mails[0].get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"(http\S+/v1/feedback/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", text)
    assert link is not None, text
    page = requests.get(link.group(1), timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and "<form" in page.text
    rated = requests.post(link.group(1), json={"rating": 4, "comment": "Fine"}, timeout=HTTP_TIMEOUT)
    assert rated.status_code == 201, rated.text
    again = requests.post(link.group(1), json={"rating": 4}, timeout=HTTP_TIMEOUT)
    assert again.status_code == 409
    ratings = [
        e["data"]["rating"]
        for e in _order(stack, order_id, "/events")["items"]
        if e["type"] == "feedback.received"
    ]
    assert ratings == [4]
