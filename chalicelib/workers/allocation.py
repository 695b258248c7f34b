"""Allocation worker: stock became available (goods received, units cancelled or edited away) ->
backorders of those SKUs are allocated first come, first served."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.edit_payloads import OrderEdited
from chalicelib.domain.event_payloads import InventoryAdjusted, OrderCancelled, payload_of
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.service.inventory import allocate_backorders
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "allocation_worker"


def stock_made_available(event: DomainEvent) -> list[tuple[str, str]]:
    """(sku, warehouse) pairs whose available stock this event increased."""
    if event.type == EventType.INVENTORY_RECEIVED and event.sku and event.warehouse_id:
        return [(event.sku, event.warehouse_id)]
    if event.type == EventType.INVENTORY_ADJUSTED and event.sku and event.warehouse_id:
        return [(event.sku, event.warehouse_id)] if event.payload(InventoryAdjusted).delta > 0 else []
    if event.type in (EventType.ORDER_CANCELLED, EventType.ORDER_LINES_CANCELLED):
        cancelled = payload_of(event)
        assert isinstance(cancelled, OrderCancelled)  # order.lines_cancelled's model is a subclass
        return [(r.sku, r.warehouse_id) for r in cancelled.stock_released]
    if event.type == EventType.ORDER_EDITED:
        return [(r.sku, r.warehouse_id) for r in event.payload(OrderEdited).stock_released]
    return []


def _handle(record: SQSRecord) -> None:
    svc = services()
    for sku, warehouse_id in stock_made_available(domain_event_of(record)):
        allocate_backorders(svc.uow_factory, sku, warehouse_id, ids=svc.ids, clock=svc.clock)


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
