"""How every order use case writes: a decided ``Change`` staged as one transaction.

A use case reads the order, decides with the pure domain rules, and hands the
result here. ``stage_change`` stages the order at ``version + 1`` (conditioned
on the version read), every fulfillment that changed (conditioned on its own
version) or is new, the stock moves, tracking-number index entries, the
order's event item for the new version and any inventory event items. The
caller commits; a ``ConcurrencyConflict`` means someone else won and the use
case runs again from a fresh read (``retrying``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.domain.errors import ConcurrencyConflict, NotFound
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.kpis import milestone_flags
from chalicelib.domain.models import Fulfillment, Order, Warehouse
from chalicelib.domain.promise import warehouse_ship_by
from chalicelib.domain.returns import ReturnRequest
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    OrderStatus,
    next_fulfillment_status,
)
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, TransactionConflict, UnitOfWork

MAX_ATTEMPTS = 5
#: Backoff after a TransactionConflict: steps of 20, 40, 80, then 100 ms, each jittered down to
#: half its step: ``retrying`` pauses a quarter of a second at most in all.
BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 0.1
T = TypeVar("T")

#: Authorises the caller for one fulfillment (raises Forbidden); routes pass the key's scope check.
Authorize = Callable[[Fulfillment], None]


@dataclass(frozen=True)
class StockMove:
    warehouse_id: str
    sku: str
    on_hand: int = 0
    reserved: int = 0
    available: int = 0
    require_available: int | None = None
    require_reserved: int | None = None
    expect_on_hand: int | None = None


def reserve(warehouse_id: str, sku: str, quantity: int) -> StockMove:
    return StockMove(warehouse_id, sku, reserved=quantity, available=-quantity, require_available=quantity)


def release(warehouse_id: str, sku: str, quantity: int) -> StockMove:
    return StockMove(warehouse_id, sku, reserved=-quantity, available=quantity, require_reserved=quantity)


def consume(warehouse_id: str, sku: str, quantity: int) -> StockMove:
    """Goods leave the building: the reservation becomes a reduction of on-hand stock."""
    return StockMove(warehouse_id, sku, on_hand=-quantity, reserved=-quantity, require_reserved=quantity)


@dataclass
class Change:
    """What a decision produced, ready to be staged."""

    order: Order
    fulfillments: list[Fulfillment]
    event_type: EventType
    data: dict[str, Any]
    new_fulfillments: list[Fulfillment] = field(default_factory=list)
    stock: list[StockMove] = field(default_factory=list)
    #: (carrier, tracking number, fulfillment id) to index.
    tracking: list[tuple[str, str, str]] = field(default_factory=list)
    #: Inventory events recorded with this change (e.g. a short pick's stock correction).
    inventory_events: list[DomainEvent] = field(default_factory=list)
    returns: list[ReturnRequest] | None = None
    new_returns: list[ReturnRequest] = field(default_factory=list)
    #: Further order events of the same change, each taking the next version (e.g. a return
    #: received and the refund it asks the store for).
    follow_up: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)


def back_off(clock: Clock, attempt: int) -> None:
    """Pause before the next attempt after a ``TransactionConflict``: exponential from
    ``BACKOFF_BASE_SECONDS``, capped at ``BACKOFF_CAP_SECONDS``, with jitter (a random time in the
    upper half of the step) so that the two colliding writers do not collide again in lockstep."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    clock.sleep(random.uniform(step / 2, step))


def retrying(operation: Callable[[], T], *, clock: Clock) -> T:
    """Run a read-decide-commit ``operation`` until it commits, ``MAX_ATTEMPTS`` at most.

    A ``ConcurrencyConflict`` (a version condition failed: another command won) runs it again
    at once from a fresh read: the winner's write is already visible. A ``TransactionConflict``
    (DynamoDB met another transaction on one of our items mid-flight) runs it again after
    ``back_off``. Either way the operation re-reads and decides again, so a command whose
    earlier copy was applied (an SDK retry after a lost answer) sees its own result and answers
    as its replay (each use case's idempotency rules) instead of failing.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            return operation()
        except TransactionConflict:
            if attempt + 1 < MAX_ATTEMPTS:
                back_off(clock, attempt)
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict("the order changed concurrently too often; retry")


def riding_out_conflicts(operation: Callable[[], T], *, clock: Clock) -> T:
    """Run a single-shot command (one commit, made idempotent by its own dedup items) again
    after ``back_off`` while DynamoDB answers ``TransactionConflict``; every other outcome,
    a failed condition included, is the command's own to handle."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return operation()
        except TransactionConflict:
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            back_off(clock, attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def load_order(uow: UnitOfWork, order_id: str) -> OrderAggregate:
    aggregate = uow.get_order(order_id)
    if aggregate is None:
        raise NotFound("order", order_id)
    return aggregate


def load_fulfillment(uow: UnitOfWork, fulfillment_id: str) -> tuple[OrderAggregate, Fulfillment]:
    order_id = uow.find_order_of_fulfillment(fulfillment_id)
    aggregate = load_order(uow, order_id) if order_id else None
    found = next((f for f in aggregate.fulfillments if f.id == fulfillment_id), None) if aggregate else None
    if aggregate is None or found is None:
        raise NotFound("fulfillment", fulfillment_id)
    return aggregate, found


def stage_change(
    uow: UnitOfWork,
    before: OrderAggregate,
    change: Change,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    now = clock.now()
    versions = 1 + len(change.follow_up)
    updates: dict[str, Any] = {"version": before.order.version + versions, "updated_at": now}
    if change.order.status == OrderStatus.CONFIRMED and change.order.confirmed_at is None:
        updates["confirmed_at"] = now
    order = change.order.model_copy(update=updates)
    uow.update_order(order, expected_version=before.order.version)
    old = {f.id: f for f in before.fulfillments}
    fulfillments = []
    for f in change.fulfillments:
        if f != old[f.id]:
            f = f.model_copy(update={"version": old[f.id].version + 1, "updated_at": now})
            uow.update_fulfillment(f, expected_version=old[f.id].version)
        fulfillments.append(f)
    for f in change.new_fulfillments:
        uow.add_fulfillment(f)
        fulfillments.append(f)
    for move in change.stock:
        uow.move_stock(
            move.warehouse_id,
            move.sku,
            on_hand=move.on_hand,
            reserved=move.reserved,
            available=move.available,
            require_available=move.require_available,
            require_reserved=move.require_reserved,
            expect_on_hand=move.expect_on_hand,
        )
    for carrier, number, fulfillment_id in change.tracking:
        uow.add_tracking(carrier, number, order_id=order.id, fulfillment_id=fulfillment_id)
    returns = list(before.returns)
    if change.returns is not None:
        old_returns = {r.id: r for r in before.returns}
        returns = []
        for rma in change.returns:
            if rma != old_returns[rma.id]:
                rma = rma.model_copy(update={"version": old_returns[rma.id].version + 1})
                uow.update_return(rma, expected_version=old_returns[rma.id].version)
            returns.append(rma)
    for rma in change.new_returns:
        uow.add_return(rma)
        returns.append(rma)
    # KPI milestones are judged here, where the order is seen before and after: on the change's
    # own event only (a follow-up event carrying them would count the order twice).
    flags = milestone_flags(before.order, before.fulfillments, order, fulfillments)
    events = [(change.event_type, {**flags, **change.data}), *change.follow_up]
    first_version = before.order.version + 1
    for offset, (event_type, data) in enumerate(events):
        uow.add_event(
            DomainEvent(
                id=ids.new("evt"),
                type=event_type,
                order_id=order.id,
                channel_id=order.channel_id,
                version=first_version + offset,
                occurred_at=now,
                actor=actor,
                data={"status": order.status.value, **data},
            )
        )
    for event in change.inventory_events:
        uow.add_event(event)
    return OrderAggregate(order=order, fulfillments=fulfillments, returns=returns)


def move_fulfillments(
    fulfillments: Sequence[Fulfillment], trigger: FulfillmentTrigger, *, only: set[FulfillmentStatus]
) -> list[Fulfillment]:
    return [
        f.model_copy(update={"status": next_fulfillment_status(f.status, trigger)}) if f.status in only else f
        for f in fulfillments
    ]


def release_work(
    fulfillments: Sequence[Fulfillment], warehouses: Sequence[Warehouse], now: datetime
) -> list[Fulfillment]:
    """Release every fulfillment that has a warehouse and waits (pending or held) to it,
    with its ship-by promise counted from now: a hold pauses the clock."""
    by_id = {w.id: w for w in warehouses}
    released = []
    for f in fulfillments:
        if f.warehouse_id is not None and f.status in (FulfillmentStatus.PENDING, FulfillmentStatus.ON_HOLD):
            warehouse = by_id.get(f.warehouse_id)
            # By the warehouse's own calendar: its closed days and holidays are skipped.
            promise = warehouse_ship_by(now, warehouse) if warehouse else f.ship_by
            f = f.model_copy(
                update={
                    "status": next_fulfillment_status(f.status, FulfillmentTrigger.RELEASE),
                    "ship_by": promise,
                }
            )
        released.append(f)
    return released


def summary(
    fulfillments: Sequence[Fulfillment], *, status: FulfillmentStatus | None = None
) -> list[dict[str, Any]]:
    """Fulfillments as events carry them (optionally only those in ``status``)."""
    return [
        {
            "id": f.id,
            "warehouse_id": f.warehouse_id,
            "status": f.status.value,
            "ship_by": f.ship_by.isoformat() if f.ship_by else None,
            "lines": [line.model_dump() for line in f.lines],
        }
        for f in fulfillments
        if f.status != FulfillmentStatus.CANCELLED and (status is None or f.status == status)
    ]


def newly_released(before: Sequence[Fulfillment], after: Sequence[Fulfillment]) -> list[Fulfillment]:
    was = {f.id: f.status for f in before}
    return [
        f
        for f in after
        if f.status == FulfillmentStatus.RELEASED and was.get(f.id) != FulfillmentStatus.RELEASED
    ]
