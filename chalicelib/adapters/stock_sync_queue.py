"""The stock-sync SQS queue (``StockSyncQueue``): push and catalogue messages, sent delayed."""

from __future__ import annotations

from typing import Any

#: SendMessageBatch takes at most ten entries.
BATCH = 10


class SqsStockSyncQueue:
    def __init__(self, client: Any, queue_name: str) -> None:
        self.client = client
        self.queue_name = queue_name
        self._queue_url: str | None = None

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = str(self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"])
        return self._queue_url

    def send(self, bodies: list[str], *, delay_seconds: int) -> None:
        for start in range(0, len(bodies), BATCH):
            entries = [
                {"Id": str(n), "MessageBody": body, "DelaySeconds": delay_seconds}
                for n, body in enumerate(bodies[start : start + BATCH])
            ]
            response = self.client.send_message_batch(QueueUrl=self._url(), Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"could not queue {len(response['Failed'])} stock pushes")
