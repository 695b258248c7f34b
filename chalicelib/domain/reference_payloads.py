"""Payloads of the reference-data events: a warehouse, product, box or API key an admin (or an
import, the seed, ``tools.keys``) changed (``service/reference.py``).

They are kept in the audit listing (``GET /v1/audit``) and leave through the stream like every
other event. A record's payload carries it whole, before and after, with the version the change
wrote; an API key's carries what identifies it, never the key nor its hash. Listed in
``event_payloads.PAYLOADS`` with the others.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .auth import Role
from .events import EventPayload, EventType
from .models import Box, Product, Warehouse
from .transit import TransitTime, example_row

_RECORD_VERSION = "The record's version after the change (its ETag); 1 for a new record."
_WAREHOUSE_EXAMPLE = {
    "id": "wh_east",
    "name": "East",
    "priority": 1,
    "timezone": "America/New_York",
    "cutoff": "15:00",
    "country": "US",
    "address": None,
    "business_days": ["mon", "tue", "wed", "thu", "fri"],
    "holidays": ["2026-12-25"],
    "active": True,
}
_PRODUCT_EXAMPLE = {
    "sku": "MUG-1",
    "name": "Mug",
    "weight_grams": 350,
    "length_mm": 120,
    "width_mm": 90,
    "height_mm": 100,
    "keep_upright": False,
    "hazmat": False,
    "active": True,
}
_BOX_EXAMPLE = {
    "code": "M",
    "inner_length_mm": 300,
    "inner_width_mm": 200,
    "inner_height_mm": 150,
    "max_weight_grams": 10000,
    "cost": "0.80",
    "tare_weight_grams": 120,
    "outer_length_mm": None,
    "outer_width_mm": None,
    "outer_height_mm": None,
}


class WarehouseChanged(EventPayload):
    """A warehouse was created or replaced (deactivating one is a replacement with ``active``
    false). The event's ``warehouse_id`` is the warehouse's. Not offered to store webhooks."""

    event_type = EventType.WAREHOUSE_CHANGED
    emitted_by = "a warehouse write from the admin API (put_warehouse)"

    entity: Literal["warehouse"] = Field(description="What kind of record changed.")
    id: str = Field(description="The warehouse's id.", examples=["wh_east"])
    version: int = Field(description=_RECORD_VERSION)
    before: Warehouse | None = Field(description="The warehouse as it was; null when new.", examples=[None])
    after: Warehouse = Field(description="The warehouse as it is now.", examples=[_WAREHOUSE_EXAMPLE])


class ProductChanged(EventPayload):
    """A product was created or replaced, or its bin locations changed (also by a catalogue
    import). The event's ``sku`` is the product's. Not offered to store webhooks."""

    event_type = EventType.PRODUCT_CHANGED
    emitted_by = "a product write from the admin API or a catalogue import (put_product, put_products)"

    entity: Literal["product"] = Field(description="What kind of record changed.")
    id: str = Field(description="The product's SKU.", examples=["MUG-1"])
    version: int = Field(description=_RECORD_VERSION)
    before: Product | None = Field(description="The product as it was; null when new.", examples=[None])
    after: Product = Field(description="The product as it is now.", examples=[_PRODUCT_EXAMPLE])
    bins: dict[str, str] = Field(
        description="The bin locations this change wrote, by warehouse id (empty when none changed).",
        examples=[{"wh_east": "A-01-1"}],
    )


class BoxChanged(EventPayload):
    """A box was added to a warehouse's catalogue or changed; packing recommends from it at once.
    The event's ``warehouse_id`` is the box's warehouse. Not offered to store webhooks."""

    event_type = EventType.BOX_CHANGED
    emitted_by = "a box write from the admin API (put_box)"

    entity: Literal["box"] = Field(description="What kind of record changed.")
    id: str = Field(description="The box's code.", examples=["M"])
    version: int = Field(description=_RECORD_VERSION)
    before: Box | None = Field(description="The box as it was; null when new.", examples=[None])
    after: Box = Field(description="The box as it is now.", examples=[_BOX_EXAMPLE])


class BoxRetired(EventPayload):
    """A box was taken out of a warehouse's catalogue: packing no longer recommends or accepts it
    (parcels packed in it keep its code). The event's ``warehouse_id`` is the box's warehouse.
    Not offered to store webhooks."""

    event_type = EventType.BOX_RETIRED
    emitted_by = "a box retirement from the admin API (retire_box)"

    entity: Literal["box"] = Field(description="What kind of record changed.")
    id: str = Field(description="The box's code.", examples=["M"])
    version: int = Field(description="The version of the box retired (the last it had).")
    before: Box = Field(description="The box as it was when retired.", examples=[_BOX_EXAMPLE])
    after: None = Field(description="Always null: the box is gone from the catalogue.", examples=[None])


class ApiKeyMinted(EventPayload):
    """An API key was minted (by the admin API, ``tools.keys`` or the seed). The key itself is
    shown once to whoever minted it and is in no event. Not offered to store webhooks."""

    event_type = EventType.API_KEY_MINTED
    emitted_by = "a key minted by the admin API, tools.keys or the seed (mint_api_key)"

    entity: Literal["api_key"] = Field(description="What kind of record changed.")
    id: str = Field(
        description="The key's id (derived from its hash; never the key).", examples=["key_3f9a0c1b2d4e5f60"]
    )
    role: Role = Field(description="What the key may do.")
    scope: str | None = Field(
        description="The channel or warehouse id a channel or warehouse key is bound to; null for admin keys."
    )
    label: str = Field(
        description="The label given when it was minted (may be empty).", examples=["packing station 2"]
    )


class ApiKeyRevoked(ApiKeyMinted):
    """An API key was revoked: requests with it fail within the API's key cache time. Not offered
    to store webhooks."""

    event_type = EventType.API_KEY_REVOKED
    emitted_by = "a key revoked by the admin API or tools.keys (revoke_api_key)"


class TransitTimeChanged(EventPayload):
    """A row of the transit table was added or replaced: delivery windows counted from then on use
    it. ``id`` is ``<carrier>/<service>``. Not offered to store webhooks."""

    event_type = EventType.TRANSIT_TIME_CHANGED
    emitted_by = "a transit-time write from the admin API (put_transit_time)"

    entity: Literal["transit_time"] = Field(description="What kind of record changed.")
    id: str = Field(description="The row's carrier and service.", examples=["ups/ground"])
    version: int = Field(description=_RECORD_VERSION)
    before: TransitTime | None = Field(description="The row as it was; null when new.", examples=[None])
    after: TransitTime = Field(description="The row as it is now.", examples=[example_row()])


class TransitTimeRemoved(EventPayload):
    """A row of the transit table was removed: its service and shipping methods fall back to the
    carrier's or the default row. Not offered to store webhooks."""

    event_type = EventType.TRANSIT_TIME_REMOVED
    emitted_by = "a transit-time removal from the admin API (remove_transit_time)"

    entity: Literal["transit_time"] = Field(description="What kind of record changed.")
    id: str = Field(description="The row's carrier and service.", examples=["ups/ground"])
    version: int = Field(description="The version of the row removed (the last it had).")
    before: TransitTime = Field(description="The row as it was when removed.", examples=[example_row()])
    after: None = Field(description="Always null: the row is gone.", examples=[None])


#: The reference-data payload models, for ``event_payloads.PAYLOADS``.
REFERENCE_PAYLOADS: tuple[type[EventPayload], ...] = (
    WarehouseChanged,
    ProductChanged,
    BoxChanged,
    BoxRetired,
    ApiKeyMinted,
    ApiKeyRevoked,
    TransitTimeChanged,
    TransitTimeRemoved,
)
