"""The local stack's moto server: the writes it signals to the event pump, and the pump it wakes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from chalice.app import Chalice, DynamoDBEvent, SQSEvent

from infra.local.moto_server import SerialisedMotoServer
from infra.local.pump import EventPump

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture
def server() -> Iterator[SerialisedMotoServer]:
    moto = SerialisedMotoServer("127.0.0.1", 0)
    moto.start()
    yield moto
    moto.stop()


def clients(server: SerialisedMotoServer) -> tuple[Any, Any]:
    dynamo = Config(account_id_endpoint_mode="disabled")
    sqs = boto3.client("sqs", endpoint_url=server.url, region_name=REGION)
    dynamodb = boto3.client("dynamodb", endpoint_url=server.url, region_name=REGION, config=dynamo)
    return sqs, dynamodb


def create_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def test_the_server_signals_sends_and_writes_but_not_reads(server: SerialisedMotoServer) -> None:
    sqs, dynamodb = clients(server)
    queue = sqs.create_queue(QueueName=f"signals-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    table = f"signals-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    item = {"pk": {"S": "a"}}

    def signals(call: Any) -> int:
        before = server.activity.count
        call()
        return server.activity.count - before

    assert signals(lambda: sqs.send_message(QueueUrl=queue, MessageBody="{}")) == 1
    assert (
        signals(lambda: sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "{}"}]))
        == 1
    )
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"][0]
    assert (
        signals(
            lambda: sqs.change_message_visibility(
                QueueUrl=queue, ReceiptHandle=received["ReceiptHandle"], VisibilityTimeout=0
            )
        )
        == 1
    )
    assert signals(lambda: dynamodb.put_item(TableName=table, Item=item)) == 1
    assert (
        signals(
            lambda: dynamodb.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "b"}}}}]
            )
        )
        == 1
    )
    # What the pump itself sends while it looks for work must not wake it again.
    assert signals(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)) == 0
    assert signals(lambda: sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])) == 0
    assert signals(lambda: dynamodb.get_item(TableName=table, Key=item)) == 0


def test_a_message_sent_to_the_server_reaches_its_handler_woken_by_the_signal(
    server: SerialisedMotoServer,
) -> None:
    sqs, dynamodb = clients(server)
    name = f"wake-{uuid.uuid4().hex[:8]}"
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    create_table(dynamodb, name)
    arrived: dict[str, float] = {}
    delivered = threading.Event()
    app = Chalice(app_name="wake-toy")

    @app.on_sqs_message(queue=name, batch_size=1)
    def worker(event: SQSEvent) -> None:
        for record in event:
            arrived[json.loads(record.body)["kind"]] = time.monotonic()
        delivered.set()

    @app.on_dynamodb_record(stream_arn=f"arn:aws:dynamodb:{REGION}:123456789012:table/{name}/stream/x")
    def relay(event: DynamoDBEvent) -> None:
        for _ in event:
            arrived["record"] = time.monotonic()
        delivered.set()

    pump = EventPump.for_endpoint(
        app, endpoint_url=server.url, region_name=REGION, activity=server.activity, idle_poll_interval=60
    )
    latencies: dict[str, float] = {}
    with pump:
        time.sleep(0.3)  # the pump's first pass is over: it sleeps until a signal
        for kind, write in (
            (
                "message",
                lambda: sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"kind": "message"})),
            ),
            ("record", lambda: dynamodb.put_item(TableName=name, Item={"pk": {"S": "x"}})),
        ):
            delivered.clear()
            sent = time.monotonic()
            write()
            assert delivered.wait(10), f"the {kind} never reached its handler"
            latencies[kind] = arrived[kind] - sent

    # Within the minute of the fallback poll only the signals can have woken it (the second
    # write may land while the pump is still busy with the first: then it looks again unwoken).
    assert pump.wake_counts["timer"] == 0
    assert pump.wake_counts["signal"] >= 1
    print(f"wake latency: {', '.join(f'{k} {v * 1000:.0f} ms' for k, v in latencies.items())}")
