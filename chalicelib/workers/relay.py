"""Outbox relay: new ``EVENT#`` items on the table stream go to the EventBridge bus, as recorded.

Stream batches are ordered. If EventBridge refuses an entry, the relay reports
that record's sequence number as the batch item failure: Lambda checkpoints
everything before it and retries from it, so order is kept and nothing is
lost. Records already relayed may be relayed again in that retry; every
consumer deduplicates on the event id, which makes that harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import DynamoDBEvent

from chalicelib.adapters import keys as k
from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb import deserialize, event_from_item
from chalicelib.adapters.eventbus import EventBusPublisher
from chalicelib.config import settings
from chalicelib.domain.events import DomainEvent

logger = Logger(service="oms", child=True)


def outbox_events(records: list[dict[str, Any]]) -> list[tuple[str, DomainEvent]]:
    """(sequence number, event) of each stream record that inserted an event item."""
    found = []
    for record in records:
        ddb = record.get("dynamodb", {})
        image = ddb.get("NewImage")
        if record.get("eventName") != "INSERT" or not image:
            continue
        item = deserialize(image)
        if item.get("entity") == k.ENTITY_EVENT and str(item.get("sk", "")).startswith(k.EVENT_PREFIX):
            found.append((ddb["SequenceNumber"], event_from_item(item)))
    return found


def handle_stream_batch(event: DynamoDBEvent) -> dict[str, Any]:
    records = event.to_dict().get("Records", [])
    pending = outbox_events(records)
    if not pending:
        return {"batchItemFailures": []}
    publisher = EventBusPublisher(client("events"), settings().event_bus_name)
    accepted = publisher.publish([evt for _, evt in pending])
    for (sequence, evt), ok in zip(pending, accepted, strict=True):
        if not ok:
            logger.warning(
                "event bus refused an event; retrying from it",
                extra={"order_id": evt.order_id, "event_id": evt.id, "event_type": evt.type},
            )
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    return {"batchItemFailures": []}
