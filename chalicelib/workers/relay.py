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

from chalicelib.bootstrap import services

logger = Logger(service="oms", child=True)


def handle_stream_batch(event: DynamoDBEvent) -> dict[str, Any]:
    records = event.to_dict().get("Records", [])
    svc = services()
    pending = svc.outbox.new_events(records)
    if not pending:
        return {"batchItemFailures": []}
    accepted = svc.event_publisher().publish([evt for _, evt in pending])
    for (sequence, evt), ok in zip(pending, accepted, strict=True):
        if not ok:
            logger.warning(
                "event bus refused an event; retrying from it",
                extra={"order_id": evt.order_id, "event_id": evt.id, "event_type": evt.type},
            )
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    return {"batchItemFailures": []}
