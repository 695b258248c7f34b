"""The write-back worker on moto against the fake stores over real HTTP on 127.0.0.1: split
shipments, tracking, throttling and 429s retried through the queue, refused credentials parked
with one alert and re-driven once the channel is fixed, duplicate events written once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.cache import reference_cache
from chalicelib.bootstrap import reset_services, services
from infra.local.pump import EventPump
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving
from tests.integration.conftest import Stack, order_body, order_of, patch_json, place, post_json
from tests.integration.test_console import Console
from tests.integration.test_delivery import standard_event, standard_post

LINES = [
    {"sku": "LAST-UNITS", "quantity": 2, "unit_price": "4.00"},  # only in wh-east
    {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},  # only in wh-west
]


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage lets store API calls reach 127.0.0.1, as the local stack does."""
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "true")
    reset_services()


@pytest.fixture
def shopify(stack: Stack) -> Iterator[FakeShopify]:
    fake = FakeShopify()
    with serving(fake):
        yield fake


@pytest.fixture
def woo(stack: Stack) -> Iterator[FakeWooCommerce]:
    fake = FakeWooCommerce()
    with serving(fake):
        yield fake


def connect(client: Client, stack: Stack, channel: str, store_api: dict[str, str]) -> None:
    response = patch_json(client, f"/v1/channels/{channel}", {"store_api": store_api}, stack.keys["admin"])
    assert response.status_code == 200, response.body


def split_order(
    client: Client, stack: Stack, pump: EventPump, channel: str, external_id: str
) -> dict[str, Any]:
    order = place(client, stack, order_body(external_id, lines=LINES), channel=channel)
    pump.run_until_idle(timeout=30)
    return order_of(client, stack, order["id"])


def ship(client: Client, stack: Stack, order: dict[str, Any], warehouse: str, numbers: list[str]) -> None:
    work = next(f for f in order["fulfillments"] if f["warehouse_id"] == warehouse)
    key = stack.keys[warehouse]
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]}),
        ("pack", {"packages": [{"box": "S", "weight_grams": 500} for _ in numbers]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_numbers": numbers}),
    ):
        response = post_json(client, f"/v1/fulfillments/{work['id']}/{action}", body, key)
        assert response.status_code == 200, response.body


def deliver(client: Client, number: str) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = standard_post(client, standard_event(number, "delivered", at), webhook_id=f"dlv-{number}")
    assert response.status_code == 200, response.body


def numbers_of(fake: FakeShopify, gid: str) -> list[list[str]]:
    return [[t["number"] for t in f.tracking] for f in fake.order(gid).fulfillments]


def operations_alerts(stack: Stack, inbox: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])


def test_a_split_shipment_is_two_shopify_fulfillments_each_with_all_its_numbers_despite_throttling(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    gid = shopify.add_order(5001, [("LAST-UNITS", 2), ("POSTER", 1)])
    connect(client, stack, "shop", {"url": shopify.url, "access_token": shopify.access_token})
    order = split_order(client, stack, pump, "shop", "5001")

    shopify.throttle_next()  # the first read of the first write-back: cost throttled
    shopify.answer_429_next(retry_after="1")
    ship(client, stack, order, "wh-east", ["1ZEAST0001", "1ZEAST0002"])
    ship(client, stack, order, "wh-west", ["1ZWEST0001"])
    pump.run_until_idle(timeout=60)
    deliver(client, "1ZEAST0002")
    pump.run_until_idle(timeout=60)

    assert sorted(numbers_of(shopify, gid)) == [["1ZEAST0001", "1ZEAST0002"], ["1ZWEST0001"]]
    east = next(f for f in shopify.order(gid).fulfillments if f.tracking[0]["number"] == "1ZEAST0001")
    assert [e["status"] for e in east.events] == ["DELIVERED"]
    assert all(
        t["url"] and t["number"] in t["url"] for f in shopify.order(gid).fulfillments for t in f.tracking
    )
    # Two fulfillments in the store, whichever store call the throttle fell on (a throttled
    # fulfillmentCreate is sent again, so the number of calls may be three).
    assert len(shopify.order(gid).fulfillments) == 2
    assert 429 in [r.status for r in shopify.requests]

    # The same events again (EventBridge delivers at least once): nothing is created twice.
    calls_before = Counter(shopify.operations())
    queue = stack.outputs["WriteBackQueueUrl"]
    for event_type in ("fulfillment.shipped", "tracking.updated"):
        for event in events_of(client, stack, order["id"], event_type):
            stack.client("sqs").send_message(
                QueueUrl=queue, MessageBody=json.dumps({"detail-type": event_type, "detail": event})
            )
    pump.run_until_idle(timeout=60)
    calls_after = Counter(shopify.operations())
    assert calls_after["fulfillmentCreate"] == calls_before["fulfillmentCreate"]
    assert calls_after["fulfillmentEventCreate"] == calls_before["fulfillmentEventCreate"]
    assert len(shopify.order(gid).fulfillments) == 2
    assert sum(len(f.events) for f in shopify.order(gid).fulfillments) == 1


def events_of(client: Client, stack: Stack, order_id: str, event_type: str) -> list[dict[str, Any]]:
    from tests.integration.conftest import timeline

    return [e for e in timeline(client, stack, order_id) if e["type"] == event_type]


def test_a_revoked_token_parks_the_orders_with_one_alert_and_new_credentials_write_them(
    client: Client,
    stack: Stack,
    pump: EventPump,
    shopify: FakeShopify,
    warehouse_inbox: dict[str, str],
) -> None:
    gid = shopify.add_order(5002, [("LAST-UNITS", 2), ("POSTER", 1)])
    connect(client, stack, "shop", {"url": shopify.url, "access_token": shopify.access_token})
    order = split_order(client, stack, pump, "shop", "5002")
    shopify.access_token = "shpat_rotated_by_the_merchant"  # the token the OMS holds is revoked

    ship(client, stack, order, "wh-east", ["1ZPARK0001"])
    pump.run_until_idle(timeout=60)
    ship(client, stack, order, "wh-west", ["1ZPARK0002"])
    pump.run_until_idle(timeout=60)

    alerts = [
        a for a in operations_alerts(stack, warehouse_inbox["operations"]) if a.get("channel_id") == "shop"
    ]
    assert [a["type"] for a in alerts] == ["store_api_credentials_rejected"]
    assert shopify.order(gid).fulfillments == []
    console = Console(client)
    console.sign_in(stack.keys["admin"])
    page = console.get("/console/attention")
    assert "Store connections refused" in page.body.decode() and "HTTP 401" in page.body.decode()
    assert stack.items("STOREAPI#PARKED#shop") != []
    assert (
        stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["WriteBackDlqUrl"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )

    connect(client, stack, "shop", {"url": shopify.url, "access_token": shopify.access_token})
    pump.run_until_idle(timeout=60)

    assert sorted(numbers_of(shopify, gid)) == [["1ZPARK0001"], ["1ZPARK0002"]]
    assert stack.items("STOREAPI#PARKED#shop") == [] and stack.items("STOREAPI#ALERTS") == []
    assert "Every connected store accepts its credentials" in console.get("/console/attention").body.decode()


def test_a_woocommerce_order_gets_a_note_per_parcel_group_is_completed_and_notes_its_delivery(
    client: Client, stack: Stack, pump: EventPump, woo: FakeWooCommerce
) -> None:
    woo.add_order(7001)
    connect(
        client,
        stack,
        "woo",
        {"url": woo.url, "consumer_key": woo.consumer_key, "consumer_secret": woo.consumer_secret},
    )
    order = split_order(client, stack, pump, "woo", "7001")

    woo.answer_429_next(retry_after="1")
    ship(client, stack, order, "wh-east", ["1ZWOO0001", "1ZWOO0002"])
    pump.run_until_idle(timeout=60)
    assert woo.orders[7001].status == "processing"
    ship(client, stack, order, "wh-west", ["1ZWOO0003"])
    pump.run_until_idle(timeout=60)
    deliver(client, "1ZWOO0003")
    pump.run_until_idle(timeout=60)

    notes = [n.note for n in woo.orders[7001].notes]
    assert all(n.customer_note for n in woo.orders[7001].notes)
    shipped = [n for n in notes if n.startswith("Shipped")]
    assert len(shipped) == 2
    assert "1ZWOO0001" in shipped[0] and "1ZWOO0002" in shipped[0] and "ups.com" in shipped[0]
    assert "1ZWOO0003" in shipped[1]
    assert [n for n in notes if "was delivered" in n] == ["Your parcel 1ZWOO0003 was delivered."]
    assert woo.orders[7001].status == "completed"


def test_a_customer_note_is_written_to_woocommerce_and_a_private_one_is_not(
    client: Client, stack: Stack, pump: EventPump, woo: FakeWooCommerce
) -> None:
    woo.add_order(7002)
    connect(
        client,
        stack,
        "woo",
        {"url": woo.url, "consumer_key": woo.consumer_key, "consumer_secret": woo.consumer_secret},
    )
    order = split_order(client, stack, pump, "woo", "7002")
    queue = stack.outputs["WriteBackQueueUrl"]
    for visibility in ("customer", "private", "customer"):  # the customer one twice: written once
        event = {
            "id": f"evt_note_{visibility}",
            "type": "order.note_added",
            "order_id": order["id"],
            "channel_id": "woo",
            "occurred_at": datetime.now(UTC).isoformat(),
            "actor": "admin:test",
            "data": {
                "note_id": f"note_{visibility}",
                "text": f"A {visibility} note",
                "visibility": visibility,
            },
        }
        stack.client("sqs").send_message(
            QueueUrl=queue, MessageBody=json.dumps({"detail-type": "order.note_added", "detail": event})
        )
    pump.run_until_idle(timeout=60)

    assert [(n.note, n.customer_note) for n in woo.orders[7002].notes] == [("A customer note", True)]


def test_a_milestone_that_arrives_before_its_shipment_writes_the_shipment_first(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    gid = shopify.add_order(5003, [("LAST-UNITS", 2), ("POSTER", 1)])
    order = split_order(client, stack, pump, "shop", "5003")
    # Shipped and delivered while the store was not connected: nothing was written back.
    ship(client, stack, order, "wh-east", ["1ZLATE0001"])
    pump.run_until_idle(timeout=60)
    deliver(client, "1ZLATE0001")
    pump.run_until_idle(timeout=60)
    connect(client, stack, "shop", {"url": shopify.url, "access_token": shopify.access_token})
    pump.run_until_idle(timeout=60)
    assert shopify.order(gid).fulfillments == []

    # Only the delivery reaches the write-back (its shipment's message is late or lost).
    [delivered] = [
        e for e in events_of(client, stack, order["id"], "tracking.updated") if e["data"]["changed"]
    ][-1:]
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["WriteBackQueueUrl"],
        MessageBody=json.dumps({"detail-type": "tracking.updated", "detail": delivered}),
    )
    pump.run_until_idle(timeout=60)

    [fulfillment] = shopify.order(gid).fulfillments
    assert [t["number"] for t in fulfillment.tracking] == ["1ZLATE0001"]
    assert [e["status"] for e in fulfillment.events] == ["DELIVERED"]
    assert shopify.operations().index("fulfillmentCreate") < shopify.operations().index(
        "fulfillmentEventCreate"
    )


def test_a_store_connected_a_moment_ago_is_written_to_by_a_process_that_read_the_channel_before(
    client: Client, stack: Stack, pump: EventPump, shopify: FakeShopify
) -> None:
    gid = shopify.add_order(5031, [("LAST-UNITS", 2), ("POSTER", 1)])
    order = split_order(client, stack, pump, "shop", "5031")
    unconnected = services().uow_factory().get_channel("shop")
    assert unconnected is not None and unconnected.store_api is None
    connect(client, stack, "shop", {"url": shopify.url, "access_token": shopify.access_token})
    # A warm worker elsewhere still holds the channel as it read it before the connection (the
    # API's process cleared only its own cache).
    reference_cache.put((stack.outputs["TableName"], "channel", "shop"), unconnected)

    ship(client, stack, order, "wh-east", ["1ZFRESH0001"])
    pump.run_until_idle(timeout=60)

    assert numbers_of(shopify, gid) == [["1ZFRESH0001"]]
