"""Pure rules of delivery exceptions: a shipped parcel that was returned to the sender, lost or
damaged, and what may be done about it.

A fulfillment whose journey ended that way (``status.DELIVERY_EXCEPTIONS``) is resolved for the
customer at most once, by a **reship** (a new fulfillment of the same units, sourced as at
placement) or a **refund** (its units' share of what was paid); the two exclude each other.
Goods that came back to a warehouse (returned to sender, or damaged and returned) may also be
**restocked**, once, before or after that resolution: resellable units back in stock, the rest
written off, as a received return does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .fulfillment import book_backorders, new_backorder
from .models import Fulfillment, FulfillmentLine, Order
from .returns import ReceivedItem, Refund, ReturnCondition, ReturnRequest, compute_refund
from .sourcing import SourcingPlan
from .status import (
    DELIVERY_EXCEPTIONS,
    FulfillmentStatus,
    FulfillmentTrigger,
    ReturnStatus,
)

F = FulfillmentStatus

#: What operations may declare, and the trigger each declaration fires.
DECLARATIONS: Mapping[FulfillmentStatus, FulfillmentTrigger] = {
    F.LOST: FulfillmentTrigger.DECLARE_LOST,
    F.DAMAGED: FulfillmentTrigger.DECLARE_DAMAGED,
    F.RETURNED_TO_SENDER: FulfillmentTrigger.DECLARE_RETURNED,
}
#: Exceptions whose goods can come back to a warehouse (a lost parcel cannot be restocked).
RESTOCKABLE = frozenset({F.RETURNED_TO_SENDER, F.DAMAGED})


def exception_kind(fulfillment: Fulfillment) -> FulfillmentStatus | None:
    """The delivery exception the fulfillment had, resolved or not; None when it had none."""
    if fulfillment.delivery_exception is not None:
        return fulfillment.delivery_exception.kind
    return fulfillment.status if fulfillment.status in DELIVERY_EXCEPTIONS else None


def units(lines: Iterable[FulfillmentLine]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        out[line.sku] = out.get(line.sku, 0) + line.quantity
    return out


# --- refund ----------------------------------------------------------------------------------


def refunded_so_far(fulfillments: Iterable[Fulfillment], returns: Iterable[ReturnRequest]) -> Decimal:
    """What the order's received returns and refunded exceptions asked the store to refund."""
    by_returns = sum(
        (r.refund.total for r in returns if r.status == ReturnStatus.RECEIVED and r.refund), Decimal(0)
    )
    by_exceptions = sum(
        (f.resolution.refund_total for f in fulfillments if f.resolution and f.resolution.refund_total),
        Decimal(0),
    )
    return by_returns + by_exceptions


def exception_refund(
    order: Order,
    fulfillments: Sequence[Fulfillment],
    returns: Sequence[ReturnRequest],
    target: Fulfillment,
) -> Refund:
    """The refund for ``target``'s units: their price paid (a SKU sold at several prices at its
    average), less their share of the discount, plus their share of the tax, as a return's.

    When this refund leaves the order with nothing delivered, nothing on its way, nothing
    cancelled and nothing returned (every fulfillment refunded), it refunds exactly what is left
    of the total, shipping included: refunds rounded one by one then add up to what was paid.
    """
    others = [f for f in fulfillments if f.id != target.id]
    completes = (
        all(f.status == F.REFUNDED for f in others)
        and not any(line.cancelled for line in order.lines)
        and not any(r.counts for r in returns)
    )
    items = [
        ReceivedItem(sku=sku, quantity=quantity, condition=ReturnCondition.RESELLABLE)
        for sku, quantity in units(target.lines).items()
    ]
    return compute_refund(
        order, items, completes_order=completes, refunded_before=refunded_so_far(fulfillments, returns)
    )


# --- restock ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestockedItem:
    sku: str
    quantity: int
    resellable: bool


@dataclass(frozen=True)
class RestockPlan:
    #: sku -> units back on the shelf.
    restocked: dict[str, int]
    #: sku -> units that never re-enter stock.
    written_off: dict[str, int]


def restock_errors(fulfillment: Fulfillment, items: Sequence[RestockedItem]) -> list[str]:
    """Why ``items`` cannot be what came back of the parcel (one message per SKU); empty if fine."""
    shipped = units(fulfillment.lines)
    got: dict[str, int] = {}
    for item in items:
        got[item.sku] = got.get(item.sku, 0) + item.quantity
    return [
        f"{sku}: {qty} came back but {shipped.get(sku, 0)} were in the parcel"
        for sku, qty in got.items()
        if qty > shipped.get(sku, 0)
    ]


def plan_restock(items: Sequence[RestockedItem]) -> RestockPlan:
    restocked: dict[str, int] = {}
    written_off: dict[str, int] = {}
    for item in items:
        into = restocked if item.resellable else written_off
        into[item.sku] = into.get(item.sku, 0) + item.quantity
    return RestockPlan(restocked=restocked, written_off=written_off)


# --- reship ----------------------------------------------------------------------------------


def build_reship(
    order: Order,
    original: Fulfillment,
    plan: SourcingPlan,
    *,
    new_id: Callable[[], str],
    now: datetime,
) -> tuple[Order, list[Fulfillment]]:
    """The new fulfillments of ``original``'s units, as ``plan`` sources them: one pending per
    warehouse (the caller releases them), and, for units no warehouse has, one backorder per SKU,
    booked on the order's lines as placement books them."""
    shipments = [
        Fulfillment(
            id=new_id(),
            order_id=order.id,
            channel_id=order.channel_id,
            warehouse_id=warehouse_id,
            status=F.PENDING,
            version=1,
            lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in skus.items()],
            created_at=now,
            updated_at=now,
            reship_of=original.id,
        )
        for warehouse_id, skus in plan.allocations.items()
    ]
    backorders = [
        new_backorder(new_id(), order, sku, qty, created_at=now, now=now).model_copy(
            update={"reship_of": original.id}
        )
        for sku, qty in plan.shortages.items()
    ]
    if backorders:
        order = order.model_copy(update={"lines": book_backorders(order, plan.shortages)})
    return order, shipments + backorders
