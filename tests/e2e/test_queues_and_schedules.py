"""Lambda's queue and schedule semantics, as the event pump gives them to the running stack.

Messages are put on the receipt queue directly (boto3 against the stack's moto), as a misbehaving
producer or a hand-made redelivery would; everything about orders is read over HTTP. Each test
recognises its own messages by id, so the tests may share the stack and its DLQs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.e2e.conftest import CLOCK_SPEED, RunningStack, order_body, wait_for
from tools import Target
from tools.dlq import DeadLetter, list_dead_letters

MAX_RECEIVE_COUNT = 5  # infra/template.yaml, the receipt queue's RedrivePolicy
DLQ_TIMEOUT = 10.0  # five deliveries 0.2 s apart, plus the pump's polling


def _poison_body(tag: str) -> str:
    # An EventBridge envelope whose detail is no domain event: the receipt worker cannot parse it.
    return json.dumps(
        {"version": "0", "detail-type": "order.placed", "source": "oms", "detail": {"tag": tag}}
    )


def _dead_letters(stack: RunningStack) -> dict[str, DeadLetter]:
    """The receipt DLQ by message id, read as ``tools.dlq list`` reads it (in-process: it is polled)."""
    target = Target("local", stack.config["aws_endpoint_url"], stack.config["region"], local=True)
    return {letter.message_id: letter for letter in list_dead_letters(target, ["receipt"])}


def _in_dlq(stack: RunningStack, message_ids: set[str]) -> bool:
    return message_ids <= set(_dead_letters(stack))


def test_a_poison_message_ends_in_the_dlq_with_its_error_and_is_redriven(local_stack: RunningStack) -> None:
    stack = local_stack
    sqs = stack.client("sqs")
    tag = uuid.uuid4().hex
    message_id = sqs.send_message(QueueUrl=stack.queue_url("receipt"), MessageBody=_poison_body(tag))[
        "MessageId"
    ]

    wait_for(
        "the poison message in the DLQ",
        lambda: _in_dlq(stack, {message_id}),
        timeout=DLQ_TIMEOUT,
        interval=0.3,
    )

    letter = _dead_letters(stack)[message_id]
    assert letter.receive_count == MAX_RECEIVE_COUNT
    assert letter.handler == "receipt_worker"
    assert letter.error is not None and letter.error.startswith("ValidationError"), letter.error
    assert tag in letter.body
    # What an operator sees: the message, its delivery count and the worker's error.
    listed = stack.tool("tools.dlq", "list", "--queue", "receipt")
    assert listed.returncode == 0, listed.stderr
    block = listed.stdout.split(f"message  {message_id}", 1)[1].split("  message  ", 1)[0]
    assert f"receives  {MAX_RECEIVE_COUNT}" in block and "error     ValidationError" in block

    redriven = stack.tool("tools.dlq", "redrive", "--queue", "receipt", "--message-id", message_id)
    assert redriven.returncode == 0, redriven.stderr
    line = next(
        line for line in redriven.stdout.splitlines() if line.startswith(f"redriven receipt {message_id}")
    )
    new_id = line.rsplit(" ", 1)[1]
    assert new_id != message_id
    assert message_id not in set(_dead_letters(stack)), "the redriven message left the DLQ"

    # Attempted again: the worker fails it five more times and SQS dead-letters it once more.
    wait_for(
        "the redriven message back in the DLQ",
        lambda: _in_dlq(stack, {new_id}),
        timeout=DLQ_TIMEOUT,
        interval=0.3,
    )
    again = _dead_letters(stack)[new_id]
    assert again.receive_count == MAX_RECEIVE_COUNT and tag in again.body


def _confirmed_order(stack: RunningStack) -> dict[str, Any]:
    key = stack.channel_key("web")
    external_id = f"WEB-{uuid.uuid4().hex[:8]}"
    response = stack.post("/v1/orders", order_body(external_id, "grace@example.com"), key)
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]

    def confirmed() -> dict[str, Any] | None:
        order: dict[str, Any] = stack.get(f"/v1/orders/{order_id}", key).json()
        return order if order["status"] == "confirmed" else None

    result: dict[str, Any] = wait_for(f"order {order_id} confirmed", confirmed, timeout=10)
    return result


def _timeline(stack: RunningStack, order_id: str) -> list[dict[str, Any]]:
    response = stack.get(f"/v1/orders/{order_id}/events", stack.config["keys"]["admin"])
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _receipt_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] != "notification.sent"]


def test_one_failing_record_of_a_batch_alone_returns_to_the_queue(local_stack: RunningStack) -> None:
    """A redelivered ``order.placed`` and a poison message arrive in one batch: the good one is
    done after one delivery (a duplicate, so it changes nothing), only the poison one is retried
    until it is dead-lettered. Had the whole batch failed, the good one would have been retried
    along with it and dead-lettered too."""
    stack = local_stack
    order = _confirmed_order(stack)
    events = _timeline(stack, order["id"])
    placed = next(e for e in events if e["type"] == "order.placed")
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "order.placed",
        "source": "oms",
        "account": "123456789012",
        "time": placed["occurred_at"],
        "region": stack.config["region"],
        "resources": [],
        "detail": placed,
    }
    mark = stack.mark()
    sent = stack.client("sqs").send_message_batch(
        QueueUrl=stack.queue_url("receipt"),
        Entries=[
            {"Id": "good", "MessageBody": json.dumps(envelope)},
            {"Id": "bad", "MessageBody": _poison_body(uuid.uuid4().hex)},
        ],
    )
    ids = {entry["Id"]: entry["MessageId"] for entry in sent["Successful"]}
    assert set(ids) == {"good", "bad"}, sent.get("Failed")

    wait_for(
        "the poison message in the DLQ",
        lambda: _in_dlq(stack, {ids["bad"]}),
        timeout=DLQ_TIMEOUT,
        interval=0.3,
    )

    assert ids["good"] not in set(_dead_letters(stack))
    queue_attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url("receipt"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert queue_attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    # The pump saw the handler report exactly one failure in the two-record batch.
    output = "\n".join(stack.lines_since(mark))
    assert "handler receipt_worker reported 1 failed message(s) for retry" in output
    assert "handler receipt_worker reported 2 failed message(s)" not in output
    # The duplicate event was recognised: no second receipt in the timeline (the notify worker
    # may still be adding its notification.sent events, which run on their own).
    assert _receipt_events(_timeline(stack, order["id"])) == _receipt_events(events)
    assert stack.get(f"/v1/orders/{order['id']}", stack.channel_key("web")).json()["status"] == "confirmed"


def test_the_stuck_order_sweeper_fires_on_the_fast_clock(local_stack: RunningStack) -> None:
    """``rate(5 minutes)`` at 300 times real time fires every second: twice within a few seconds.

    The sweeper only alerts about orders older than 15 minutes of *real* time (their created_at),
    which no test can wait for; its own log line after every sweep shows it ran.
    """
    seconds_per_firing = 5 * 60 / CLOCK_SPEED
    mark = local_stack.mark()

    def sweeps() -> int:
        return sum("stuck order sweep done" in line for line in local_stack.lines_since(mark))

    # At real speed the first firing would be five minutes away.
    wait_for("two sweeps", lambda: sweeps() >= 2, timeout=3 * seconds_per_firing + 1)
