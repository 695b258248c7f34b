"""Use cases of the warehouse road: pick, pack, ship, and cancelling what is not packed yet.

Every step is one transaction (``service.unit_of_work.change_order``). A step repeated with the
same request after it succeeded returns the current state (the hash of each
step's request is kept on the fulfillment); from any other state it is a
409 naming the current state and what may be done there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.event_payloads import (
    FulfillmentPacked,
    FulfillmentPicked,
    FulfillmentShipped,
    FulfillmentShortPicked,
    InventoryAdjusted,
    OrderCancelled,
    OrderLinesCancelled,
    StockReleased,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.fulfillment import (
    CancellationPlan,
    NothingLeftToCancel,
    PickOutcome,
    assess_pick,
    book_backorders,
    book_cancellations,
    follow_fulfillments,
    new_backorder,
    pick_report_errors,
    plan_cancellation,
    settle,
    tracking_url,
)
from chalicelib.domain.models import Fulfillment, Order, Package, Shipment
from chalicelib.domain.packing import PackingInputError
from chalicelib.domain.picking import PickList, build_pick_list
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    InvalidTransition,
    OrderStatus,
    OrderTrigger,
    allowed_fulfillment_triggers,
    next_fulfillment_status,
    next_order_status,
)
from chalicelib.service.changes import (
    Authorize,
    Change,
    StockMove,
    consume,
    load_fulfillment,
    load_order,
    release,
)
from chalicelib.service.packaging import packing_for
from chalicelib.service.ports import (
    Clock,
    IdGenerator,
    OrderAggregate,
    OrderQueries,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order


def request_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _advance(f: Fulfillment, trigger: FulfillmentTrigger, **updates: Any) -> Fulfillment:
    return f.model_copy(update={"status": next_fulfillment_status(f.status, trigger), **updates})


def _replace(fulfillments: list[Fulfillment], changed: Fulfillment) -> list[Fulfillment]:
    return [changed if f.id == changed.id else f for f in fulfillments]


def _repeat_or_raise(f: Fulfillment, step: str, digest: str, trigger: FulfillmentTrigger) -> bool:
    """True when this exact step already happened (an idempotent repeat). Raises 409 when the
    fulfillment is not in a state that allows the step."""
    if f.step_requests.get(step) == digest:
        return True
    if trigger not in allowed_fulfillment_triggers(f.status):
        raise InvalidTransition(
            "fulfillment", f.status.value, step, [t.value for t in allowed_fulfillment_triggers(f.status)]
        )
    return False


def _fulfillment(aggregate: OrderAggregate, fulfillment_id: str) -> Fulfillment:
    return next(f for f in aggregate.fulfillments if f.id == fulfillment_id)


def _by_fulfillment(fulfillment_id: str) -> Callable[[UnitOfWork], OrderAggregate]:
    return lambda uow: load_fulfillment(uow, fulfillment_id)[0]


def pick(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    reported: Mapping[str, int],
    *,
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Record what was picked. A short pick goes on with what was found; the shortfall becomes a
    backorder, and the stock level is corrected (the shelf did not hold what the system thought)."""
    digest = request_hash({"step": "pick", "lines": dict(reported)})

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = _fulfillment(aggregate, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "pick", digest, FulfillmentTrigger.PICK):
            return None
        problems = pick_report_errors(f, reported)
        if problems:
            raise InputInvalid([FieldError(["lines"], p) for p in problems])
        return _picked(aggregate, f, assess_pick(f, reported), digest, actor=actor, ids=ids, now=clock.now())

    return change_order(
        uow_factory, _by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
    )


def _picked(
    aggregate: OrderAggregate,
    f: Fulfillment,
    outcome: PickOutcome,
    digest: str,
    *,
    actor: str,
    ids: IdGenerator,
    now: datetime,
) -> Change:
    assert f.warehouse_id is not None  # only released work can be picked
    steps = {**f.step_requests, "pick": digest}
    if outcome.picked:
        picked = _advance(
            f, FulfillmentTrigger.PICK, lines=outcome.picked, picked_at=now, step_requests=steps
        )
    else:  # nothing at all on the shelf: this fulfillment has nothing left to ship
        picked = _advance(
            f, FulfillmentTrigger.CANCEL, cancel_reason="short pick: nothing found", step_requests=steps
        )
    fulfillments = _replace(aggregate.fulfillments, picked)
    backorders = [
        new_backorder(ids.new("ful"), aggregate.order, sku, qty, created_at=now, now=now)
        for sku, qty in outcome.shortfalls.items()
    ]
    order = aggregate.order.model_copy(update={"lines": book_backorders(aggregate.order, outcome.shortfalls)})
    # The missing units were reserved but never existed: take them out of on-hand and
    # reserved alike (available is unchanged), and say so as an inventory event.
    corrections = [
        StockMove(f.warehouse_id, sku, on_hand=-qty, reserved=-qty, require_reserved=qty)
        for sku, qty in outcome.shortfalls.items()
    ]
    adjustments = [
        DomainEvent.recording(
            InventoryAdjusted(delta=-qty, reason="short_pick", fulfillment_id=f.id, order_id=f.order_id),
            id=ids.new("evt"),
            sku=sku,
            warehouse_id=f.warehouse_id,
            occurred_at=now,
            actor=actor,
        )
        for sku, qty in outcome.shortfalls.items()
    ]
    return Change(
        order=settle(order, [*fulfillments, *backorders]),
        fulfillments=fulfillments,
        payload=(FulfillmentShortPicked if outcome.is_short else FulfillmentPicked)(
            fulfillment_id=f.id,
            warehouse_id=f.warehouse_id,
            picked=outcome.picked,
            shortfalls=outcome.shortfalls,
            backorders=[b.id for b in backorders],
        ),
        new_fulfillments=backorders,
        stock=corrections,
        inventory_events=adjustments,
    )


def pack(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    packages: list[Package],
    *,
    divisor: int,
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Record the packages used; a box other than the recommended ones is noted in the event."""
    digest = request_hash({"step": "pack", "packages": [p.model_dump() for p in packages]})

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = _fulfillment(aggregate, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "pack", digest, FulfillmentTrigger.PACK):
            return None
        assert f.warehouse_id is not None
        _check_boxes(packages, {box.code for box in uow.get_boxes(f.warehouse_id)}, f.warehouse_id)
        # The advice is recomputed here (it is deterministic) rather than remembered from a GET,
        # so the record of a box other than the recommended one never depends on who asked.
        try:
            recommended = [p.box_code for p in packing_for(uow, f, divisor).packages]
        except PackingInputError:
            recommended = []  # no advice for this one (e.g. too many units to plan): packing goes on
        packed = _advance(
            f,
            FulfillmentTrigger.PACK,
            packages=packages,
            packed_at=clock.now(),
            recommended_boxes=recommended,
            step_requests={**f.step_requests, "pack": digest},
        )
        fulfillments = _replace(aggregate.fulfillments, packed)
        return Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=FulfillmentPacked(
                fulfillment_id=f.id,
                warehouse_id=f.warehouse_id,
                packages=packages,
                recommended_boxes=recommended,
                boxes_other_than_recommended=[p.box for p in packages if p.box not in recommended],
            ),
        )

    return change_order(
        uow_factory, _by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
    )


def _check_boxes(packages: list[Package], known: set[str], warehouse_id: str) -> None:
    unknown = [i for i, p in enumerate(packages) if p.box not in known]
    if unknown:
        raise InputInvalid(
            [
                FieldError(["packages", i, "box"], f"no box {packages[i].box} in {warehouse_id}'s catalogue")
                for i in unknown
            ]
        )


def ship(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    *,
    carrier: str,
    service: str,
    tracking_numbers: list[str],
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Hand the packages to a carrier: index the tracking numbers, consume the reservation."""
    carrier = carrier.lower()
    digest = request_hash(
        {"step": "ship", "carrier": carrier, "service": service, "tracking_numbers": tracking_numbers}
    )

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = _fulfillment(aggregate, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "ship", digest, FulfillmentTrigger.SHIP):
            return None
        _check_shippable(aggregate.order, f, tracking_numbers)
        now = clock.now()
        shipment = Shipment(
            carrier=carrier,
            service=service,
            tracking_numbers=tracking_numbers,
            tracking_url=tracking_url(carrier, tracking_numbers[0]),
            shipped_at=now,
        )
        shipped = _advance(
            f,
            FulfillmentTrigger.SHIP,
            packages=[
                p.model_copy(update={"tracking_number": n})
                for p, n in zip(f.packages, tracking_numbers, strict=True)
            ],
            shipment=shipment,
            step_requests={**f.step_requests, "ship": digest},
        )
        return _shipped(aggregate, f, shipped, shipment, day=now.date().isoformat())

    return change_order(
        uow_factory, _by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
    )


def _check_shippable(order: Order, f: Fulfillment, tracking_numbers: list[str]) -> None:
    if order.status == OrderStatus.ON_HOLD:
        reasons = ", ".join(h.reason.value for h in order.holds)
        raise Conflict(
            f"the order is on hold ({reasons}): keep the parcel until the hold is released",
            current=order.status.value,
            allowed=[],
        )
    if len(tracking_numbers) != len(f.packages):
        raise InputInvalid(
            [
                FieldError(
                    ["tracking_numbers"],
                    f"one tracking number per package: {len(f.packages)} packed, "
                    f"{len(tracking_numbers)} given",
                )
            ]
        )


def _shipped(
    aggregate: OrderAggregate, f: Fulfillment, shipped: Fulfillment, shipment: Shipment, *, day: str
) -> Change:
    assert f.warehouse_id is not None
    carrier, tracking_numbers = shipment.carrier, shipment.tracking_numbers
    fulfillments = _replace(aggregate.fulfillments, shipped)
    return Change(
        order=follow_fulfillments(aggregate.order, fulfillments),
        fulfillments=fulfillments,
        payload=FulfillmentShipped(
            fulfillment_id=f.id,
            warehouse_id=f.warehouse_id,
            carrier=carrier,
            service=shipment.service,
            ship_by=f.ship_by.isoformat() if f.ship_by else None,
            tracking_numbers=tracking_numbers,
            tracking_urls=[tracking_url(carrier, n) for n in tracking_numbers],
            lines=f.lines,
        ),
        stock=[consume(f.warehouse_id, line.sku, line.quantity) for line in f.lines],
        tracking=[(carrier, number, f.id) for number in tracking_numbers],
        # Demand, for days of cover: units shipped per warehouse and SKU per day, counted in the
        # same transaction as the shipment, so exactly once.
        counts=[(shipped_units_metric(f.warehouse_id, line.sku), day, line.quantity) for line in f.lines],
    )


def shipped_units_metric(warehouse_id: str, sku: str) -> str:
    return f"shipped#{warehouse_id}#{sku}"


def cancel(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    reason: str,
    lines: Mapping[str, int] | None,
    *,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Cancel the whole order or some units, while the goods are not packed. Releases their
    reservations; too late (packed or shipped) is a 409 naming the fulfillments in the way."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        authorize(aggregate.order)
        order = aggregate.order
        if order.status == OrderStatus.CANCELLED:
            if lines is None:
                return None  # cancelling a cancelled order again changes nothing
            raise Conflict("the order is cancelled", current=order.status.value, allowed=[])
        try:
            plan = plan_cancellation(aggregate.fulfillments, lines)
        except NothingLeftToCancel as exc:
            raise InputInvalid([FieldError(["lines"], str(exc))]) from None
        _check_cancellable(order, plan)
        return _cancelled(aggregate, plan, reason)

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def _check_cancellable(order: Order, plan: CancellationPlan) -> None:
    if not plan.blocking and not plan.cancelled:
        raise Conflict(
            "nothing left to cancel: every fulfillment has shipped",
            current=order.status.value,
            allowed=[],
        )
    if plan.blocking:
        names = ", ".join(f"{f.id} ({f.status.value})" for f in plan.blocking)
        raise Conflict(
            f"too late to cancel: fulfillments {names} are packed or shipped",
            current=order.status.value,
            allowed=[],
        )


def _cancelled(aggregate: OrderAggregate, plan: CancellationPlan, reason: str) -> Change:
    fulfillments = []
    for f in aggregate.fulfillments:
        if f.id not in plan.remaining:
            fulfillments.append(f)
        elif plan.remaining[f.id]:
            fulfillments.append(f.model_copy(update={"lines": plan.remaining[f.id]}))
        else:
            fulfillments.append(_advance(f, FulfillmentTrigger.CANCEL, cancel_reason=reason))
    new_lines = book_cancellations(aggregate.order, plan.cancelled)
    everything = all(line.cancelled == line.quantity for line in new_lines)
    order = aggregate.order.model_copy(update={"lines": new_lines})
    if everything:
        order = order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.CANCEL)})
    else:
        order = settle(order, fulfillments)
    released = [StockReleased(warehouse_id=wh, sku=sku, quantity=q) for (wh, sku), q in plan.released.items()]
    return Change(
        order=order,
        fulfillments=fulfillments,
        payload=(OrderCancelled if everything else OrderLinesCancelled)(
            reason=reason, cancelled=plan.cancelled, stock_released=released
        ),
        stock=[release(wh, sku, q) for (wh, sku), q in plan.released.items()],
    )


def pick_list(
    uow_factory: UnitOfWorkFactory, queries: OrderQueries, warehouse_id: str, limit: int, *, clock: Clock
) -> PickList:
    """The next wave for a warehouse: its released work, earliest ship-by first, by bin."""
    uow = uow_factory()
    if uow.get_warehouse(warehouse_id) is None:
        raise NotFound("warehouse", warehouse_id)
    work = queries.list_work(warehouse_id, FulfillmentStatus.RELEASED.value, ship_by_before=None, limit=limit)
    skus = {line.sku for f in work for line in f.lines}
    levels = uow.get_stock(skus, [warehouse_id])
    bins = {sku: levels[(warehouse_id, sku)].bin if (warehouse_id, sku) in levels else None for sku in skus}
    return build_pick_list(warehouse_id, work, bins, clock.now())
