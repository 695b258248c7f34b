"""DynamoDB implementation of the unit of work and the read models (reference data: adapters/reference.py).

One ``DynamoUnitOfWork`` = one ``TransactWriteItems`` call. Each staged item
remembers what it is, so a cancelled transaction is turned back into the
domain's reason (stock moved, version moved, request already recorded).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import cachetools
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import (
    Box,
    Channel,
    Fulfillment,
    Order,
    Product,
    StockLevel,
    Warehouse,
    format_timestamp,
)
from chalicelib.domain.returns import ReturnRequest
from chalicelib.service.notifications import AlreadySent, Claimed
from chalicelib.service.ports import (
    DedupExists,
    DedupRecord,
    OrderAggregate,
    OrderExists,
    StockConflict,
    TrackingNumberInUse,
    TrackingRef,
    TransactionConflict,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

#: Reference data (channels, warehouses) changes rarely; a warm Lambda keeps it this long.
REFERENCE_CACHE_SECONDS = 30.0
#: Entries one per-process cache holds at most (see TtlCache).
DEFAULT_CACHE_ENTRIES = 1000


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the documents we store only hold integers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def stored_doc(model: Order | Fulfillment) -> dict[str, Any]:
    """The ``doc`` of an order or fulfillment item: the model without the fields at their defaults.

    Why: DynamoDB bills a write per started KiB of the item, twice inside a transaction, and these
    two items are rewritten by nearly every transaction of an order's life. Their empty fields
    (``null`` timestamps, empty lists) made a typical order item just over 1 KiB, so each write cost
    twice what it needed (docs/performance.md). Reading back is unchanged: ``model_validate``
    restores every left-out field to its default, and every default of these models is ``None``, a
    constant or an empty container (tests/unit/test_stored_documents.py pins this).
    """
    return model.model_dump(mode="json", exclude_defaults=True)


def _order_item(order: Order) -> dict[str, Any]:
    created = format_timestamp(order.created_at)
    return {
        "pk": k.order_pk(order.id),
        "sk": k.ORDER_SK,
        "entity": k.ENTITY_ORDER,
        "version": order.version,
        "status": order.status.value,
        "channel_id": order.channel_id,
        "created_at": created,
        **k.order_index_keys(order.id, order.channel_id, order.status.value, created),
        "doc": stored_doc(order),
    }


def _fulfillment_item(fulfillment: Fulfillment) -> dict[str, Any]:
    ship_by = format_timestamp(fulfillment.ship_by or fulfillment.created_at)
    return {
        "pk": k.order_pk(fulfillment.order_id),
        "sk": k.fulfillment_sk(fulfillment.id),
        "entity": k.ENTITY_FULFILLMENT,
        "version": fulfillment.version,
        "status": fulfillment.status.value,
        "warehouse_id": fulfillment.warehouse_id,
        **k.fulfillment_index_keys(
            fulfillment.warehouse_id,
            fulfillment.status.value,
            ship_by,
            fulfillment.id,
            sku=fulfillment.lines[0].sku if fulfillment.lines else "",
            created_at=format_timestamp(fulfillment.created_at),
        ),
        "doc": stored_doc(fulfillment),
    }


def _return_item(rma: ReturnRequest) -> dict[str, Any]:
    return {
        "pk": k.order_pk(rma.order_id),
        "sk": k.return_sk(rma.id),
        "entity": k.ENTITY_RETURN,
        "version": rma.version,
        "status": rma.status.value,
        "gsi6pk": rma.id,  # the sparse by-id index fulfillments use: an RMA is found by its number
        "doc": rma.model_dump(mode="json"),
    }


def event_item(event: DomainEvent) -> dict[str, Any]:
    if event.inbound_key is not None and event.channel_id is not None:
        pk, sk = k.inbound_pk(event.channel_id, event.inbound_key), k.tracking_event_sk(event.id)
    elif event.tracking_number is not None:
        pk, sk = k.tracking_pk(event.tracking_number), k.tracking_event_sk(event.id)
    elif event.order_id is not None and event.version is not None:
        pk, sk = k.order_pk(event.order_id), k.event_sk(event.version)
    elif event.sku is not None and event.warehouse_id is not None:
        pk, sk = k.sku_pk(event.sku), k.inventory_event_sk(event.warehouse_id, event.id)
    else:
        raise ValueError(f"event {event.type} belongs to neither an order version nor a stock level")
    return {
        "pk": pk,
        "sk": sk,
        "entity": k.ENTITY_EVENT,
        "event_id": event.id,
        "type": event.type,
        "doc": event.model_dump(mode="json"),
    }


def event_from_item(item: dict[str, Any]) -> DomainEvent:
    return DomainEvent.model_validate(item["doc"])


class TtlCache:
    """A small per-process cache for reference data, secrets and API keys (Lambda containers
    are reused, so it lives as long as a warm container).

    Bounded in both ways: an entry is kept ``seconds`` at most, and the cache holds at most
    ``max_entries``; when full, the least recently used entry goes. Without the bound, a warm
    container that sees ever new keys (random API keys from a scanner) would grow until it
    died. ``cachetools.TTLCache`` does the bookkeeping; the lock makes it safe to share between
    threads, which it is not by itself.
    """

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = DEFAULT_CACHE_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.seconds = seconds
        self.max_entries = max_entries
        self._values: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(
            maxsize=max_entries, ttl=seconds, timer=timer
        )
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value, or None when absent or expired (a hit makes the entry the most recent)."""
        with self._lock:
            return self._values.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._values[key] = value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        """Entries held now, expired ones dropped first."""
        with self._lock:
            self._values.expire()
            return len(self._values)


reference_cache = TtlCache(REFERENCE_CACHE_SECONDS)


class DynamoReader:
    """Reads shared by the unit of work and the query side."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return deserialize(item) if item else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs["TableName"] = self.table
        while True:
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                yield deserialize(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [serialize({"pk": pk, "sk": sk}) for pk, sk in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(8):
                response = self.client.batch_get_item(RequestItems=request)
                found += [deserialize(item) for item in response.get("Responses", {}).get(self.table, [])]
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off as the SDK guide says
            if request:
                raise ConcurrencyConflict("DynamoDB kept throttling the read; retry")
        return found

    def get_channel(self, channel_id: str) -> Channel | None:
        cache_key = (self.table, "channel", channel_id)
        cached = reference_cache.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        item = self._get(k.CHANNELS_PK, channel_id)
        channel = Channel.model_validate(item["doc"]) if item else None
        if channel is not None:
            reference_cache.put(cache_key, channel)
        return channel

    def list_warehouses(self) -> list[Warehouse]:
        cache_key = (self.table, "warehouses")
        cached = reference_cache.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        items = self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues=serialize({":pk": k.WAREHOUSES_PK})
        )
        warehouses = [Warehouse.model_validate(item["doc"]) for item in items]
        reference_cache.put(cache_key, warehouses)
        return warehouses

    def get_products(self, skus: Iterable[str]) -> dict[str, Product]:
        items = self._batch_get([(k.sku_pk(sku), k.PRODUCT_SK) for sku in skus])
        return {item["doc"]["sku"]: Product.model_validate(item["doc"]) for item in items}

    def get_catalogue(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> tuple[dict[str, Product], dict[tuple[str, str], StockLevel]]:
        """Products and their stock levels in one BatchGetItem: placement's only read of them."""
        skus, warehouse_ids = list(skus), list(warehouse_ids)
        keys = [(k.sku_pk(sku), k.PRODUCT_SK) for sku in skus]
        keys += [(k.sku_pk(sku), k.stock_sk(wh)) for sku in skus for wh in warehouse_ids]
        items = self._batch_get(keys)
        products = {
            i["doc"]["sku"]: Product.model_validate(i["doc"])
            for i in items
            if i.get("entity") == k.ENTITY_PRODUCT
        }
        levels = [_stock_from_item(i) for i in items if i.get("entity") == k.ENTITY_STOCK]
        return products, {(level.warehouse_id, level.sku): level for level in levels}

    def get_stock(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> dict[tuple[str, str], StockLevel]:
        wanted = [(k.sku_pk(sku), k.stock_sk(wh)) for sku in skus for wh in warehouse_ids]
        levels = [_stock_from_item(item) for item in self._batch_get(wanted)]
        return {(level.warehouse_id, level.sku): level for level in levels}

    def get_order(self, order_id: str) -> OrderAggregate | None:
        # Items of one order sort EVENT# < FUL# < ORDER < RMA#: ">= FUL#" skips the timeline.
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk AND sk >= :ful",
                ExpressionAttributeValues=serialize(
                    {":pk": k.order_pk(order_id), ":ful": k.FULFILLMENT_PREFIX}
                ),
                ConsistentRead=True,
            )
        )
        orders = [i for i in items if i.get("entity") == k.ENTITY_ORDER]
        if not orders:
            return None
        fulfillments = [
            Fulfillment.model_validate(i["doc"]) for i in items if i.get("entity") == k.ENTITY_FULFILLMENT
        ]
        returns = [
            ReturnRequest.model_validate(i["doc"]) for i in items if i.get("entity") == k.ENTITY_RETURN
        ]
        return OrderAggregate(
            order=Order.model_validate(orders[0]["doc"]), fulfillments=fulfillments, returns=returns
        )

    def get_dedup(self, scope: str, key: str) -> DedupRecord | None:
        item = self._get(k.dedup_pk(scope, key), k.DEDUP_SK)
        if item is None:
            return None
        # DynamoDB deletes expired items lazily (up to days later) and moto
        # never does: an expired record is treated as absent here.
        if "ttl" in item and int(item["ttl"]) < time.time():
            return None
        return DedupRecord(
            scope=scope,
            key=key,
            request_hash=item.get("request_hash", ""),
            ref=item.get("ref", ""),
            created_at=datetime.fromisoformat(item["created_at"]),
            data=item.get("data"),
        )

    def find_tracking(self, tracking_number: str) -> TrackingRef | None:
        item = self._get(k.tracking_pk(tracking_number), k.TRACKING_SK)
        if item is None:
            return None
        return TrackingRef(
            order_id=item["order_id"], fulfillment_id=item["fulfillment_id"], carrier=item["carrier"]
        )

    def get_inbound(self, channel_id: str, key: str) -> str | None:
        item = self._get(k.inbound_pk(channel_id, key), k.INBOUND_PAYLOAD_SK)
        return str(item["body"]) if item else None

    def get_warehouse(self, warehouse_id: str) -> Warehouse | None:
        return next((w for w in self.list_warehouses() if w.id == warehouse_id), None)

    def get_boxes(self, warehouse_id: str) -> list[Box]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.boxes_pk(warehouse_id)}),
        )
        return [Box.model_validate(item["doc"]) for item in items]

    def find_order_of_fulfillment(self, fulfillment_id: str) -> str | None:
        response = self.client.query(
            TableName=self.table,
            IndexName="gsi6",
            KeyConditionExpression="gsi6pk = :fid",
            ExpressionAttributeValues=serialize({":fid": fulfillment_id}),
            Limit=1,
        )
        items = response.get("Items", [])
        return deserialize(items[0])["doc"]["order_id"] if items else None

    def list_backorders(self, sku: str, limit: int) -> list[tuple[str, str]]:
        response = self.client.query(
            TableName=self.table,
            IndexName="gsi5",
            KeyConditionExpression="gsi5pk = :p",
            ExpressionAttributeValues=serialize({":p": k.backorder_partition(sku)}),
            ScanIndexForward=True,
            Limit=limit,
        )
        rows = [deserialize(item) for item in response.get("Items", [])]
        return [(row["doc"]["order_id"], row["doc"]["id"]) for row in rows]

    def list_work(
        self, warehouse_id: str, status: str, *, ship_by_before: str | None, limit: int
    ) -> list[Fulfillment]:
        condition = "gsi5pk = :p"
        values: dict[str, Any] = {":p": k.work_partition(warehouse_id, status)}
        if ship_by_before is not None:
            condition += " AND gsi5sk < :before"
            values[":before"] = ship_by_before
        found: list[Fulfillment] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi5",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": True,
        }
        while len(found) < limit:
            response = self.client.query(**request, Limit=limit - len(found))
            found += [
                Fulfillment.model_validate(deserialize(item)["doc"]) for item in response.get("Items", [])
            ]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found


def _stock_from_item(item: dict[str, Any]) -> StockLevel:
    return StockLevel(
        sku=item["sku"],
        warehouse_id=item["warehouse_id"],
        on_hand=item["on_hand"],
        reserved=item["reserved"],
        available=item["available"],
        bin=item.get("bin"),
        reorder_point=item.get("reorder_point"),
        overstock_level=item.get("overstock_level"),
    )


class DynamoUnitOfWork(DynamoReader):
    def __init__(self, client: Any, table_name: str) -> None:
        super().__init__(client, table_name)
        self._items: list[dict[str, Any]] = []
        self._tags: list[tuple[str, ...]] = []
        self._boxes: dict[str, list[Box]] = {}

    def get_boxes(self, warehouse_id: str) -> list[Box]:
        """A warehouse's box catalogue, read once per unit of work: packing checks the boxes
        named and recomputes the advice, which reads the same catalogue again."""
        if warehouse_id not in self._boxes:
            self._boxes[warehouse_id] = super().get_boxes(warehouse_id)
        return list(self._boxes[warehouse_id])

    def _stage(self, operation: dict[str, Any], tag: tuple[str, ...]) -> None:
        self._items.append(operation)
        self._tags.append(tag)

    def _put(
        self,
        item: dict[str, Any],
        condition: str,
        values: dict[str, Any] | None,
        tag: tuple[str, ...],
        names: dict[str, str] | None = None,
    ) -> None:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": serialize(item),
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        if names:
            put["ExpressionAttributeNames"] = names
        self._stage({"Put": put}, tag)

    def add_order(self, order: Order) -> None:
        self._put(_order_item(order), "attribute_not_exists(pk)", None, ("new-order", order.id))

    def update_order(self, order: Order, *, expected_version: int) -> None:
        self._put(_order_item(order), "version = :v", {":v": expected_version}, ("order", order.id))

    def add_fulfillment(self, fulfillment: Fulfillment) -> None:
        self._put(
            _fulfillment_item(fulfillment), "attribute_not_exists(pk)", None, ("fulfillment", fulfillment.id)
        )

    def update_fulfillment(self, fulfillment: Fulfillment, *, expected_version: int) -> None:
        self._put(
            _fulfillment_item(fulfillment),
            "version = :v",
            {":v": expected_version},
            ("fulfillment", fulfillment.id),
        )

    def move_stock(
        self,
        warehouse_id: str,
        sku: str,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        available: int = 0,
        require_available: int | None = None,
        require_reserved: int | None = None,
        expect_on_hand: int | None = None,
    ) -> None:
        """Add the deltas to one stock level. ``available`` is stored (conditions cannot do
        arithmetic), so every caller moves it together with the fields it derives from."""
        conditions = []
        values: dict[str, Any] = {":oh": on_hand, ":rs": reserved, ":av": available, ":zero": 0}
        if require_available is not None:
            conditions.append("available >= :need_av")
            values[":need_av"] = require_available
        if require_reserved is not None:
            conditions.append("reserved >= :need_rs")
            values[":need_rs"] = require_reserved
        if expect_on_hand is not None:
            # A count or a new level replaces what was read: it must still be what was read.
            conditions.append("on_hand = :expect_oh")
            values[":expect_oh"] = expect_on_hand
        # Goods may arrive for a SKU the warehouse never held: a plain receipt (or an empty move,
        # which sets a new level up with zeros) creates the level; anything else needs it to exist.
        creates = not conditions and on_hand >= 0 and reserved == 0 and available >= 0
        key_condition = None if creates else "attribute_exists(pk)"
        condition = " AND ".join(c for c in [key_condition, *conditions] if c)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": serialize({"pk": k.sku_pk(sku), "sk": k.stock_sk(warehouse_id)}),
            "UpdateExpression": (
                "SET on_hand = if_not_exists(on_hand, :zero) + :oh, "
                "reserved = if_not_exists(reserved, :zero) + :rs, "
                "available = if_not_exists(available, :zero) + :av, "
                "sku = if_not_exists(sku, :sku), warehouse_id = if_not_exists(warehouse_id, :wh), "
                "entity = if_not_exists(entity, :entity), "
                "gsi5pk = if_not_exists(gsi5pk, :g5pk), gsi5sk = if_not_exists(gsi5sk, :g5sk)"
            ),
            "ExpressionAttributeValues": serialize(
                {
                    **values,
                    ":sku": sku,
                    ":wh": warehouse_id,
                    ":entity": k.ENTITY_STOCK,
                    ":g5pk": k.stock_index_keys(warehouse_id, sku)["gsi5pk"],
                    ":g5sk": sku,
                }
            ),
        }
        if condition:
            update["ConditionExpression"] = condition
        self._stage({"Update": update}, ("stock", warehouse_id, sku))

    def add_return(self, rma: ReturnRequest) -> None:
        self._put(_return_item(rma), "attribute_not_exists(pk)", None, ("order", rma.order_id))

    def update_return(self, rma: ReturnRequest, *, expected_version: int) -> None:
        self._put(_return_item(rma), "version = :v", {":v": expected_version}, ("order", rma.order_id))

    def set_stock_settings(
        self,
        warehouse_id: str,
        sku: str,
        *,
        reorder_point: int | None,
        overstock_level: int | None,
        bin_location: str | None,
    ) -> None:
        """Thresholds and bin of a stock level (only those given change)."""
        sets, values = [], {}
        for name, value in (
            ("reorder_point", reorder_point),
            ("overstock_level", overstock_level),
            ("bin", bin_location),
        ):
            if value is not None:
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = value
        if not sets:
            return
        names = {f"#{name.strip(':')}": name.strip(":") for name in values}
        tag = ("stock", warehouse_id, sku)
        if tag in self._tags:
            # One transaction may touch an item once: join the stock move staged for this level.
            update = self._items[self._tags.index(tag)]["Update"]
            update["UpdateExpression"] += ", " + ", ".join(sets)
            update.setdefault("ExpressionAttributeNames", {}).update(names)
            update["ExpressionAttributeValues"].update(serialize(values))
            return
        self._stage(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.sku_pk(sku), "sk": k.stock_sk(warehouse_id)}),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": serialize(values),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            ("stock", warehouse_id, sku),
        )

    def reserve_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        # The condition is the no-oversell guarantee: it holds at commit time,
        # whatever any concurrent request did after we read the level.
        self.move_stock(warehouse_id, sku, reserved=quantity, available=-quantity, require_available=quantity)

    def release_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        self.move_stock(warehouse_id, sku, reserved=-quantity, available=quantity, require_reserved=quantity)

    def add_tracking(self, carrier: str, number: str, *, order_id: str, fulfillment_id: str) -> None:
        """Index a tracking number; the same number on another fulfillment is a conflict."""
        self._put(
            {
                "pk": k.tracking_pk(number),
                "sk": k.TRACKING_SK,
                "entity": k.ENTITY_TRACKING,
                "carrier": carrier.lower(),
                "tracking_number": number,
                "order_id": order_id,
                "fulfillment_id": fulfillment_id,
            },
            "attribute_not_exists(pk) OR fulfillment_id = :fid",
            {":fid": fulfillment_id},
            ("tracking", carrier, number),
        )

    def add_inbound(self, channel_id: str, key: str, body: str) -> None:
        """Keep a store webhook's raw body beside its event: events go through EventBridge,
        which takes 256 KB at most, and a big store order would not fit."""
        self._put(
            {
                "pk": k.inbound_pk(channel_id, key),
                "sk": k.INBOUND_PAYLOAD_SK,
                "entity": k.ENTITY_INBOUND,
                "body": body,
                "ttl": int(time.time()) + k.INBOUND_RETENTION_SECONDS,
            },
            "attribute_not_exists(pk)",
            None,
            ("dedup", "inbound", key),
        )

    def count(self, metric: str, day: str, by: int = 1) -> None:
        """Add to a daily counter (``KPI#<day>`` / ``<metric>``) within this transaction."""
        self._stage(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.counter_pk(day), "sk": metric}),
                    "UpdateExpression": "ADD #value :by SET entity = :entity",
                    "ExpressionAttributeNames": {"#value": "value"},
                    "ExpressionAttributeValues": serialize({":by": by, ":entity": "counter"}),
                }
            },
            ("counter", day, metric),
        )

    def add_event(self, event: DomainEvent) -> None:
        self._put(event_item(event), "attribute_not_exists(pk)", None, ("order", event.order_id or event.id))

    def add_dedup(self, record: DedupRecord, *, ttl_seconds: int | None = None) -> None:
        item: dict[str, Any] = {
            "pk": k.dedup_pk(record.scope, record.key),
            "sk": k.DEDUP_SK,
            "entity": k.ENTITY_DEDUP,
            "request_hash": record.request_hash,
            "ref": record.ref,
            "created_at": record.created_at.isoformat(),
        }
        if record.data:
            item["data"] = record.data
        now = int(time.time())
        if ttl_seconds is not None:
            item["ttl"] = now + ttl_seconds
        self._put(
            item,
            "attribute_not_exists(pk) OR #ttl < :now",
            {":now": now},
            ("dedup", record.scope, record.key),
            names={"#ttl": "ttl"},
        )

    def staged_count(self) -> int:
        return len(self._items)

    def commit(self) -> None:
        if not self._items:
            return
        try:
            # One token per commit: botocore's retries of this call (after a read timeout or a
            # 5xx whose transaction may have been applied) reuse it, and DynamoDB applies the
            # transaction once. A new commit is a new request, so it gets a new token.
            self.client.transact_write_items(TransactItems=self._items, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            raise self._reason(exc.response.get("CancellationReasons", [])) from exc
        finally:
            self._items, self._tags = [], []

    def _reason(self, reasons: list[dict[str, Any]]) -> Exception:
        """The error a cancellation means. A failed condition wins over a conflict: retrying
        would only fail the condition again, while the condition's error tells the use case
        what to do (re-plan the stock, replay the order, ...)."""
        for tag, reason in zip(self._tags, reasons, strict=False):
            code = reason.get("Code")
            if code == "ConditionalCheckFailed":
                if tag[0] == "stock":
                    return StockConflict(tag[1], tag[2])
                if tag[0] == "dedup":
                    return DedupExists(tag[1], tag[2])
                if tag[0] == "tracking":
                    return TrackingNumberInUse(tag[1], tag[2])
                if tag[0] == "new-order":
                    return OrderExists(tag[1])
                return ConcurrencyConflict(f"{tag[0]} {tag[1]} changed concurrently")
        for tag, reason in zip(self._tags, reasons, strict=False):
            if reason.get("Code") == "TransactionConflict":
                return TransactionConflict(f"{tag[0]} {tag[1]} was being written by another transaction")
        return ConcurrencyConflict("transaction conflicted with a concurrent one")


class DynamoUnitOfWorkFactory:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def __call__(self) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self.client, self.table)


class _BadCursor(ValueError):
    pass


def encode_cursor(index: str, sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index, "s": sort_key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, index: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("i") != index or not isinstance(data.get("s"), str):
            raise _BadCursor
        return data["s"]  # type: ignore[no-any-return]
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _BadCursor from exc


InvalidCursor = _BadCursor


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
    ) -> tuple[list[Order], str | None]:
        """Newest first. ``created_from``/``created_to`` are RFC 3339 prefixes, both inclusive."""
        if status and channel_id:
            index, partitions = "gsi3", [f"CHANNEL#{channel_id}#STATUS#{status}"]
        elif status:
            index, partitions = "gsi1", [f"STATUS#{status}#{n}" for n in range(k.SHARDS)]
        elif channel_id:
            index, partitions = "gsi2", [f"CHANNEL#{channel_id}#{n}" for n in range(k.SHARDS)]
        else:
            index, partitions = "gsi4", [f"ORDERS#{n}" for n in range(k.SHARDS)]
        low = created_from or "0000"  # key values cannot be empty; every timestamp sorts after it
        high = (created_to or "9999") + "~"  # '~' sorts after every character of an id: inclusive end
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


class DynamoStockQueries(DynamoReader):
    """Stock listings (gsi5 ``STOCK#<warehouse>``) and shipped-unit counters (demand)."""

    def list_stock(self, warehouse_id: str) -> list[StockLevel]:
        items = self._query(
            IndexName="gsi5",
            KeyConditionExpression="gsi5pk = :p",
            ExpressionAttributeValues=serialize({":p": k.stock_index_keys(warehouse_id, "")["gsi5pk"]}),
        )
        return [_stock_from_item(item) for item in items if item.get("entity") == k.ENTITY_STOCK]

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


class DynamoNotificationClaims:
    """Send-once claims (``CLAIM#<key>`` / ``CLAIM``): ``state`` is ``sending`` (with the holder's
    random ``token``) or ``sent`` (with the provider's ``message_id``); ``expires_at`` in epoch
    seconds. A claim may be taken when there is none or it expired (``expires_at < now``, so it is
    live at exactly its expiry); ``ttl`` removes it a day after that."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _item(self, key: str, *, state: str, token: str, seconds: int, **more: Any) -> dict[str, Any]:
        now = int(time.time())
        return serialize(
            {
                "pk": k.claim_pk(key),
                "sk": k.CLAIM_SK,
                "entity": k.ENTITY_CLAIM,
                "state": state,
                "token": token,
                "expires_at": now + seconds,
                "ttl": now + seconds + 86400,
                **more,
            }
        )

    def claim(self, key: str, *, seconds: int) -> Claimed | AlreadySent | None:
        token = secrets.token_hex(16)
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(key, state="sending", token=token, seconds=seconds),
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues=serialize({":now": int(time.time())}),
                # The live claim comes back with the refusal: no second read to tell "being sent"
                # from "sent".
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            held = deserialize(exc.response.get("Item") or {})
            if held.get("state") == "sent":
                return AlreadySent(str(held.get("message_id", "")))
            return None
        return Claimed(token)

    def release(self, key: str, claim: Claimed) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=serialize({"pk": k.claim_pk(key), "sk": k.CLAIM_SK}),
                ConditionExpression="#state = :sending AND #token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues=serialize({":sending": "sending", ":token": claim.token}),
            )
        except ClientError as exc:
            # Not ours any more (it expired and another delivery took it): leave it alone.
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def mark_sent(self, key: str, claim: Claimed, *, message_id: str, seconds: int) -> None:
        # Unconditional: the message went out, whoever holds the claim now must learn that.
        self.client.put_item(
            TableName=self.table,
            Item=self._item(key, state="sent", token=claim.token, seconds=seconds, message_id=message_id),
        )


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
