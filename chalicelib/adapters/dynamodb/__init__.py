"""DynamoDB adapters, one module per seam: ``items`` (serialisation and item shapes), ``reader``,
``unit_of_work``, ``queries``, ``claims``, ``failures``. What is left here (reference-data writes)
has no module of its own yet."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.cache import reference_cache
from chalicelib.adapters.dynamodb.items import serialize
from chalicelib.domain.models import Box, Channel, Product, Warehouse


class ReferenceData:
    """Writes of channels, warehouses, products and stock levels (seed and admin paths)."""

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
        self._put(
            {
                "pk": k.WAREHOUSES_PK,
                "sk": warehouse.id,
                "entity": k.ENTITY_WAREHOUSE,
                "doc": warehouse.model_dump(mode="json"),
            }
        )

    def put_product(self, product: Product) -> None:
        self._put(
            {
                "pk": k.sku_pk(product.sku),
                "sk": k.PRODUCT_SK,
                "entity": k.ENTITY_PRODUCT,
                "doc": product.model_dump(mode="json"),
            }
        )

    def put_box(self, warehouse_id: str, box: Box) -> None:
        """One box of a warehouse's catalogue: all of a warehouse's boxes are one Query away."""
        self._put(
            {
                "pk": k.boxes_pk(warehouse_id),
                "sk": box.code,
                "entity": k.ENTITY_BOX,
                "warehouse_id": warehouse_id,
                "doc": box.model_dump(mode="json"),
            }
        )

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
