"""DynamoDB storage of reference data: warehouses, products, boxes, API keys and their audit trail.

``DynamoReferenceStore`` is the repository of service/reference.py: each ``commit`` is ONE
``TransactWriteItems`` holding whole changes, each with its event item under ``AUDIT`` /
``EVENT#<event id>`` (the outbox: the relay puts it on the bus, and the audit listing reads the
partition newest first). Every record write is conditioned on the version the change was decided
on. ``ReferenceData`` writes reference records directly (the local seed, benchmarks, tests).

Caches: warehouses and channels are cached per process for ``REFERENCE_CACHE_SECONDS`` (30 s) by
the readers in adapters/dynamodb.py. A change clears the cache of the process that made it at
once; other warm processes see it within those 30 seconds at most. Products, boxes and stock
levels are never cached.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb import (
    DynamoReader,
    InvalidCursor,
    decode_cursor,
    deserialize,
    encode_cursor,
    reference_cache,
    serialize,
)
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Channel, Product, Warehouse, format_timestamp
from chalicelib.domain.reference import ApiKeyRecord, Versioned
from chalicelib.service.ports import TransactionConflict
from chalicelib.service.reference import (
    ApiKeyMinted,
    ApiKeyRevoked,
    BoxChange,
    BoxRetirement,
    ProductChange,
    ReferenceChange,
    StoredApiKey,
    WarehouseChange,
)

_PRODUCTS_CURSOR = "products"
_AUDIT_CURSOR = "audit"


def _version(item: dict[str, Any]) -> int:
    # Records written before versions existed count as version 1.
    return int(item.get("version", 1))


def _version_condition(expected: int | None) -> tuple[str, dict[str, Any]]:
    if expected is None:
        return "attribute_not_exists(pk)", {}
    if expected == 1:
        return "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :expected)", {
            ":expected": 1
        }
    return "version = :expected", {":expected": expected}


def warehouse_item(warehouse: Warehouse, version: int = 1) -> dict[str, Any]:
    return {
        "pk": k.WAREHOUSES_PK,
        "sk": warehouse.id,
        "entity": k.ENTITY_WAREHOUSE,
        "version": version,
        "doc": warehouse.model_dump(mode="json"),
    }


def product_item(product: Product, version: int = 1) -> dict[str, Any]:
    return {
        "pk": k.sku_pk(product.sku),
        "sk": k.PRODUCT_SK,
        "entity": k.ENTITY_PRODUCT,
        "version": version,
        "gsi5pk": k.PRODUCTS_INDEX_PK,
        "gsi5sk": product.sku,
        "doc": product.model_dump(mode="json"),
    }


def box_item(warehouse_id: str, box: Box, version: int = 1) -> dict[str, Any]:
    return {
        "pk": k.boxes_pk(warehouse_id),
        "sk": box.code,
        "entity": k.ENTITY_BOX,
        "warehouse_id": warehouse_id,
        "version": version,
        "doc": box.model_dump(mode="json"),
    }


def audit_item(event: DomainEvent) -> dict[str, Any]:
    return {
        "pk": k.AUDIT_PK,
        "sk": k.audit_event_sk(event.id),
        "entity": k.ENTITY_EVENT,
        "event_id": event.id,
        "type": event.type,
        "doc": event.model_dump(mode="json"),
    }


def api_key_item(record: ApiKeyRecord, key_hash: str) -> dict[str, Any]:
    """The lookup item authentication reads (adapters/api_keys.py)."""
    item: dict[str, Any] = {
        "pk": k.api_key_pk(key_hash),
        "sk": k.API_KEY_SK,
        "entity": k.ENTITY_API_KEY,
        "key_id": record.key_id,
        "role": record.role.value,
        "label": record.label,
        "created_at": int(record.created_at.timestamp()),
    }
    if record.scope:
        item["scope"] = record.scope
    return item


def api_key_listing_item(record: ApiKeyRecord, key_hash: str) -> dict[str, Any]:
    return {
        "pk": k.API_KEYS_PK,
        "sk": record.key_id,
        "entity": k.ENTITY_API_KEY_LISTING,
        "key_hash": key_hash,
        "doc": record.model_dump(mode="json", exclude={"last_used_at"}),
    }


def _api_key_record(item: dict[str, Any]) -> ApiKeyRecord:
    doc = dict(item["doc"])
    if item.get("last_used_at"):
        doc["last_used_at"] = item["last_used_at"]
    return ApiKeyRecord.model_validate(doc)


class DynamoReferenceStore(DynamoReader):
    """The ``ReferenceRepository`` of service/reference.py."""

    # -- reads -------------------------------------------------------------------------------------

    def get_warehouse(self, warehouse_id: str) -> Versioned[Warehouse] | None:
        item = self._get(k.WAREHOUSES_PK, warehouse_id)
        return Versioned(Warehouse.model_validate(item["doc"]), _version(item)) if item else None

    def list_warehouses(self) -> list[Versioned[Warehouse]]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.WAREHOUSES_PK}),
            ConsistentRead=True,
        )
        return [Versioned(Warehouse.model_validate(i["doc"]), _version(i)) for i in items]

    def get_products(self, skus: Iterable[str]) -> dict[str, Versioned[Product]]:
        items = self._batch_get([(k.sku_pk(sku), k.PRODUCT_SK) for sku in skus])
        return {i["doc"]["sku"]: Versioned(Product.model_validate(i["doc"]), _version(i)) for i in items}

    def list_products(self, cursor: str | None, limit: int) -> tuple[list[Versioned[Product]], str | None]:
        condition, values = "gsi5pk = :p", {":p": k.PRODUCTS_INDEX_PK}
        if cursor is not None:
            try:
                values[":after"] = decode_cursor(cursor, _PRODUCTS_CURSOR)
            except InvalidCursor:
                raise ValueError("not a product cursor") from None
            condition += " AND gsi5sk > :after"
        response = self.client.query(
            TableName=self.table,
            IndexName="gsi5",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=serialize(values),
            Limit=limit + 1,
        )
        rows = [deserialize(item) for item in response.get("Items", [])]
        page = [Versioned(Product.model_validate(r["doc"]), _version(r)) for r in rows[:limit]]
        more = len(rows) > limit
        return page, (encode_cursor(_PRODUCTS_CURSOR, page[-1].value.sku) if more and page else None)

    def get_bins(self, skus: Iterable[str], warehouse_ids: Iterable[str]) -> dict[tuple[str, str], str]:
        whs = list(warehouse_ids)
        items = self._batch_get([(k.sku_pk(sku), k.stock_sk(wh)) for sku in skus for wh in whs])
        return {(i["sku"], i["warehouse_id"]): str(i["bin"]) for i in items if i.get("bin")}

    def get_box(self, warehouse_id: str, code: str) -> Versioned[Box] | None:
        item = self._get(k.boxes_pk(warehouse_id), code)
        return Versioned(Box.model_validate(item["doc"]), _version(item)) if item else None

    def list_boxes(self, warehouse_id: str) -> list[Versioned[Box]]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.boxes_pk(warehouse_id)}),
            ConsistentRead=True,
        )
        return [Versioned(Box.model_validate(i["doc"]), _version(i)) for i in items]

    def channel_exists(self, channel_id: str) -> bool:
        return self._get(k.CHANNELS_PK, channel_id) is not None

    def get_api_key(self, key_id: str) -> StoredApiKey | None:
        item = self._get(k.API_KEYS_PK, key_id)
        return StoredApiKey(_api_key_record(item), str(item["key_hash"])) if item else None

    def list_api_keys(self) -> list[ApiKeyRecord]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.API_KEYS_PK}),
            ConsistentRead=True,
        )
        return [_api_key_record(item) for item in items]

    def list_audit(self, cursor: str | None, limit: int) -> tuple[list[DomainEvent], str | None]:
        condition, values = "pk = :pk", {":pk": k.AUDIT_PK}
        if cursor is not None:
            try:
                values[":before"] = decode_cursor(cursor, _AUDIT_CURSOR)
            except InvalidCursor:
                raise ValueError("not an audit cursor") from None
            condition += " AND sk < :before"
        else:
            condition += " AND begins_with(sk, :ev)"
            values[":ev"] = k.EVENT_PREFIX
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=serialize(values),
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        rows = [deserialize(item) for item in response.get("Items", [])]
        page = rows[:limit]
        events = [DomainEvent.model_validate(r["doc"]) for r in page]
        more = len(rows) > limit
        return events, (encode_cursor(_AUDIT_CURSOR, page[-1]["sk"]) if more and page else None)

    # -- writes ------------------------------------------------------------------------------------

    def commit(self, changes: Sequence[ReferenceChange]) -> None:
        operations: list[dict[str, Any]] = []
        tags: list[str] = []
        for change in changes:
            for operation in self._operations(change):
                operations.append(operation)
                tags.append(_describe(change))
        if not operations:
            return
        try:
            self.client.transact_write_items(TransactItems=operations, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            for tag, reason in zip(tags, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise ConcurrencyConflict(f"{tag} changed concurrently; read it again") from None
            for tag, reason in zip(tags, reasons, strict=False):
                if reason.get("Code") == "TransactionConflict":
                    raise TransactionConflict(f"{tag} was being written by another transaction") from None
            raise ConcurrencyConflict("the change conflicted with a concurrent one") from None
        finally:
            # Whatever happened, this process reads reference data afresh from now on.
            reference_cache.clear()

    def _put(
        self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": serialize(item),
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        return {"Put": put}

    def _event(self, event: DomainEvent) -> dict[str, Any]:
        return self._put(audit_item(event), "attribute_not_exists(pk)")

    def _operations(self, change: ReferenceChange) -> list[dict[str, Any]]:
        if isinstance(change, WarehouseChange):
            condition, values = _version_condition(change.expected)
            record = self._put(warehouse_item(change.warehouse, change.version), condition, values)
            return [record, self._event(change.event)]
        if isinstance(change, ProductChange):
            condition, values = _version_condition(change.expected)
            record = self._put(product_item(change.product, change.version), condition, values)
            bins = [
                self._bin(change.product.sku, wh, location) for wh, location in sorted(change.bins.items())
            ]
            return [record, *bins, self._event(change.event)]
        if isinstance(change, BoxChange):
            condition, values = _version_condition(change.expected)
            record = self._put(box_item(change.warehouse_id, change.box, change.version), condition, values)
            return [record, self._event(change.event)]
        if isinstance(change, BoxRetirement):
            condition, values = _version_condition(change.expected)
            delete = {
                "Delete": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.boxes_pk(change.warehouse_id), "sk": change.code}),
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": serialize(values),
                }
            }
            return [delete, self._event(change.event)]
        if isinstance(change, ApiKeyMinted):
            return [
                self._put(api_key_item(change.record, change.key_hash), "attribute_not_exists(pk)"),
                self._put(api_key_listing_item(change.record, change.key_hash), "attribute_not_exists(pk)"),
                self._event(change.event),
            ]
        assert isinstance(change, ApiKeyRevoked)
        revoked_at = change.record.revoked_at
        assert revoked_at is not None, "a revocation has its time"
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.api_key_pk(change.key_hash), "sk": k.API_KEY_SK}),
                    "UpdateExpression": "SET revoked_at = :at",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": serialize({":at": int(revoked_at.timestamp())}),
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.API_KEYS_PK, "sk": change.record.key_id}),
                    "UpdateExpression": "SET doc.revoked_at = :at",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": serialize({":at": format_timestamp(revoked_at)}),
                }
            },
            self._event(change.event),
        ]

    def _bin(self, sku: str, warehouse_id: str, location: str) -> dict[str, Any]:
        """The bin of a stock level; a level the warehouse never held is set up with zeros."""
        index = k.stock_index_keys(warehouse_id, sku)
        return {
            "Update": {
                "TableName": self.table,
                "Key": serialize({"pk": k.sku_pk(sku), "sk": k.stock_sk(warehouse_id)}),
                "UpdateExpression": (
                    "SET #bin = :bin, on_hand = if_not_exists(on_hand, :zero), "
                    "reserved = if_not_exists(reserved, :zero), available = if_not_exists(available, :zero), "
                    "sku = if_not_exists(sku, :sku), warehouse_id = if_not_exists(warehouse_id, :wh), "
                    "entity = if_not_exists(entity, :entity), "
                    "gsi5pk = if_not_exists(gsi5pk, :g5pk), gsi5sk = if_not_exists(gsi5sk, :g5sk)"
                ),
                "ExpressionAttributeNames": {"#bin": "bin"},
                "ExpressionAttributeValues": serialize(
                    {
                        ":bin": location,
                        ":zero": 0,
                        ":sku": sku,
                        ":wh": warehouse_id,
                        ":entity": k.ENTITY_STOCK,
                        ":g5pk": index["gsi5pk"],
                        ":g5sk": index["gsi5sk"],
                    }
                ),
            }
        }

    def touch_api_key(self, key_id: str, at: str) -> None:
        """Record a key's last use (best effort, no event: it is telemetry, not a change)."""
        # A key minted before the listing existed has no listing item, and a throttled write is
        # not worth failing a request for.
        with contextlib.suppress(ClientError):
            self.client.update_item(
                TableName=self.table,
                Key=serialize({"pk": k.API_KEYS_PK, "sk": key_id}),
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=serialize({":at": at}),
            )


def _describe(change: ReferenceChange) -> str:
    if isinstance(change, WarehouseChange):
        return f"warehouse {change.warehouse.id}"
    if isinstance(change, ProductChange):
        return f"product {change.product.sku}"
    if isinstance(change, BoxChange):
        return f"box {change.warehouse_id}/{change.box.code}"
    if isinstance(change, BoxRetirement):
        return f"box {change.warehouse_id}/{change.code}"
    return f"API key {change.record.key_id}"


class ReferenceData:
    """Writes of channels, warehouses, products and stock levels without events (seed and tests).

    Records are written at version 1; an administrator changes them through the API afterwards."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _put(self, item: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.table, Item=serialize(item))
        reference_cache.clear()

    def put_channel(self, channel: Channel) -> None:
        self._put(
            {
                "pk": k.CHANNELS_PK,
                "sk": channel.id,
                "entity": k.ENTITY_CHANNEL,
                "doc": channel.model_dump(mode="json"),
            }
        )

    def put_warehouse(self, warehouse: Warehouse) -> None:
        self._put(warehouse_item(warehouse))

    def put_product(self, product: Product) -> None:
        self._put(product_item(product))

    def put_box(self, warehouse_id: str, box: Box) -> None:
        """One box of a warehouse's catalogue: all of a warehouse's boxes are one Query away."""
        self._put(box_item(warehouse_id, box))

    def put_stock(
        self, warehouse_id: str, sku: str, on_hand: int, *, bin_location: str | None = None
    ) -> None:
        """Set a stock level from scratch (seed); reservations start at zero."""
        item: dict[str, Any] = {
            "pk": k.sku_pk(sku),
            "sk": k.stock_sk(warehouse_id),
            "entity": k.ENTITY_STOCK,
            "sku": sku,
            "warehouse_id": warehouse_id,
            "on_hand": on_hand,
            "reserved": 0,
            "available": on_hand,
        }
        if bin_location:
            item["bin"] = bin_location
        item.update(k.stock_index_keys(warehouse_id, sku))
        self._put(item)
