"""Failure records of queue messages (shown beside dead letters)."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, serialize


class FailureLog:
    """Why a queue message failed, keyed by its SQS message id.

    SQS keeps a message's id when it moves it to the dead-letter queue but not
    the error, so workers record the last error here (best effort, 14 days)
    and the DLQ tool (``tools/dlq.py``) shows it beside each dead letter.
    """

    RETENTION_SECONDS = 14 * 24 * 3600

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def record(
        self, message_id: str, *, handler: str, error: str, order_id: str | None, receive_count: int | None
    ) -> None:
        now = int(time.time())
        item: dict[str, Any] = {
            "pk": k.failure_pk(message_id),
            "sk": k.FAILURE_SK,
            "entity": k.ENTITY_FAILURE,
            "handler": handler,
            "error": error[:2000],
            "failed_at": now,
            "ttl": now + self.RETENTION_SECONDS,
        }
        if order_id:
            item["order_id"] = order_id
        if receive_count is not None:
            item["receive_count"] = receive_count
        self.client.put_item(TableName=self.table, Item=serialize(item))

    def get(self, message_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key=serialize({"pk": k.failure_pk(message_id), "sk": k.FAILURE_SK})
        )
        return deserialize(response["Item"]) if "Item" in response else None
