"""Stock-sync worker: changes of ``available`` -> coalesced stock pushes to the stores.

Three kinds of message share the queue (``chalicelib.service.stock_sync``): events from the bus
(marked, and the first of a burst sends a delayed push), push messages (``stock_push``) and
catalogue pages (``stock_catalogue``). Records are handled one after the other.

No message is failed back to the queue for what a store answers: a push the store throttles is
sent again as a new, delayed message and this one acknowledged, so a store's limits never count
towards the queue's ``maxReceiveCount`` (only a handler that raises does, and its record alone is
reported in ``batchItemFailures``). A push needs up to two store calls of at most
10 s each; when the function has less time left than that, the pushes
not yet made are put back on the queue as new messages, for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.service.stock_sync import (
    PushStatus,
    StockSyncContext,
    credentials_rejected_notice,
    parse_push,
    push_catalogue_page,
    push_sku,
    record_change,
)
from chalicelib.service.store_alerts import report_credentials_rejected
from chalicelib.workers.sqs import domain_event_of, report_failure

logger = Logger(service="oms", child=True)

HANDLER = "stock_sync_worker"
#: Time one push may need: two store calls of at most 10 s each (the store clients' request
#: timeout), and the marker writes around them.
PUSH_RESERVE_SECONDS = 22.0
#: Remaining time assumed without a Lambda context (the function's configured timeout).
DEFAULT_REMAINING_SECONDS = 60.0


def _remaining_seconds(context: Any) -> float:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if callable(remaining_ms) else DEFAULT_REMAINING_SECONDS


def _push(ctx: StockSyncContext, record: SQSRecord, body: dict[str, Any]) -> None:
    channel_id, sku, not_before = parse_push(body)
    result = push_sku(ctx, channel_id, sku, not_before=not_before)
    if result.status == PushStatus.CREDENTIALS_REJECTED:
        logger.error(credentials_rejected_notice(channel_id, result.detail), extra={"channel_id": channel_id})
        # The same alert as the orders' write-back: once per channel until its store_api changes.
        svc = services()
        report_credentials_rejected(
            svc.store_alerts(),
            svc.operations_notifier(),
            channel_id=channel_id,
            reason=result.detail,
            clock=svc.clock,
        )
    elif result.status == PushStatus.REJECTED:
        # Not retried: kept as a failure record beside the message id for the operators.
        services().failures.record(
            record.message_id,
            handler=HANDLER,
            error=f"stock push of {sku} to channel {channel_id} rejected: {result.detail}",
            order_id=None,
            receive_count=None,
        )
        logger.warning("stock push rejected", extra={"channel_id": channel_id, "sku": sku})


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    ctx = services().stock_sync_context()
    records = [SQSRecord(raw) for raw in event.to_dict().get("Records", [])]
    failed: list[str] = []
    for record in records:
        try:
            body = json.loads(record.body)
            if isinstance(body, dict) and "stock_push" in body:
                if _remaining_seconds(event.context) < PUSH_RESERVE_SECONDS:
                    # Too little time to wait for the store: the push goes back, uncharged.
                    ctx.queue.send([record.body], delay_seconds=0)
                    continue
                _push(ctx, record, body["stock_push"])
            elif isinstance(body, dict) and "stock_catalogue" in body:
                page = body["stock_catalogue"]
                push_catalogue_page(ctx, str(page["channel_id"]), page.get("after"))
            else:
                record_change(ctx, domain_event_of(record))
        except Exception as exc:
            report_failure(record, exc, handler=HANDLER)
            failed.append(record.message_id)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
