"""Reads shared by the unit of work and the query side: by key or index, never a scan."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.cache import reference_cache
from chalicelib.adapters.dynamodb.items import deserialize, serialize, stock_from_item
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.models import Box, Channel, Fulfillment, Order, Product, StockLevel, Warehouse
from chalicelib.domain.returns import ReturnRequest
from chalicelib.service.ports import DedupRecord, OrderAggregate, TrackingRef


class DynamoItems:
    """Item access on one table: a consistent get, a paged query, a batched get."""

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


class DynamoReader(DynamoItems):
    """Reads shared by the unit of work and the query side."""

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
        levels = [stock_from_item(i) for i in items if i.get("entity") == k.ENTITY_STOCK]
        return products, {(level.warehouse_id, level.sku): level for level in levels}

    def get_stock(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> dict[tuple[str, str], StockLevel]:
        wanted = [(k.sku_pk(sku), k.stock_sk(wh)) for sku in skus for wh in warehouse_ids]
        levels = [stock_from_item(item) for item in self._batch_get(wanted)]
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
