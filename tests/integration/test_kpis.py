"""KPIs from the real event stream: the kpi worker counts each event once; the route reports them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
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
from tests.integration.test_delivery import shipped_order, standard_event, standard_post


def report(client: Client, stack: Stack, **params: str) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    query = "&".join(f"{k}={v}" for k, v in {"from": today, "to": today, **params}.items())
    response = get(client, f"/v1/kpis?{query}", stack.keys["admin"])
    assert response.status_code == 200, response.body
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_kpis_count_a_day_of_orders_and_redelivered_events_change_nothing(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    # 1: shipped, delivered and rated 4. 2: backordered (SOLD-OUT). 3: cancelled before packing.
    delivered = shipped_order(client, stack, pump, "ups", "1ZKPI0000001")
    standard_post(
        client,
        standard_event("1ZKPI0000001", "delivered", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        webhook_id="kpi-1",
    )
    backordered = place(
        client, stack, order_body("KPI-2", lines=[{"sku": "SOLD-OUT", "quantity": 1, "unit_price": "1.00"}])
    )
    cancelled = place(client, stack, order_body("KPI-3"))
    pump.run_until_idle(timeout=30)
    assert (
        post_json(
            client, f"/v1/orders/{cancelled['id']}/cancel", {"reason": "test"}, stack.keys["web"]
        ).status_code
        == 200
    )
    assert (
        post_json(
            client, "/v1/inventory/wh-east/MUG/counts", {"counted": 5}, stack.keys["wh-east"]
        ).status_code
        == 201
    )
    assert (
        post_json(
            client, "/v1/inventory/wh-west/MUG/counts", {"counted": 29}, stack.keys["wh-west"]
        ).status_code
        == 201
    )
    pump.run_until_idle(timeout=30)
    mail = next(m for m in sent_emails() if "delivered" in m.subject)
    token = re.search(r"/v1/feedback/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", mail.body)
    assert token is not None
    assert post_json(client, f"/v1/feedback/{token.group(1)}", {"rating": 4}, None).status_code == 201
    pump.run_until_idle(timeout=30)
    assert order_of(client, stack, backordered["id"])["status"] == "backordered"

    figures = report(client, stack)
    assert {k: v for k, v in figures.items() if k != "daily"} == {
        "from_date": datetime.now(UTC).date().isoformat(),
        "to_date": datetime.now(UTC).date().isoformat(),
        "channel": None,
        "orders_placed": 3,
        "orders_confirmed": 2,
        "orders_shipped": 1,
        "orders_delivered": 1,
        "orders_cancelled": 1,
        "orders_returned": 0,
        # One order shipped and delivered within the hour: the first bucket (0-1 h), interpolated.
        "order_to_ship_hours_p50": "0.50",
        "order_to_ship_hours_p90": "0.90",
        "order_to_delivery_hours_p50": "0.50",
        "order_to_delivery_hours_p90": "0.90",
        "on_time_ship_rate": "1.0000",
        "perfect_order_rate": "1.0000",
        "backorder_rate": "0.3333",  # 1 of 3 placed
        "split_shipment_rate": "0.0000",
        "inventory_accuracy": "0.5000",  # wh-east counted right (5), wh-west wrong (29, books said 30)
        "csat_average": "4.00",
        "csat_response_rate": "1.0000",
        "return_rate": "0.0000",
        "sla_breaches": 0,
        "delivery_exceptions": 0,
        "reshipments": 0,
    }
    assert report(client, stack, channel="mobile")["orders_placed"] == 0

    # Redeliver every event the kpi worker has seen: the figures do not move.
    events = [
        e for order in (delivered, backordered, cancelled) for e in timeline(client, stack, order["id"])
    ]
    bodies = [json.dumps({"detail-type": e["type"], "source": "oms", "detail": e}) for e in events]
    for start in range(0, len(bodies), 10):
        sqs_event = client.events.generate_sqs_event(
            message_bodies=bodies[start : start + 10], queue_name="kpi"
        )
        for n, record in enumerate(sqs_event["Records"]):
            record["messageId"] = f"again-{start + n}"
        assert client.lambda_.invoke("kpi_worker", sqs_event).payload == {"batchItemFailures": []}
    assert report(client, stack) == figures


def test_kpi_queries_are_checked(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    assert get(client, "/v1/kpis?from=2026-11-02&to=2026-11-01", admin).status_code == 422
    assert get(client, "/v1/kpis?from=2024-01-01&to=2026-11-01", admin).status_code == 422
    assert get(client, "/v1/kpis?from=yesterday&to=2026-11-01", admin).status_code == 422
    assert get(client, "/v1/kpis?from=2026-11-01&to=2026-11-01", stack.keys["web"]).status_code == 403
