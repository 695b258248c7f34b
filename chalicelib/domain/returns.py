"""Returns (RMA): what may be returned, the decision, and the refund.

Rules (docs/returns.md says them in prose):
- Only delivered units can be returned, and each unit once: the returnable
  quantity of a SKU is what was delivered minus what open or received
  returns already cover (rejected ones do not count).
- A return is approved automatically when it is requested within the window
  (``window_days`` after the last delivery) and every quantity is returnable;
  outside the window it is recorded as rejected, with the reason.
- The refund is computed when the goods are received: the unit price of every
  unit received resellable or damaged (a wrong item earns nothing), less its
  share of the order's discount, plus its share of the tax, each share in
  proportion to the order's subtotal; the shipping charge only when this
  return completes the return of everything the order had delivered. Amounts
  are rounded half-even to the currency's minor unit, and the refunds of an
  order never add up to more than its total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .models import MAX_LINE_QUANTITY, Fulfillment, Line, Order, Sku, Strict, Timestamp
from .money import CURRENCY_EXPONENTS, Amount
from .status import FulfillmentStatus, ReturnStatus


class ReturnCondition(StrEnum):
    RESELLABLE = "resellable"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"


class ReturnLine(Strict):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY)]
    reason: Annotated[Line, Field(min_length=1, max_length=500)]


class ReceivedItem(Strict):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY)]
    condition: ReturnCondition


class Refund(Strict):
    currency: str
    items: Amount
    discount: Amount
    tax: Amount
    shipping: Amount
    total: Amount


class ReturnRequest(Strict):
    """An RMA: one request to send goods back, its decision, what arrived and the refund."""

    id: str
    order_id: str
    channel_id: str
    status: ReturnStatus
    version: int
    lines: list[ReturnLine]
    rejection_reason: str | None = None
    requested_at: Timestamp
    received_at: Timestamp | None = None
    warehouse_id: str | None = None
    received: list[ReceivedItem] = Field(default_factory=list)
    refund: Refund | None = None

    @property
    def counts(self) -> bool:
        """Open and received returns use up returnable quantity; rejected ones do not."""
        return self.status not in (ReturnStatus.REJECTED,)


def delivered_units(fulfillments: Iterable[Fulfillment]) -> dict[str, int]:
    units: dict[str, int] = {}
    for f in fulfillments:
        if f.status == FulfillmentStatus.DELIVERED:
            for line in f.lines:
                units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def returnable(fulfillments: Iterable[Fulfillment], returns: Iterable[ReturnRequest]) -> dict[str, int]:
    left = delivered_units(fulfillments)
    for rma in returns:
        if rma.counts:
            for line in rma.lines:
                left[line.sku] = left.get(line.sku, 0) - line.quantity
    return {sku: qty for sku, qty in left.items() if qty > 0}


def over_returned(lines: Sequence[ReturnLine], available: Mapping[str, int]) -> list[str]:
    """Why the request asks for more than may be returned (one message per SKU); empty if fine."""
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    return [
        f"{sku}: {qty} requested, {available.get(sku, 0)} delivered and not yet returned"
        for sku, qty in wanted.items()
        if qty > available.get(sku, 0)
    ]


def last_delivery(fulfillments: Iterable[Fulfillment]) -> datetime | None:
    times = [
        f.delivered_at for f in fulfillments if f.status == FulfillmentStatus.DELIVERED and f.delivered_at
    ]
    return max(times) if times else None


def decide(fulfillments: Sequence[Fulfillment], *, now: datetime, window_days: int) -> str | None:
    """None when the return may be approved; else the reason it is rejected."""
    delivered = last_delivery(fulfillments)
    if delivered is None:
        return "nothing of this order has been delivered yet"
    closes = delivered + timedelta(days=window_days)
    if now > closes:
        return f"the {window_days}-day return window closed on {closes.date().isoformat()}"
    return None


def _q(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency]), rounding=ROUND_HALF_EVEN)


def compute_refund(
    order: Order,
    received: Sequence[ReceivedItem],
    *,
    completes_order: bool,
    refunded_before: Decimal,
) -> Refund:
    currency = order.currency
    # A SKU sold on several lines (at several prices) is refunded at its average price paid.
    paid: dict[str, Decimal] = {}
    units: dict[str, int] = {}
    for line in order.lines:
        paid[line.sku] = paid.get(line.sku, Decimal(0)) + line.line_total
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    prices = {sku: paid[sku] / units[sku] for sku in paid if units[sku]}
    value = sum(
        (
            prices.get(item.sku, Decimal(0)) * item.quantity
            for item in received
            if item.condition != ReturnCondition.WRONG_ITEM
        ),
        Decimal(0),
    )
    subtotal = order.totals.subtotal
    share = value / subtotal if subtotal else Decimal(0)
    discount = _q(order.totals.discount * share, currency)
    tax = _q(order.totals.tax * share, currency)
    shipping = order.totals.shipping if completes_order else Decimal(0)
    total = _q(value - discount + tax + shipping, currency)
    left = order.totals.total - refunded_before
    if completes_order:
        # The return that brings everything back refunds exactly what is left: the shares rounded
        # return by return may otherwise add up to a cent more or less than was paid.
        total = left
    total = _q(max(Decimal(0), min(total, left)), currency)
    return Refund(
        currency=currency,
        items=_q(value, currency),
        discount=discount,
        tax=tax,
        shipping=_q(shipping, currency),
        total=total,
    )


def resellable_units(received: Iterable[ReceivedItem]) -> dict[str, int]:
    units: dict[str, int] = {}
    for item in received:
        if item.condition == ReturnCondition.RESELLABLE:
            units[item.sku] = units.get(item.sku, 0) + item.quantity
    return units


def _units(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    units: dict[str, int] = {}
    for sku, quantity in pairs:
        units[sku] = units.get(sku, 0) + quantity
    return units


def unexpected_items(rma: ReturnRequest, items: Iterable[ReceivedItem]) -> list[str]:
    """Why what arrived is more than the RMA announced (one message per SKU); empty if fine."""
    expected = _units((line.sku, line.quantity) for line in rma.lines)
    got = _units((item.sku, item.quantity) for item in items)
    return [
        f"{sku}: {qty} received, {expected.get(sku, 0)} expected"
        for sku, qty in got.items()
        if qty > expected.get(sku, 0)
    ]


@dataclass(frozen=True)
class ReturnReceipt:
    """What receiving a return's goods means for the order and the stock."""

    refund: Refund
    #: Everything delivered is back and nothing else is on its way: the order is returned.
    returns_everything: bool
    #: sku -> units back on the shelf (resellable).
    restocked: dict[str, int]
    #: sku -> units that never re-enter stock (damaged, wrong item).
    written_off: dict[str, int]


def assess_receipt(
    order: Order,
    fulfillments: Sequence[Fulfillment],
    returns: Sequence[ReturnRequest],
    items: Sequence[ReceivedItem],
) -> ReturnReceipt:
    """The refund and the stock moves of receiving ``items``, given the returns received before."""
    received_returns = [r for r in returns if r.status == ReturnStatus.RECEIVED]
    returned_before = _units((item.sku, item.quantity) for r in received_returns for item in r.received)
    got = _units((item.sku, item.quantity) for item in items)
    delivered = delivered_units(fulfillments)
    all_back = all(returned_before.get(sku, 0) + got.get(sku, 0) >= qty for sku, qty in delivered.items())
    # Nothing else is still on its way: every fulfillment was delivered (or cancelled, or was a
    # delivery exception resolved by a reship or a refund).
    everything_delivered = all(
        f.status == FulfillmentStatus.DELIVERED or not f.is_active for f in fulfillments
    )
    # What was refunded before: received returns, and delivery exceptions resolved by a refund.
    refunded_before = sum((r.refund.total for r in received_returns if r.refund), Decimal(0)) + sum(
        (f.resolution.refund_total for f in fulfillments if f.resolution and f.resolution.refund_total),
        Decimal(0),
    )
    # Everything delivered is back and none of it was a wrong item: the refund completes.
    no_wrong_items = all(
        item.condition != ReturnCondition.WRONG_ITEM for r in received_returns for item in r.received
    ) and all(item.condition != ReturnCondition.WRONG_ITEM for item in items)
    refund = compute_refund(
        order,
        items,
        completes_order=all_back and everything_delivered and no_wrong_items,
        refunded_before=refunded_before,
    )
    restock = resellable_units(items)
    written_off = {sku: qty - restock.get(sku, 0) for sku, qty in got.items() if qty > restock.get(sku, 0)}
    return ReturnReceipt(
        refund=refund,
        returns_everything=all_back and everything_delivered,
        restocked=restock,
        written_off=written_off,
    )
