"""Step 6: carrier webhooks, verified over the raw bytes, applied by the tracking worker; the
customer hears about it and rates the order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalice.test import Client
from standardwebhooks import Webhook

from infra.local.pump import EventPump
from tests.integration.conftest import (
    SECRETS,
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

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EASYPOST_BODY = (FIXTURES / "easypost" / "event-body.json").read_bytes()
EASYPOST_SIGNATURE = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
STANDARD_SECRET = SECRETS["webhooks/standard_webhooks"][0]


def shipped_order(client: Client, stack: Stack, pump: EventPump, carrier: str, number: str) -> dict[str, Any]:
    order = place(client, stack, order_body(f"DLV-{number}"))
    pump.run_until_idle(timeout=20)
    work = next(f for f in order_of(client, stack, order["id"])["fulfillments"] if f["warehouse_id"])
    key = stack.keys[work["warehouse_id"]]
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]}),
        ("pack", {"packages": [{"box": "S", "weight_grams": 500}]}),
        ("ship", {"carrier": carrier, "service": "ground", "tracking_number": number}),
    ):
        response = post_json(client, f"/v1/fulfillments/{work['id']}/{action}", body, key)
        assert response.status_code == 200, response.body
    pump.run_until_idle(timeout=20)
    return order_of(client, stack, order["id"])


def raw_post(client: Client, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.http.post(path, headers={"Content-Type": "application/json", **headers}, body=body)


def standard_post(
    client: Client, payload: dict[str, Any], *, webhook_id: str, at: datetime | None = None
) -> Any:
    body = json.dumps(payload).encode()
    moment = at or datetime.now(UTC)
    signature = Webhook(STANDARD_SECRET).sign(webhook_id, moment, body.decode())
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    return raw_post(client, "/v1/webhooks/carriers/standard", body, headers)


def standard_event(number: str, status: str, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "tracking.updated",
        "data": {"carrier": "ups", "tracking_number": number, "status": status, "occurred_at": at, **extra},
    }


def test_the_official_easypost_event_is_verified_and_applied_once(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = shipped_order(client, stack, pump, "fedex", "1")  # the fixture's tracking code
    response = raw_post(
        client, "/v1/webhooks/carriers/easypost", EASYPOST_BODY, {"x-hmac-signature": EASYPOST_SIGNATURE}
    )  # lower case: must still verify
    assert (response.status_code, json.loads(response.body)) == (200, {"status": "accepted"})
    again = raw_post(
        client, "/v1/webhooks/carriers/easypost", EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}
    )
    assert (again.status_code, json.loads(again.body)) == (200, {"status": "duplicate"})
    pump.run_until_idle(timeout=20)

    tracking = json.loads(get(client, f"/v1/orders/{order['id']}/tracking", stack.keys["web"]).body)
    shipment = tracking["shipments"][0]
    assert (shipment["status"], shipment["tracking_status"]) == ("in_transit", "in_transit")
    assert shipment["estimated_delivery"] == "2024-08-05T00:00:00.000Z"
    assert len(shipment["history"]) == 7
    assert shipment["history"][0]["status"] == "label_created"
    assert shipment["history"][-1]["raw_status"] == "in_transit"
    assert shipment["history"][-1]["raw_substatus"] == "arrived_at_facility"
    assert [e["type"] for e in timeline(client, stack, order["id"])].count("tracking.updated") == 1


def test_bad_or_missing_signatures_are_401_and_store_nothing(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    shipped_order(client, stack, pump, "fedex", "1")
    before = len(stack.items("TRACK#1")) + len(stack.items("DEDUP#webhook"))
    reserialised = json.dumps(json.loads(EASYPOST_BODY)).encode()
    attempts = [
        raw_post(client, "/v1/webhooks/carriers/easypost", EASYPOST_BODY, {}),
        raw_post(
            client, "/v1/webhooks/carriers/easypost", reserialised, {"X-Hmac-Signature": EASYPOST_SIGNATURE}
        ),
        raw_post(
            client,
            "/v1/webhooks/carriers/easypost",
            EASYPOST_BODY,
            {"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64},
        ),
        raw_post(client, "/v1/webhooks/carriers/shippo?token=wrong", b"{}", {}),
        raw_post(client, "/v1/webhooks/carriers/shippo", b"{}", {}),
        raw_post(client, "/v1/webhooks/carriers/aftership", b"{}", {"aftership-hmac-sha256": "bm9wZQ=="}),
        standard_post(
            client,
            standard_event("1", "delivered", "2024-08-06T10:00:00Z"),
            webhook_id="msg_old",
            at=datetime.now(UTC) - timedelta(minutes=6),
        ),
    ]
    for response in attempts:
        assert response.status_code == 401, response.body
        assert response.headers["Content-Type"] == "application/problem+json"
    assert len(stack.items("TRACK#1")) + len(stack.items("DEDUP#webhook")) == before


def test_a_malformed_but_signed_body_is_a_400(client: Client, stack: Stack) -> None:
    body = b'{"event": "track_updated", "data": {"carrier": "usps"}}'
    response = raw_post(client, "/v1/webhooks/carriers/shippo?token=shippo-url-token", body, {})
    assert response.status_code == 400
    broken = raw_post(client, "/v1/webhooks/carriers/shippo?token=shippo-url-token", b"{not json", {})
    assert broken.status_code == 400


def test_an_unknown_tracking_number_is_a_202_recorded_and_counted(client: Client, stack: Stack) -> None:
    body = (FIXTURES / "shippo" / "delivered.json").read_bytes()
    response = raw_post(client, "/v1/webhooks/carriers/shippo?token=shippo-url-token", body, {})
    assert (response.status_code, json.loads(response.body)) == (202, {"status": "unmatched"})
    number = json.loads(body)["data"]["tracking_number"]
    assert [i["type"]["S"] for i in stack.items(f"TRACK#{number}")] == ["tracking.unmatched"]
    counters = [i for i in stack.items("KPI#") if i["sk"]["S"] == "unmatched_tracking_events"]
    assert [int(c["value"]["N"]) for c in counters] == [1]


def test_the_old_aftership_secret_still_verifies_during_a_rotation(client: Client, stack: Stack) -> None:
    body = (FIXTURES / "aftership" / "delivered.json").read_bytes()
    for secret in SECRETS["webhooks/aftership"]:
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        response = raw_post(
            client, "/v1/webhooks/carriers/aftership", body, {"aftership-hmac-sha256": signature}
        )
        assert response.status_code in (200, 202), response.body


def test_out_of_order_scans_end_delivered_and_the_customer_rates_the_order(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    order = shipped_order(client, stack, pump, "ups", "1Z999AA10123456784")
    number = "1Z999AA10123456784"
    delivered = standard_event(
        number, "delivered", "2026-11-20T15:00:00Z", raw_status="D", message="Front door"
    )
    in_transit = standard_event(number, "in_transit", "2026-11-19T09:00:00Z", raw_status="I")
    attempt = standard_event(number, "delivery_attempted", "2026-11-20T10:00:00Z", raw_status="X")
    for n, payload in enumerate([delivered, in_transit, attempt]):  # delivered arrives first
        response = standard_post(client, payload, webhook_id=f"msg_{n}")
        assert response.status_code == 200, response.body
    pump.run_until_idle(timeout=30)

    final = order_of(client, stack, order["id"])
    assert final["status"] == "delivered"
    shipment = json.loads(get(client, f"/v1/orders/{order['id']}/tracking", stack.keys["admin"]).body)[
        "shipments"
    ][0]
    assert [h["status"] for h in shipment["history"]] == ["in_transit", "delivery_attempted", "delivered"]
    assert (
        shipment["tracking_status"] == "delivered" and shipment["delivered_at"] == "2026-11-20T15:00:00.000Z"
    )
    updates = [e["data"] for e in timeline(client, stack, order["id"]) if e["type"] == "tracking.updated"]
    assert len(updates) == 3 and [u["changed"] for u in updates] == [True, False, False]

    delivered_mails = [m for m in sent_emails() if "delivered" in m.subject]
    assert len(delivered_mails) == 1
    # Late scans changed nothing, so no "we tried to deliver" e-mail after the delivery.
    assert not [m for m in sent_emails() if "tried to deliver" in m.subject]
    link = re.search(r"/v1/feedback/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", delivered_mails[0].body)
    assert link is not None
    token = link.group(1)
    page = client.http.get(f"/v1/feedback/{token}")
    assert page.status_code == 200 and b"<form" in page.body
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    rated = post_json(client, f"/v1/feedback/{token}", {"rating": 5, "comment": "Quick!"}, None)
    assert rated.status_code == 201, rated.body
    assert post_json(client, f"/v1/feedback/{token}", {"rating": 1}, None).status_code == 409
    assert post_json(client, f"/v1/feedback/{token}x", {"rating": 5}, None).status_code == 404
    assert post_json(client, f"/v1/feedback/{token}", {"rating": 6}, None).status_code == 422
    feedback = [e["data"] for e in timeline(client, stack, order["id"]) if e["type"] == "feedback.received"]
    assert feedback == [
        {
            "status": "delivered",
            "rating": 5,
            "comment": "Quick!",
            "first_confirmation": False,
            "order_fully_shipped": False,
            "order_fully_delivered": False,
        }
    ]
    assert messages(stack, warehouse_inbox["operations"]) == []  # no delivery problem was current


def test_a_delivery_problem_alerts_operations_and_tells_the_customer(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    order = shipped_order(client, stack, pump, "ups", "1ZPROBLEM0001")
    response = standard_post(
        client,
        standard_event(
            "1ZPROBLEM0001", "exception", "2026-11-20T10:00:00Z", raw_status="X", message="Address not found"
        ),
        webhook_id="msg_problem",
    )
    assert response.status_code == 200
    pump.run_until_idle(timeout=20)
    alerts = messages(stack, warehouse_inbox["operations"])
    assert [(a["type"], a["order_id"], a["tracking_status"]) for a in alerts] == [
        ("delivery.problem", order["id"], "exception")
    ]
    assert [m for m in sent_emails() if "problem" in m.subject.lower()]


def test_unsubscribing_from_an_email_stops_further_messages(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = shipped_order(client, stack, pump, "ups", "1ZQUIET00001")
    confirmation = next(m for m in sent_emails() if "confirmed" in m.subject)
    link = re.search(r"/v1/unsubscribe/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", confirmation.body)
    assert link is not None
    assert client.http.get(f"/v1/unsubscribe/{link.group(1)}").status_code == 200  # a GET changes nothing
    assert order_of(client, stack, order["id"])["notify"]["email"] is True
    done = client.http.post(
        f"/v1/unsubscribe/{link.group(1)}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="List-Unsubscribe=One-Click",
    )
    assert done.status_code == 200
    assert order_of(client, stack, order["id"])["notify"] == {"email": False, "sms": False}
    count = len(sent_emails())
    standard_post(
        client, standard_event("1ZQUIET00001", "delivered", "2026-11-21T10:00:00Z"), webhook_id="q1"
    )
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, order["id"])["status"] == "delivered"
    assert len(sent_emails()) == count
