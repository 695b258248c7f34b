"""Use cases after placement: receipt (hold rules, confirmation) and holds.

Each use case reads the order, decides with the pure state machines, and
stages one transaction: the order at ``version + 1`` (conditioned on the
version read), the fulfillments it moves, the event item for that version and,
for queue consumers, the dedup item of the message, so a redelivered message
finds its dedup item and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.holds import HoldFinding, HoldPolicy, evaluate_holds
from chalicelib.domain.models import Fulfillment, Hold, Order
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    HoldReason,
    InvalidTransition,
    OrderStatus,
    OrderTrigger,
    allowed_order_triggers,
    next_fulfillment_status,
    next_order_status,
)
from chalicelib.service.ports import (
    Clock,
    DedupExists,
    DedupRecord,
    IdGenerator,
    OrderAggregate,
    UnitOfWork,
    UnitOfWorkFactory,
)

MAX_ATTEMPTS = 5


@dataclass
class Change:
    """What a decision produced; ``None`` means nothing to do."""

    order: Order
    fulfillments: list[Fulfillment]
    event_type: EventType
    data: dict[str, Any]


def _retrying(operation: Callable[[], OrderAggregate]) -> OrderAggregate:
    for _ in range(MAX_ATTEMPTS):
        try:
            return operation()
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict("the order changed concurrently too often; retry")


def _load(uow: UnitOfWork, order_id: str) -> OrderAggregate:
    aggregate = uow.get_order(order_id)
    if aggregate is None:
        raise NotFound("order", order_id)
    return aggregate


def _stage(
    uow: UnitOfWork,
    before: OrderAggregate,
    change: Change,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    now = clock.now()
    updates: dict[str, Any] = {"version": before.order.version + 1, "updated_at": now}
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
    uow.add_event(
        DomainEvent(
            id=ids.new("evt"),
            type=change.event_type,
            order_id=order.id,
            channel_id=order.channel_id,
            version=order.version,
            occurred_at=now,
            actor=actor,
            data={"status": order.status.value, **change.data},
        )
    )
    return OrderAggregate(order=order, fulfillments=fulfillments)


def _move_fulfillments(
    fulfillments: list[Fulfillment], trigger: FulfillmentTrigger, *, only: set[FulfillmentStatus]
) -> list[Fulfillment]:
    return [
        f.model_copy(update={"status": next_fulfillment_status(f.status, trigger)}) if f.status in only else f
        for f in fulfillments
    ]


def _fulfillment_summary(fulfillments: list[Fulfillment]) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "warehouse_id": f.warehouse_id,
            "status": f.status.value,
            "lines": [line.model_dump() for line in f.lines],
        }
        for f in fulfillments
        if f.status != FulfillmentStatus.CANCELLED
    ]


def _proceed(aggregate: OrderAggregate) -> Change:
    """Where an order with no hold goes: confirmed and released, or waiting for stock."""
    order = aggregate.order
    if order.has_backorder:
        status = next_order_status(order.status, OrderTrigger.BACKORDER)
        return Change(
            order=order.model_copy(update={"status": status}),
            fulfillments=_move_fulfillments(
                aggregate.fulfillments, FulfillmentTrigger.UNHOLD, only={FulfillmentStatus.ON_HOLD}
            ),
            event_type=EventType.ORDER_BACKORDERED,
            data={
                "backordered": [
                    {"sku": li.sku, "quantity": li.backordered} for li in order.lines if li.backordered
                ]
            },
        )
    status = next_order_status(order.status, OrderTrigger.CONFIRM)
    fulfillments = _move_fulfillments(
        aggregate.fulfillments,
        FulfillmentTrigger.RELEASE,
        only={FulfillmentStatus.PENDING, FulfillmentStatus.ON_HOLD},
    )
    return Change(
        order=order.model_copy(update={"status": status}),
        fulfillments=fulfillments,
        event_type=EventType.ORDER_CONFIRMED,
        data={"fulfillments": _fulfillment_summary(fulfillments)},
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
    fulfillments = _move_fulfillments(
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
        event_type=EventType.ORDER_ON_HOLD,
        data={"holds": [{"reason": f.reason.value, "note": f.note} for f in findings]},
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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        if uow.get_dedup(RECEIPT_SCOPE, placed.id) is not None:
            raise _AlreadyDone
        aggregate = _load(uow, placed.order_id)
        order = aggregate.order
        if order.status not in (OrderStatus.PLACED, OrderStatus.BACKORDERED, OrderStatus.ON_HOLD):
            raise _AlreadyDone  # cancelled (or further along) before receipt: nothing left to decide
        # An admin may have held the order before receipt ran: the rules still run, so
        # releasing that hold can never confirm an unpaid or suspicious order.
        findings = [f for f in evaluate_holds(order, policy) if f.reason not in order.hold_reasons]
        change: Change | None
        if findings:
            change = _hold(aggregate, findings, placed_by="system:receipt", clock=clock)
        elif order.status == OrderStatus.ON_HOLD:
            change = None  # held already, for reasons the rules agree with: receipt only records itself
        else:
            change = _proceed(aggregate)
        result = aggregate
        if change is not None:
            result = _stage(uow, aggregate, change, actor="system:receipt", ids=ids, clock=clock)
        uow.add_dedup(
            DedupRecord(
                scope=RECEIPT_SCOPE, key=placed.id, request_hash="", ref=order.id, created_at=clock.now()
            )
        )
        try:
            uow.commit()
        except DedupExists:
            raise _AlreadyDone from None
        return result

    try:
        return _retrying(attempt)
    except _AlreadyDone:
        return None


class _AlreadyDone(Exception):
    pass


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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate = _load(uow, order_id)
        if reason in aggregate.order.hold_reasons:
            return aggregate
        try:
            change = _hold(aggregate, [HoldFinding(reason, note or "")], placed_by=actor, clock=clock)
        except InvalidTransition as exc:
            raise Conflict(
                f"order is {aggregate.order.status.value} and can no longer be held",
                current=aggregate.order.status.value,
                allowed=[t.value for t in allowed_order_triggers(aggregate.order.status)],
            ) from exc
        result = _stage(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result

    return _retrying(attempt)


def release_hold(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    reason: HoldReason,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Lift one hold; lifting the last one confirms the order (or returns it to its backorder)."""

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate = _load(uow, order_id)
        order = aggregate.order
        if reason not in order.hold_reasons:
            raise NotFound("hold", f"{reason.value} on order {order_id}")
        remaining = [h for h in order.holds if h.reason != reason]
        released = OrderAggregate(
            order=order.model_copy(update={"holds": remaining}), fulfillments=aggregate.fulfillments
        )
        if remaining:
            change = Change(
                order=released.order,
                fulfillments=aggregate.fulfillments,
                event_type=EventType.ORDER_HOLD_RELEASED,
                data={"reason": reason.value, "remaining": [h.reason.value for h in remaining]},
            )
        else:
            change = _proceed(released)
            change.data["released_hold"] = reason.value
        result = _stage(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result

    return _retrying(attempt)
