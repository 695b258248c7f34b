"""Over HTTP against ``make run``'s stack: an admin sets a transit row, a store places an order
with the shipping method it serves; the order's response and the confirmation e-mail carry the
ship-by date and the delivery window; once shipped and the carrier gives its estimate, the window
follows the carrier."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from standardwebhooks import Webhook

from chalicelib.domain.promise import delivery_window, long_date
from chalicelib.domain.transit import TransitTime
from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for


def _admin(
    stack: RunningStack, method: str, path: str, body: Any = None, **headers: str
) -> requests.Response:
    return requests.request(
        method,
        stack.api_url + path,
        json=body,
        headers={"x-api-key": stack.config["keys"]["admin"], **headers},
        timeout=HTTP_TIMEOUT,
    )


def _order(stack: RunningStack, order_id: str) -> dict[str, Any]:
    response = stack.get(f"/v1/orders/{order_id}", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _estimate(stack: RunningStack, number: str, estimated: str) -> requests.Response:
    now = datetime.now(UTC)
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {
                "carrier": "usps",
                "tracking_number": number,
                "status": "in_transit",
                "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "estimated_delivery": estimated,
            },
        }
    )
    webhook_id = f"msg_{uuid.uuid4().hex}"
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


def test_a_transit_row_gives_the_order_and_its_confirmation_a_window_that_then_follows_the_carrier(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    service = f"e2e{uuid.uuid4().hex[:8]}"
    method = f"E2E Priority {service}"
    row = {"min_days": 2, "max_days": 4, "shipping_methods": [method]}
    created = _admin(stack, "PUT", f"/v1/transit-times/usps/{service}", row)
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'

    email = f"grace+{uuid.uuid4().hex[:8]}@example.com"
    external_id = f"DATES-{uuid.uuid4().hex[:8]}"
    placed = stack.post(
        "/v1/orders", order_body(external_id, email, shipping_method=method), stack.channel_key("web")
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    (work,) = order["fulfillments"]
    timezone = _admin(stack, "GET", f"/v1/warehouses/{work['warehouse_id']}").json()["timezone"]
    transit = TransitTime(carrier="usps", service=service, min_days=2, max_days=4)

    def window_from(ship_by: str) -> dict[str, Any]:
        window = delivery_window(
            ship_by=datetime.fromisoformat(ship_by), shipped_at=None, transit=transit, timezone=timezone
        )
        assert window is not None
        return window.model_dump(mode="json")

    assert order["promised_ship_by"] is not None
    assert order["estimated_delivery"] == window_from(order["promised_ship_by"])
    assert work["delivery_window"] == order["estimated_delivery"]

    wait_for("confirmation", lambda: _order(stack, order["id"])["status"] == "confirmed", timeout=10)
    confirmed = _order(stack, order["id"])
    released = confirmed["fulfillments"][0]
    assert confirmed["promised_ship_by"] == released["ship_by"]
    assert confirmed["estimated_delivery"] == window_from(released["ship_by"])

    def confirmation() -> Any:
        return next((m for m in stack.emails() if m["To"] == email and "confirmed" in m["Subject"]), None)

    message = wait_for("the confirmation e-mail", confirmation, timeout=10)
    text = message.get_body(preferencelist=("plain",)).get_content()
    window = confirmed["estimated_delivery"]
    assert f"We will ship it by {long_date(date.fromisoformat(confirmed['promised_ship_date']))}" in text
    assert f"between {long_date(date.fromisoformat(window['earliest']))}" in text
    assert f"and {long_date(date.fromisoformat(window['latest']))}" in text

    key = stack.config["keys"]["warehouses"][released["warehouse_id"]]
    number = f"9400{uuid.uuid4().hex[:14].upper()}"
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in released["lines"]]}),
        ("pack", {"packages": [{"box": "BOX-S", "weight_grams": 400}]}),
        ("ship", {"carrier": "usps", "service": service, "tracking_number": number}),
    ):
        response = stack.post(f"/v1/fulfillments/{released['id']}/{action}", body, key)
        assert response.status_code == 200, response.text
    assert response.json()["estimated_delivery"]["basis"] == "transit_table"

    estimated = (datetime.now(UTC) + timedelta(days=12)).strftime("%Y-%m-%dT00:00:00Z")
    assert _estimate(stack, number, estimated).status_code == 200

    def followed() -> Any:
        window = _order(stack, order["id"])["estimated_delivery"]
        return window if window and window["basis"] == "carrier" else None

    carrier_window = wait_for("the carrier's estimate", followed, timeout=10)
    assert carrier_window == {"earliest": estimated[:10], "latest": estimated[:10], "basis": "carrier"}
