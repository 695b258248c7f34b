"""The queues workers send to themselves: webhooks-out (``WebhookQueue``: delivery jobs in,
retries delayed) and the write-back (``WriteBackQueue``: a message re-sent after a delay)."""

from __future__ import annotations

from typing import Any

#: SendMessageBatch takes at most ten entries.
BATCH = 10


class SqsWebhookQueue:
    def __init__(self, client: Any, queue_name: str) -> None:
        self.client = client
        self.queue_name = queue_name

    def _url(self) -> str:
        return str(self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"])

    def send(self, bodies: list[str]) -> None:
        for start in range(0, len(bodies), BATCH):
            entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[start : start + BATCH])]
            response = self.client.send_message_batch(QueueUrl=self._url(), Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"could not queue {len(response['Failed'])} webhook deliveries")

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        self.client.change_message_visibility(
            QueueUrl=self._url(), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


#: SQS delays a message by at most 15 minutes.
MAX_DELAY_SECONDS = 900


class SqsWriteBackQueue:
    """The write-back SQS queue (``WriteBackQueue``): a message sent again after a delay."""

    def __init__(self, client: Any, queue_name: str) -> None:
        self.client = client
        self.queue_name = queue_name
        self._queue_url: str | None = None

    def send_later(self, body: str, *, delay_seconds: int) -> None:
        if self._queue_url is None:
            self._queue_url = str(self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"])
        delay = max(0, min(MAX_DELAY_SECONDS, delay_seconds))
        self.client.send_message(QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay)
