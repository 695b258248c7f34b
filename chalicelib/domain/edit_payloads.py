"""Payloads of order edits (``service/edits.py``): the edit itself and the payment adjustment it
asks the store for. Listed in ``event_payloads.PAYLOADS`` with the others."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .events import EventPayload, EventType
from .payload_parts import OrderChangePayload, Released, SkuQuantity, StockReleased


class StockReserved(EventPayload):
    warehouse_id: str = Field(description="The warehouse whose stock was reserved.")
    sku: str = Field(description="The SKU.")
    quantity: int = Field(description="Units reserved (no longer available).")


class OrderEdited(OrderChangePayload):
    """Lines were added, units removed or quantities changed before picking (from the API or a
    store's line edit): reservations, fulfillments, lines and totals changed together. A
    ``payment.adjustment_requested`` follows when the total changed."""

    event_type = EventType.ORDER_EDITED
    emitted_by = "an order edit from the API or a store (edit_order)"

    edit_id: str = Field(description="The edit's id (also in payment.adjustment_requested).")
    reason: str = Field(description="Why the order was edited, as given.")
    source: Literal["api", "store"] = Field(description="Who asked: the API or the store's own line edit.")
    added: list[SkuQuantity] = Field(description="Units added per SKU.")
    removed: list[SkuQuantity] = Field(description="Units removed per SKU.")
    stock_released: list[StockReleased] = Field(description="Reservations released per warehouse and SKU.")
    stock_reserved: list[StockReserved] = Field(description="Reservations made per warehouse and SKU.")
    backordered: list[SkuQuantity] = Field(
        description="Added units per SKU that no warehouse holds (backordered)."
    )
    released: Released
    cancelled_fulfillments: list[str] = Field(description="Fulfillments left with nothing, cancelled.")
    currency: str = Field(description="ISO 4217 currency code.")
    previous_total: str = Field(description="The order's total before the edit (decimal string).")
    total: str = Field(description="The order's total after the edit (decimal string).")


class PaymentAdjustmentRequested(OrderChangePayload):
    """An edit changed the order's total: the store charges the difference (positive) or refunds
    it (negative). Recorded with ``order.edited``, as its follow-up."""

    event_type = EventType.PAYMENT_ADJUSTMENT_REQUESTED
    emitted_by = "an order edit (edit_order)"

    edit_id: str = Field(description="The edit that changed the total.")
    amount: str = Field(
        description="The difference as a signed decimal string: positive to charge, negative to refund."
    )
    currency: str = Field(description="ISO 4217 currency code.")
    reason: str = Field(description="Why the order was edited, as given.")


EDIT_PAYLOADS: tuple[type[EventPayload], ...] = (OrderEdited, PaymentAdjustmentRequested)
