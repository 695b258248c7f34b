"""Parts several event payloads share (``event_payloads`` and the modules beside it import them
from here): hold notes, released pick work, units per SKU, stock released, and the base of the
order events an order change records."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from .events import EventPayload
from .models import FulfillmentLine
from .status import FulfillmentStatus, HoldReason

IsoTime = Annotated[str, Field(description="An ISO 8601 time with its offset.")]


class HoldNote(EventPayload):
    """A hold reason and what the rule (or person) that found it noted."""

    reason: HoldReason = Field(description="Why the order is held.")
    note: str | None = Field(description="What the rule or the person that placed the hold noted.")


class ReleasedFulfillment(EventPayload):
    """A fulfillment released to its warehouse by this change: pick work."""

    id: str = Field(description="The fulfillment's id.")
    warehouse_id: str | None = Field(description="The warehouse it was released to.")
    status: FulfillmentStatus = Field(description="The fulfillment's status (released).")
    ship_by: IsoTime | None = Field(
        description="When it must ship to keep the promise (ISO 8601), if promised."
    )
    lines: list[FulfillmentLine] = Field(description="SKUs and quantities to pick.")


class SkuQuantity(EventPayload):
    sku: str = Field(description="The SKU.")
    quantity: int = Field(description="Units.")


class StockReleased(EventPayload):
    warehouse_id: str = Field(description="The warehouse whose reservation was released.")
    sku: str = Field(description="The SKU.")
    quantity: int = Field(description="Units no longer reserved (available again).")


class PlacedLine(EventPayload):
    sku: str = Field(description="The SKU ordered.")
    quantity: int = Field(description="Units ordered.")
    backordered: int = Field(description="Units no warehouse could reserve at placement (waiting for stock).")


class PlacedFulfillment(EventPayload):
    id: str = Field(description="The fulfillment's id.")
    warehouse_id: str | None = Field(
        description="The warehouse sourcing it; null for a backorder awaiting stock."
    )
    lines: list[FulfillmentLine] = Field(description="SKUs and quantities it ships.")


class OrderChangePayload(EventPayload):
    """Base of the order events recorded by an order change (see OrderState)."""

    recorded_with_order_state: ClassVar[bool] = True


Released = Annotated[
    list[ReleasedFulfillment], Field(description="Fulfillments released to warehouses by this change.")
]
