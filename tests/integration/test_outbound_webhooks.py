"""Signed webhooks back to the stores, delivered to a receiver on 127.0.0.1 that verifies every
delivery with the ``standardwebhooks`` package."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from chalice.test import Client
from standardwebhooks import Webhook

from chalicelib.bootstrap import reset_services
from infra.local.faults import FaultInjector, FaultSettings
from infra.local.pump import EventPump
from tests.integration.conftest import Stack, app, get, order_body, order_of, place, post_json


@dataclass
class Receiver:
    """A store's endpoint: answers from a script per event type, records what it verified."""

    url: str = ""
    secret: str = ""
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        payload = Webhook(self.secret).verify(body, headers)  # raises on a bad signature or stale time
        with self.lock:
            script = self.answers.get(payload["type"], [])
            status = script.pop(0) if script else 200
            self.received.append(
                {
                    "webhook_id": headers["webhook-id"],
                    "type": payload["type"],
                    "data": payload["data"],
                    "answered": status,
                }
            )
        return status


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "true")
    reset_services()
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                status = state.handle(body, {k.lower(): v for k, v in self.headers.items()})
            except Exception:
                status = 400
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/oms"
    yield state
    server.shutdown()
    server.server_close()


def subscribe(client: Client, stack: Stack, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    response = post_json(
        client,
        "/v1/channels/web/webhook-endpoints",
        {"url": receiver.url, "events": events},
        stack.keys["web"],
    )
    assert response.status_code == 201, response.body
    created = json.loads(response.body)
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return created  # type: ignore[no-any-return]


def test_every_subscribed_event_arrives_signed_and_a_500_is_retried_with_the_same_id(
    client: Client, stack: Stack, pump: EventPump, receiver: Receiver
) -> None:
    endpoint = subscribe(client, stack, receiver, ["order.placed", "order.confirmed"])
    receiver.answers["order.confirmed"] = [500]
    order = place(client, stack, order_body())
    pump.run_until_idle(timeout=30)

    got = [(r["type"], r["answered"]) for r in receiver.received]
    assert got == [("order.placed", 200), ("order.confirmed", 500), ("order.confirmed", 200)]
    confirmed_ids = {r["webhook_id"] for r in receiver.received if r["type"] == "order.confirmed"}
    assert len(confirmed_ids) == 1  # the retry carried the same webhook-id
    assert all(r["data"]["order_id"] == order["id"] for r in receiver.received)
    assert order_of(client, stack, order["id"])["status"] == "confirmed"  # nothing else was held up

    listing = get(
        client, f"/v1/channels/web/webhook-endpoints/{endpoint['id']}/deliveries", stack.keys["web"]
    )
    attempts = [
        (d["event_type"], d["attempt"], d["status_code"], d["outcome"])
        for d in reversed(json.loads(listing.body)["items"])
    ]
    assert attempts == [
        ("order.placed", 1, 200, "delivered"),
        ("order.confirmed", 1, 500, "failed"),
        ("order.confirmed", 2, 200, "delivered"),
    ]


def test_under_duplicate_deliveries_each_event_reaches_the_store_once(
    client: Client, stack: Stack, receiver: Receiver
) -> None:
    # Every SQS message and stream record delivered twice: the relay publishes each event twice,
    # the fan-out runs twice, and each delivery job arrives twice.
    pump = EventPump(
        app,
        sqs_client=stack.client("sqs"),
        streams_client=stack.client("dynamodbstreams"),
        dynamodb_client=stack.client("dynamodb"),
        stream_tables={"outbox_relay": stack.table},
        visibility_timeout_override=0.1,
        stage="itest",
        faults=FaultInjector(FaultSettings(duplicate_rate=1.0, seed=1)),
    )
    subscribe(client, stack, receiver, ["order.placed", "order.confirmed"])
    place(client, stack, order_body())
    pump.run_until_idle(timeout=60)

    got = sorted(r["type"] for r in receiver.received)
    assert got == ["order.confirmed", "order.placed"]


def test_a_410_disables_the_endpoint(
    client: Client, stack: Stack, pump: EventPump, receiver: Receiver
) -> None:
    endpoint = subscribe(client, stack, receiver, ["order.placed", "order.confirmed"])
    receiver.answers["order.placed"] = [410]
    place(client, stack, order_body())
    pump.run_until_idle(timeout=30)

    assert [(r["type"], r["answered"]) for r in receiver.received] == [("order.placed", 410)]
    endpoints = json.loads(get(client, "/v1/channels/web/webhook-endpoints", stack.keys["admin"]).body)[
        "items"
    ]
    assert [(e["id"], e["status"]) for e in endpoints] == [(endpoint["id"], "disabled")]


def test_only_public_http_urls_and_known_events_can_be_subscribed(
    client: Client, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "false")
    reset_services()
    for url in (
        "ftp://example.com/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:9/hook",
        "https://user:pw@example.com/hook",
        "http://[::1]/hook",
    ):
        response = post_json(
            client,
            "/v1/channels/web/webhook-endpoints",
            {"url": url, "events": ["order.placed"]},
            stack.keys["admin"],
        )
        assert response.status_code == 422, url
        assert json.loads(response.body)["errors"][0]["loc"] == ["url"]
    unknown = post_json(
        client,
        "/v1/channels/web/webhook-endpoints",
        {"url": "http://127.0.0.1/hook", "events": ["notification.sent"]},
        stack.keys["admin"],
    )
    assert unknown.status_code == 422
    other = post_json(
        client,
        "/v1/channels/web/webhook-endpoints",
        {"url": "https://example.com/hook", "events": ["order.placed"]},
        stack.keys["mobile"],
    )
    assert other.status_code == 403


def test_outside_the_local_stack_only_https_is_accepted_and_a_channel_has_at_most_ten_endpoints(
    client: Client, stack: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(10):
        assert subscribe(client, stack, receiver, ["order.placed"])["url"] == receiver.url, n
    eleventh = post_json(
        client,
        "/v1/channels/web/webhook-endpoints",
        {"url": receiver.url, "events": ["order.placed"]},
        stack.keys["web"],
    )
    assert eleventh.status_code == 409
    assert eleventh.headers["Content-Type"] == "application/problem+json"
    assert "at most 10 active webhook endpoints" in json.loads(eleventh.body)["detail"]
    other_channel = post_json(
        client,
        "/v1/channels/mobile/webhook-endpoints",
        {"url": receiver.url, "events": ["order.placed"]},
        stack.keys["mobile"],
    )
    assert other_channel.status_code == 201  # the cap is per channel

    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "false")
    reset_services()
    plain = post_json(
        client,
        "/v1/channels/mobile/webhook-endpoints",
        {"url": "http://93.184.215.14/hooks", "events": ["order.placed"]},
        stack.keys["mobile"],
    )
    assert plain.status_code == 422
    assert json.loads(plain.body)["errors"][0]["loc"] == ["url"]
    assert "only https" in json.loads(plain.body)["errors"][0]["msg"]


def test_channel_secrets_are_write_only_and_rotate(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    created = post_json(
        client,
        "/v1/channels",
        {"id": "shop-two", "name": "Shop two", "kind": "shopify", "signing_secret": "first-secret-123"},
        admin,
    )
    assert created.status_code == 201, created.body
    assert "first-secret-123" not in created.body.decode()
    assert json.loads(created.body)["signing_secrets"] == 1
    rotated = client.http.patch(
        "/v1/channels/shop-two",
        headers={"x-api-key": admin, "Content-Type": "application/json"},
        body=json.dumps({"signing_secret": "second-secret-456"}),
    )
    assert json.loads(rotated.body)["signing_secrets"] == 2
    retired = client.http.patch(
        "/v1/channels/shop-two",
        headers={"x-api-key": admin, "Content-Type": "application/json"},
        body=json.dumps({"retire_previous_secret": True, "backorder_policy": "reject"}),
    )
    view = json.loads(retired.body)
    assert (view["signing_secrets"], view["backorder_policy"]) == (1, "reject")
    assert "second-secret-456" not in get(client, "/v1/channels/shop-two", admin).body.decode()
    assert post_json(client, "/v1/channels", {"id": "shop-two", "name": "again"}, admin).status_code == 409
    assert (
        post_json(
            client, "/v1/channels", {"id": "shop-three", "name": "x", "kind": "shopify"}, admin
        ).status_code
        == 422
    )  # a store channel needs its secret
    assert get(client, "/v1/channels/shop-two", stack.keys["web"]).status_code == 403
