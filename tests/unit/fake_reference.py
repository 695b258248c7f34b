"""An in-memory ``ReferenceRepository`` (service/reference.py) for unit tests.

It keeps the adapter's contract (adapters/reference.py): ``commit`` checks every change's
expected version before applying anything and raises ``ConcurrencyConflict`` when one moved (all
or nothing); a transaction holds at most 100 items; events are kept newest first for the audit
listing; cursors it did not make raise ValueError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Product, Warehouse
from chalicelib.domain.reference import ApiKeyRecord, Versioned
from chalicelib.service.reference import (
    TRANSACTION_ITEMS,
    ApiKeyMinted,
    ApiKeyRevoked,
    BoxChange,
    BoxRetirement,
    ProductChange,
    ReferenceChange,
    StoredApiKey,
    WarehouseChange,
)


class FakeReferenceRepository:
    def __init__(self) -> None:
        self.warehouses: dict[str, Versioned[Warehouse]] = {}
        self.products: dict[str, Versioned[Product]] = {}
        self.bins: dict[tuple[str, str], str] = {}
        self.boxes: dict[tuple[str, str], Versioned[Box]] = {}
        self.channels: set[str] = set()
        self.keys: dict[str, StoredApiKey] = {}
        self.events: list[DomainEvent] = []
        self.commits = 0

    def get_warehouse(self, warehouse_id: str) -> Versioned[Warehouse] | None:
        return self.warehouses.get(warehouse_id)

    def list_warehouses(self) -> list[Versioned[Warehouse]]:
        return list(self.warehouses.values())

    def get_products(self, skus: Iterable[str]) -> dict[str, Versioned[Product]]:
        return {sku: self.products[sku] for sku in skus if sku in self.products}

    def list_products(self, cursor: str | None, limit: int) -> tuple[list[Versioned[Product]], str | None]:
        if cursor is not None and not cursor.startswith("after:"):
            raise ValueError("not a cursor")
        after = cursor[len("after:") :] if cursor else ""
        skus = sorted(sku for sku in self.products if sku > after)
        page = skus[:limit]
        more = len(skus) > limit
        return [self.products[s] for s in page], (f"after:{page[-1]}" if more else None)

    def get_bins(self, skus: Iterable[str], warehouse_ids: Iterable[str]) -> dict[tuple[str, str], str]:
        wanted = {(sku, wh) for sku in skus for wh in warehouse_ids}
        return {key: value for key, value in self.bins.items() if key in wanted}

    def get_box(self, warehouse_id: str, code: str) -> Versioned[Box] | None:
        return self.boxes.get((warehouse_id, code))

    def list_boxes(self, warehouse_id: str) -> list[Versioned[Box]]:
        return [box for (wh, _), box in self.boxes.items() if wh == warehouse_id]

    def channel_exists(self, channel_id: str) -> bool:
        return channel_id in self.channels

    def get_api_key(self, key_id: str) -> StoredApiKey | None:
        return self.keys.get(key_id)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        return [stored.record for stored in self.keys.values()]

    def list_audit(self, cursor: str | None, limit: int) -> tuple[list[DomainEvent], str | None]:
        start = int(cursor) if cursor is not None else 0  # ValueError for anything else
        newest_first = list(reversed(self.events))
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return page, (str(start + limit) if more else None)

    def _current(self, change: ReferenceChange) -> int | None:
        if isinstance(change, WarehouseChange):
            found = self.warehouses.get(change.warehouse.id)
        elif isinstance(change, ProductChange):
            found = self.products.get(change.product.sku)  # type: ignore[assignment]
        elif isinstance(change, BoxChange):
            found = self.boxes.get((change.warehouse_id, change.box.code))  # type: ignore[assignment]
        elif isinstance(change, BoxRetirement):
            found = self.boxes.get((change.warehouse_id, change.code))  # type: ignore[assignment]
        else:
            return None
        return found.version if found else None

    def commit(self, changes: Sequence[ReferenceChange]) -> None:
        if sum(change.items for change in changes) > TRANSACTION_ITEMS:
            raise AssertionError("a transaction holds at most 100 items")
        for change in changes:
            if isinstance(change, ApiKeyMinted) and change.record.key_id in self.keys:
                raise ConcurrencyConflict("key exists")
            if isinstance(change, ApiKeyRevoked) and change.record.key_id not in self.keys:
                raise ConcurrencyConflict("no such key")
            if (
                not isinstance(change, ApiKeyMinted | ApiKeyRevoked)
                and self._current(change) != change.expected
            ):
                raise ConcurrencyConflict("changed concurrently")
        for change in changes:
            if isinstance(change, WarehouseChange):
                self.warehouses[change.warehouse.id] = Versioned(change.warehouse, change.version)
            elif isinstance(change, ProductChange):
                self.products[change.product.sku] = Versioned(change.product, change.version)
                for wh, location in change.bins.items():
                    self.bins[(change.product.sku, wh)] = location
            elif isinstance(change, BoxChange):
                self.boxes[(change.warehouse_id, change.box.code)] = Versioned(change.box, change.version)
            elif isinstance(change, BoxRetirement):
                del self.boxes[(change.warehouse_id, change.code)]
            else:
                self.keys[change.record.key_id] = StoredApiKey(change.record, change.key_hash)
            self.events.append(change.event)
        self.commits += 1
