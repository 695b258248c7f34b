"""Pure rules of the warehouse road: how the order follows its fulfillments, short picks,
cancellation plans and carrier tracking links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from .models import Fulfillment, FulfillmentLine, Order, OrderLine
from .status import (
    FULFILLMENT_SHIPPED_STATES,
    FulfillmentStatus,
    OrderStatus,
    OrderTrigger,
    next_order_status,
)

F = FulfillmentStatus

#: Fulfillment states in which the warehouse has started work on the goods.
WORK_STARTED = frozenset({F.PICKING, F.PICKED, F.PACKED})
#: Fulfillment states that can still be cancelled: the goods have not been sealed in a box.
CANCELLABLE = frozenset({F.PENDING, F.ON_HOLD, F.RELEASED, F.PICKING, F.PICKED})


def derive_order_status(order: Order, fulfillments: Sequence[Fulfillment]) -> OrderStatus:
    """The order's status as its fulfillments tell it (delivery states come with tracking).

    Precedence: anything shipped makes the order (partially) shipped; else any
    warehouse work makes it in_fulfillment; else the order keeps its own
    pre-fulfillment status (placed, on_hold, confirmed, backordered).

    A resolved delivery exception (reshipped, refunded) is not active. So an order
    whose only parcel was lost and reshipped is in_fulfillment again (its reship
    has not left yet), and one whose undelivered parcels were all refunded, with
    nothing delivered, is cancelled.
    """
    active = [f for f in fulfillments if f.is_active]
    if order.status in (OrderStatus.CANCELLED, OrderStatus.RETURNED, OrderStatus.PARTIALLY_RETURNED):
        return order.status
    if not active:
        if order.status in _AFTER_SHIPMENT and any(f.status == F.REFUNDED for f in fulfillments):
            return OrderStatus.CANCELLED
        return order.status
    shipped = [f for f in active if f.status in FULFILLMENT_SHIPPED_STATES]
    delivered = [f for f in active if f.status == F.DELIVERED]
    if delivered:
        return OrderStatus.DELIVERED if len(delivered) == len(active) else OrderStatus.PARTIALLY_DELIVERED
    if shipped:
        return OrderStatus.SHIPPED if len(shipped) == len(active) else OrderStatus.PARTIALLY_SHIPPED
    if order.status in _AFTER_SHIPMENT:
        # Only a resolved exception takes every shipped parcel out: the rest is warehouse work.
        return OrderStatus.IN_FULFILLMENT
    if any(f.status in WORK_STARTED for f in active) and order.status != OrderStatus.ON_HOLD:
        return OrderStatus.IN_FULFILLMENT
    return order.status


_TRIGGER_FOR = {
    OrderStatus.IN_FULFILLMENT: OrderTrigger.START_FULFILLMENT,
    OrderStatus.PARTIALLY_SHIPPED: OrderTrigger.SHIP_PARTIALLY,
    OrderStatus.SHIPPED: OrderTrigger.SHIP_ALL,
    OrderStatus.PARTIALLY_DELIVERED: OrderTrigger.DELIVER_PARTIALLY,
    OrderStatus.DELIVERED: OrderTrigger.DELIVER_ALL,
    OrderStatus.CONFIRMED: OrderTrigger.CONFIRM,
    OrderStatus.BACKORDERED: OrderTrigger.BACKORDER,
}


#: Order statuses a resolved delivery exception can take back (see ``_trigger``).
_AFTER_SHIPMENT = (OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED)


def _trigger(current: OrderStatus, target: OrderStatus) -> OrderTrigger:
    """What moved the order from ``current`` to ``target``: after shipment, a move back (or to
    cancelled) can only come from a delivery exception resolved."""
    if current in _AFTER_SHIPMENT:
        if target == OrderStatus.IN_FULFILLMENT:
            return OrderTrigger.REOPEN_FULFILLMENT
        if target == OrderStatus.CANCELLED:
            return OrderTrigger.REFUND_UNDELIVERED
        if current == OrderStatus.SHIPPED and target == OrderStatus.PARTIALLY_SHIPPED:
            return OrderTrigger.REOPEN_PARTIALLY
    return _TRIGGER_FOR[target]


def follow_fulfillments(order: Order, fulfillments: Sequence[Fulfillment]) -> Order:
    """The order with its status re-derived, moved through the order state machine (so an
    impossible move raises InvalidTransition instead of being written)."""
    target = derive_order_status(order, fulfillments)
    if target == order.status:
        return order
    return order.model_copy(
        update={"status": next_order_status(order.status, _trigger(order.status, target))}
    )


def settle(order: Order, fulfillments: Sequence[Fulfillment]) -> Order:
    """The order's status after its fulfillments changed: a backordered order whose last
    backorder was allocated or cancelled is confirmed; a confirmed order left with nothing but
    backorders is backordered; then the status follows the work."""
    waiting = any(f.awaiting_stock and f.is_active for f in fulfillments)
    # Work with a warehouse: released, in progress or already shipped.
    working = any(f.warehouse_id is not None and f.is_active for f in fulfillments)
    if order.status == OrderStatus.BACKORDERED and not waiting:
        order = order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.CONFIRM)})
    elif order.status == OrderStatus.CONFIRMED and waiting and not working:
        # e.g. a pick that found nothing: all that is left waits for stock
        order = order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.BACKORDER)})
    return follow_fulfillments(order, fulfillments)


@dataclass(frozen=True)
class PickOutcome:
    picked: list[FulfillmentLine]
    #: sku -> units the shelf did not have.
    shortfalls: dict[str, int]

    @property
    def is_short(self) -> bool:
        return bool(self.shortfalls)


def assess_pick(fulfillment: Fulfillment, reported: Mapping[str, int]) -> PickOutcome:
    """Compare what was picked with what the fulfillment asked for.

    Every SKU of the fulfillment must be reported (a forgotten line must not
    silently turn into a backorder) and none may be over-picked; the caller
    validates that first (see ``pick_report_errors``).
    """
    picked: list[FulfillmentLine] = []
    shortfalls: dict[str, int] = {}
    for line in fulfillment.lines:
        got = reported[line.sku]
        if got:
            picked.append(FulfillmentLine(sku=line.sku, quantity=got))
        if got < line.quantity:
            shortfalls[line.sku] = line.quantity - got
    return PickOutcome(picked=picked, shortfalls=shortfalls)


def pick_report_errors(fulfillment: Fulfillment, reported: Mapping[str, int]) -> list[str]:
    wanted = {line.sku: line.quantity for line in fulfillment.lines}
    errors = [f"{sku} is not in this fulfillment" for sku in reported if sku not in wanted]
    errors += [
        f"{sku} was not reported (report 0 when none was found)" for sku in wanted if sku not in reported
    ]
    errors += [
        f"{sku}: {qty} picked but only {wanted[sku]} wanted"
        for sku, qty in reported.items()
        if sku in wanted and qty > wanted[sku]
    ]
    return errors


def new_backorder(
    fulfillment_id: str, order: Order, sku: str, quantity: int, *, created_at: datetime, now: datetime
) -> Fulfillment:
    """A backorder: ``quantity`` units of one SKU waiting for stock, with no warehouse (one SKU
    each, so a backorder is filed under exactly one SKU). ``created_at`` is its place in the queue."""
    return Fulfillment(
        id=fulfillment_id,
        order_id=order.id,
        channel_id=order.channel_id,
        warehouse_id=None,
        status=FulfillmentStatus.PENDING,
        version=1,
        lines=[FulfillmentLine(sku=sku, quantity=quantity)],
        created_at=created_at,
        updated_at=now,
    )


def book_backorders(order: Order, shortfalls: Mapping[str, int]) -> list[OrderLine]:
    """Book newly backordered units on the order's lines (last line of a SKU first, never more
    than a line has open)."""
    left = dict(shortfalls)
    lines = list(order.lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        room = line.quantity - line.cancelled - line.backordered
        take = min(left.get(line.sku, 0), room)
        if take:
            left[line.sku] -= take
            lines[i] = line.model_copy(update={"backordered": line.backordered + take})
    return lines


def book_allocation(order: Order, sku: str, quantity: int) -> list[OrderLine]:
    """Book ``quantity`` allocated units of ``sku`` off the order's backordered units, first line
    first."""
    left = quantity
    lines = list(order.lines)
    for i, line in enumerate(lines):
        take = min(left, line.backordered) if line.sku == sku else 0
        if take:
            left -= take
            lines[i] = line.model_copy(update={"backordered": line.backordered - take})
    return lines


def book_cancellations(order: Order, cancelled: Mapping[str, int]) -> list[OrderLine]:
    """Book cancelled units on the order's lines: backordered units first, last line first."""
    left = dict(cancelled)
    lines = list(order.lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        take = min(left.get(line.sku, 0), line.quantity - line.cancelled)
        if take:
            left[line.sku] -= take
            lines[i] = line.model_copy(
                update={"cancelled": line.cancelled + take, "backordered": max(0, line.backordered - take)}
            )
    return lines


@dataclass
class CancellationPlan:
    """What a cancellation changes; ``blocking`` names fulfillments already too far along."""

    #: fulfillment id -> its remaining lines (empty list = the whole fulfillment is cancelled).
    remaining: dict[str, list[FulfillmentLine]] = field(default_factory=dict)
    #: (warehouse id, sku) -> units whose reservation is released.
    released: dict[tuple[str, str], int] = field(default_factory=dict)
    #: sku -> units cancelled.
    cancelled: dict[str, int] = field(default_factory=dict)
    blocking: list[Fulfillment] = field(default_factory=list)


class NothingLeftToCancel(ValueError):
    """More units asked to be cancelled than the order still has open."""

    def __init__(self, sku: str, excess: int) -> None:
        self.sku = sku
        self.excess = excess
        super().__init__(f"{excess} more units of {sku} than the order has open to cancel")


def plan_cancellation(
    fulfillments: Iterable[Fulfillment], lines: Mapping[str, int] | None
) -> CancellationPlan:
    """Which units to take from which fulfillments; all or nothing.

    Whole order (``lines`` None): every open fulfillment must still be
    cancellable. Some lines: units come first from backorders (nothing is
    reserved for them), then from the fulfillments least far along. When the
    units can only come from packed fulfillments, those are ``blocking``.
    """
    plan = CancellationPlan()
    open_ = [f for f in fulfillments if f.is_active and f.status not in FULFILLMENT_SHIPPED_STATES]
    if lines is None:
        plan.blocking = [f for f in open_ if f.status not in CANCELLABLE]
        if plan.blocking:
            return plan
        for f in open_:
            plan.remaining[f.id] = []
            for line in f.lines:
                _take(plan, f, line.sku, line.quantity)
        return plan
    remaining = {f.id: list(f.lines) for f in open_}
    by_progress = sorted(
        open_, key=lambda f: (f.warehouse_id is not None, _RANK.get(f.status, 9), f.created_at)
    )
    for sku, wanted in lines.items():
        left = wanted
        for f in by_progress:
            have = sum(line.quantity for line in remaining[f.id] if line.sku == sku)
            if left == 0 or have == 0 or f.status not in CANCELLABLE:
                continue
            take = min(have, left)
            left -= take
            remaining[f.id] = [
                FulfillmentLine(sku=line.sku, quantity=line.quantity - take) if line.sku == sku else line
                for line in remaining[f.id]
                if not (line.sku == sku and line.quantity == take)
            ]
            plan.remaining[f.id] = remaining[f.id]
            _take(plan, f, sku, take)
        if left:
            blockers = [f for f in by_progress if f.status not in CANCELLABLE and f.quantity_of(sku)]
            if not blockers:
                raise NothingLeftToCancel(sku, left)
            plan.blocking += [f for f in blockers if f not in plan.blocking]
    return plan


def _take(plan: CancellationPlan, f: Fulfillment, sku: str, quantity: int) -> None:
    plan.cancelled[sku] = plan.cancelled.get(sku, 0) + quantity
    if f.warehouse_id is not None:
        key = (f.warehouse_id, sku)
        plan.released[key] = plan.released.get(key, 0) + quantity


_RANK = {F.PENDING: 0, F.ON_HOLD: 0, F.RELEASED: 1, F.PICKING: 2, F.PICKED: 3, F.PACKED: 4}


# Carriers' public tracking pages. Unknown carriers get no link rather than a wrong one.
_TRACKING_URLS = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?tracking-id={number}",
    "dhl_express": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?tracking-id={number}",
    "royal_mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "canada_post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
    "australia_post": "https://auspost.com.au/mypost/track/details/{number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
}


def tracking_url(carrier: str, number: str) -> str | None:
    template = _TRACKING_URLS.get(carrier.lower())
    return template.format(number=quote(number, safe="")) if template else None
