"""Promised dates on moto: the transit table over the API (versions as ETags, problems, its events
in the audit listing) and the ship-by and delivery window in the order's response and the
confirmation e-mail, following the carrier's estimate once the parcel ships."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.domain.promise import delivery_window
from chalicelib.domain.transit import TransitTime
from infra.local.pump import EventPump
from tests.integration.conftest import Stack, get, order_body, order_of, place, post_json, sent_emails
from tests.integration.test_console import Console, _text
from tests.integration.test_delivery import standard_event, standard_post
from tests.integration.test_reference_api import send

PRIORITY = {"min_days": 1, "max_days": 3, "shipping_methods": ["Priority"]}


def test_a_transit_row_is_created_read_replaced_and_removed_with_the_version_read(
    client: Client, stack: Stack
) -> None:
    admin = stack.keys["admin"]
    created = send(client, "PUT", "/v1/transit-times/usps/priority", admin, PRIORITY)
    assert created.status_code == 201, created.body
    assert created.headers["ETag"] == '"1"'
    assert json.loads(get(client, "/v1/transit-times/usps/priority", admin).body) == {
        "carrier": "usps",
        "service": "priority",
        "min_days": 1,
        "max_days": 3,
        "shipping_methods": ["Priority"],
        "version": 1,
    }

    blind = send(client, "PUT", "/v1/transit-times/usps/priority", admin, {**PRIORITY, "max_days": 4})
    assert blind.status_code == 428 and blind.headers["Content-Type"] == "application/problem+json"
    changed = send(
        client,
        "PUT",
        "/v1/transit-times/usps/priority",
        admin,
        {**PRIORITY, "max_days": 4},
        **{"If-Match": '"1"'},
    )
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    default = send(client, "PUT", "/v1/transit-times/*/*", admin, {"min_days": 2, "max_days": 6})
    assert default.status_code == 201, default.body
    encoded = get(client, "/v1/transit-times/%2A/%2A", admin)
    assert encoded.status_code == 200 and json.loads(encoded.body)["max_days"] == 6
    listed = json.loads(get(client, "/v1/transit-times", admin).body)["items"]
    assert [(r["carrier"], r["service"], r["version"]) for r in listed] == [
        ("*", "*", 1),
        ("usps", "priority", 2),
    ]

    stale = send(client, "DELETE", "/v1/transit-times/usps/priority", admin, **{"If-Match": '"1"'})
    assert stale.status_code == 412 and json.loads(stale.body)["current_version"] == 2
    removed = send(client, "DELETE", "/v1/transit-times/usps/priority", admin, **{"If-Match": '"2"'})
    assert removed.status_code == 200
    assert get(client, "/v1/transit-times/usps/priority", admin).status_code == 404
    audit = json.loads(get(client, "/v1/audit?limit=10", admin).body)["items"]
    assert [(e["type"], e["data"]["id"]) for e in audit[:4]] == [
        ("transit_time.removed", "usps/priority"),
        ("transit_time.changed", "*/*"),
        ("transit_time.changed", "usps/priority"),
        ("transit_time.changed", "usps/priority"),
    ]


def test_bad_transit_rows_are_problems_and_write_nothing(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    assert (
        send(client, "PUT", "/v1/transit-times/ups/ground", admin, {**PRIORITY, "min_days": 1}).status_code
        == 201
    )
    for path, body in (
        ("/v1/transit-times/ups/express", {"min_days": 3, "max_days": 1}),
        ("/v1/transit-times/ups/express", {"min_days": 1, "max_days": 99}),
        ("/v1/transit-times/UPS/express", {"min_days": 1, "max_days": 2}),
        ("/v1/transit-times/*/express", {"min_days": 1, "max_days": 2}),
        ("/v1/transit-times/usps/express", {"min_days": 1, "max_days": 2, "shipping_methods": ["priority"]}),
        ("/v1/transit-times/usps/express", {"min_days": 1, "max_days": 2, "color": "red"}),
    ):
        refused = send(client, "PUT", path, admin, body)
        assert refused.status_code == 422, (path, body, refused.body)
        assert refused.headers["Content-Type"] == "application/problem+json"
    rows = json.loads(get(client, "/v1/transit-times", admin).body)["items"]
    assert [(r["carrier"], r["service"]) for r in rows] == [("ups", "ground")]
    assert send(client, "PUT", "/v1/transit-times/ups/ground", stack.keys["web"], PRIORITY).status_code == 403


def _expected(ship_by: str, row: dict[str, Any], timezone: str) -> dict[str, str]:
    window = delivery_window(
        ship_by=datetime.fromisoformat(ship_by),
        shipped_at=None,
        transit=TransitTime(carrier="x", service="y", min_days=row["min_days"], max_days=row["max_days"]),
        timezone=timezone,
    )
    assert window is not None
    return window.model_dump(mode="json")


def _ship(client: Client, stack: Stack, fulfillment_id: str, number: str) -> None:
    for action, step in (
        ("pick", {"lines": [{"sku": "TSHIRT-M", "quantity": 2}]}),
        ("pack", {"packages": [{"box": "S", "weight_grams": 500}]}),
        ("ship", {"carrier": "usps", "service": "priority", "tracking_number": number}),
    ):
        response = post_json(
            client, f"/v1/fulfillments/{fulfillment_id}/{action}", step, stack.keys["wh-east"]
        )
        assert response.status_code == 200, response.body


def test_the_order_and_its_confirmation_carry_the_ship_by_and_the_window_until_the_carrier_knows_better(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    assert (
        send(client, "PUT", "/v1/transit-times/usps/priority", stack.keys["admin"], PRIORITY).status_code
        == 201
    )

    placed = place(client, stack, order_body("DATES-1", shipping_method="Priority"))

    assert placed["promised_ship_by"] is not None
    assert placed["estimated_delivery"] == _expected(placed["promised_ship_by"], PRIORITY, "America/New_York")
    (fulfillment,) = placed["fulfillments"]
    assert fulfillment["delivery_window"] == placed["estimated_delivery"]
    pump.run_until_idle(timeout=20)
    order = order_of(client, stack, placed["id"])
    (released,) = order["fulfillments"]
    assert released["status"] == "released"
    assert order["promised_ship_by"] == released["ship_by"] == released["promised_ship_by"]
    assert order["estimated_delivery"] == _expected(released["ship_by"], PRIORITY, "America/New_York")
    (email,) = [m for m in sent_emails() if "DATES-1" in m.subject]
    day = datetime.fromisoformat(order["promised_ship_date"]).date()
    assert f"We will ship it by <strong>{day:%A} {day.day} {day:%B %Y}</strong>" in email.body

    _ship(client, stack, released["id"], "9400DATES0001")
    shipped = order_of(client, stack, placed["id"])
    assert shipped["estimated_delivery"]["basis"] == "transit_table"
    estimate = (datetime.now(UTC) + timedelta(days=9)).strftime("%Y-%m-%dT00:00:00Z")
    update = standard_event(
        "9400DATES0001",
        "in_transit",
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        estimated_delivery=estimate,
    )
    update["data"]["carrier"] = "usps"
    assert standard_post(client, update, webhook_id="dates-1").status_code == 200
    pump.run_until_idle(timeout=20)

    followed = order_of(client, stack, placed["id"])
    assert followed["estimated_delivery"] == {
        "earliest": estimate[:10],
        "latest": estimate[:10],
        "basis": "carrier",
    }
    assert followed["fulfillments"][0]["delivery_window"] == followed["estimated_delivery"]
    assert followed["promised_ship_by"] == released["ship_by"]


def test_the_console_adds_changes_and_removes_a_transit_row_with_the_version_it_showed(
    client: Client, stack: Stack
) -> None:
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    assert Console(client).get("/console/transit-times").status_code == 303
    csrf = visitor.csrf("/console/transit-times")
    form = {
        "csrf": csrf,
        "carrier": "ups",
        "service": "ground",
        "min_days": "1",
        "max_days": "5",
        "version": "",
    }

    added = visitor.post("/console/transit-times", {**form, "shipping_methods": "Standard\nUPS Ground\n"})
    assert added.status_code == 200, added.body
    assert "Transit time ups/ground added (version 1)" in _text(added)
    stored = json.loads(get(client, "/v1/transit-times/ups/ground", stack.keys["admin"]).body)
    assert stored["shipping_methods"] == ["Standard", "UPS Ground"]
    stale = visitor.post("/console/transit-times", {**form, "max_days": "6"})
    assert stale.status_code == 409 and "Reload the page" in _text(stale)
    backwards = visitor.post("/console/transit-times", {**form, "min_days": "7", "version": "1"})
    assert backwards.status_code == 422 and "min_days is more than max_days" in _text(backwards)
    assert "1\u20135" in _text(visitor.get("/console/transit-times"))  # 1 to 5 (an en dash)

    removed = visitor.post(
        "/console/transit-times/remove", {"csrf": csrf, "carrier": "ups", "service": "ground", "version": "1"}
    )
    assert removed.status_code == 200 and "Transit time ups/ground removed" in _text(removed)
    assert get(client, "/v1/transit-times/ups/ground", stack.keys["admin"]).status_code == 404


def test_the_transit_table_is_read_once_per_process_not_once_per_order(client: Client, stack: Stack) -> None:
    from chalicelib.adapters.aws import client as aws_client

    assert (
        send(client, "PUT", "/v1/transit-times/usps/priority", stack.keys["admin"], PRIORITY).status_code
        == 201
    )
    partitions: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        partitions.append(params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S", ""))

    dynamodb = aws_client("dynamodb")
    dynamodb.meta.events.register("provide-client-params.dynamodb.Query", record)
    try:
        for n in range(3):
            placed = place(client, stack, order_body(f"CACHED-{n}", shipping_method="Priority"))
            assert placed["estimated_delivery"] is not None
            assert order_of(client, stack, placed["id"])["estimated_delivery"] == placed["estimated_delivery"]
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.Query", record)

    assert partitions.count("TRANSIT") == 1  # the first read; the rest from the process cache
