"""Notify worker: order events -> customer e-mail/SMS, warehouse and operations messages."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.service.notifications import notify
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "notify_worker"


def _handle(record: SQSRecord) -> None:
    notify(domain_event_of(record), services().notification_context())


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
