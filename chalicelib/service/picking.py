"""Step 3 of the journey, picking: a warehouse's pick list, and a fulfillment's pick (units not
found become a backorder, stock adjusted).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.domain.errors import FieldError, InputInvalid, NotFound
from chalicelib.domain.event_payloads import (
    FulfillmentPicked,
    FulfillmentShortPicked,
    InventoryAdjusted,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.fulfillment import (
    PickOutcome,
    assess_pick,
    book_backorders,
    new_backorder,
    pick_report_errors,
    settle,
)
from chalicelib.domain.models import Fulfillment
from chalicelib.domain.picking import PickList, build_pick_list
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
)
from chalicelib.service.changes import (
    Authorize,
    Change,
    StockMove,
)
from chalicelib.service.fulfillment import (
    advance,
    by_fulfillment,
    fulfillment_of,
    repeat_or_raise,
    replace_fulfillment,
    request_hash,
)
from chalicelib.service.ports import (
    Clock,
    IdGenerator,
    OrderAggregate,
    OrderQueries,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order


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
        f = fulfillment_of(aggregate, fulfillment_id)
        authorize(f)
        if repeat_or_raise(f, "pick", digest, FulfillmentTrigger.PICK):
            return None
        problems = pick_report_errors(f, reported)
        if problems:
            raise InputInvalid([FieldError(["lines"], p) for p in problems])
        return _picked(aggregate, f, assess_pick(f, reported), digest, actor=actor, ids=ids, now=clock.now())

    return change_order(
        uow_factory, by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
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
        picked = advance(f, FulfillmentTrigger.PICK, lines=outcome.picked, picked_at=now, step_requests=steps)
    else:  # nothing at all on the shelf: this fulfillment has nothing left to ship
        picked = advance(
            f, FulfillmentTrigger.CANCEL, cancel_reason="short pick: nothing found", step_requests=steps
        )
    fulfillments = replace_fulfillment(aggregate.fulfillments, picked)
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
