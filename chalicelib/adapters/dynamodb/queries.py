"""Read models: order listings (with their page cursors), timelines, stock and counters."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, event_from_item, serialize, stock_from_item
from chalicelib.adapters.dynamodb.reader import DynamoReader
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Order, StockLevel
from chalicelib.service.ports import InvalidCursor

#: Batches of a tag's listing one call reads at most (each ``limit`` entries and one BatchGetItem).
TAGGED_READ_BATCHES = 5


def encode_cursor(index: str, sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index, "s": sort_key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, index: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("i") != index or not isinstance(data.get("s"), str):
            raise InvalidCursor
        return data["s"]  # type: ignore[no-any-return]
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor from exc


class DynamoOrderQueries(DynamoReader):
    """Read side: timelines and order listings, always by key or index, never a scan."""

    def list_events(self, order_id: str) -> list[DomainEvent]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
            ExpressionAttributeValues=serialize({":pk": k.order_pk(order_id), ":ev": k.EVENT_PREFIX}),
        )
        return [event_from_item(item) for item in items]

    def list_orders(
        self,
        *,
        status: str | None,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        limit: int,
        cursor: str | None,
        tag: str | None = None,
    ) -> tuple[list[Order], str | None]:
        """Newest first. ``created_from``/``created_to`` are RFC 3339 prefixes, both inclusive."""
        low, high = k.created_bounds(created_from, created_to)
        if tag is not None:
            return self._list_tagged(tag, status, channel_id, low, high, limit, cursor)
        index, partitions = k.order_listing(status, channel_id)
        before = decode_cursor(cursor, index) if cursor else None
        if before is not None and before < high:
            high = before
        if high < low:
            return [], None
        rows: list[dict[str, Any]] = []
        for partition in partitions:
            response = self.client.query(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression=f"{index}pk = :p AND {index}sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues=serialize({":p": partition, ":lo": low, ":hi": high}),
                ScanIndexForward=False,
                Limit=limit + 1,
            )
            rows += [deserialize(item) for item in response.get("Items", [])]
        # The cursor's own item matches BETWEEN (inclusive): drop it.
        rows = [row for row in rows if row[f"{index}sk"] != before]
        rows.sort(key=lambda row: row[f"{index}sk"], reverse=True)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(index, page[-1][f"{index}sk"]) if more and page else None
        return [Order.model_validate(row["doc"]) for row in page], next_cursor

    def _list_tagged(
        self,
        tag: str,
        status: str | None,
        channel_id: str | None,
        low: str,
        high: str,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Order], str | None]:
        """The orders carrying ``tag``, from the tag's listing (one partition, newest first).

        The listing's entries hold only the order's key, so each batch of them is followed by one
        BatchGetItem of the orders; the status filter (an order's status moves, its tag entry does
        not) and a check that the order still carries the tag (the index lags its table by a
        moment) apply to what was read. At most ``TAGGED_READ_BATCHES`` batches are read per call:
        a rare status among many tagged orders ends a call with a short page and a cursor to go
        on from, never with an unbounded read."""
        index, partition = k.tag_listing(tag, channel_id)
        label = f"tag-{index}"
        skip = decode_cursor(cursor, label) if cursor else None
        if skip is not None and skip < high:
            high = skip
        found: list[tuple[str, Order]] = []
        last_read: str | None = None
        for _ in range(TAGGED_READ_BATCHES):
            if high < low:
                return [order for _, order in found], None
            response = self.client.query(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression=f"{index}pk = :p AND {index}sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues=serialize({":p": partition, ":lo": low, ":hi": high}),
                ScanIndexForward=False,
                Limit=limit + 2,  # the entry at ``high`` itself may be one already seen
            )
            rows = [deserialize(item) for item in response.get("Items", [])]
            entries = [row[f"{index}sk"] for row in rows if row[f"{index}sk"] != skip]
            found += self._tagged_orders(entries, tag, status)
            exhausted = len(rows) < limit + 2 and "LastEvaluatedKey" not in response
            if entries:
                last_read = skip = high = entries[-1]
            if len(found) > limit:
                page = found[:limit]
                return [order for _, order in page], encode_cursor(label, page[-1][0])
            if exhausted or not entries:
                return [order for _, order in found], None
        return [order for _, order in found], encode_cursor(label, last_read) if last_read else None

    def _tagged_orders(self, sort_keys: list[str], tag: str, status: str | None) -> list[tuple[str, Order]]:
        """(sort key, order) of the listing entries whose order carries ``tag`` (and is in ``status``)."""
        ids = [sort_key.rsplit("#", 1)[1] for sort_key in sort_keys]
        items = self._batch_get([(k.order_pk(order_id), k.ORDER_SK) for order_id in ids])
        orders = {item["doc"]["id"]: Order.model_validate(item["doc"]) for item in items}
        return [
            (sort_key, orders[order_id])
            for sort_key, order_id in zip(sort_keys, ids, strict=True)
            if order_id in orders
            and tag in orders[order_id].tags
            and (status is None or orders[order_id].status.value == status)
        ]


class DynamoStockQueries(DynamoReader):
    """Stock listings (gsi5 ``STOCK#<warehouse>``) and shipped-unit counters (demand)."""

    def list_stock(self, warehouse_id: str) -> list[StockLevel]:
        items = self._query(
            IndexName="gsi5",
            KeyConditionExpression="gsi5pk = :p",
            ExpressionAttributeValues=serialize({":p": k.stock_index_keys(warehouse_id, "")["gsi5pk"]}),
        )
        return [stock_from_item(item) for item in items if item.get("entity") == k.ENTITY_STOCK]

    def shipped_units(self, warehouse_id: str, days: Iterable[str]) -> dict[str, int]:
        """sku -> units shipped from the warehouse over ``days`` (yyyy-mm-dd)."""
        prefix = f"shipped#{warehouse_id}#"
        totals: dict[str, int] = {}
        for day in days:
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=serialize({":pk": k.counter_pk(day), ":prefix": prefix}),
            ):
                sku = str(item["sk"])[len(prefix) :]
                totals[sku] = totals.get(sku, 0) + int(item.get("value", 0))
        return totals


class DynamoCounters(DynamoReader):
    """KPI counters: ``KPI#<day>`` / ``m#<channel>#<metric>``, one Query per day."""

    def kpi_counters(self, days: Iterable[str]) -> dict[tuple[str, str, str], int]:
        found: dict[tuple[str, str, str], int] = {}
        for day in days:
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                ExpressionAttributeValues=serialize({":pk": k.counter_pk(day), ":m": "m#"}),
            ):
                _, channel, metric = str(item["sk"]).split("#", 2)
                found[(day, channel, metric)] = int(item.get("value", 0))
        return found

    def daily_counter(self, metric: str, days: Iterable[str]) -> dict[str, int]:
        """A plain (channel-less) daily counter, e.g. ``unmatched_tracking_events``."""
        values: dict[str, int] = {}
        for day in days:
            item = self._get(k.counter_pk(day), metric)
            values[day] = int(item.get("value", 0)) if item else 0
        return values
