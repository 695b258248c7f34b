"""Tracking worker: ``tracking.received`` events -> the fulfillment's tracking state and the order's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.events import EventType
from chalicelib.service.delivery import apply_tracking
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "tracking_worker"


def _handle(record: SQSRecord) -> None:
    event = domain_event_of(record)
    if event.type != EventType.TRACKING_RECEIVED:
        return  # the bus rule routes only tracking.received here
    svc = services()
    apply_tracking(svc.uow_factory, event, ids=svc.ids, clock=svc.clock)


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
