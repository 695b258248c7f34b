"""Write-back worker: order events -> the stores' own APIs (``chalicelib.service.writeback``).

One message per invocation (batch size 1: a message may make several store calls). What becomes
of the message:

* written, skipped or parked: acknowledged (a parked order waits in the table, not in the queue);
* the store (or another run holding the order) asks to try again in N seconds: the message is
  **sent again** as a new message delayed by N seconds (SQS delays by 15 minutes at most; a longer
  wait carries ``not_before`` and is delayed again on arrival), with a re-send counter in its body,
  and the received one is acknowledged (a message retried again and again waits longer each time:
  ``backoff_seconds``). So a throttled store never moves a message towards the
  dead-letter queue, whose ``maxReceiveCount`` counts only receives that failed with an error.
  After :data:`MAX_RESENDS` re-sends (days of waiting) the message fails like an error instead;
* an error (DynamoDB, a bug): the record is reported failed (``batchItemFailures``) and SQS
  delivers it again after the visibility timeout; after 5 receives it moves to the DLQ, whose
  alarm tells operations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.domain.models import format_timestamp
from chalicelib.service.writeback import RunStatus, parse_message, resend_message, write_back
from chalicelib.workers.sqs import report_failure

logger = Logger(service="oms", child=True)

HANDLER = "writeback_worker"
#: SQS delays a message by at most 15 minutes.
MAX_DELAY_SECONDS = 900
#: The function's timeout (.chalice/config.json), when no Lambda context tells the time left.
DEFAULT_TIMEOUT_SECONDS = 60.0
#: Re-sends of one message before it is failed (and, after the queue's receives, dead-lettered).
MAX_RESENDS = 500


class TooManyRetries(RuntimeError):
    """The store kept asking to wait; the message now fails like an error (towards the DLQ)."""


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    failed: list[str] = []
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    started = time.monotonic()

    def time_left() -> float:
        if callable(remaining_ms):
            return float(remaining_ms()) / 1000
        return DEFAULT_TIMEOUT_SECONDS - (time.monotonic() - started)

    for raw in event.to_dict().get("Records", []):
        record = SQSRecord(raw)
        try:
            _handle(record, time_left)
        except Exception as exc:
            report_failure(record, exc, handler=HANDLER)
            failed.append(record.message_id)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _handle(record: SQSRecord, time_left: Callable[[], float]) -> None:
    svc = services()
    ctx = svc.writeback_context()
    message, resent, not_before = parse_message(record.body)
    now = svc.clock.now()
    if not_before is not None and not_before > now:
        _resend(ctx.queue, record.body, resent, (not_before - now).total_seconds(), count=False)
        return
    result = write_back(ctx, message, time_left=time_left)
    logger.info(
        "write-back",
        extra={"status": result.status, "reason": result.reason, "requests": len(result.sent)},
    )
    if result.status == RunStatus.RETRY:
        if resent >= MAX_RESENDS:
            raise TooManyRetries(f"still asked to wait after {resent} re-sends: {result.reason}")
        _resend(
            ctx.queue, record.body, resent, max(result.retry_seconds, backoff_seconds(resent)), count=True
        )


def backoff_seconds(resent: int) -> int:
    """The least wait before the next try of a message re-sent ``resent`` times already: 0 for the
    first two, then doubling up to SQS's 15 minutes. The store's own wait covers the request it
    refused; a run makes several requests (one per parcel group, milestone...), so a run that keeps
    being throttled part-way (other messages share the store's budget) waits longer each time until
    the budget holds the whole run."""
    return 0 if resent < 2 else min(2 ** (resent - 1), MAX_DELAY_SECONDS)


def _resend(queue: Any, body: str, resent: int, seconds: float, *, count: bool) -> None:
    """Send the message again after ``seconds`` (held with ``not_before`` past what SQS delays)."""
    wait = max(0, int(seconds + 0.999))
    not_before = None
    if wait > MAX_DELAY_SECONDS:
        not_before = format_timestamp(services().clock.now() + timedelta(seconds=wait))
    queue.send_later(
        resend_message(body, resent=resent + 1 if count else resent, not_before=not_before),
        delay_seconds=min(wait, MAX_DELAY_SECONDS),
    )
