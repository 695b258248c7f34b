"""DynamoDB and SQS reads only the operator console makes (``ConsoleReads``): bounded, by key or
index, never a scan. The key behind a session, the channel list, per-status order counts capped
by the caller, and the depth of each dead-letter queue."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, serialize
from chalicelib.domain.auth import Principal, Role, key_id_of
from chalicelib.domain.models import Channel
from chalicelib.service.ports import QueueDepth, QueuesUnavailable

logger = logging.getLogger("oms.console")

#: Statuses counted at once (boto3 clients are thread-safe; DynamoDB serves them in parallel).
COUNT_WORKERS = 6


class DynamoConsoleReads:
    def __init__(self, client: Any, table_name: str, *, sqs: Callable[[], Any]) -> None:
        self.client = client
        self.table = table_name
        #: The SQS client is made when the dead-letter page first asks for it.
        self.sqs = sqs

    def principal_for_key_hash(self, key_hash: str) -> Principal | None:
        response = self.client.get_item(
            TableName=self.table,
            Key=serialize({"pk": k.api_key_pk(key_hash), "sk": k.API_KEY_SK}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        item = deserialize(response["Item"])
        if item.get("revoked_at"):
            return None
        return Principal(key_id=key_id_of(key_hash), role=Role(item["role"]), scope=item.get("scope"))

    def list_channels(self) -> list[Channel]:
        """One Query of the ``CHANNEL`` partition: a handful of items."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.CHANNELS_PK}),
        )
        channels = [Channel.model_validate(deserialize(item)["doc"]) for item in response.get("Items", [])]
        return sorted(channels, key=lambda c: c.id)

    def status_count(
        self,
        status: str,
        *,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        cap: int,
    ) -> int:
        """Counted on the listing's index with ``Select=COUNT`` and stopped past ``cap``: at most
        cap + 1 keys read per shard. Returns cap + 1 for "more than cap"."""
        index, partitions = k.order_listing(status, channel_id)
        low, high = k.created_bounds(created_from, created_to)
        total = 0
        for partition in partitions:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": f"{index}pk = :p AND {index}sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": serialize({":p": partition, ":lo": low, ":hi": high}),
                "Select": "COUNT",
            }
            while total <= cap:
                response = self.client.query(**request, Limit=cap + 1 - total)
                total += int(response.get("Count", 0))
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            if total > cap:
                return cap + 1
        return total

    def status_counts(
        self,
        statuses: Iterable[str],
        *,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        cap: int,
    ) -> dict[str, int]:
        """``status_count`` of every status, the statuses side by side: each is a chain of small
        queries waiting on the network, so running them in parallel is what keeps the page quick."""
        wanted = list(statuses)
        with ThreadPoolExecutor(max_workers=COUNT_WORKERS) as pool:
            counts = pool.map(
                lambda status: self.status_count(
                    status, channel_id=channel_id, created_from=created_from, created_to=created_to, cap=cap
                ),
                wanted,
            )
            return dict(zip(wanted, counts, strict=True))

    def dead_letter_queues(self, stage: str) -> list[QueueDepth]:
        """Every ``oms-<stage>-*-dlq`` queue with its approximate depth (SQS's own estimate)."""
        sqs = self.sqs()
        try:
            urls = self._queue_urls(sqs, f"oms-{stage}-")
            depths = []
            for url in sorted(urls):
                name = url.rstrip("/").rsplit("/", 1)[-1]
                if not name.endswith("-dlq"):
                    continue
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                depths.append(
                    QueueDepth(
                        name=name,
                        messages=int(attributes.get("ApproximateNumberOfMessages", 0)),
                        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                    )
                )
            return depths
        except (ClientError, BotoCoreError) as exc:
            logger.warning("dead-letter queues could not be listed: %s", type(exc).__name__)
            raise QueuesUnavailable(str(exc)) from None

    @staticmethod
    def _queue_urls(sqs: Any, prefix: str) -> list[str]:
        urls: list[str] = []
        request: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 1000}
        while True:
            response = sqs.list_queues(**request)
            urls += response.get("QueueUrls", [])
            if not response.get("NextToken"):
                return urls
            request["NextToken"] = response["NextToken"]
