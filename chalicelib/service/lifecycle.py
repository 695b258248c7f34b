"""Use cases after placement: receipt (hold rules, confirmation) and holds.

Each use case reads the order, decides with the pure state machines, and
stages one transaction (``service.unit_of_work.change_order``); the receipt
consumer stages the dedup item of its message in the same transaction
(``consume_order_event``), so a redelivered message finds it and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.channels import check_store_version
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.event_payloads import (
    HoldNote,
    OrderBackordered,
    OrderConfirmed,
    OrderHoldReleased,
    OrderOnHold,
    OrderReceived,
    OrderStoreSynced,
    OrderUpdated,
    SkuQuantity,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldFinding, HoldPolicy, evaluate_holds
from chalicelib.domain.models import (
    Address,
    Customer,
    Fulfillment,
    Hold,
    Order,
    Warehouse,
    format_timestamp,
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


def _proceed(aggregate: OrderAggregate, warehouses: list[Warehouse], clock: Clock) -> Change:
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


def _hold(aggregate: OrderAggregate, findings: list[HoldFinding], *, placed_by: str, clock: Clock) -> Change:
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
            return _hold(received, findings, placed_by="system:receipt", clock=clock)
        if order.status in (OrderStatus.PLACED, OrderStatus.BACKORDERED) and not findings:
            return _proceed(received, uow.list_warehouses(), clock)
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
            return _hold(aggregate, [HoldFinding(reason, note or "")], placed_by=actor, clock=clock)
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
            change = _proceed(released, uow.list_warehouses(), clock)
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


@dataclass(frozen=True)
class OrderChanges:
    """What a store may change after placement (the REST PATCH and store order updates)."""

    shipping_address: Address | None = None
    billing_address: Address | None = None
    customer: Customer | None = None
    shipping_method: str | None = None
    paid: bool | None = None
    #: Store updates: the store's modification time of the version these changes come from. An
    #: update older than the order's ``store_updated_at`` raises ``StaleStoreOrder`` and changes
    #: nothing; the check is made on the order read for the write, which is conditioned on its
    #: version, so a newer update committed meanwhile makes this one re-read and re-check.
    store_updated_at: datetime | None = None


#: Holds the rules lift by themselves once their cause is gone; a fraud review or a manual
#: hold always waits for a person.
SELF_LIFTING = frozenset({HoldReason.PAYMENT_PENDING, HoldReason.ADDRESS_INVALID})


def update_order(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    changes: OrderChanges,
    *,
    policy: HoldPolicy,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Apply a store's changes; the hold rules run again on the result: paying lifts
    ``payment_pending``, a fixed address lifts ``address_invalid``, and new findings hold it."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        order = aggregate.order
        authorize(order)
        check_store_version(order.store_updated_at, changes.store_updated_at)
        updates = {
            name: value
            for name, value in vars(changes).items()
            if name != "store_updated_at" and value is not None and getattr(order, name) != value
        }
        if not updates:
            return _store_synced(aggregate, changes.store_updated_at)
        _check_updatable(aggregate, updates)
        return _updated(aggregate, updates, changes, policy, uow, clock)

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def _store_synced(aggregate: OrderAggregate, store_version: datetime | None) -> Change | None:
    """Nothing to apply. None for the same changes again; but when the store's version moved, it is
    remembered, or an older version arriving later (e.g. a cancellation the merchant since undid)
    would pass as newer. No hold rule runs: nothing they look at changed."""
    order = aggregate.order
    if store_version is None or (
        order.store_updated_at is not None and store_version <= order.store_updated_at
    ):
        return None
    return Change(
        order=order.model_copy(update={"store_updated_at": store_version}),
        fulfillments=aggregate.fulfillments,
        payload=OrderStoreSynced(store_updated_at=format_timestamp(store_version)),
    )


def _check_updatable(aggregate: OrderAggregate, updates: dict[str, Any]) -> None:
    order = aggregate.order
    if order.status in (OrderStatus.CANCELLED, OrderStatus.RETURNED):
        raise Conflict(f"the order is {order.status.value}", current=order.status.value, allowed=[])
    if "shipping_address" in updates:
        sealed = [f for f in aggregate.fulfillments if f.is_active and f.status not in _ADDRESS_CHANGEABLE]
        if sealed:
            names = ", ".join(f"{f.id} ({f.status.value})" for f in sealed)
            raise Conflict(
                f"too late to change the address: fulfillments {names} are packed or shipped",
                current=order.status.value,
                allowed=[],
            )


def _updated(
    aggregate: OrderAggregate,
    updates: dict[str, Any],
    changes: OrderChanges,
    policy: HoldPolicy,
    uow: UnitOfWork,
    clock: Clock,
) -> Change:
    """The order with the updates applied and the hold rules run again on it."""
    order = aggregate.order
    changed = order.model_copy(update=updates)
    if changes.store_updated_at is not None:
        changed = changed.model_copy(update={"store_updated_at": changes.store_updated_at})
    findings = evaluate_holds(changed, policy) if order.received_at is not None else []
    found = {f.reason for f in findings}
    # Before receipt no rule has run, so none may lift a hold either (receipt decides first).
    received = order.received_at is not None
    lifted = [
        h.reason.value
        for h in changed.holds
        if received and h.reason in SELF_LIFTING and h.reason not in found
    ]
    changed = changed.model_copy(update={"holds": [h for h in changed.holds if h.reason.value not in lifted]})
    updated = OrderAggregate(order=changed, fulfillments=aggregate.fulfillments)
    new_findings = [f for f in findings if f.reason not in changed.hold_reasons]
    change: Change
    if new_findings and OrderTrigger.HOLD in allowed_order_triggers(changed.status):
        change = _hold(updated, new_findings, placed_by="system:update", clock=clock)
    elif changed.status == OrderStatus.ON_HOLD and not changed.holds:
        change = _proceed(updated, uow.list_warehouses(), clock)
    else:
        change = Change(
            order=changed,
            fulfillments=aggregate.fulfillments,
            payload=OrderUpdated(changed=sorted(updates), holds_lifted=[HoldReason(r) for r in lifted]),
        )
    change.payload = change.payload.amended(changed=sorted(updates), holds_lifted=lifted)
    return change


_ADDRESS_CHANGEABLE = frozenset(
    {
        FulfillmentStatus.PENDING,
        FulfillmentStatus.ON_HOLD,
        FulfillmentStatus.RELEASED,
        FulfillmentStatus.PICKING,
        FulfillmentStatus.PICKED,
    }
)
