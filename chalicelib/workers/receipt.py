"""Receipt worker: ``order.placed`` events -> hold rules, confirmation or backorder acknowledgement."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.events import EventType
from chalicelib.service.receipt import receive_order
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "receipt_worker"


def _handle(record: SQSRecord) -> None:
    event = domain_event_of(record)
    if event.type != EventType.ORDER_PLACED:
        return  # the bus rule routes only order.placed here; anything else is not ours
    svc = services()
    receive_order(svc.uow_factory, event, policy=svc.hold_policy, ids=svc.ids, clock=svc.clock)


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
