"""Handlers for operations: the stuck-order sweeper and the failure records behind the DLQ tool."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from chalice.test import Client

from chalicelib.adapters.dynamodb.failures import FailureLog
from chalicelib.bootstrap import services
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.service.placement import place_order
from tests.integration.conftest import Stack, order_body


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def operations_inbox(stack: Stack) -> str:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(
        TopicArn=stack.outputs["OperationsTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def test_orders_stuck_in_placed_are_reported_to_operations_once(client: Client, stack: Stack) -> None:
    inbox = operations_inbox(stack)
    svc = services()
    now = datetime.now(UTC)
    placed = {}
    for name, age in (("OLD", timedelta(minutes=40)), ("NEW", timedelta(minutes=2))):
        request = PlaceOrderRequest.model_validate(order_body(name))
        result = place_order(
            svc.uow_factory,
            request,
            channel_id="web",
            idempotency_key=None,
            ids=svc.ids,
            clock=FixedClock(now - age),
        )
        placed[name] = result.order.id

    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    first = client.lambda_.invoke("stuck_order_sweeper", event).payload
    second = client.lambda_.invoke("stuck_order_sweeper", event).payload
    assert first == {"alerted": [placed["OLD"]]}
    assert second == {"alerted": []}
    alerts = stack.client("sqs").receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["order_id"] for m in alerts] == [placed["OLD"]]


def test_a_failing_record_leaves_its_error_for_the_dlq_tool(client: Client, stack: Stack) -> None:
    sqs_event = client.events.generate_sqs_event(
        message_bodies=[json.dumps({"detail": {"order_id": "ord_x"}})], queue_name="receipt"
    )
    sqs_event["Records"][0]["messageId"] = "msg-broken"
    result = client.lambda_.invoke("receipt_worker", sqs_event).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-broken"}]}
    failure = FailureLog(stack.client("dynamodb"), stack.table).get("msg-broken")
    assert failure is not None
    assert failure["handler"] == "receipt_worker"
    assert failure["order_id"] == "ord_x"
    assert failure["error"].startswith("ValidationError")
