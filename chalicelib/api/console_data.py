"""Reads only the console makes: bounded, by key or index, never a scan.

Everything else the console shows comes from the same use cases and queries as the API; what is
here has no API route of its own: the key behind a session, the channel list, per-status counts
capped at ``COUNT_CAP``, an order by its external id, SLA breaches and delivery problems across
warehouses, the unmatched-tracking counters and the depth of each dead-letter queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.api_keys import key_id_of
from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamodb import deserialize, serialize
from chalicelib.bootstrap import Services
from chalicelib.domain.auth import Principal, Role
from chalicelib.domain.models import Channel, Fulfillment, format_timestamp
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.placement import external_id_scope
from chalicelib.service.tracking import UNMATCHED_METRIC

logger = logging.getLogger("oms.console")

#: Counts per status stop here: the page says "100+" rather than reading a busy status to the end.
COUNT_CAP = 100
#: Statuses counted at once (boto3 clients are thread-safe; DynamoDB serves them in parallel).
COUNT_WORKERS = 6
#: Rows per list on the "needs attention" page (each list links to where the rest can be seen).
ATTENTION_LIMIT = 25
#: Work still in the warehouse: past its ship-by it breaches the SLA.
SLA_STATUSES = (
    FulfillmentStatus.RELEASED,
    FulfillmentStatus.PICKING,
    FulfillmentStatus.PICKED,
    FulfillmentStatus.PACKED,
)
DELIVERY_PROBLEM_STATUSES = (
    FulfillmentStatus.EXCEPTION,
    FulfillmentStatus.DELIVERY_ATTEMPTED,
    FulfillmentStatus.FAILED,
    FulfillmentStatus.RETURNED_TO_SENDER,
)


def principal_for_key_hash(svc: Services, key_hash: str) -> Principal | None:
    """The key a session was opened with, read on every request (not cached) so that a revoked
    key ends its sessions at once."""
    store = svc.api_keys
    response = store.client.get_item(
        TableName=store.table,
        Key=serialize({"pk": k.api_key_pk(key_hash), "sk": k.API_KEY_SK}),
        ConsistentRead=True,
    )
    if "Item" not in response:
        return None
    item = deserialize(response["Item"])
    if item.get("revoked_at"):
        return None
    return Principal(key_id=key_id_of(key_hash), role=Role(item["role"]), scope=item.get("scope"))


def list_channels(svc: Services) -> list[Channel]:
    """Every channel (one Query of the ``CHANNEL`` partition: a handful of items)."""
    store = svc.channels
    response = store.client.query(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=serialize({":pk": k.CHANNELS_PK}),
    )
    channels = [Channel.model_validate(deserialize(item)["doc"]) for item in response.get("Items", [])]
    return sorted(channels, key=lambda c: c.id)


def _date_bounds(created_from: str | None, created_to: str | None) -> tuple[str, str]:
    # The same inclusive bounds DynamoOrderQueries.list_orders uses on the sort key.
    return created_from or "0000", (created_to or "9999") + "~"


def status_count(
    svc: Services, status: str, *, channel_id: str | None, created_from: str | None, created_to: str | None
) -> int:
    """Orders in ``status`` (and channel, and date range), counted on the status index with
    ``Select=COUNT`` and stopped past ``COUNT_CAP``: at most COUNT_CAP + 1 keys read per shard.
    Returns COUNT_CAP + 1 for "more than COUNT_CAP"."""
    # Partition names as DynamoOrderQueries.list_orders queries them (see adapters/keys.py).
    if channel_id:
        index, partitions = "gsi3", [f"CHANNEL#{channel_id}#STATUS#{status}"]
    else:
        index, partitions = "gsi1", [f"STATUS#{status}#{n}" for n in range(k.SHARDS)]
    low, high = _date_bounds(created_from, created_to)
    queries = svc.queries
    total = 0
    for partition in partitions:
        request: dict[str, Any] = {
            "TableName": queries.table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p AND {index}sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": serialize({":p": partition, ":lo": low, ":hi": high}),
            "Select": "COUNT",
        }
        while total <= COUNT_CAP:
            response = queries.client.query(**request, Limit=COUNT_CAP + 1 - total)
            total += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if total > COUNT_CAP:
            return COUNT_CAP + 1
    return total


def status_counts(
    svc: Services,
    statuses: Iterable[str],
    *,
    channel_id: str | None,
    created_from: str | None,
    created_to: str | None,
) -> dict[str, int]:
    """``status_count`` of every status, the statuses side by side: each is a chain of small
    queries waiting on the network, so running them in parallel is what keeps the page quick."""
    wanted = list(statuses)
    with ThreadPoolExecutor(max_workers=COUNT_WORKERS) as pool:
        counts = pool.map(
            lambda status: status_count(
                svc, status, channel_id=channel_id, created_from=created_from, created_to=created_to
            ),
            wanted,
        )
        return dict(zip(wanted, counts, strict=True))


def orders_by_external_id(svc: Services, external_id: str, channel_ids: Iterable[str]) -> list[str]:
    """Order ids placed under ``external_id`` by any of the channels: one GetItem of each
    channel's ``ext#<channel>`` dedup record, so the cost grows with channels, not orders."""
    uow = svc.uow_factory()
    found: list[str] = []
    for channel_id in channel_ids:
        record = uow.get_dedup(external_id_scope(channel_id), external_id)
        if record is not None and record.ref:
            found.append(record.ref)
    return found


def late_work(svc: Services, now: datetime) -> list[Fulfillment]:
    """Fulfillments still in a warehouse past their ship-by: one bounded Query per warehouse and
    status on the work index (``ship_by < now``, oldest promise first)."""
    uow = svc.uow_factory()
    before = format_timestamp(now)
    found: list[Fulfillment] = []
    for warehouse in uow.list_warehouses():
        for status in SLA_STATUSES:
            found += uow.list_work(warehouse.id, status.value, ship_by_before=before, limit=ATTENTION_LIMIT)
    return sorted(found, key=lambda f: (f.ship_by or now, f.id))[:ATTENTION_LIMIT]


def delivery_problems(svc: Services) -> list[Fulfillment]:
    uow = svc.uow_factory()
    found: list[Fulfillment] = []
    for warehouse in uow.list_warehouses():
        for status in DELIVERY_PROBLEM_STATUSES:
            found += uow.list_work(warehouse.id, status.value, ship_by_before=None, limit=ATTENTION_LIMIT)
    return sorted(found, key=lambda f: (f.updated_at, f.id), reverse=True)[:ATTENTION_LIMIT]


def unmatched_tracking(svc: Services, days: list[str]) -> dict[str, int]:
    """Carrier events for numbers nobody shipped, per day (``KPI#<day>`` / the metric)."""
    return svc.counters.daily_counter(UNMATCHED_METRIC, days)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int
    in_flight: int


class QueuesUnavailable(Exception):
    """SQS could not be asked (no permission, or not reachable); the page says so."""


def dead_letter_queues(stage: str) -> list[QueueDepth]:
    """Every ``oms-<stage>-*-dlq`` queue with its approximate depth (SQS's own estimate)."""
    sqs = client("sqs")
    try:
        urls: list[str] = []
        request: dict[str, Any] = {"QueueNamePrefix": f"oms-{stage}-", "MaxResults": 1000}
        while True:
            response = sqs.list_queues(**request)
            urls += response.get("QueueUrls", [])
            if not response.get("NextToken"):
                break
            request["NextToken"] = response["NextToken"]
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
