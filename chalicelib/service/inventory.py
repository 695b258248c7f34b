"""Use cases of stock: goods received, and backorders allocated first come, first served.

Receiving goods is one transaction on the stock level with its
``inventory.received`` event. Allocation runs afterwards, from that event
(the allocation worker): it walks the SKU's backorder queue oldest first and
gives each backorder what the warehouse now has, one order transaction at a
time, each reservation conditioned on ``available >= qty`` like placement.
Running it twice allocates nothing twice: it only ever hands out stock that is
still available to backorders that still wait.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from chalicelib.domain.errors import (
    ConcurrencyConflict,
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    InputInvalid,
    NotFound,
)
from chalicelib.domain.event_payloads import (
    InventoryAdjusted,
    InventoryCounted,
    InventoryReceived,
    OrderBackorderAllocated,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.fulfillment import book_allocation, new_backorder, settle
from chalicelib.domain.models import Fulfillment, FulfillmentLine, StockLevel
from chalicelib.domain.status import (
    FulfillmentStatus,
    FulfillmentTrigger,
    OrderStatus,
    next_fulfillment_status,
)
from chalicelib.domain.stock import DEMAND_DAYS, StockLine, StockReport, build_report, stock_line
from chalicelib.service.changes import (
    Change,
    load_order,
    release_work,
    reserve,
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
    StockQueries,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import Retry, Unchanged, commit_once

#: Backorders read per round; allocation stops when stock or backorders run out.
BATCH = 25
MAX_ROUNDS = 200
RECEIPT_KEY_TTL_SECONDS = 7 * 24 * 3600


def receive_stock(
    uow_factory: UnitOfWorkFactory,
    warehouse_id: str,
    sku: str,
    quantity: int,
    *,
    reference: str | None,
    idempotency_key: str | None,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
    key_ttl_seconds: int | None = RECEIPT_KEY_TTL_SECONDS,
) -> DomainEvent:
    """Book goods received; returns the ``inventory.received`` event (the trigger of allocation).

    The idempotency key is kept ``key_ttl_seconds`` (a week for the API's Idempotency-Key);
    ``None`` keeps it for good, so that a file of receipts imported again months later still
    books nothing twice (``tools.catalog import-stock``)."""
    scope = f"goods-receipt#{warehouse_id}"
    digest = hashlib.sha256(json.dumps([sku, quantity, reference]).encode()).hexdigest()

    def stage(uow: UnitOfWork) -> DomainEvent | Unchanged[DomainEvent]:
        _known(uow, warehouse_id, sku)
        if idempotency_key is not None:
            seen = uow.get_dedup(scope, idempotency_key)
            if seen is not None:
                return Unchanged(_replayed(seen, digest, idempotency_key))
        now = clock.now()
        event = DomainEvent.recording(
            InventoryReceived(quantity=quantity, reference=reference),
            id=ids.new("evt"),
            sku=sku,
            warehouse_id=warehouse_id,
            occurred_at=now,
            actor=actor,
        )
        uow.move_stock(warehouse_id, sku, on_hand=quantity, available=quantity)
        uow.add_event(event)
        if idempotency_key is not None:
            record = DedupRecord(
                scope=scope,
                key=idempotency_key,
                request_hash=digest,
                ref=event.id,
                created_at=now,
                data=event.model_dump(mode="json"),
            )
            uow.add_dedup(record, ttl_seconds=key_ttl_seconds)
        return event

    try:
        # One commit made idempotent by its key: only DynamoDB's transient conflicts are retried.
        return commit_once(uow_factory, stage, clock=clock, retry=Retry.ON_TRANSACTION_CONFLICT)
    except DedupExists:
        key = idempotency_key or ""
        seen = uow_factory().get_dedup(scope, key)
        if seen is None:  # expired in between: vanishingly rare, and safe to ask for a retry
            raise ConcurrencyConflict("the receipt raced with another; retry") from None
        return _replayed(seen, digest, key)


def _replayed(seen: DedupRecord, digest: str, key: str) -> DomainEvent:
    """The receipt booked earlier under this key; the same key for other goods is refused, so a
    mistaken key can never swallow a real receipt."""
    if seen.request_hash != digest:
        raise IdempotencyKeyReused(key)
    return DomainEvent.model_validate(seen.data or {})


def allocate_backorders(
    uow_factory: UnitOfWorkFactory,
    sku: str,
    warehouse_id: str,
    *,
    ids: IdGenerator,
    clock: Clock,
) -> list[str]:
    """Give the warehouse's available units of ``sku`` to waiting backorders, oldest first.
    Returns the ids of the fulfillments that received stock."""
    allocated: list[str] = []
    warehouse = uow_factory().get_warehouse(warehouse_id)
    if warehouse is None or not warehouse.active:
        return allocated  # an inactive warehouse takes no new work, backorders included
    for _ in range(MAX_ROUNDS):
        uow = uow_factory()
        level = uow.get_stock([sku], [warehouse_id]).get((warehouse_id, sku))
        if level is None or level.available <= 0:
            break
        waiting = uow.list_backorders(sku, BATCH)
        if not waiting:
            break
        progressed = False
        for order_id, fulfillment_id in waiting:
            try:
                done = _allocate_one(
                    uow_factory, order_id, fulfillment_id, sku, warehouse_id, ids=ids, clock=clock
                )
            except StockConflict:
                break  # someone took stock meanwhile: read the level again
            if done:
                allocated.append(fulfillment_id)
                progressed = True
                break  # re-read the level before the next backorder
        if not progressed:
            break
    return allocated


def _allocate_one(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    fulfillment_id: str,
    sku: str,
    warehouse_id: str,
    *,
    ids: IdGenerator,
    clock: Clock,
) -> bool:
    def stage(uow: UnitOfWork) -> bool | Unchanged[bool]:
        level = uow.get_stock([sku], [warehouse_id]).get((warehouse_id, sku))
        aggregate = load_order(uow, order_id)
        backorder = next((f for f in aggregate.fulfillments if f.id == fulfillment_id), None)
        if level is None or level.available <= 0 or backorder is None:
            return Unchanged(False)
        if not backorder.awaiting_stock or not backorder.is_active:
            return Unchanged(False)
        change = _allocation(
            aggregate, backorder, level.available, warehouse_id, uow, ids=ids, now=clock.now()
        )
        stage_change(uow, aggregate, change, actor="system:allocation", ids=ids, clock=clock)
        return True

    return commit_once(uow_factory, stage, clock=clock)


def _allocation(
    aggregate: OrderAggregate,
    backorder: Fulfillment,
    available: int,
    warehouse_id: str,
    uow: UnitOfWork,
    *,
    ids: IdGenerator,
    now: datetime,
) -> Change:
    """The backorder gets what is available (up to what it wants) in the warehouse, released to
    it (or held with the order); the rest keeps waiting."""
    sku, wanted = backorder.lines[0].sku, backorder.lines[0].quantity
    quantity = min(wanted, available)
    allocated = backorder.model_copy(
        update={"warehouse_id": warehouse_id, "lines": [FulfillmentLine(sku=sku, quantity=quantity)]}
    )
    order = aggregate.order
    if order.received_at is None:
        pass  # receipt has not run its hold rules yet: it releases whatever has a warehouse then
    elif order.status == OrderStatus.ON_HOLD:
        allocated = allocated.model_copy(
            update={"status": next_fulfillment_status(allocated.status, FulfillmentTrigger.HOLD)}
        )
    else:
        allocated = release_work([allocated], uow.list_warehouses(), now)[0]
    # The rest keeps its place in the queue: same creation time, new id.
    remainder = (
        [
            new_backorder(
                ids.new("ful"), order, sku, wanted - quantity, created_at=backorder.created_at, now=now
            )
        ]
        if quantity < wanted
        else []
    )
    fulfillments = [allocated if f.id == backorder.id else f for f in aggregate.fulfillments]
    order = order.model_copy(update={"lines": book_allocation(order, sku, quantity)})
    if order.received_at is not None:
        order = settle(order, [*fulfillments, *remainder])
    released = [allocated] if allocated.status == FulfillmentStatus.RELEASED else []
    return Change(
        order=order,
        fulfillments=fulfillments,
        payload=OrderBackorderAllocated(
            fulfillment_id=allocated.id,
            sku=sku,
            warehouse_id=warehouse_id,
            quantity=quantity,
            still_waiting=wanted - quantity,
            released=summary(released),
        ),
        new_fulfillments=remainder,
        stock=[reserve(warehouse_id, sku, quantity)],
    )


# --- levels, cycle counts, listings ------------------------------------------------------------


def _level(uow: UnitOfWork, warehouse_id: str, sku: str) -> StockLevel | None:
    return uow.get_stock([sku], [warehouse_id]).get((warehouse_id, sku))


def _known(uow: UnitOfWork, warehouse_id: str, sku: str) -> None:
    if uow.get_warehouse(warehouse_id) is None:
        raise NotFound("warehouse", warehouse_id)
    if sku not in uow.get_products([sku]):
        raise InputInvalid([FieldError(["sku"], f"unknown SKU {sku}", "unknown_sku")])


def set_stock(
    uow_factory: UnitOfWorkFactory,
    warehouse_id: str,
    sku: str,
    *,
    on_hand: int | None,
    reorder_point: int | None,
    overstock_level: int | None,
    bin_location: str | None,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> StockLevel:
    """Set a stock level's figures. A new on-hand count is booked as an adjustment (the delta),
    conditioned on the on-hand it was computed from, and may not drop below what is reserved."""

    def stage(uow: UnitOfWork) -> None:
        _known(uow, warehouse_id, sku)
        level = _level(uow, warehouse_id, sku)
        if on_hand is not None and on_hand != (level.on_hand if level else 0):
            _stage_on_hand(uow, level, warehouse_id, sku, on_hand, actor=actor, ids=ids, clock=clock)
        if level is None and not on_hand:
            # A level this warehouse never had, set up empty (with its thresholds and bin).
            uow.move_stock(warehouse_id, sku, on_hand=0)
        uow.set_stock_settings(
            warehouse_id,
            sku,
            reorder_point=reorder_point,
            overstock_level=overstock_level,
            bin_location=bin_location,
        )

    # A StockConflict: the on-hand the delta was computed from moved meanwhile; read it again.
    commit_once(uow_factory, stage, clock=clock, version_conflicts=(StockConflict,))
    found = _level(uow_factory(), warehouse_id, sku)
    assert found is not None
    return found


def _stage_on_hand(
    uow: UnitOfWork,
    level: StockLevel | None,
    warehouse_id: str,
    sku: str,
    on_hand: int,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> None:
    current_on_hand = level.on_hand if level else 0
    reserved = level.reserved if level else 0
    if on_hand < reserved:
        raise Conflict(
            f"{reserved} units of {sku} are reserved for orders in {warehouse_id}; on hand cannot be "
            f"{on_hand} (record a cycle count if the shelf really holds fewer)",
            current=str(current_on_hand),
            allowed=[],
        )
    delta = on_hand - current_on_hand
    if level is None:
        uow.move_stock(warehouse_id, sku, on_hand=delta, available=delta)
    else:
        uow.move_stock(warehouse_id, sku, on_hand=delta, available=delta, expect_on_hand=current_on_hand)
    uow.add_event(
        DomainEvent.recording(
            InventoryAdjusted(delta=delta, reason="level_set", on_hand=on_hand),
            id=ids.new("evt"),
            sku=sku,
            warehouse_id=warehouse_id,
            occurred_at=clock.now(),
            actor=actor,
        )
    )


def count_stock(
    uow_factory: UnitOfWorkFactory,
    warehouse_id: str,
    sku: str,
    counted: int,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> DomainEvent:
    """A cycle count: the shelf holds ``counted``; the difference from the books is booked as an
    adjustment and recorded (``inventory.counted``), which feeds inventory accuracy.

    A count below what is reserved leaves ``available`` negative: orders were promised units the
    shelf does not hold. The level says so plainly (and the stock report lists it); their picks
    will come up short and backorder, rather than the count being refused."""

    def stage(uow: UnitOfWork) -> DomainEvent:
        _known(uow, warehouse_id, sku)
        level = _level(uow, warehouse_id, sku)
        expected = level.on_hand if level else 0
        delta = counted - expected
        event = DomainEvent.recording(
            InventoryCounted(
                expected=expected, counted=counted, delta=delta, reserved=level.reserved if level else 0
            ),
            id=ids.new("evt"),
            sku=sku,
            warehouse_id=warehouse_id,
            occurred_at=clock.now(),
            actor=actor,
        )
        if level is None:
            uow.move_stock(warehouse_id, sku, on_hand=counted, available=counted)
        else:
            uow.move_stock(warehouse_id, sku, on_hand=delta, available=delta, expect_on_hand=expected)
        uow.add_event(event)
        return event

    # A StockConflict: the shelf's books moved during the count; count against them again.
    return commit_once(uow_factory, stage, clock=clock, version_conflicts=(StockConflict,))


def stock_lines(
    uow_factory: UnitOfWorkFactory,
    stock: StockQueries,
    *,
    warehouse_id: str | None,
    below_reorder_point: bool,
    overstock: bool,
    clock: Clock,
) -> list[StockLine]:
    """Stock by warehouse and SKU with days of cover; the filters keep low or overstocked lines."""
    warehouses = [w.id for w in uow_factory().list_warehouses()]
    if warehouse_id is not None:
        if warehouse_id not in warehouses:
            raise NotFound("warehouse", warehouse_id)
        warehouses = [warehouse_id]
    days = demand_days(clock)
    lines: list[StockLine] = []
    for wh in warehouses:
        shipped = stock.shipped_units(wh, days)
        lines += [stock_line(level, shipped.get(level.sku, 0)) for level in stock.list_stock(wh)]
    if below_reorder_point or overstock:
        lines = [
            ln
            for ln in lines
            if (below_reorder_point and (ln.low or ln.stock_out)) or (overstock and ln.overstock)
        ]
    return sorted(lines, key=lambda ln: (ln.warehouse_id, ln.sku))


def demand_days(clock: Clock) -> list[str]:
    today = clock.now().date()
    return [(today - timedelta(days=n)).isoformat() for n in range(1, DEMAND_DAYS + 1)]


def stock_report(uow_factory: UnitOfWorkFactory, stock: StockQueries, *, clock: Clock) -> StockReport:
    days = demand_days(clock)
    levels: list[StockLevel] = []
    shipped: dict[tuple[str, str], int] = {}
    for warehouse in uow_factory().list_warehouses():
        levels += stock.list_stock(warehouse.id)
        shipped |= {(warehouse.id, sku): qty for sku, qty in stock.shipped_units(warehouse.id, days).items()}
    return build_report(levels, shipped, now=clock.now())
