"""Use case: edit an order before picking (add lines, remove units, change quantities).

One transaction carries the whole edit: the order at its next version (lines and totals computed
again), every fulfillment that gave up or received units, new fulfillments and backorders for
added units (sourced from the stock levels read now, as at placement), the stock moves (released
for removed units, reserved for added ones, each conditioned as placement's and cancellation's
are), ``order.edited`` and, when the total changed, ``payment.adjustment_requested``, and the
Idempotency-Key's dedup record. A lost race (the order's version, or a stock level) re-reads and
decides again; nothing is ever half-applied.

The API (``POST /v1/orders/{id}/edits``) and the store intake (a Shopify or WooCommerce order
whose lines changed) both edit through ``edit_order``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from chalicelib.domain.channels import check_store_version
from chalicelib.domain.edit_payloads import OrderEdited, PaymentAdjustmentRequested, StockReserved
from chalicelib.domain.edits import (
    NOT_EDITABLE_ORDERS,
    Demand,
    EditRefused,
    OrderEditRequest,
    after_removal,
    check_line_count,
    edit_demand,
    edit_errors,
    edited_lines,
    join_additions,
    order_totals,
    plan_removal,
)
from chalicelib.domain.errors import (
    ConcurrencyConflict,
    FieldError,
    IdempotencyKeyReused,
    InputInvalid,
    InsufficientStock,
    NotFound,
)
from chalicelib.domain.fulfillment import CancellationPlan, new_backorder, settle
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Order, Warehouse
from chalicelib.domain.payload_parts import SkuQuantity, StockReleased
from chalicelib.domain.sourcing import SourcingPlan, plan_sourcing
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    OrderStatus,
    OrderTrigger,
    allowed_order_triggers,
    next_order_status,
)
from chalicelib.service.changes import (
    Change,
    load_order,
    move_fulfillments,
    release,
    release_work,
    reserve,
    retrying,
    stage_change,
    summary,
)
from chalicelib.service.ports import (
    Clock,
    DedupExists,
    DedupRecord,
    IdGenerator,
    OrderAggregate,
    StockConflict,
    UnitOfWork,
    UnitOfWorkFactory,
)

#: How long an edit's Idempotency-Key is remembered (as placement's).
EDIT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
#: Order states in which new work for a warehouse is released at once (receipt has run and no
#: hold waits): an added fulfillment joins the others on the warehouse's pick list.
_RELEASING = frozenset(
    {
        OrderStatus.CONFIRMED,
        OrderStatus.BACKORDERED,
        OrderStatus.IN_FULFILLMENT,
        OrderStatus.PARTIALLY_SHIPPED,
    }
)


def edit_scope(order_id: str) -> str:
    return f"edit#{order_id}"


@dataclass(frozen=True)
class EditOptions:
    """Who edits and how: ``source`` is ``api`` or ``store``; ``store_updated_at`` (store edits)
    is checked against the order's as every store update is, and kept on the order."""

    source: str = "api"
    idempotency_key: str | None = None
    store_updated_at: datetime | None = None


def edit_order(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    request: OrderEditRequest,
    *,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
    options: EditOptions = EditOptions(),
) -> OrderAggregate:
    """Apply the edit; returns the order as written (or as it is, for a repeat of the same
    Idempotency-Key). Refused with ``EditRefused`` (409) once picking started on a fulfillment the
    edit would take units from, ``InputInvalid`` (422) for SKUs or amounts it cannot take,
    ``NotFound`` for an unknown order."""
    request_hash = request.request_hash()

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        before = load_order(uow, order_id)
        authorize(before.order)
        if _seen_before(uow, order_id, options.idempotency_key, request_hash):
            return before
        change = _decide(before, uow, request, options, ids=ids, clock=clock)
        if options.idempotency_key is not None:
            uow.add_dedup(
                DedupRecord(
                    scope=edit_scope(order_id),
                    key=options.idempotency_key,
                    request_hash=request_hash,
                    ref=order_id,
                    created_at=clock.now(),
                ),
                ttl_seconds=EDIT_IDEMPOTENCY_TTL_SECONDS,
            )
        after = stage_change(uow, before, change, actor=actor, ids=ids, clock=clock)
        try:
            uow.commit()
        except StockConflict as exc:  # the stock moved since it was read: plan again
            raise ConcurrencyConflict(f"{exc}; retry") from exc
        return after

    try:
        return retrying(attempt, clock=clock)
    except DedupExists:  # a twin request with the same key won: answer as its repeat
        uow = uow_factory()
        if not _seen_before(uow, order_id, options.idempotency_key, request_hash):
            raise
        return load_order(uow, order_id)


def _seen_before(uow: UnitOfWork, order_id: str, key: str | None, request_hash: str) -> bool:
    if key is None:
        return False
    record = uow.get_dedup(edit_scope(order_id), key)
    if record is None:
        return False
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(key)
    return True


def _decide(
    before: OrderAggregate,
    uow: UnitOfWork,
    request: OrderEditRequest,
    options: EditOptions,
    *,
    ids: IdGenerator,
    clock: Clock,
) -> Change:
    order = before.order
    if options.store_updated_at is not None:
        check_store_version(order.store_updated_at, options.store_updated_at)
    if order.status in NOT_EDITABLE_ORDERS:
        raise EditRefused("order-closed", f"the order is {order.status.value}", current=order.status.value)
    warehouses = uow.list_warehouses()
    named = {entry.sku for entry in request.add} | {entry.sku for entry in request.change}
    products, stock = uow.get_catalogue(named, [w.id for w in warehouses])
    errors = edit_errors(request, order.lines, order.currency, products)
    if errors:
        raise InputInvalid(errors)
    demand = edit_demand(request, order.lines)
    removal = plan_removal(before.fulfillments, demand.removals, order.status.value)
    sourcing = plan_sourcing(
        demand.added_units(), warehouses, {key: level.available for key, level in stock.items()}
    )
    if sourcing.shortages:
        channel = uow.get_channel(order.channel_id)
        if channel is None:
            raise NotFound("channel", order.channel_id)
        if channel.backorder_policy == "reject":
            raise InsufficientStock(shortages=sourcing.shortages)
    return _edited(before, request, options, demand, removal, sourcing, warehouses, ids=ids, now=clock.now())


def _edited(
    before: OrderAggregate,
    request: OrderEditRequest,
    options: EditOptions,
    demand: Demand,
    removal: CancellationPlan,
    sourcing: SourcingPlan,
    warehouses: list[Warehouse],
    *,
    ids: IdGenerator,
    now: datetime,
) -> Change:
    """The order, its fulfillments and the stock as the edit leaves them, and its events."""
    order = before.order
    edited = _edited_order(order, request, demand, _backorder_units(before.fulfillments, removal), sourcing)
    if options.store_updated_at is not None:
        edited = edited.model_copy(update={"store_updated_at": options.store_updated_at})
    fulfillments = after_removal(before.fulfillments, removal, reason=f"edited: {request.reason}")
    fulfillments, unjoined = join_additions(fulfillments, sourcing.allocations)
    new = _new_fulfillments(edited, unjoined, sourcing.shortages, ids=ids, now=now)
    new = _in_step_with_order(edited, new, warehouses, now)
    edited = _settled(edited, [*fulfillments, *new])
    edit_id = ids.new("edt")
    changed = [f for f in [*fulfillments, *new] if f not in before.fulfillments]
    released = list(removal.released.items())
    reserved = [((w, s), q) for w, skus in sourcing.allocations.items() for s, q in skus.items()]
    payload = OrderEdited(
        edit_id=edit_id,
        reason=request.reason,
        source="store" if options.source == "store" else "api",
        added=_quantities(demand.added_units()),
        removed=_quantities(demand.removals),
        stock_released=[StockReleased(warehouse_id=w, sku=s, quantity=q) for (w, s), q in released],
        stock_reserved=[StockReserved(warehouse_id=w, sku=s, quantity=q) for (w, s), q in reserved],
        backordered=_quantities(sourcing.shortages),
        released=summary(changed, status=FulfillmentStatus.RELEASED),
        cancelled_fulfillments=[f.id for f in changed if f.status == FulfillmentStatus.CANCELLED],
        currency=order.currency,
        previous_total=str(order.totals.total),
        total=str(edited.totals.total),
    )
    difference = edited.totals.total - order.totals.total
    return Change(
        order=edited,
        fulfillments=fulfillments,
        new_fulfillments=new,
        payload=payload,
        follow_up=[
            PaymentAdjustmentRequested(
                edit_id=edit_id, amount=str(difference), currency=order.currency, reason=request.reason
            )
        ]
        if difference
        else [],
        stock=[*(release(w, s, q) for (w, s), q in released), *(reserve(w, s, q) for (w, s), q in reserved)],
    )


def _edited_order(
    order: Order,
    request: OrderEditRequest,
    demand: Demand,
    backorder_removed: Mapping[str, int],
    sourcing: SourcingPlan,
) -> Order:
    """The order with its lines edited and its totals computed again from them (422 when the
    discount would exceed the new order, or the lines would be too many)."""
    lines = edited_lines(
        order.lines,
        demand,
        backorder_removed=backorder_removed,
        shortages=sourcing.shortages,
        currency=order.currency,
    )
    totals = order_totals(
        lines,
        order.unresolved_lines,
        currency=order.currency,
        shipping=_or(request.shipping_total, order.totals.shipping),
        tax=_or(request.tax_total, order.totals.tax),
        discount=_or(request.discount_total, order.totals.discount),
    )
    errors = check_line_count(lines)
    if totals.total < 0:
        errors.append(FieldError(["discount_total"], "the discount is larger than the order", "money"))
    if errors:
        raise InputInvalid(errors)
    return order.model_copy(update={"lines": lines, "totals": totals})


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def _quantities(units: Mapping[str, int]) -> list[SkuQuantity]:
    return [SkuQuantity(sku=sku, quantity=qty) for sku, qty in sorted(units.items()) if qty]


def _backorder_units(fulfillments: list[Fulfillment], removal: CancellationPlan) -> dict[str, int]:
    """SKU -> removed units that came from backorders (those held no reservation)."""
    units: dict[str, int] = {}
    for f in fulfillments:
        if f.awaiting_stock and f.id in removal.remaining:
            for line in f.lines:
                left = sum(r.quantity for r in removal.remaining[f.id] if r.sku == line.sku)
                units[line.sku] = units.get(line.sku, 0) + line.quantity - left
    return units


def _new_fulfillments(
    order: Order,
    allocations: Mapping[str, Mapping[str, int]],
    shortages: Mapping[str, int],
    *,
    ids: IdGenerator,
    now: datetime,
) -> list[Fulfillment]:
    """As placement makes them: one pending fulfillment per warehouse, one backorder per SKU."""
    made = [
        Fulfillment(
            id=ids.new("ful"),
            order_id=order.id,
            channel_id=order.channel_id,
            warehouse_id=warehouse_id,
            status=FulfillmentStatus.PENDING,
            version=1,
            lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in skus.items()],
            created_at=now,
            updated_at=now,
        )
        for warehouse_id, skus in allocations.items()
    ]
    made += [
        new_backorder(ids.new("ful"), order, sku, qty, created_at=now, now=now)
        for sku, qty in shortages.items()
    ]
    return made


def _in_step_with_order(
    order: Order, new: list[Fulfillment], warehouses: list[Warehouse], now: datetime
) -> list[Fulfillment]:
    """New fulfillments where the order's others are: held with a held order, released to their
    warehouse (with a ship-by promise) when the order's work is released, else pending for
    receipt to decide."""
    if order.status == OrderStatus.ON_HOLD:
        return move_fulfillments(new, FulfillmentTrigger.HOLD, only={FulfillmentStatus.PENDING})
    if order.status in _RELEASING:
        return release_work(new, warehouses, now)
    return new


def _settled(order: Order, fulfillments: list[Fulfillment]) -> Order:
    """A released order that now has units waiting for stock is backordered (as receipt would
    have it); one whose last backorder was removed is confirmed; then the status follows the work."""
    waiting = any(f.awaiting_stock and f.is_active for f in fulfillments)
    if (
        order.status == OrderStatus.CONFIRMED
        and waiting
        and OrderTrigger.BACKORDER in allowed_order_triggers(order.status)
    ):
        order = order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.BACKORDER)})
    return settle(order, fulfillments)
