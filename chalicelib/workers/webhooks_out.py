"""Webhooks-out worker: order events -> signed POSTs to each subscribed store endpoint.

Two kinds of message share the queue. An order event from the bus is fanned
out into one delivery job per subscribed endpoint (sent back to this queue),
so each endpoint is retried on its own. A delivery job POSTs once; when the
store does not answer 2xx, the worker hides the message for the next delay of
the retry schedule (about a day in all) and reports it failed, so SQS
redelivers it then, and moves it to the DLQ after the last attempt. The
``webhook-id`` is the same on every attempt.

**Endpoints are isolated from each other.** One endpoint that never answers
must not time the whole batch out: then Lambda would return every message of
the batch to the queue, re-send the deliveries that had succeeded, skip the
retry schedule, and, receive after receive, push other stores' deliveries into
the DLQ. So a batch is handled in three steps: read what to send (endpoints,
secrets) one record after the other; POST all of the batch's deliveries at
once, from a bounded thread pool, each with one deadline well inside the
function's remaining time (:data:`SEND_SECONDS`, and :data:`RESERVE_SECONDS`
left for the last step); then record every outcome and schedule the retries.
Only the HTTP calls run on the pool threads; DynamoDB and SQS are called
from the handler's own thread.

When too little time is left to send at all, the delivery jobs not sent are
put back on the queue as new messages that carry the number of attempts made
so far (``attempts_made``), and the received ones are acknowledged: a job that
was not sent is not charged an attempt, so it neither moves along the retry
schedule nor gets closer to the DLQ.

The answer lists exactly the records that failed (``batchItemFailures``): a
delivery to retry later, or a record whose handling raised.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.outbound import retry_delay
from chalicelib.service.channels import (
    Delivered,
    DeliveryJob,
    PreparedDelivery,
    SendOutcome,
    jobs_for,
    prepare_delivery,
    record_outcome,
)
from chalicelib.service.ports import WebhookTransport
from chalicelib.workers.sqs import domain_event_of, report_failure

logger = Logger(service="oms", child=True)

HANDLER = "webhooks_out_worker"
#: Concurrent POSTs; the queue's batch size is 10, so a batch's sends all start at once.
SEND_THREADS = 10
#: The longest one POST may take (connect, TLS, request, answer), when the function has time.
SEND_SECONDS = 5.0
#: Time kept after the sends for recording outcomes and scheduling retries.
RESERVE_SECONDS = 3.0
#: Below this much sending time, nothing is sent: the jobs are put back on the queue.
MIN_SEND_SECONDS = 0.5
#: Remaining time assumed without a Lambda context (the function's configured timeout).
DEFAULT_REMAINING_SECONDS = 10.0


@dataclass(frozen=True)
class _Pending:
    record: SQSRecord
    job: dict[str, Any]
    prepared: PreparedDelivery
    attempts_made: int
    attempt: int


def _job_message(job: dict[str, Any], attempts_made: int = 0) -> str:
    body: dict[str, Any] = {"delivery": job}
    if attempts_made:
        body["delivery"] = {**job, "attempts_made": attempts_made}
    return json.dumps(body)


def _fan_out(event: DomainEvent) -> None:
    services().webhook_queue().send(
        [
            _job_message(
                {
                    "channel_id": job.channel_id,
                    "endpoint_id": job.endpoint_id,
                    "event": job.event.model_dump(mode="json"),
                }
            )
            for job in jobs_for(services().channels, event)
        ]
    )


def _remaining_seconds(context: Any) -> float:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if callable(remaining_ms) else DEFAULT_REMAINING_SECONDS


def _send(transport: WebhookTransport, prepared: PreparedDelivery, deadline: float) -> SendOutcome:
    """One POST, on a pool thread. Never raises: a delivery that cannot even be signed (say, a
    malformed secret) is a failed attempt like any other, not the end of the whole batch."""
    try:
        result = transport.post_signed(
            prepared.url,
            secret=prepared.secret,
            webhook_id=prepared.message_id,
            body=prepared.body,
            deadline=deadline,
        )
    except Exception as exc:
        logger.exception("could not send a webhook", extra={"endpoint_id": prepared.endpoint.id})
        return SendOutcome(status_code=None, error=f"could not send: {type(exc).__name__}", duration_ms=0)
    return SendOutcome(status_code=result.status_code, error=result.error, duration_ms=result.duration_ms)


def _prepare(record: SQSRecord, job: dict[str, Any]) -> _Pending | None:
    svc = services()
    prepared = prepare_delivery(
        svc.channels,
        svc.secrets,
        DeliveryJob(
            channel_id=job["channel_id"],
            endpoint_id=job["endpoint_id"],
            event=DomainEvent.model_validate(job["event"]),
        ),
    )
    if prepared is None:
        return None
    attempts_made = int(job.get("attempts_made", 0))
    received = int(record.attributes.approximate_receive_count or 1)
    return _Pending(record, job, prepared, attempts_made, attempt=attempts_made + received)


def _send_all(pending: list[_Pending], deadline: float) -> list[SendOutcome]:
    transport = services().webhook_transport
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(pending))) as pool:
        # Every send ends by the deadline (the sender cuts its socket then), so this waits no longer.
        return list(pool.map(lambda p: _send(transport, p.prepared, deadline), pending))


def _put_back_unsent(pending: list[_Pending]) -> None:
    """Queue the jobs again as new messages, with the attempts made so far; no attempt is charged."""
    services().webhook_queue().send(
        [
            _job_message(p.job, attempts_made=p.attempt - 1)  # this receive made no attempt
            for p in pending
        ]
    )


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    started = time.monotonic()
    send_seconds = min(SEND_SECONDS, _remaining_seconds(event.context) - RESERVE_SECONDS)
    records = [SQSRecord(raw) for raw in event.to_dict().get("Records", [])]
    failed: list[str] = []
    pending: list[_Pending] = []
    sending: set[str] = set()

    # 1. Read what to send; fan order events out into delivery jobs.
    for record in records:
        try:
            body = json.loads(record.body)
            if isinstance(body, dict) and "delivery" in body:
                ready = _prepare(record, body["delivery"])
                # A job twice in one batch (its event fanned out twice) is sent once: the copy is
                # acknowledged, and the first stays on the queue if it has to be retried.
                if ready is not None and ready.prepared.message_id not in sending:
                    sending.add(ready.prepared.message_id)
                    pending.append(ready)
            else:
                _fan_out(domain_event_of(record))
        except Exception as exc:
            report_failure(record, exc, handler=HANDLER)
            failed.append(record.message_id)
    if not pending:
        return _answer(failed)

    # 2. Send side by side, all by one deadline; or, without the time for it, put the jobs back.
    deadline = started + send_seconds
    if deadline - time.monotonic() < MIN_SEND_SECONDS:
        try:
            _put_back_unsent(pending)
        except Exception as exc:
            for p in pending:  # SQS brings them back after the visibility timeout instead
                report_failure(p.record, exc, handler=HANDLER)
                failed.append(p.record.message_id)
        return _answer(failed)
    outcomes = _send_all(pending, deadline)

    # 3. Record every outcome; a delivery to retry waits for its slot of the schedule.
    svc = services()
    for p, outcome in zip(pending, outcomes, strict=True):
        try:
            result = record_outcome(svc.channels, p.prepared, outcome, attempt=p.attempt, clock=svc.clock)
            if result == Delivered.RETRY:
                svc.webhook_queue().retry_later(p.record.receipt_handle, retry_delay(p.attempt))
                failed.append(p.record.message_id)
        except Exception as exc:
            report_failure(p.record, exc, handler=HANDLER)
            failed.append(p.record.message_id)
    return _answer(failed)


def _answer(failed: list[str]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
