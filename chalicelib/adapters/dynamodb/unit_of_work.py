"""DynamoDB implementation of the unit of work.

One ``DynamoUnitOfWork`` = one ``TransactWriteItems`` call. Each staged item
remembers what it is, so a cancelled transaction is turned back into the
domain's reason (stock moved, version moved, request already recorded).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import (
    event_item,
    fulfillment_item,
    order_item,
    return_item,
    serialize,
)
from chalicelib.adapters.dynamodb.reader import DynamoReader
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Fulfillment, Order, format_timestamp
from chalicelib.domain.returns import ReturnRequest
from chalicelib.service.ports import (
    DedupExists,
    DedupRecord,
    OrderExists,
    StockConflict,
    TrackingNumberInUse,
    TransactionConflict,
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
        self._put(order_item(order), "attribute_not_exists(pk)", None, ("new-order", order.id))

    def update_order(self, order: Order, *, expected_version: int) -> None:
        self._put(order_item(order), "version = :v", {":v": expected_version}, ("order", order.id))

    def add_fulfillment(self, fulfillment: Fulfillment) -> None:
        self._put(
            fulfillment_item(fulfillment), "attribute_not_exists(pk)", None, ("fulfillment", fulfillment.id)
        )

    def update_fulfillment(self, fulfillment: Fulfillment, *, expected_version: int) -> None:
        self._put(
            fulfillment_item(fulfillment),
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
        self._put(return_item(rma), "attribute_not_exists(pk)", None, ("order", rma.order_id))

    def update_return(self, rma: ReturnRequest, *, expected_version: int) -> None:
        self._put(return_item(rma), "version = :v", {":v": expected_version}, ("order", rma.order_id))

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

    def add_order_tag(self, order: Order, tag: str) -> None:
        created = format_timestamp(order.created_at)
        item = {
            "pk": k.order_pk(order.id),
            "sk": k.order_tag_sk(tag),
            "entity": k.ENTITY_ORDER_TAG,
            "order_id": order.id,
            "tag": tag,
            **k.order_tag_index_keys(order.id, order.channel_id, created, tag),
        }
        # No condition of its own: the order's version condition in the same transaction
        # decides whether the tag change happens at all.
        self._stage({"Put": {"TableName": self.table, "Item": serialize(item)}}, ("order-tag", order.id, tag))

    def remove_order_tag(self, order_id: str, tag: str) -> None:
        key = serialize({"pk": k.order_pk(order_id), "sk": k.order_tag_sk(tag)})
        self._stage({"Delete": {"TableName": self.table, "Key": key}}, ("order-tag", order_id, tag))

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
