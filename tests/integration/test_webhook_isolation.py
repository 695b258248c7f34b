"""One store endpoint that never answers must not hold up, re-send or dead-letter anyone else's
webhooks: the webhooks-out worker is invoked here as Lambda invokes it, with a Lambda context
whose time runs out, and a batch whose outcome is applied as Lambda applies it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client

from app import app
from chalicelib.adapters.aws import client as aws_client
from chalicelib.bootstrap import reset_services
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.outbound import retry_delay
from tests.integration.conftest import Stack, get, post_json
from tests.integration.loopback import RecordingServer, SilentServer, recording_server, silent_server

HANDLER = "webhooks_out_worker"


@dataclass
class Stores:
    answering: list[RecordingServer]
    silent: SilentServer
    #: endpoint id -> "answering-0" / "answering-1" / "silent"
    names: dict[str, str]


@pytest.fixture
def stores(client: Client, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "true")
    reset_services()
    with ExitStack() as servers:
        answering = [servers.enter_context(recording_server()) for _ in range(2)]
        silent = servers.enter_context(silent_server())
        names: dict[str, str] = {}
        ports = [("silent", silent.port)] + [(f"answering-{n}", s.port) for n, s in enumerate(answering)]
        for name, port in ports:
            response = post_json(
                client,
                "/v1/channels/web/webhook-endpoints",
                {"url": f"http://127.0.0.1:{port}/hooks", "events": ["order.placed"]},
                stack.keys["web"],
            )
            assert response.status_code == 201, response.body
            names[json.loads(response.body)["id"]] = name
        yield Stores(answering, silent, names)


def _queue_urls(stack: Stack) -> tuple[str, str]:
    sqs = stack.client("sqs")
    return (
        sqs.get_queue_url(QueueName=f"oms-{stack.env['OMS_STAGE']}-webhooks-out")["QueueUrl"],
        sqs.get_queue_url(QueueName=f"oms-{stack.env['OMS_STAGE']}-webhooks-out-dlq")["QueueUrl"],
    )


def _order_placed(order_id: str = "ord_isolation") -> dict[str, Any]:
    event = DomainEvent(
        id="evt_isolation1",
        type="order.placed",
        order_id=order_id,
        channel_id="web",
        version=1,
        occurred_at=datetime.now(UTC),
        actor="channel:web",
    )
    return {"detail-type": event.type, "source": "oms", "detail": event.model_dump(mode="json")}


@dataclass
class Invocation:
    finished: bool
    failed_ids: list[str]
    received: int
    #: Receipt handles of the failed messages (to bring one back early, as if its delay had passed).
    failed_handles: list[str]


def invoke_like_lambda(stack: Stack, *, timeout_seconds: float) -> Invocation:
    """Receive a batch, run the handler with a context of ``timeout_seconds``, then do what Lambda
    does: a handler still running at the timeout is killed (the whole batch comes back later);
    otherwise the messages not named in ``batchItemFailures`` are deleted."""
    sqs = stack.client("sqs")
    queue_url, _ = _queue_urls(stack)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages", [])
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }
    context = LambdaContext(
        f"oms-itest-{HANDLER}", memory_size=512, max_runtime_ms=int(timeout_seconds * 1000)
    )
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(app.handler_map[HANDLER](event, context)), daemon=True
    )
    worker.start()
    worker.join(timeout_seconds)
    if worker.is_alive():
        return Invocation(
            finished=False,
            failed_ids=[m["MessageId"] for m in messages],
            received=len(messages),
            failed_handles=[m["ReceiptHandle"] for m in messages],
        )
    failed = [f["itemIdentifier"] for f in outcome.get("batchItemFailures", [])]
    done = [m for m in messages if m["MessageId"] not in failed]
    for m in done:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    handles = [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed]
    return Invocation(finished=True, failed_ids=failed, received=len(messages), failed_handles=handles)


def _depth(stack: Stack, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _deliveries(client: Client, stack: Stack, endpoint_id: str) -> list[dict[str, Any]]:
    listing = get(client, f"/v1/channels/web/webhook-endpoints/{endpoint_id}/deliveries", stack.keys["web"])
    return list(reversed(json.loads(listing.body)["items"]))


@pytest.fixture
def visibility_changes() -> Iterator[list[int]]:
    """The VisibilityTimeout of every ChangeMessageVisibility the worker makes."""
    seen: list[int] = []

    def remember(params: dict[str, Any], **kwargs: Any) -> None:
        seen.append(int(params["VisibilityTimeout"]))

    sqs = aws_client("sqs")
    sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", remember)
    yield seen
    sqs.meta.events.unregister("provide-client-params.sqs.ChangeMessageVisibility", remember)


def test_a_never_answering_endpoint_delays_no_other_endpoint_and_is_retried_on_its_schedule(
    client: Client, stack: Stack, stores: Stores, visibility_changes: list[int]
) -> None:
    sqs = stack.client("sqs")
    queue_url, dlq_url = _queue_urls(stack)
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(_order_placed()))
    fan_out = invoke_like_lambda(stack, timeout_seconds=4)
    assert (fan_out.finished, fan_out.failed_ids) == (True, [])

    # One delivery job per endpoint; Lambda gives the function 4 s.
    first = invoke_like_lambda(stack, timeout_seconds=4)
    assert first.received == 3
    assert first.finished, "the batch ran past its Lambda timeout"
    assert [len(s.requests) for s in stores.answering] == [1, 1]  # delivered, once
    assert stores.silent.connections == 1
    assert len(first.failed_ids) == 1  # exactly the silent endpoint's delivery, nothing else
    assert visibility_changes == [retry_delay(1)]

    by_name = {name: _deliveries(client, stack, eid) for eid, name in stores.names.items()}
    assert [(d["attempt"], d["outcome"]) for d in by_name["answering-0"]] == [(1, "delivered")]
    assert [(d["attempt"], d["outcome"]) for d in by_name["answering-1"]] == [(1, "delivered")]
    [silent_attempt] = by_name["silent"]
    assert (silent_attempt["attempt"], silent_attempt["outcome"]) == (1, "failed")
    assert silent_attempt["error"].startswith("no answer before the deadline")

    # The silent endpoint's delivery waits for its next slot; the others are gone from the queue.
    assert _depth(stack, queue_url) == (0, 1)
    assert _depth(stack, dlq_url) == (0, 0)

    # Its delay over (brought forward here), it is attempt 2, and the next delay is the schedule's second.
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=first.failed_handles[0], VisibilityTimeout=0
    )
    second = invoke_like_lambda(stack, timeout_seconds=4)
    assert (second.received, second.finished, second.failed_ids) == (1, True, first.failed_ids)
    assert visibility_changes == [retry_delay(1), retry_delay(2)]
    assert [len(s.requests) for s in stores.answering] == [1, 1]  # nobody else was sent anything again
    silent_id = next(eid for eid, name in stores.names.items() if name == "silent")
    assert [(d["attempt"], d["outcome"]) for d in _deliveries(client, stack, silent_id)] == [
        (1, "failed"),
        (2, "failed"),
    ]
    assert _depth(stack, dlq_url) == (0, 0)


def test_deliveries_without_time_left_to_send_are_put_back_without_being_charged_an_attempt(
    client: Client, stack: Stack, stores: Stores
) -> None:
    sqs = stack.client("sqs")
    queue_url, dlq_url = _queue_urls(stack)
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(_order_placed()))
    assert invoke_like_lambda(stack, timeout_seconds=4).failed_ids == []

    # 3 s left is less than the time kept for recording plus the shortest send: nothing is sent.
    short = invoke_like_lambda(stack, timeout_seconds=3)
    assert (short.received, short.finished, short.failed_ids) == (3, True, [])
    assert [len(s.requests) for s in stores.answering] == [0, 0]
    assert stores.silent.connections == 0
    assert all(_deliveries(client, stack, eid) == [] for eid in stores.names)

    # The jobs came back as new messages and are sent on the next invocation as attempt 1.
    again = invoke_like_lambda(stack, timeout_seconds=4)
    assert (again.received, again.finished, len(again.failed_ids)) == (3, True, 1)
    assert [len(s.requests) for s in stores.answering] == [1, 1]
    attempts = {
        stores.names[eid]: [d["attempt"] for d in _deliveries(client, stack, eid)] for eid in stores.names
    }
    assert attempts == {"silent": [1], "answering-0": [1], "answering-1": [1]}
    assert _depth(stack, dlq_url) == (0, 0)
