"""The payloads of delivery exceptions (``fulfillment.exception_recorded``, ``fulfillment.resolved``):
order events, listed in ``event_payloads.PAYLOADS`` with the others (kept apart to keep that module
readable)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .events import EventPayload, EventType
from .models import FulfillmentLine
from .returns import Refund
from .status import FulfillmentStatus


class ReshipFulfillment(EventPayload):
    """A fulfillment created by a reship: pick work when released, else a backorder."""

    id: str = Field(description="The fulfillment's id.")
    warehouse_id: str | None = Field(description="The warehouse it was released to; null for a backorder.")
    status: FulfillmentStatus = Field(description="released, or pending for a backorder.")
    ship_by: Annotated[str, Field(description="An ISO 8601 time with its offset.")] | None = Field(
        description="When it must ship to keep the promise (ISO 8601), if promised."
    )
    lines: list[FulfillmentLine] = Field(description="SKUs and quantities.")


class FulfillmentExceptionRecorded(EventPayload):
    """A shipped parcel's journey ended without a delivery: the carrier returned it to the
    sender, or operations declared it lost, damaged or returned. It waits for a resolution
    (``POST /v1/fulfillments/{id}/resolution``) and is listed on the console's needs-attention page."""

    recorded_with_order_state: ClassVar[bool] = True
    event_type = EventType.FULFILLMENT_EXCEPTION_RECORDED
    emitted_by = "a carrier scan (apply_tracking) or operations (record_exception)"

    fulfillment_id: str = Field(description="The fulfillment whose parcel did not arrive.")
    warehouse_id: str | None = Field(description="The warehouse it shipped from.")
    kind: FulfillmentStatus = Field(description="returned_to_sender, lost or damaged.")
    source: Literal["carrier", "operations"] = Field(description="Who said so.")
    note: str | None = Field(description="What operations noted, if anything.")
    lines: list[FulfillmentLine] = Field(description="The units that did not arrive.")


class FulfillmentResolved(EventPayload):
    """A delivery exception acted on: ``reship`` (a new fulfillment of the same units, released to
    a warehouse as at placement), ``refund`` (recorded with ``refund.requested`` for those units)
    or ``restock`` (a returned parcel's resellable units back in stock, the rest written off)."""

    recorded_with_order_state: ClassVar[bool] = True
    event_type = EventType.FULFILLMENT_RESOLVED
    emitted_by = "a resolution (resolve_exception)"

    fulfillment_id: str = Field(description="The fulfillment whose exception is resolved.")
    action: Literal["reship", "refund", "restock"] = Field(description="What was done.")
    kind: FulfillmentStatus = Field(description="The exception: returned_to_sender, lost or damaged.")
    lines: list[FulfillmentLine] = Field(description="The fulfillment's units.")
    reship_fulfillments: list[ReshipFulfillment] = Field(
        description="A reship: the new fulfillment(s) of the same units (released to a warehouse, or "
        "a backorder when stock was short)."
    )
    warehouse_id: str | None = Field(description="A restock: the warehouse the goods came back to.")
    restocked: dict[str, int] = Field(description="A restock: units per SKU back in stock.")
    written_off: dict[str, int] = Field(description="A restock: units per SKU that never re-enter stock.")
    refund: Refund | None = Field(description="A refund: the amounts (also in refund.requested).")
