"""Intake worker: ``channel.order_received`` events -> store orders placed, updated or cancelled."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.events import EventType
from chalicelib.service.intake import process_store_order
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "intake_worker"


def _handle(record: SQSRecord) -> None:
    event = domain_event_of(record)
    if event.type != EventType.CHANNEL_ORDER_RECEIVED:
        return
    svc = services()
    process_store_order(svc.uow_factory, event, policy=svc.hold_policy, ids=svc.ids, clock=svc.clock)


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
