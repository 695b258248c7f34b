"""Shared plumbing for queue workers: partial batch failures and event envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.domain.events import DomainEvent

logger = Logger(service="oms", child=True)


def domain_event_of(record: SQSRecord) -> DomainEvent:
    """The domain event inside an EventBridge-to-SQS message (the envelope's ``detail``)."""
    envelope = json.loads(record.body)
    return DomainEvent.model_validate(envelope.get("detail", envelope))


def process_batch(event: SQSEvent, handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Run ``handle`` per record; failed records alone go back to the queue (batchItemFailures).

    ``raise_on_entire_batch_failure=False``: even when every record fails we
    answer with the list, so Lambda and the local pump treat them the same way.
    """
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def guarded(record: SQSRecord) -> None:
        try:
            handle(record)
        except Exception:
            order_id = _order_id(record)
            logger.exception("record failed", extra={"message_id": record.message_id, "order_id": order_id})
            raise

    return process_partial_response(
        event=event.to_dict(), record_handler=guarded, processor=processor, context=event.context
    )


def _order_id(record: SQSRecord) -> str | None:
    try:
        envelope = json.loads(record.body)
        detail = envelope.get("detail", envelope)
        return str(detail.get("order_id")) if isinstance(detail, dict) else None
    except (ValueError, AttributeError):
        return None
