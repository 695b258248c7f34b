"""SQS event source mappings: receive, batch, deliver, delete, and hide what failed.

Batches of up to ``batch_size`` honour the batching window, events have Lambda's exact shape
with the real SQS ``MessageId``, and a ``ReportBatchItemFailures`` result deletes all but the
failed messages. Those stay invisible for the queue's visibility timeout (or the pump's
``visibility_timeout_override``), and the queue's own RedrivePolicy moves a poison message to
its DLQ after ``maxReceiveCount`` receives (moto does this on receive, like SQS).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from chalice.app import SQSEventConfig

from infra.local.pump.invoker import Invoker
from infra.local.pump.shapes import (
    AwsClient,
    JsonDict,
    lambda_message_attribute,
    order_id_of_sqs_record,
    order_suffix,
    present,
)

logger = logging.getLogger("oms.pump")

_SQS_RECEIVE_MAX = 10  # SQS hands out at most 10 messages per ReceiveMessage
_SQS_DELETE_MAX = 10  # and deletes at most 10 per DeleteMessageBatch
SQS_VISIBILITY_MAX = 43200  # 12 hours, SQS's ceiling
_VISIBLE_AGAIN_MARGIN = 0.05  # seconds past a visibility timeout before looking for the message
_BACKLOG_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass
class SqsSource:
    name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    window: float
    # Received but not yet delivered messages, by MessageId (a message seen
    # again while the window is open replaces its older receipt handle).
    pending: dict[str, JsonDict] = field(default_factory=dict)
    window_closes_at: float | None = None
    # The queue's VisibilityTimeout, and when a message that failed here shows up again
    # (nothing signals that moment: the pump looks then).
    visibility_timeout: float = 30.0
    look_again_at: list[float] = field(default_factory=list)


@dataclass
class _HeldMessage:
    """A failed message the pump will make visible again after a sub-second override."""

    queue_url: str
    receipt_handle: str
    release_at: float


class QueueDelivery:
    """Every queue the pump drives, with the failed messages it holds back for a sub-second override."""

    def __init__(self, sqs_client: AwsClient, invoker: Invoker, visibility_override: float | None) -> None:
        self._sqs = sqs_client
        self._invoker = invoker
        self._visibility_override = visibility_override
        self.queues: list[SqsSource] = []
        self._held: list[_HeldMessage] = []

    def add(self, source: SQSEventConfig, override: str | None) -> None:
        """Resolve a handler's queue (``override`` names another queue) and drive it from now on."""
        if override:
            url = self._sqs.get_queue_url(QueueName=override)["QueueUrl"]
        elif source.queue:
            url = self._sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        else:
            # arn:aws:sqs:<region>:<account>:<name>
            assert source.queue_arn is not None  # Chalice insists on one of queue / queue_arn
            parts = source.queue_arn.split(":")
            url = self._sqs.get_queue_url(QueueName=parts[-1], QueueOwnerAWSAccountId=parts[-2])["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        logger.info("pumping queue %s to handler %s (batch size %d)", url, source.name, source.batch_size)
        self.queues.append(
            SqsSource(
                name=source.name,
                queue_url=url,
                queue_arn=attributes["QueueArn"],
                batch_size=source.batch_size,
                window=float(source.maximum_batching_window_in_seconds or 0),
                visibility_timeout=float(attributes.get("VisibilityTimeout", 30)),
            )
        )

    # -- what the pump asks between passes ------------------------------------------------------

    def start_pass(self) -> None:
        """Release held messages now due; forget the moments to look again that this pass covers."""
        self._release_held_messages()
        now = time.monotonic()
        for queue in self.queues:
            queue.look_again_at = [at for at in queue.look_again_at if at > now]  # this pass looks

    def due_times(self) -> list[float]:
        """Moments (``time.monotonic``) at which a pass has work here that no write will signal."""
        due = [held.release_at for held in self._held]
        for queue in self.queues:
            if queue.pending and queue.window_closes_at is not None:
                due.append(queue.window_closes_at)
            due.extend(queue.look_again_at)
        return due

    def holds_anything(self) -> bool:
        """Messages received but not delivered yet, or held back: work the queues' counts miss."""
        return bool(self._held) or any(queue.pending for queue in self.queues)

    def counts(self, queue: SqsSource) -> dict[str, int]:
        names = list(_BACKLOG_COUNTS)
        response = self._sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=names)
        attributes = response["Attributes"]
        return {name: int(attributes.get(name, 0)) for name in _BACKLOG_COUNTS}

    def describe_backlog(self) -> list[str]:
        parts: list[str] = []
        for queue in self.queues:
            counts = {k: v for k, v in self.counts(queue).items() if v}
            if counts or queue.pending:
                parts.append(f"{queue.name}: {counts}, {len(queue.pending)} in an open batching window")
        return parts

    def describe_held(self) -> list[str]:
        if not self._held:
            return []
        return [f"{len(self._held)} failed message(s) held for visibility_timeout_override"]

    # -- receiving and delivering ---------------------------------------------------------------

    def poll(self, queue: SqsSource) -> int:
        """Receive into the open batch; deliver it when full or its window closed; records delivered."""
        now = time.monotonic()
        self._receive(queue, now)
        if not queue.pending:
            return 0
        assert queue.window_closes_at is not None
        if len(queue.pending) < queue.batch_size and now < queue.window_closes_at:
            return 0
        batch = list(queue.pending.values())
        queue.pending.clear()
        queue.window_closes_at = None
        self._deliver(queue, batch)
        return len(batch)

    def _receive(self, queue: SqsSource, now: float) -> None:
        while len(queue.pending) < queue.batch_size:
            wanted = min(_SQS_RECEIVE_MAX, queue.batch_size - len(queue.pending))
            messages = self._sqs.receive_message(
                QueueUrl=queue.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                queue.pending[message["MessageId"]] = message
            if queue.pending and queue.window_closes_at is None:
                # Lambda's batching window opens with the first record it holds.
                queue.window_closes_at = now + queue.window
            if len(messages) < wanted:
                return

    def _deliver(self, queue: SqsSource, batch: list[JsonDict]) -> None:
        records = [self._sqs_record(queue, message) for message in batch]
        order_ids = [order_id_of_sqs_record(record) for record in records]
        outcome = self._invoker.invoke(queue.name, {"Records": records}, order_ids)
        ids = [record["messageId"] for record in records]
        if outcome.raised:
            failed = set(ids)
        else:
            failed = {ids[i] for i in self._invoker.failed_positions(queue.name, outcome.result, ids)}
        done = [m for m in batch if m["MessageId"] not in failed]
        self._delete_messages(queue, done)
        retried = [m for m in batch if m["MessageId"] in failed]
        if retried and not outcome.raised:
            failed_orders = [o for o, r in zip(order_ids, records, strict=True) if r["messageId"] in failed]
            logger.warning(
                "handler %s reported %d failed message(s) for retry%s",
                queue.name,
                len(retried),
                order_suffix(failed_orders),
                extra={"handler": queue.name, "order_ids": present(failed_orders)},
            )
        self._apply_visibility_override(queue, retried)
        self._invoker.deliver_duplicates(queue.name, records, order_id_of_sqs_record)

    def _sqs_record(self, queue: SqsSource, message: JsonDict) -> JsonDict:
        record: JsonDict = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(
            md5OfBody=message["MD5OfBody"],
            eventSource="aws:sqs",
            eventSourceARN=queue.queue_arn,
            awsRegion=self._invoker.region,
        )
        return record

    def _delete_messages(self, queue: SqsSource, messages: Sequence[JsonDict]) -> None:
        for start in range(0, len(messages), _SQS_DELETE_MAX):
            chunk = messages[start : start + _SQS_DELETE_MAX]
            response = self._sqs.delete_message_batch(
                QueueUrl=queue.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                # Usually a receipt handle gone stale because the handler outran the
                # visibility timeout: the message will be delivered again.
                logger.warning(
                    "could not delete a message of handler %s: %s",
                    queue.name,
                    failure.get("Message", failure.get("Code")),
                    extra={"handler": queue.name},
                )

    # -- failed messages: hidden, then visible again (the queue's redrive policy counts them) ---

    def _apply_visibility_override(self, queue: SqsSource, messages: Sequence[JsonDict]) -> None:
        if messages:
            self._look_again_when_visible(queue)
        if self._visibility_override is None or not messages:
            return
        # ChangeMessageVisibility takes whole seconds: hide for the rounded-up time
        # and let _release_held_messages reveal the message at the exact moment.
        whole_seconds = math.ceil(self._visibility_override)
        release_at = time.monotonic() + self._visibility_override
        for message in messages:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=queue.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=whole_seconds,
                )
            except ClientError:
                logger.warning("could not change the visibility of a message of handler %s", queue.name)
                continue
            if whole_seconds > self._visibility_override:
                self._held.append(_HeldMessage(queue.queue_url, message["ReceiptHandle"], release_at))

    def _look_again_when_visible(self, queue: SqsSource) -> None:
        """Failed messages come back when their visibility timeout ends: a moment no write
        signals, so the background thread wakes for it."""
        hidden = math.ceil(self._visibility_override) if self._visibility_override is not None else None
        seconds = queue.visibility_timeout if hidden is None else hidden
        queue.look_again_at.append(time.monotonic() + seconds + _VISIBLE_AGAIN_MARGIN)

    def _release_held_messages(self) -> None:
        now = time.monotonic()
        due = [held for held in self._held if held.release_at <= now]
        self._held = [held for held in self._held if held.release_at > now]
        for held in due:
            # Already back in the queue, moved to the DLQ or deleted: nothing to release.
            with contextlib.suppress(ClientError):
                self._sqs.change_message_visibility(
                    QueueUrl=held.queue_url, ReceiptHandle=held.receipt_handle, VisibilityTimeout=0
                )
