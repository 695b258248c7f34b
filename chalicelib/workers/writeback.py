"""Write-back worker: order events -> the stores' own APIs (``chalicelib.service.writeback``).

One message per invocation (batch size 1: a message may make several store calls). What becomes
of the message:

* written, skipped or parked: acknowledged (a parked order waits in the table, not in the queue);
* the store (or another run holding the order) asks to try again in N seconds: the message is
  **sent again** as a new message delayed by N seconds (SQS delays by 15 minutes at most; a longer
  wait carries ``not_before`` and is delayed again on arrival), with a re-send counter in its body,
  and the received one is acknowledged (a message retried again and again waits longer each time:
  ``service.writeback.backoff_seconds``). So a throttled store never moves a message towards the
  dead-letter queue, whose ``maxReceiveCount`` counts only receives that failed with an error.
  After ``MAX_RESENDS`` re-sends (days of waiting) the message fails like an error instead;
* an error (DynamoDB, a bug): the record is reported failed (``batchItemFailures``) and SQS
  delivers it again after the visibility timeout; after 5 receives it moves to the DLQ, whose
  alarm tells operations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.service.writeback import handle_message
from chalicelib.workers.sqs import report_failure

logger = Logger(service="oms", child=True)

HANDLER = "writeback_worker"
#: The function's timeout (.chalice/config.json), when no Lambda context tells the time left.
DEFAULT_TIMEOUT_SECONDS = 60.0


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
    result = handle_message(services().writeback_context(), record.body, time_left=time_left)
    logger.info(
        "write-back",
        extra={"status": result.status, "reason": result.reason, "requests": len(result.sent)},
    )
