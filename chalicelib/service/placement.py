"""Use case: place an order from any channel.

Exactly one write reaches the database: a transaction with the order, its
fulfillments, the stock reservations (each conditioned on ``available >=
qty``), the ``order.placed`` event and the dedup items. When a reservation's
condition fails (another order took the stock between our read and our write)
the whole plan is rebuilt from fresh stock levels; nothing partial is ever
written, so a lost race becomes a backorder or a rejection, never an oversell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import (
    ConcurrencyConflict,
    Conflict,
    IdempotencyKeyReused,
    InputInvalid,
    InsufficientStock,
    NotFound,
    TooLarge,
    UnknownSkus,
)
from chalicelib.domain.event_payloads import HoldNote, OrderPlaced, PlacedFulfillment, PlacedLine
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldFinding
from chalicelib.domain.models import Fulfillment, Hold, Order, UnresolvedLine
from chalicelib.domain.placement import (
    PlaceOrderRequest,
    awaited_demand,
    build_order,
    check_request,
    place_awaited_lines,
    skus_not_sellable,
)
from chalicelib.domain.sourcing import SourcingPlan, plan_sourcing
from chalicelib.domain.status import OrderTrigger, next_order_status
from chalicelib.service.changes import StockMove, back_off, reserve
from chalicelib.service.ports import (
    MAX_TRANSACTION_ITEMS,
    Clock,
    DedupExists,
    DedupRecord,
    IdGenerator,
    OrderAggregate,
    OrderExists,
    StockConflict,
    TransactionConflict,
    UnitOfWork,
    UnitOfWorkFactory,
)

#: How long an Idempotency-Key is remembered (Stripe and others use 24 h).
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
#: Rebuilds of the plan after lost stock races before giving up (409, retryable).
MAX_ATTEMPTS = 10


def idempotency_scope(channel_id: str) -> str:
    return f"idem#{channel_id}"


def external_id_scope(channel_id: str) -> str:
    return f"ext#{channel_id}"


@dataclass
class PlacementResult:
    order: Order
    fulfillments: list[Fulfillment]
    #: False when the request repeats an earlier one and the original order is returned.
    created: bool


def place_order(
    uow_factory: UnitOfWorkFactory,
    request: PlaceOrderRequest,
    *,
    channel_id: str,
    idempotency_key: str | None,
    ids: IdGenerator,
    clock: Clock,
    holds: Sequence[HoldFinding] = (),
    unresolved: Sequence[UnresolvedLine] = (),
    store_updated_at: datetime | None = None,
) -> PlacementResult:
    """``holds``, ``unresolved`` and ``store_updated_at`` come from store channels: lines that
    cannot be placed are kept on the order, which is taken on hold instead of being refused; the
    store's modification time is kept on the order, so older versions arriving later are ignored."""
    request_hash = request.request_hash()
    conflicts = 0
    for _attempt in range(MAX_ATTEMPTS):
        uow = uow_factory()
        replay = _replay(uow, request, channel_id, idempotency_key, request_hash)
        if replay is not None:
            return replay
        order, fulfillments = _stage_new_order(
            uow,
            request,
            channel_id,
            idempotency_key,
            request_hash,
            ids,
            clock,
            holds,
            unresolved,
            store_updated_at,
        )
        try:
            uow.commit()
        except StockConflict:
            continue  # the stock moved: plan again from fresh levels
        except TransactionConflict:
            back_off(clock, conflicts)  # nothing was written: the same plan may well go through
            conflicts += 1
            continue
        except (OrderExists, DedupExists):
            # Either this very transaction was applied already (the SDK re-sent it after losing
            # the answer: the copy finds its own order and dedup items) or a twin request won.
            own = _written_by_this_attempt(uow_factory(), order.id, channel_id, request.external_id)
            if own is not None:
                return own
            continue  # a twin request won: the next attempt answers with its order (a replay)
        return PlacementResult(order=order, fulfillments=fulfillments, created=True)
    raise ConcurrencyConflict("too many concurrent changes to the same stock; retry the request")


def _written_by_this_attempt(
    uow: UnitOfWork, order_id: str, channel_id: str, external_id: str
) -> PlacementResult | None:
    """The order this attempt created, when its transaction turns out to be applied already.

    The external id's dedup record is written in the same transaction as the order: when it
    names the order id this attempt generated, the order is ours, created by this request
    (``created``: the client never heard of it before, so it gets its 201).
    """
    record = uow.get_dedup(external_id_scope(channel_id), external_id)
    if record is None or record.ref != order_id:
        return None
    found = _existing(uow, order_id)
    return PlacementResult(order=found.order, fulfillments=found.fulfillments, created=True)


def _replay(
    uow: UnitOfWork,
    request: PlaceOrderRequest,
    channel_id: str,
    idempotency_key: str | None,
    request_hash: str,
) -> PlacementResult | None:
    """The original order when this request was already accepted; raise on a conflicting reuse."""
    if idempotency_key is not None:
        record = uow.get_dedup(idempotency_scope(channel_id), idempotency_key)
        if record is not None:
            if record.request_hash != request_hash:
                raise IdempotencyKeyReused(idempotency_key)
            return _existing(uow, record.ref)
    record = uow.get_dedup(external_id_scope(channel_id), request.external_id)
    if record is not None:
        if record.request_hash != request_hash:
            raise Conflict(
                f"external_id {request.external_id!r} already names order {record.ref} "
                "with different contents; update that order instead"
            )
        return _existing(uow, record.ref)
    return None


def _existing(uow: UnitOfWork, order_id: str) -> PlacementResult:
    aggregate: OrderAggregate | None = uow.get_order(order_id)
    if aggregate is None:  # dedup item without its order cannot happen: both are written together
        raise NotFound("order", order_id)
    return PlacementResult(order=aggregate.order, fulfillments=aggregate.fulfillments, created=False)


def _stage_new_order(
    uow: UnitOfWork,
    request: PlaceOrderRequest,
    channel_id: str,
    idempotency_key: str | None,
    request_hash: str,
    ids: IdGenerator,
    clock: Clock,
    holds: Sequence[HoldFinding] = (),
    unresolved: Sequence[UnresolvedLine] = (),
    store_updated_at: datetime | None = None,
) -> tuple[Order, list[Fulfillment]]:
    plan = _plan(uow, request, channel_id, unresolved)
    now = clock.now()
    order, fulfillments = build_order(
        request,
        channel_id=channel_id,
        plan=plan,
        order_id=ids.new("ord"),
        new_fulfillment_id=lambda: ids.new("ful"),
        now=now,
        unresolved=unresolved,
    )
    if store_updated_at is not None:
        order = order.model_copy(update={"store_updated_at": store_updated_at})
    if holds:
        order = _held(order, holds, placed_by=f"channel:{channel_id}", now=now)
    uow.add_order(order)
    for fulfillment in fulfillments:
        uow.add_fulfillment(fulfillment)
    for warehouse_id, skus in plan.allocations.items():
        for sku, quantity in skus.items():
            uow.reserve_stock(warehouse_id, sku, quantity)
    uow.add_event(_placed_event(order, fulfillments, plan, event_id=ids.new("evt"), now=now))
    _stage_dedup(uow, request, order, channel_id, idempotency_key, request_hash, now=now)
    if uow.staged_count() > MAX_TRANSACTION_ITEMS:
        raise TooLarge(uow.staged_count(), MAX_TRANSACTION_ITEMS)
    return order, fulfillments


def _plan(
    uow: UnitOfWork, request: PlaceOrderRequest, channel_id: str, unresolved: Sequence[UnresolvedLine] = ()
) -> SourcingPlan:
    """Where the order's units come from, given the stock levels read now; refuses (422) what the
    catalogue does not know and, for a channel that rejects backorders, what cannot be sourced."""
    channel = uow.get_channel(channel_id)
    if channel is None:
        raise NotFound("channel", channel_id)
    demand = request.demand()
    warehouses = uow.list_warehouses()  # cached per container: no read on a warm Lambda
    products, stock = uow.get_catalogue(demand, [w.id for w in warehouses])
    errors = check_request(request, products, unresolved)
    if errors:
        raise InputInvalid(errors)
    plan = plan_sourcing(demand, warehouses, {key: level.available for key, level in stock.items()})
    if plan.shortages and channel.backorder_policy == "reject":
        raise InsufficientStock(shortages=plan.shortages)
    return plan


def _held(order: Order, holds: Sequence[HoldFinding], *, placed_by: str, now: datetime) -> Order:
    return order.model_copy(
        update={
            "status": next_order_status(order.status, OrderTrigger.HOLD),
            "holds": [Hold(reason=h.reason, note=h.note, placed_at=now, placed_by=placed_by) for h in holds],
        }
    )


def _placed_event(
    order: Order, fulfillments: list[Fulfillment], plan: SourcingPlan, *, event_id: str, now: datetime
) -> DomainEvent:
    return DomainEvent.recording(
        OrderPlaced(
            status=order.status,
            external_id=order.external_id,
            currency=order.currency,
            total=str(order.totals.total),
            lines=[
                PlacedLine(sku=line.sku, quantity=line.quantity, backordered=line.backordered)
                for line in order.lines
            ],
            fulfillments=[
                PlacedFulfillment(id=f.id, warehouse_id=f.warehouse_id, lines=f.lines) for f in fulfillments
            ],
            split=plan.is_split,
            holds=[HoldNote(reason=h.reason, note=h.note) for h in order.holds],
            unresolved_lines=order.unresolved_lines,
        ),
        id=event_id,
        order_id=order.id,
        channel_id=order.channel_id,
        version=order.version,
        occurred_at=now,
        actor=f"channel:{order.channel_id}",
    )


def _stage_dedup(
    uow: UnitOfWork,
    request: PlaceOrderRequest,
    order: Order,
    channel_id: str,
    idempotency_key: str | None,
    request_hash: str,
    *,
    now: datetime,
) -> None:
    """The external id's record (for ever) and the Idempotency-Key's (24 h), both naming the
    order, written with it: a repeat of the request finds them and answers with this order."""
    uow.add_dedup(
        DedupRecord(
            scope=external_id_scope(channel_id),
            key=request.external_id,
            request_hash=request_hash,
            ref=order.id,
            created_at=now,
        )
    )
    if idempotency_key is not None:
        uow.add_dedup(
            DedupRecord(
                scope=idempotency_scope(channel_id),
                key=idempotency_key,
                request_hash=request_hash,
                ref=order.id,
                created_at=now,
            ),
            ttl_seconds=IDEMPOTENCY_TTL_SECONDS,
        )


def stage_awaited_lines(
    uow: UnitOfWork, aggregate: OrderAggregate, *, ids: IdGenerator, clock: Clock
) -> tuple[OrderAggregate, list[Fulfillment], list[StockMove]]:
    """Place the order's lines that waited for their products (releasing ``unresolved_lines``):
    sourced from the stock levels read now, as at placement, their units reserved by the change's
    write (conditioned on ``available``: a lost race re-reads and re-plans). Returns the order with
    the new lines (its fulfillments as they were), the new fulfillments and the reservations.
    Refused (``UnknownSkus``, 409) while any of the SKUs is not in the catalogue. Short units are
    backordered whatever the channel's backorder policy: the order was accepted already."""
    order = aggregate.order
    demand = awaited_demand(order)
    warehouses = uow.list_warehouses()
    products, stock = uow.get_catalogue(demand, [w.id for w in warehouses])
    missing = skus_not_sellable(order, products)
    if missing:
        raise UnknownSkus(missing)
    plan = plan_sourcing(demand, warehouses, {key: level.available for key, level in stock.items()})
    placed, new_fulfillments = place_awaited_lines(
        order, plan, new_fulfillment_id=lambda: ids.new("ful"), now=clock.now()
    )
    moves = [
        reserve(warehouse_id, sku, quantity)
        for warehouse_id, skus in plan.allocations.items()
        for sku, quantity in skus.items()
    ]
    resolved = OrderAggregate(order=placed, fulfillments=aggregate.fulfillments, returns=aggregate.returns)
    return resolved, new_fulfillments, moves
