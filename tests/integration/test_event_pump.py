"""The event pump gives a Chalice app's queue, stream and schedule handlers Lambda's semantics on moto.

The toy app below stands in for the service: its handlers record what they
receive and misbehave on request (a message or item says how), so each test can
check one Lambda rule: event shapes, batch sizes, partial batch failures,
redrive to the DLQ, stream checkpoints and retries, schedules, and that nothing
a handler does stops the pump.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from chalice.app import Chalice, CloudWatchEvent, Cron, DynamoDBEvent, Rate, SQSEvent
from moto import mock_aws

from infra.local.activity import Activity
from infra.local.faults import FaultInjector, FaultSettings
from infra.local.pump import EventPump, EventSourceError

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ACCOUNT = "123456789012"
ORDERS_QUEUE = "toy-orders"
POISON_QUEUE = "toy-poison"
WINDOWED_QUEUE = "toy-windowed"
TABLE = "toy-table"
LATEST_TABLE = "toy-latest"
# What an app's decorator holds before the stack exists: right table name or not, never the live label.
PLACEHOLDER_STREAM_ARN = (
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/toy-placeholder/stream/1970-01-01T00:00:00.000"
)
STALE_LATEST_STREAM_ARN = (
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{LATEST_TABLE}/stream/1970-01-01T00:00:00.000"
)


@dataclass
class Call:
    event: dict[str, Any]
    context: Any


calls: dict[str, list[Call]] = {}
seen: Counter[str] = Counter()  # deliveries per SQS messageId / stream SequenceNumber

app = Chalice(app_name="pump-toy")


def _record_call(name: str, event: Any) -> None:
    calls.setdefault(name, []).append(Call(event.to_dict(), event.context))


def _instructions(body: str) -> dict[str, Any]:
    # A message may be a bare document or an EventBridge envelope routed to the queue.
    document: dict[str, Any] = json.loads(body)
    detail = document.get("detail")
    return detail if isinstance(detail, dict) else document


def _sqs_worker(name: str, event: SQSEvent) -> dict[str, Any]:
    _record_call(name, event)
    failures: list[dict[str, str]] = []
    for record in event:
        message_id = record.to_dict()["messageId"]
        seen[message_id] += 1
        todo = _instructions(record.body)
        if todo.get("raise"):
            raise RuntimeError("the toy handler was told to raise")
        if todo.get("unknown_identifier") and seen[message_id] == 1:
            return {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}
        if todo.get("fail_times", 0) >= seen[message_id]:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue=ORDERS_QUEUE, batch_size=3)
def orders_worker(event: SQSEvent) -> dict[str, Any]:
    return _sqs_worker("orders_worker", event)


@app.on_sqs_message(queue=POISON_QUEUE, batch_size=1)
def poison_worker(event: SQSEvent) -> dict[str, Any]:
    return _sqs_worker("poison_worker", event)


@app.on_sqs_message(
    queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{WINDOWED_QUEUE}",
    batch_size=5,
    maximum_batching_window_in_seconds=1,
)
def windowed_worker(event: SQSEvent) -> None:
    _record_call("windowed_worker", event)


@app.on_dynamodb_record(stream_arn=PLACEHOLDER_STREAM_ARN, batch_size=2, starting_position="TRIM_HORIZON")
def outbox_relay(event: DynamoDBEvent) -> dict[str, Any] | None:
    _record_call("outbox_relay", event)
    for record in event:
        seen[record.sequence_number] += 1
        image = record.new_image or {}
        if "explode" in image:
            raise RuntimeError("the toy relay was told to raise")
        if int(image.get("fail_times", {"N": "0"})["N"]) >= seen[record.sequence_number]:
            return {"batchItemFailures": [{"itemIdentifier": record.sequence_number}]}
    return None


@app.on_dynamodb_record(stream_arn=STALE_LATEST_STREAM_ARN, batch_size=10, starting_position="LATEST")
def latest_reader(event: DynamoDBEvent) -> None:
    _record_call("latest_reader", event)


@app.schedule(Rate(1, unit=Rate.HOURS))
def nightly_report(event: CloudWatchEvent) -> str:
    _record_call("nightly_report", event)
    return "reported"


@app.schedule(Cron(0, 9, "?", "*", "MON-FRI", "*"))
def morning_digest(event: CloudWatchEvent) -> None:
    _record_call("morning_digest", event)


@dataclass
class Aws:
    sqs: Any
    dynamodb: Any
    streams: Any

    def queue_url(self, name: str) -> str:
        url: str = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return url

    def send(self, queue: str, body: dict[str, Any], **kwargs: Any) -> str:
        response = self.sqs.send_message(
            QueueUrl=self.queue_url(queue), MessageBody=json.dumps(body), **kwargs
        )
        message_id: str = response["MessageId"]
        return message_id

    def counts(self, queue: str) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(queue), AttributeNames=names)
        return {name: int(value) for name, value in attributes["Attributes"].items()}

    def drain(self, queue: str) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url(queue), MaxNumberOfMessages=10)
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def put(self, table: str, pk: str, sk: str, **attributes: dict[str, Any]) -> None:
        self.dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}, **attributes})

    def stream_arn(self, table: str) -> str:
        arn: str = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        return arn


@pytest.fixture(autouse=True)
def _fresh_recordings() -> None:
    calls.clear()
    seen.clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        dynamo_config = Config(account_id_endpoint_mode="disabled")
        clients = Aws(
            sqs=boto3.client("sqs"),
            dynamodb=boto3.client("dynamodb", config=dynamo_config),
            streams=boto3.client("dynamodbstreams", config=dynamo_config),
        )
        _create_queue(clients, ORDERS_QUEUE, max_receive_count=5)
        _create_queue(clients, POISON_QUEUE, max_receive_count=3)
        _create_queue(clients, WINDOWED_QUEUE)
        _create_table(clients, TABLE)
        _create_table(clients, LATEST_TABLE)
        yield clients


def _create_queue(aws: Aws, name: str, *, max_receive_count: int | None = None) -> None:
    attributes = {"VisibilityTimeout": "30"}
    if max_receive_count is not None:
        dlq_url = aws.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": max_receive_count}
        )
    aws.sqs.create_queue(QueueName=name, Attributes=attributes)


def _create_table(aws: Aws, name: str) -> None:
    aws.dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


@pytest.fixture
def make_pump(aws: Aws) -> Callable[..., EventPump]:
    def make(**options: Any) -> EventPump:
        options.setdefault("visibility_timeout_override", 0)
        options.setdefault("stream_tables", {"outbox_relay": TABLE})
        return EventPump(
            app, sqs_client=aws.sqs, streams_client=aws.streams, dynamodb_client=aws.dynamodb, **options
        )

    return make


def _records(name: str) -> list[dict[str, Any]]:
    return [record for call in calls.get(name, []) for record in call.event["Records"]]


def _bodies(name: str) -> list[dict[str, Any]]:
    return [json.loads(record["body"]) for record in _records(name)]


# -- SQS -------------------------------------------------------------------------

SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}


def test_the_sqs_handler_receives_lambda_shaped_batches_with_unique_message_ids(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    sent = [aws.send(ORDERS_QUEUE, {"n": n}) for n in range(6)]
    sent.append(
        aws.send(
            ORDERS_QUEUE,
            {"n": 6},
            MessageAttributes={
                "channel": {"DataType": "String", "StringValue": "shopify"},
                "lines": {"DataType": "Number", "StringValue": "3"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            },
        )
    )
    pump = make_pump()

    pump.run_until_idle()

    assert [len(call.event["Records"]) for call in calls["orders_worker"]] == [3, 3, 1]
    records = _records("orders_worker")
    assert len(set(sent)) == 7
    assert sorted(r["messageId"] for r in records) == sorted(sent)  # SQS's own ids, one per message
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{ORDERS_QUEUE}"
    for record in records:
        assert SQS_RECORD_KEYS <= set(record) <= SQS_RECORD_KEYS | {"md5OfMessageAttributes"}
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == queue_arn
        assert record["awsRegion"] == REGION
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert {
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        } <= set(record["attributes"])
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
    with_attributes = next(r for r in records if json.loads(r["body"]) == {"n": 6})
    assert with_attributes["messageAttributes"] == {
        "channel": {
            "stringValue": "shopify",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "lines": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    json.dumps([call.event for call in calls["orders_worker"]])  # plain JSON, as Lambda delivers
    contexts = [call.context for call in calls["orders_worker"]]
    assert {c.function_name for c in contexts} == {"pump-toy-dev-orders_worker"}
    assert {c.invoked_function_arn for c in contexts} == {
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pump-toy-dev-orders_worker"
    }
    assert {c.memory_limit_in_mb for c in contexts} == {128}
    assert len({c.aws_request_id for c in contexts}) == 3
    assert all(0 < c.get_remaining_time_in_millis() <= 60_000 for c in contexts)
    assert aws.counts(ORDERS_QUEUE) == dict.fromkeys(aws.counts(ORDERS_QUEUE), 0)


def test_a_failed_batch_item_alone_returns_to_the_queue_and_is_redelivered(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    good = [aws.send(ORDERS_QUEUE, {"n": n}) for n in (1, 2)]
    flaky = aws.send(ORDERS_QUEUE, {"n": 3, "fail_times": 1})
    pump = make_pump()

    pump.run_until_idle()

    assert seen[flaky] == 2
    assert [seen[message_id] for message_id in good] == [1, 1]
    redelivery = calls["orders_worker"][1].event["Records"]
    assert [r["messageId"] for r in redelivery] == [flaky]
    assert redelivery[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert sum(aws.counts(ORDERS_QUEUE).values()) == 0


def test_an_unknown_item_identifier_fails_the_whole_batch_as_in_lambda(
    aws: Aws, make_pump: Callable[..., EventPump], caplog: pytest.LogCaptureFixture
) -> None:
    ids = [aws.send(ORDERS_QUEUE, {"n": 1, "unknown_identifier": True}), aws.send(ORDERS_QUEUE, {"n": 2})]
    pump = make_pump()

    with caplog.at_level(logging.ERROR, logger="oms.pump"):
        pump.run_until_idle()

    assert seen[ids[0]] == 2
    assert len(calls["orders_worker"]) == 2  # the whole batch came back
    assert "invalid batchItemFailures" in caplog.text


def test_without_report_batch_item_failures_a_returned_failure_is_ignored_and_the_batch_deleted(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    flaky = aws.send(ORDERS_QUEUE, {"n": 1, "fail_times": 1})
    pump = make_pump(report_batch_item_failures=False)

    pump.run_until_idle()

    assert seen[flaky] == 1  # what Lambda does when FunctionResponseTypes lacks ReportBatchItemFailures
    assert sum(aws.counts(ORDERS_QUEUE).values()) == 0


def test_a_failed_message_stays_invisible_for_the_visibility_timeout_override(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    flaky = aws.send(ORDERS_QUEUE, {"n": 1, "fail_times": 1})
    pump = make_pump(visibility_timeout_override=0.3)

    pump.run_once()
    pump.run_once()
    assert seen[flaky] == 1  # still invisible
    time.sleep(0.35)
    pump.run_once()

    assert seen[flaky] == 2


def test_run_until_idle_times_out_while_a_failed_message_waits_out_the_queues_visibility_timeout(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    aws.send(ORDERS_QUEUE, {"n": 1, "fail_times": 1})
    pump = make_pump(visibility_timeout_override=None)  # the queue's own 30 s

    with pytest.raises(TimeoutError, match="orders_worker"):
        pump.run_until_idle(timeout=0.3)


def test_a_poison_message_ends_in_the_dead_letter_queue_after_max_receive_count(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    poison = aws.send(POISON_QUEUE, {"order_id": "ord-poison", "raise": True})
    pump = make_pump()

    pump.run_until_idle()

    assert seen[poison] == 3  # the queue's maxReceiveCount; moto's receive then redrives it
    dead = aws.drain(f"{POISON_QUEUE}-dlq")
    assert [m["MessageId"] for m in dead] == [poison]
    assert sum(aws.counts(POISON_QUEUE).values()) == 0


def test_a_handler_exception_is_logged_with_the_order_id_and_does_not_stop_the_pump(
    aws: Aws, make_pump: Callable[..., EventPump], caplog: pytest.LogCaptureFixture
) -> None:
    envelope = {
        "detail-type": "OrderPlaced",
        "source": "oms",
        "detail": {"order_id": "ord-42", "raise": True},
    }
    aws.send(POISON_QUEUE, envelope)
    after = [aws.send(POISON_QUEUE, {"order_id": f"ord-{n}"}) for n in range(3)]
    aws.put(TABLE, "ORDER#ord-7", "EVENT#1", explode={"BOOL": True})
    aws.put(TABLE, "ORDER#ord-8", "EVENT#1")  # dropped with ord-7: same batch, no retries left
    aws.put(TABLE, "ORDER#ord-9", "EVENT#1")
    pump = make_pump(stream_max_retries=0)

    with caplog.at_level(logging.ERROR, logger="oms.pump"):
        pump.run_until_idle()

    assert [seen[message_id] for message_id in after] == [1, 1, 1]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in calls["outbox_relay"][-1].event["Records"]] == [
        "ORDER#ord-9"
    ]
    raised = [r for r in caplog.records if r.name == "oms.pump" and r.exc_info]
    assert any("poison_worker" in r.getMessage() and "ord-42" in r.getMessage() for r in raised)
    assert any("outbox_relay" in r.getMessage() and "ord-7" in r.getMessage() for r in raised)
    assert all(r.levelno == logging.ERROR for r in raised)
    assert {getattr(r, "handler", None) for r in raised} >= {"poison_worker", "outbox_relay"}


def test_the_batching_window_holds_a_partial_batch_until_it_fills_or_the_window_closes(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    pump = make_pump()
    for n in range(3):
        aws.send(WINDOWED_QUEUE, {"n": n})
    assert pump.run_once() == 0  # 3 of 5, window open
    for n in range(3, 7):
        aws.send(WINDOWED_QUEUE, {"n": n})
    pump.run_once()
    assert [len(call.event["Records"]) for call in calls["windowed_worker"]] == [5]

    started = time.monotonic()
    pump.run_until_idle()  # the 2 left over wait out the 1 s window that opens when they are received
    assert time.monotonic() - started >= 1

    assert [len(call.event["Records"]) for call in calls["windowed_worker"]] == [5, 2]
    assert sorted(body["n"] for body in _bodies("windowed_worker")) == list(range(7))


# -- DynamoDB Streams ------------------------------------------------------------


def test_stream_records_reach_the_handler_in_lambda_shape_and_order_including_a_transaction(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    pump = make_pump()
    aws.put(TABLE, "ORDER#1", "META", status={"S": "PLACED"}, blob={"B": b"\x01\x02"})
    aws.dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "ORDER#1"}, "sk": {"S": "EVENT#1"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "ORDER#1"}, "sk": {"S": "EVENT#2"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "ORDER#1"}, "sk": {"S": "META"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "CONFIRMED"}},
                }
            },
        ]
    )
    aws.dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "ORDER#1"}, "sk": {"S": "EVENT#1"}})

    pump.run_until_idle()

    assert [len(call.event["Records"]) for call in calls["outbox_relay"]] == [2, 2, 1]
    records = _records("outbox_relay")
    assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in records] == [
        ("INSERT", "META"),
        ("INSERT", "EVENT#1"),
        ("INSERT", "EVENT#2"),
        ("MODIFY", "META"),
        ("REMOVE", "EVENT#1"),
    ]
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence_numbers == sorted(sequence_numbers)
    live_arn = aws.stream_arn(TABLE)
    for record in records:
        assert set(record) == {
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
            "eventSourceARN",
        }
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == live_arn  # not the decorator's placeholder
        assert record["awsRegion"] == REGION
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        assert isinstance(created, int) and abs(created - time.time()) < 60
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert {"Keys", "SequenceNumber", "SizeBytes"} <= set(record["dynamodb"])
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x01\x02").decode()}
    assert records[3]["dynamodb"]["OldImage"]["status"] == {"S": "PLACED"}
    assert records[3]["dynamodb"]["NewImage"]["status"] == {"S": "CONFIRMED"}
    assert "NewImage" not in records[4]["dynamodb"]
    json.dumps([call.event for call in calls["outbox_relay"]])


def test_a_stream_batch_item_failure_retries_from_that_record_only(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    pump = make_pump()
    aws.put(TABLE, "ORDER#1", "EVENT#A")
    aws.put(TABLE, "ORDER#1", "EVENT#B", fail_times={"N": "1"})
    aws.put(TABLE, "ORDER#1", "EVENT#C")
    aws.put(TABLE, "ORDER#1", "EVENT#D")

    pump.run_until_idle()

    batches = [
        [r["dynamodb"]["Keys"]["sk"]["S"] for r in call.event["Records"]] for call in calls["outbox_relay"]
    ]
    assert batches == [["EVENT#A", "EVENT#B"], ["EVENT#B", "EVENT#C"], ["EVENT#D"]]


def test_a_stream_batch_that_keeps_failing_is_dropped_after_the_maximum_retries(
    aws: Aws, make_pump: Callable[..., EventPump], caplog: pytest.LogCaptureFixture
) -> None:
    pump = make_pump(stream_max_retries=2)
    aws.put(TABLE, "ORDER#9", "EVENT#E", fail_times={"N": "99"})
    aws.put(TABLE, "ORDER#9", "EVENT#F")
    aws.put(TABLE, "ORDER#9", "EVENT#G")

    with caplog.at_level(logging.ERROR, logger="oms.pump"):
        pump.run_until_idle()

    batches = [
        [r["dynamodb"]["Keys"]["sk"]["S"] for r in call.event["Records"]] for call in calls["outbox_relay"]
    ]
    # One try and two retries of the failing batch, then Lambda's MaximumRetryAttempts drops it.
    assert batches == [["EVENT#E", "EVENT#F"]] * 3 + [["EVENT#G"]]
    assert "dropping 2 stream record(s)" in caplog.text
    assert "(order 9)" in caplog.text


def test_a_latest_stream_handler_skips_records_written_before_the_pump_started(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    aws.put(LATEST_TABLE, "ORDER#old", "META")
    pump = make_pump()  # no stream_tables entry: the table is read from the decorator's stale ARN
    aws.put(LATEST_TABLE, "ORDER#new", "META")

    pump.run_until_idle()

    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in _records("latest_reader")] == ["ORDER#new"]
    assert _records("latest_reader")[0]["eventSourceARN"] == aws.stream_arn(LATEST_TABLE)


# -- schedules ---------------------------------------------------------------------


class FakeWallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_schedule_fires_on_a_fast_clock(make_pump: Callable[..., EventPump]) -> None:
    wall = FakeWallClock()
    start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    pump = make_pump(clock_speed=3600, wall_clock=wall, clock_start=start)  # a real second is an hour

    wall.now += 0.9
    pump.run_once()
    assert "nightly_report" not in calls
    wall.now += 0.2
    pump.run_once()
    wall.now += 1.0
    pump.run_once()

    events = [call.event for call in calls["nightly_report"]]
    assert [event["time"] for event in events] == ["2024-03-01T13:00:00Z", "2024-03-01T14:00:00Z"]
    first = events[0]
    uuid.UUID(first["id"])
    assert {k: v for k, v in first.items() if k not in ("id", "time")} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/pump-toy-dev-nightly_report"],
        "detail": {},
    }
    assert calls["nightly_report"][0].context.function_name == "pump-toy-dev-nightly_report"


def test_a_cron_schedule_fires_at_its_minute_and_not_on_other_days(
    make_pump: Callable[..., EventPump],
) -> None:
    wall = FakeWallClock()
    friday_morning = datetime(2024, 1, 5, 8, 59, 30, tzinfo=UTC)
    pump = make_pump(clock_speed=60, wall_clock=wall, clock_start=friday_morning)

    wall.now += 0.4  # 08:59:54
    pump.run_once()
    assert "morning_digest" not in calls
    wall.now += 0.6  # 09:00:30
    pump.run_once()
    wall.now += 24 * 60  # a day later: Saturday, no digest
    pump.run_once()
    wall.now += 2 * 24 * 60  # Monday 09:00:30
    pump.run_once()

    assert [call.event["time"] for call in calls["morning_digest"]] == [
        "2024-01-05T09:00:00Z",
        "2024-01-08T09:00:00Z",
    ]


def test_fire_schedule_invokes_a_scheduled_handler_on_demand(make_pump: Callable[..., EventPump]) -> None:
    pump = make_pump()

    result = pump.fire_schedule("nightly_report", at=datetime(2024, 5, 1, 0, 0, tzinfo=UTC))

    assert result == "reported"
    assert calls["nightly_report"][0].event["time"] == "2024-05-01T00:00:00Z"
    with pytest.raises(KeyError):
        pump.fire_schedule("orders_worker")


# -- running -----------------------------------------------------------------------


def test_run_until_idle_returns_once_every_source_is_drained(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    pump = make_pump()
    started = time.monotonic()
    pump.run_until_idle()
    assert time.monotonic() - started < 1  # nothing to do: back at once

    for n in range(25):
        aws.send(ORDERS_QUEUE, {"n": n, "fail_times": 1 if n % 5 == 0 else 0})
    aws.send(POISON_QUEUE, {"n": 0})
    aws.put(TABLE, "ORDER#1", "EVENT#1")
    pump.run_until_idle(timeout=5)

    assert sorted(body["n"] for body in _bodies("orders_worker")) == sorted([*range(25), *range(0, 25, 5)])
    assert len(_records("outbox_relay")) == 1
    assert pump.run_once() == 0
    for queue in (ORDERS_QUEUE, POISON_QUEUE, WINDOWED_QUEUE):
        assert sum(aws.counts(queue).values()) == 0


def test_the_background_thread_delivers_while_running_and_stops_cleanly(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    pump = make_pump(clock_speed=36_000, poll_interval=0.02)  # rate(1 hour) every 0.1 s
    pump.start()
    try:
        with pytest.raises(RuntimeError):
            pump.start()
        message_id = aws.send(ORDERS_QUEUE, {"n": 1})
        aws.put(TABLE, "ORDER#1", "EVENT#1")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
            seen[message_id] and _records("outbox_relay") and len(calls.get("nightly_report", [])) >= 2
        ):
            time.sleep(0.02)
        assert pump.running
    finally:
        pump.stop()

    assert seen[message_id] == 1
    assert len(_records("outbox_relay")) == 1
    assert len(calls["nightly_report"]) >= 2
    assert not pump.running
    late = aws.send(ORDERS_QUEUE, {"n": 2})
    time.sleep(0.1)
    assert seen[late] == 0  # nothing pumps after stop()
    pump.stop()  # stopping twice is harmless

    with pump:  # and it starts again, as a context manager
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not seen[late]:
            time.sleep(0.02)
    assert seen[late] == 1
    assert not pump.running


def test_a_missing_queue_stops_the_pump_being_built_and_names_its_handler(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    aws.sqs.delete_queue(QueueUrl=aws.queue_url(POISON_QUEUE))

    with pytest.raises(EventSourceError, match="poison_worker"):
        make_pump()


def test_for_endpoint_builds_a_working_pump_from_an_endpoint(aws: Aws) -> None:
    pump = EventPump.for_endpoint(
        app, endpoint_url=None, region_name=REGION, stream_tables={"outbox_relay": TABLE}
    )
    message_id = aws.send(ORDERS_QUEUE, {"n": 1})

    pump.run_until_idle()

    assert seen[message_id] == 1
    assert set(pump.handler_names) == {
        "orders_worker",
        "poison_worker",
        "windowed_worker",
        "outbox_relay",
        "latest_reader",
        "nightly_report",
        "morning_digest",
    }


# -- sleeping between passes -------------------------------------------------------------------


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _count_receives(aws: Aws) -> list[str]:
    receives: list[str] = []
    aws.sqs.meta.events.register("before-call.sqs.ReceiveMessage", lambda **_: receives.append("receive"))
    return receives


def test_with_an_activity_signal_an_idle_pump_sends_no_requests_until_signalled(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    activity = Activity()
    receives = _count_receives(aws)
    pump = make_pump(activity=activity, idle_poll_interval=60)
    with pump:
        assert _wait_until(lambda: pump.wake_counts != {"signal": 0, "timer": 0} or len(receives) >= 3)
        polled = len(receives)
        time.sleep(0.5)  # twenty passes' worth of polling without a signal
        assert len(receives) == polled

        message_id = aws.send(ORDERS_QUEUE, {"n": 1})
        activity.signal()  # what the local stack's moto server does after a SendMessage
        assert _wait_until(lambda: seen[message_id] == 1)

    assert pump.wake_counts["signal"] >= 1
    assert pump.wake_counts["timer"] == 0  # the fallback poll never came round: the signal woke it


def test_a_stream_record_is_read_at_once_when_its_write_is_signalled(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    activity = Activity()
    # An idle shard is otherwise read only every stream_idle_poll_interval: a minute here.
    pump = make_pump(activity=activity, idle_poll_interval=60, stream_idle_poll_interval=60)
    with pump:
        time.sleep(0.2)
        aws.put(TABLE, "ORDER#1", "EVENT#1")
        activity.signal()
        assert _wait_until(lambda: len(_records("outbox_relay")) == 1)

    assert pump.wake_counts["timer"] == 0


def test_a_failed_message_is_looked_for_when_its_visibility_timeout_ends_without_any_signal(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    activity = Activity()
    flaky = aws.send(ORDERS_QUEUE, {"n": 1, "fail_times": 1})
    pump = make_pump(activity=activity, idle_poll_interval=60, visibility_timeout_override=1)
    with pump:
        assert _wait_until(lambda: seen[flaky] == 2)

    assert pump.wake_counts["timer"] >= 1  # the timer it set for the message's return


def test_a_schedule_fires_on_time_while_the_pump_sleeps_for_a_signal(
    make_pump: Callable[..., EventPump],
) -> None:
    pump = make_pump(activity=Activity(), idle_poll_interval=60, clock_speed=36_000)  # hourly = 0.1 s
    with pump:
        assert _wait_until(lambda: len(calls.get("nightly_report", [])) >= 3)


# -- fault injection (OMS_FAULT_RATE, OMS_DUPLICATE_RATE) ---------------------------------------

# With these seeds the first invocation fails (fault rate 1), and the second draw puts it
# after (seed 0) or before (seed 4) the handler; each test checks which one it got.
SEED_AFTER = 0
SEED_BEFORE = 4


def _always_failing(seed: int) -> FaultInjector:
    return FaultInjector(FaultSettings(fault_rate=1.0, seed=seed))


def _left_in_queue(aws: Aws, queue: str) -> int:
    return sum(aws.counts(queue).values())


def test_a_failure_after_the_handler_leaves_its_work_done_and_the_message_unacknowledged(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    message_id = aws.send(ORDERS_QUEUE, {"n": 1})
    faults = _always_failing(SEED_AFTER)

    make_pump(faults=faults).run_once()

    assert (faults.failures_before, faults.failures_after) == (0, 1)
    assert seen[message_id] == 1, "the handler ran"
    assert _left_in_queue(aws, ORDERS_QUEUE) == 1, "the message is still in the queue"
    make_pump().run_until_idle()
    assert seen[message_id] == 2, "and it is delivered again"
    assert _left_in_queue(aws, ORDERS_QUEUE) == 0


def test_a_failure_before_the_handler_leaves_the_message_untouched_for_a_retry(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    message_id = aws.send(ORDERS_QUEUE, {"n": 1})
    faults = _always_failing(SEED_BEFORE)

    make_pump(faults=faults).run_once()

    assert (faults.failures_before, faults.failures_after) == (1, 0)
    assert seen[message_id] == 0, "the handler never ran"
    assert _left_in_queue(aws, ORDERS_QUEUE) == 1
    make_pump().run_until_idle()
    assert seen[message_id] == 1
    assert _left_in_queue(aws, ORDERS_QUEUE) == 0


def test_a_stream_batch_failed_after_the_handler_ran_is_delivered_again(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    aws.put(TABLE, "ORDER#1", "EVENT#00000001")
    pump = make_pump(faults=_always_failing(SEED_AFTER), stream_max_retries=5)

    pump.run_once()
    sequence_number = _records("outbox_relay")[0]["dynamodb"]["SequenceNumber"]
    assert seen[sequence_number] == 1

    pump.faults = None  # the injector stops failing: the retry goes through
    pump.run_until_idle()
    assert seen[sequence_number] == 2


def test_duplicates_reach_the_sqs_handler_twice_and_the_message_is_deleted_once(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    sent = [aws.send(ORDERS_QUEUE, {"n": n}) for n in range(4)]
    faults = FaultInjector(FaultSettings(duplicate_rate=1.0, seed=1))

    make_pump(faults=faults).run_until_idle()

    assert {message_id: seen[message_id] for message_id in sent} == dict.fromkeys(sent, 2)
    assert faults.duplicates == 4
    assert _left_in_queue(aws, ORDERS_QUEUE) == 0


def test_duplicates_reach_the_stream_handler_twice(aws: Aws, make_pump: Callable[..., EventPump]) -> None:
    for n in range(3):
        aws.put(TABLE, f"ORDER#{n}", "EVENT#00000001")
    faults = FaultInjector(FaultSettings(duplicate_rate=1.0, seed=1))

    make_pump(faults=faults).run_until_idle()

    numbers = {record["dynamodb"]["SequenceNumber"] for record in _records("outbox_relay")}
    assert len(numbers) == 3
    assert {number: seen[number] for number in numbers} == dict.fromkeys(numbers, 2)
    assert faults.duplicates == 3


def test_a_seeded_share_of_deliveries_is_duplicated_and_counted(
    aws: Aws, make_pump: Callable[..., EventPump]
) -> None:
    sent = [aws.send(ORDERS_QUEUE, {"n": n}) for n in range(30)]
    faults = FaultInjector(FaultSettings(duplicate_rate=0.3, seed=3))

    make_pump(faults=faults).run_until_idle()

    extra = sum(seen[message_id] - 1 for message_id in sent)
    assert extra == faults.duplicates > 0
    assert all(seen[message_id] in (1, 2) for message_id in sent)
