"""Webhooks-out worker: order events -> signed POSTs to each subscribed store endpoint.

Two kinds of message share the queue. An order event from the bus is fanned
out into one delivery job per subscribed endpoint (sent back to this queue),
so each endpoint is retried on its own. A delivery job POSTs once; when the
store does not answer 2xx, the worker hides the message for the next delay of
the retry schedule (about a day in all) and reports it failed, so SQS
redelivers it then, and moves it to the DLQ after the last attempt. The
``webhook-id`` is the same on every attempt.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.adapters.aws import client
from chalicelib.adapters.http_sender import post_signed
from chalicelib.bootstrap import services
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.outbound import retry_delay
from chalicelib.service.channels import Delivered, DeliveryJob, SendOutcome, deliver, jobs_for
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "webhooks_out_worker"
#: SendMessageBatch takes at most ten entries.
BATCH = 10


class RetryLater(Exception):
    """The store did not take the delivery; SQS brings it back after the scheduled delay."""


def _send(url: str, secret: str, message_id: str, body: str) -> SendOutcome:
    result = post_signed(
        url,
        secret=secret,
        webhook_id=message_id,
        body=body,
        allow_loopback=services().settings.allow_loopback_webhooks,
    )
    return SendOutcome(status_code=result.status_code, error=result.error, duration_ms=result.duration_ms)


def _queue_url() -> str:
    return str(client("sqs").get_queue_url(QueueName=services().settings.webhooks_queue)["QueueUrl"])


def _fan_out(event: DomainEvent) -> None:
    jobs = jobs_for(services().channels, event)
    entries = [
        {
            "Id": str(n),
            "MessageBody": json.dumps(
                {
                    "delivery": {
                        "channel_id": job.channel_id,
                        "endpoint_id": job.endpoint_id,
                        "event": job.event.model_dump(mode="json"),
                    }
                }
            ),
        }
        for n, job in enumerate(jobs)
    ]
    for start in range(0, len(entries), BATCH):
        response = client("sqs").send_message_batch(
            QueueUrl=_queue_url(), Entries=entries[start : start + BATCH]
        )
        if response.get("Failed"):
            raise RuntimeError(f"could not queue {len(response['Failed'])} webhook deliveries")


def _deliver(record: SQSRecord, job: dict[str, Any]) -> None:
    svc = services()
    attempt = int(record.attributes.approximate_receive_count or 1)
    outcome = deliver(
        svc.channels,
        svc.secrets,
        _send,
        DeliveryJob(
            channel_id=job["channel_id"],
            endpoint_id=job["endpoint_id"],
            event=DomainEvent.model_validate(job["event"]),
        ),
        attempt=attempt,
        clock=svc.clock,
    )
    if outcome == Delivered.RETRY:
        client("sqs").change_message_visibility(
            QueueUrl=_queue_url(), ReceiptHandle=record.receipt_handle, VisibilityTimeout=retry_delay(attempt)
        )
        raise RetryLater(f"endpoint {job['endpoint_id']} did not take attempt {attempt}")


def _handle(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if isinstance(body, dict) and "delivery" in body:
        _deliver(record, body["delivery"])
    else:
        _fan_out(domain_event_of(record))


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
