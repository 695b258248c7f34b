"""Shared plumbing for queue workers: partial batch failures, failure records, event envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.events import DomainEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="oms", child=True)


def domain_event_of(record: SQSRecord) -> DomainEvent:
    """The domain event inside an EventBridge-to-SQS message (the envelope's ``detail``)."""
    envelope = json.loads(record.body)
    return DomainEvent.model_validate(envelope.get("detail", envelope))


def process_batch(event: SQSEvent, handle: Callable[[SQSRecord], None], *, handler: str) -> dict[str, Any]:
    """Run ``handle`` per record; failed records alone go back to the queue (batchItemFailures).

    ``raise_on_entire_batch_failure=False``: even when every record fails we
    answer with the list, so Lambda and the local pump treat them the same way.
    """
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def guarded(record: SQSRecord) -> None:
        try:
            handle(record)
        except Exception as exc:
            report_failure(record, exc, handler=handler)
            raise

    # Chalice types an event's ``context`` as a dict; it holds the Lambda context object itself.
    lambda_context = cast("LambdaContext | None", event.context)
    response = process_partial_response(
        event=event.to_dict(), record_handler=guarded, processor=processor, context=lambda_context
    )
    return {"batchItemFailures": response["batchItemFailures"]}


def report_failure(record: SQSRecord, exc: Exception, *, handler: str) -> None:
    """Log a record's failure (call it inside the ``except``) and keep a failure record of it."""
    order_id = _order_id(record)
    # No message body in the log: it may carry personal data (names, addresses).
    logger.exception(
        "record failed", extra={"handler": handler, "message_id": record.message_id, "order_id": order_id}
    )
    _record_failure(record, handler, exc, order_id)


def _record_failure(record: SQSRecord, handler: str, exc: Exception, order_id: str | None) -> None:
    try:
        receive_count = int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        receive_count = None
    try:
        services().failures.record(
            record.message_id,
            handler=handler,
            error=f"{type(exc).__name__}: {exc}",
            order_id=order_id,
            receive_count=receive_count,
        )
    except Exception:  # the failure record is a diagnostic aid; never let it mask the real error
        logger.exception("could not record the failure", extra={"message_id": record.message_id})


def _order_id(record: SQSRecord) -> str | None:
    try:
        envelope = json.loads(record.body)
        detail = envelope.get("detail", envelope)
        return str(detail.get("order_id")) if isinstance(detail, dict) else None
    except (ValueError, AttributeError):
        return None
