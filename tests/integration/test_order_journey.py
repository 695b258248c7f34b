"""Placement -> stream -> outbox relay -> bus -> receipt queue -> worker -> confirmed -> notify,
along the real path: the infra stack in moto, the app's own handlers, driven by the event pump."""

from __future__ import annotations

import json

from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import (
    Stack,
    messages,
    order_body,
    order_of,
    place,
    sent_emails,
    timeline,
)


def test_a_placed_order_is_confirmed_and_everyone_is_told(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    body = order_body(
        lines=[
            {"sku": "LAST-UNITS", "quantity": 1, "unit_price": "1.00"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "5.00"},
        ]
    )
    order = place(client, stack, body)
    pump.run_until_idle(timeout=20)

    confirmed = order_of(client, stack, order["id"])
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmed_at"] is not None
    assert {f["status"] for f in confirmed["fulfillments"]} == {"released"}

    emails = sent_emails()
    assert len(emails) == 1
    assert emails[0].destinations["ToAddresses"] == ["ada@example.com"]
    assert "WEB-1001" in emails[0].subject and "confirmed" in emails[0].subject
    assert "Ada Lovelace" in emails[0].body  # moto keeps the HTML part

    east, west = messages(stack, warehouse_inbox["wh-east"]), messages(stack, warehouse_inbox["wh-west"])
    assert [(m["type"], m["order_id"], m["lines"]) for m in east] == [
        ("pick_work.released", order["id"], [{"sku": "LAST-UNITS", "quantity": 1}])
    ]
    assert [m["lines"] for m in west] == [[{"sku": "POSTER", "quantity": 1}]]

    events = timeline(client, stack, order["id"])
    assert [e["type"] for e in events[:2]] == ["order.placed", "order.confirmed"]
    sent = [e["data"] for e in events if e["type"] == "notification.sent"]
    assert sorted((s["channel"], s["recipient"]) for s in sent) == [
        ("email", "customer"),
        ("sns", "warehouse:wh-east"),
        ("sns", "warehouse:wh-west"),
    ]
    assert all(s["message_id"] for s in sent)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))  # no gaps in the timeline


def test_a_redelivered_receipt_or_notify_message_changes_nothing_and_sends_nothing(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(client, stack, order_body())
    pump.run_until_idle(timeout=20)
    before = order_of(client, stack, order["id"])
    events_before = timeline(client, stack, order["id"])
    placed, confirmed = events_before[0], events_before[1]

    for handler, event in (("receipt_worker", placed), ("notify_worker", confirmed)):
        envelope = {
            "version": "0",
            "id": "redelivery",
            "detail-type": event["type"],
            "source": "oms",
            "detail": event,
        }
        sqs_event = client.events.generate_sqs_event(
            message_bodies=[json.dumps(envelope)] * 2, queue_name="redelivered"
        )
        for n, record in enumerate(sqs_event["Records"]):
            record["messageId"] = f"redelivery-{handler}-{n}"  # Chalice gives every record the same id
        result = client.lambda_.invoke(handler, sqs_event).payload
        assert result == {"batchItemFailures": []}

    assert order_of(client, stack, order["id"]) == before
    assert timeline(client, stack, order["id"]) == events_before
    assert len(sent_emails()) == 1


def test_relaying_the_same_stream_record_twice_is_harmless(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(client, stack, order_body())
    streams = stack.client("dynamodbstreams")
    stream_arn = stack.outputs["TableStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:  # Lambda's shape: epoch seconds and the source ARN
        record["dynamodb"]["ApproximateCreationDateTime"] = record["dynamodb"][
            "ApproximateCreationDateTime"
        ].timestamp()
        record["eventSourceARN"] = stream_arn
    for _ in range(2):
        assert client.lambda_.invoke("outbox_relay", {"Records": records}).payload == {
            "batchItemFailures": []
        }
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, order["id"])["status"] == "confirmed"
    assert [e["type"] for e in timeline(client, stack, order["id"])].count("order.confirmed") == 1
    assert len(sent_emails()) == 1


def test_an_unpaid_order_is_held_and_confirmed_when_the_last_hold_is_released(
    client: Client, stack: Stack, pump: EventPump, warehouse_inbox: dict[str, str]
) -> None:
    body = order_body(
        paid=False,
        billing_address={
            "name": "Ada",
            "line1": "1 Rue",
            "city": "Paris",
            "postal_code": "75001",
            "country": "FR",
        },
    )
    order = place(client, stack, body)
    pump.run_until_idle(timeout=20)
    held = order_of(client, stack, order["id"])
    assert held["status"] == "on_hold"
    assert sorted(h["reason"] for h in held["holds"]) == ["fraud_review", "payment_pending"]
    assert {f["status"] for f in held["fulfillments"]} == {"on_hold"}
    alert = messages(stack, warehouse_inbox["operations"])
    assert [(a["type"], a["order_id"]) for a in alert] == [("order.on_hold", order["id"])]
    assert sent_emails() == []

    admin = stack.keys["admin"]
    first = client.http.delete(
        f"/v1/orders/{order['id']}/holds/payment_pending", headers={"x-api-key": admin}
    )
    assert json.loads(first.body)["status"] == "on_hold"
    second = client.http.delete(f"/v1/orders/{order['id']}/holds/fraud_review", headers={"x-api-key": admin})
    released = json.loads(second.body)
    assert released["status"] == "confirmed" and released["holds"] == []
    pump.run_until_idle(timeout=20)
    assert len(sent_emails()) == 1
    assert [m["order_id"] for m in messages(stack, warehouse_inbox["wh-east"])] == [order["id"]]
    again = client.http.delete(f"/v1/orders/{order['id']}/holds/fraud_review", headers={"x-api-key": admin})
    assert again.status_code == 404


def test_an_address_without_a_needed_postal_code_is_held(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    body = order_body()
    del body["shipping_address"]["postal_code"]
    order = place(client, stack, body)
    pump.run_until_idle(timeout=20)
    assert [h["reason"] for h in order_of(client, stack, order["id"])["holds"]] == ["address_invalid"]


def test_a_backordered_order_is_acknowledged_to_the_customer(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(client, stack, order_body(lines=[{"sku": "SOLD-OUT", "quantity": 2, "unit_price": "3.00"}]))
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, order["id"])["status"] == "backordered"
    emails = sent_emails()
    assert len(emails) == 1 and "backorder" in emails[0].subject
    assert [e["type"] for e in timeline(client, stack, order["id"])][:2] == [
        "order.placed",
        "order.backordered",
    ]


def test_a_poison_message_fails_alone_and_its_neighbours_are_processed(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = place(client, stack, order_body())
    events = timeline(client, stack, order["id"])
    good = json.dumps({"detail-type": "order.placed", "source": "oms", "detail": events[0]})
    sqs_event = client.events.generate_sqs_event(message_bodies=["{not json", good], queue_name="receipt")
    sqs_event["Records"][0]["messageId"] = "poison"
    sqs_event["Records"][1]["messageId"] = "good"
    result = client.lambda_.invoke("receipt_worker", sqs_event).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert order_of(client, stack, order["id"])["status"] == "confirmed"
