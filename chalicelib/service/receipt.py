"""Step 2 of the journey, receipt: hold rules, confirmation, warehouses chosen; and holds.

Each use case reads the order, decides with the pure state machines, and
stages one transaction (``service.unit_of_work.change_order``); the receipt
consumer stages the dedup item of its message in the same transaction
(``consume_order_event``), so a redelivered message finds it and changes nothing.
"""

from __future__ import annotations

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.event_payloads import (
    HoldNote,
    OrderBackordered,
    OrderConfirmed,
    OrderHoldReleased,
    OrderOnHold,
    OrderReceived,
    SkuQuantity,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldFinding, HoldPolicy, evaluate_holds
from chalicelib.domain.models import (
    Fulfillment,
    Hold,
    Warehouse,
)
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    HoldReason,
    InvalidTransition,
    OrderStatus,
    OrderTrigger,
    allowed_order_triggers,
    next_order_status,
)
from chalicelib.service.changes import (
    Change,
    StockMove,
    load_order,
    move_fulfillments,
    newly_released,
    release_work,
    summary,
)
from chalicelib.service.placement import stage_awaited_lines
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import Message, change_order, consume_order_event


def proceed(aggregate: OrderAggregate, warehouses: list[Warehouse], clock: Clock) -> Change:
    """Where an order with no hold goes: what has a warehouse is released to it; the order is
    confirmed, or backordered while units still wait for stock."""
    order = aggregate.order
    fulfillments = release_work(aggregate.fulfillments, warehouses, clock.now())
    # Backorders held with the order go back to waiting for stock.
    fulfillments = move_fulfillments(
        [f for f in fulfillments], FulfillmentTrigger.UNHOLD, only={FulfillmentStatus.ON_HOLD}
    )
    released = summary(newly_released(aggregate.fulfillments, fulfillments))
    if any(f.awaiting_stock and f.is_active for f in fulfillments):
        return Change(
            order=order.model_copy(
                update={"status": next_order_status(order.status, OrderTrigger.BACKORDER)}
            ),
            fulfillments=fulfillments,
            payload=OrderBackordered(
                released=released,
                backordered=[
                    SkuQuantity(sku=li.sku, quantity=li.backordered) for li in order.lines if li.backordered
                ],
            ),
        )
    return Change(
        order=order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.CONFIRM)}),
        fulfillments=fulfillments,
        payload=OrderConfirmed(released=released),
    )


def hold_order(
    aggregate: OrderAggregate, findings: list[HoldFinding], *, placed_by: str, clock: Clock
) -> Change:
    order = aggregate.order
    status = next_order_status(order.status, OrderTrigger.HOLD)
    now = clock.now()
    holds = list(order.holds) + [
        Hold(reason=f.reason, note=f.note, placed_at=now, placed_by=placed_by)
        for f in findings
        if f.reason not in order.hold_reasons
    ]
    fulfillments = move_fulfillments(
        aggregate.fulfillments,
        FulfillmentTrigger.HOLD,
        only={
            FulfillmentStatus.PENDING,
            FulfillmentStatus.RELEASED,
            FulfillmentStatus.PICKING,
            FulfillmentStatus.PICKED,
        },
    )
    return Change(
        order=order.model_copy(update={"status": status, "holds": holds}),
        fulfillments=fulfillments,
        payload=OrderOnHold(holds=[HoldNote(reason=f.reason, note=f.note) for f in findings]),
    )


RECEIPT_SCOPE = "consumer#receipt"


def receive_order(
    uow_factory: UnitOfWorkFactory,
    placed: DomainEvent,
    *,
    policy: HoldPolicy,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate | None:
    """Receipt of a placed order: hold it, or confirm it, or acknowledge its backorder.

    Returns the new state, or ``None`` when this event was already handled
    (a redelivery) or the order has moved on without it (e.g. cancelled).
    """
    order_id = placed.order_id or ""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        order = aggregate.order
        if order.received_at is not None or order.status == OrderStatus.CANCELLED:
            return None  # received already, or cancelled before receipt: nothing to decide
        # An admin may have held (or held and released) the order before receipt ran: the rules
        # still run, so an admin's decision can never let an unpaid or suspicious order through.
        findings = [f for f in evaluate_holds(order, policy) if f.reason not in order.hold_reasons]
        received = OrderAggregate(
            order=order.model_copy(update={"received_at": clock.now()}), fulfillments=aggregate.fulfillments
        )
        if findings and OrderTrigger.HOLD in allowed_order_triggers(order.status):
            return hold_order(received, findings, placed_by="system:receipt", clock=clock)
        if order.status in (OrderStatus.PLACED, OrderStatus.BACKORDERED) and not findings:
            return proceed(received, uow.list_warehouses(), clock)
        # Already decided by someone else (held, or released by an admin): receipt records
        # that it ran, and what it found.
        return Change(
            order=received.order,
            fulfillments=aggregate.fulfillments,
            payload=OrderReceived(
                holds=[h.reason for h in order.holds],
                findings=[HoldNote(reason=f.reason, note=f.note) for f in findings],
            ),
        )

    return consume_order_event(
        uow_factory,
        Message(scope=RECEIPT_SCOPE, key=placed.id, ref=order_id),
        lambda uow: load_order(uow, order_id),
        decide,
        actor="system:receipt",
        ids=ids,
        clock=clock,
    )


def place_hold(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    reason: HoldReason,
    note: str | None,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Put an order on hold. The same reason twice is a no-op, not an error."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        if reason in aggregate.order.hold_reasons:
            return None
        try:
            return hold_order(aggregate, [HoldFinding(reason, note or "")], placed_by=actor, clock=clock)
        except InvalidTransition as exc:
            raise Conflict(
                f"order is {aggregate.order.status.value} and can no longer be held",
                current=aggregate.order.status.value,
                allowed=[t.value for t in allowed_order_triggers(aggregate.order.status)],
            ) from exc

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def release_hold(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    reason: HoldReason,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Lift one hold; lifting the last one confirms the order (or returns it to its backorder).

    Lifting ``unresolved_lines`` first places the lines that waited for their products, in the
    same change (refused with ``UnknownSkus`` while one is still not in the catalogue)."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change:
        order = aggregate.order
        if reason not in order.hold_reasons:
            raise NotFound("hold", f"{reason.value} on order {order_id}")
        new_fulfillments: list[Fulfillment] = []
        moves: list[StockMove] = []
        if reason is HoldReason.UNRESOLVED_LINES:
            aggregate, new_fulfillments, moves = stage_awaited_lines(uow, aggregate, ids=ids, clock=clock)
            order = aggregate.order
        remaining = [h for h in order.holds if h.reason != reason]
        released = OrderAggregate(
            order=order.model_copy(update={"holds": remaining}),
            fulfillments=[*aggregate.fulfillments, *new_fulfillments],
        )
        if remaining:
            change = Change(
                order=released.order,
                fulfillments=aggregate.fulfillments,
                payload=OrderHoldReleased(reason=reason, remaining=[h.reason for h in remaining]),
            )
        else:
            change = proceed(released, uow.list_warehouses(), clock)
            change.payload = change.payload.amended(released_hold=reason)
        return _with_new_fulfillments(change, new_fulfillments, moves)

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def _with_new_fulfillments(change: Change, new: list[Fulfillment], moves: list[StockMove]) -> Change:
    """``change`` with the fulfillments created in it staged as new (in their state after it),
    and the stock it reserves for them."""
    new_ids = {f.id for f in new}
    after = {f.id: f for f in change.fulfillments}
    change.new_fulfillments = [after.get(f.id, f) for f in new]
    change.fulfillments = [f for f in change.fulfillments if f.id not in new_ids]
    change.stock = [*change.stock, *moves]
    return change
