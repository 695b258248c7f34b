"""Use cases of the warehouse road: pick, pack, ship, and cancelling what is not packed yet.

Every step is one transaction (``service.changes``). A step repeated with the
same request after it succeeded returns the current state (the hash of each
step's request is kept on the fulfillment); from any other state it is a
409 naming the current state and what may be done there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
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
    NothingLeftToCancel,
    assess_pick,
    follow_fulfillments,
    pick_report_errors,
    plan_cancellation,
    settle,
    tracking_url,
)
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Order, Package, Shipment
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
    retrying,
    stage_change,
)
from chalicelib.service.packaging import packing_for
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, OrderQueries, UnitOfWorkFactory


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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate, f = load_fulfillment(uow, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "pick", digest, FulfillmentTrigger.PICK):
            return aggregate
        problems = pick_report_errors(f, reported)
        if problems:
            raise InputInvalid([FieldError(["lines"], p) for p in problems])
        assert f.warehouse_id is not None  # only released work can be picked
        outcome = assess_pick(f, reported)
        now = clock.now()
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
            Fulfillment(
                id=ids.new("ful"),
                order_id=f.order_id,
                channel_id=f.channel_id,
                warehouse_id=None,
                status=FulfillmentStatus.PENDING,
                version=1,
                lines=[FulfillmentLine(sku=sku, quantity=qty)],
                created_at=now,
                updated_at=now,
            )
            for sku, qty in outcome.shortfalls.items()
        ]
        order = aggregate.order.model_copy(
            update={"lines": add_backorders(aggregate.order, outcome.shortfalls)}
        )
        order = settle(order, [*fulfillments, *backorders])
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
        change = Change(
            order=order,
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
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result

    return retrying(attempt, clock=clock)


def add_backorders(order: Order, shortfalls: Mapping[str, int]) -> list[Any]:
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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate, f = load_fulfillment(uow, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "pack", digest, FulfillmentTrigger.PACK):
            return aggregate
        assert f.warehouse_id is not None
        known = {box.code for box in uow.get_boxes(f.warehouse_id)}
        unknown = [i for i, p in enumerate(packages) if p.box not in known]
        if unknown:
            raise InputInvalid(
                [
                    FieldError(
                        ["packages", i, "box"], f"no box {packages[i].box} in {f.warehouse_id}'s catalogue"
                    )
                    for i in unknown
                ]
            )
        # The advice is recomputed here (it is deterministic) rather than remembered from a GET,
        # so the record of a box other than the recommended one never depends on who asked.
        try:
            recommended = [p.box_code for p in packing_for(uow, f, divisor).packages]
        except PackingInputError:
            recommended = []  # no advice for this one (e.g. too many units to plan): packing goes on
        deviations = [p.box for p in packages if p.box not in recommended]
        packed = _advance(
            f,
            FulfillmentTrigger.PACK,
            packages=packages,
            packed_at=clock.now(),
            recommended_boxes=recommended,
            step_requests={**f.step_requests, "pack": digest},
        )
        fulfillments = _replace(aggregate.fulfillments, packed)
        change = Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=FulfillmentPacked(
                fulfillment_id=f.id,
                warehouse_id=f.warehouse_id,
                packages=packages,
                recommended_boxes=recommended,
                boxes_other_than_recommended=deviations,
            ),
        )
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result

    return retrying(attempt, clock=clock)


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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate, f = load_fulfillment(uow, fulfillment_id)
        authorize(f)
        if _repeat_or_raise(f, "ship", digest, FulfillmentTrigger.SHIP):
            return aggregate
        if aggregate.order.status == OrderStatus.ON_HOLD:
            reasons = ", ".join(h.reason.value for h in aggregate.order.holds)
            raise Conflict(
                f"the order is on hold ({reasons}): keep the parcel until the hold is released",
                current=aggregate.order.status.value,
                allowed=[],
            )
        assert f.warehouse_id is not None
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
        now = clock.now()
        packages = [
            p.model_copy(update={"tracking_number": n})
            for p, n in zip(f.packages, tracking_numbers, strict=True)
        ]
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
            packages=packages,
            shipment=shipment,
            step_requests={**f.step_requests, "ship": digest},
        )
        fulfillments = _replace(aggregate.fulfillments, shipped)
        change = Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=FulfillmentShipped(
                fulfillment_id=f.id,
                warehouse_id=f.warehouse_id,
                carrier=carrier,
                service=service,
                ship_by=f.ship_by.isoformat() if f.ship_by else None,
                tracking_numbers=tracking_numbers,
                tracking_urls=[tracking_url(carrier, n) for n in tracking_numbers],
                lines=f.lines,
            ),
            stock=[consume(f.warehouse_id, line.sku, line.quantity) for line in f.lines],
            tracking=[(carrier, number, f.id) for number in tracking_numbers],
        )
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        # Demand, for days of cover: units shipped per warehouse and SKU per day, counted in the
        # same transaction as the shipment, so exactly once.
        for line in f.lines:
            uow.count(shipped_units_metric(f.warehouse_id, line.sku), now.date().isoformat(), line.quantity)
        uow.commit()
        return result

    return retrying(attempt, clock=clock)


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

    def attempt() -> OrderAggregate:
        uow = uow_factory()
        aggregate = load_order(uow, order_id)
        authorize(aggregate.order)
        order = aggregate.order
        if order.status == OrderStatus.CANCELLED:
            if lines is None:
                return aggregate  # cancelling a cancelled order again changes nothing
            raise Conflict("the order is cancelled", current=order.status.value, allowed=[])
        try:
            plan = plan_cancellation(aggregate.fulfillments, lines)
        except NothingLeftToCancel as exc:
            raise InputInvalid([FieldError(["lines"], str(exc))]) from None
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
        fulfillments = []
        for f in aggregate.fulfillments:
            if f.id not in plan.remaining:
                fulfillments.append(f)
            elif plan.remaining[f.id]:
                fulfillments.append(f.model_copy(update={"lines": plan.remaining[f.id]}))
            else:
                fulfillments.append(_advance(f, FulfillmentTrigger.CANCEL, cancel_reason=reason))
        new_lines = _cancel_lines(order, plan.cancelled)
        everything = all(line.cancelled == line.quantity for line in new_lines)
        order = order.model_copy(update={"lines": new_lines})
        if everything:
            order = order.model_copy(update={"status": next_order_status(order.status, OrderTrigger.CANCEL)})
        else:
            order = settle(order, fulfillments)
        released = [
            StockReleased(warehouse_id=wh, sku=sku, quantity=q) for (wh, sku), q in plan.released.items()
        ]
        change = Change(
            order=order,
            fulfillments=fulfillments,
            payload=(OrderCancelled if everything else OrderLinesCancelled)(
                reason=reason, cancelled=plan.cancelled, stock_released=released
            ),
            stock=[release(wh, sku, q) for (wh, sku), q in plan.released.items()],
        )
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result

    return retrying(attempt, clock=clock)


def _cancel_lines(order: Order, cancelled: Mapping[str, int]) -> list[Any]:
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
