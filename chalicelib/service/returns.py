"""Use cases of returns: requesting an RMA, and receiving the goods back.

Both are one transaction on the order (``service.changes``). Receiving puts
resellable units back on the shelf (``on_hand`` and ``available`` up) in the
receiving warehouse, writes the rest off (they never re-enter stock),
computes the refund (``domain.returns``) and records ``return.received``
followed by ``refund.requested``: payments stay with the store, which gets the
refund request as an event (and as a webhook when subscribed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.event_payloads import RefundRequested, ReturnReceived, ReturnRequested
from chalicelib.domain.models import Order
from chalicelib.domain.returns import (
    ReceivedItem,
    ReturnCondition,
    ReturnLine,
    ReturnRequest,
    compute_refund,
    decide,
    delivered_units,
    over_returned,
    resellable_units,
    returnable,
)
from chalicelib.domain.status import (
    FulfillmentStatus,
    OrderStatus,
    OrderTrigger,
    ReturnStatus,
    next_order_status,
)
from chalicelib.service.changes import Change, StockMove, load_order, retrying, stage_change
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWorkFactory


def request_return(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    lines: Sequence[ReturnLine],
    *,
    window_days: int,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> tuple[OrderAggregate, ReturnRequest]:
    """Approve (or, outside the window, reject) a return; asking for more than was delivered and
    not yet returned is refused outright (422)."""

    def attempt() -> tuple[OrderAggregate, ReturnRequest]:
        uow = uow_factory()
        aggregate = load_order(uow, order_id)
        authorize(aggregate.order)
        problems = over_returned(lines, returnable(aggregate.fulfillments, aggregate.returns))
        if problems:
            raise InputInvalid([FieldError(["lines"], p) for p in problems])
        now = clock.now()
        rejection = decide(aggregate.fulfillments, now=now, window_days=window_days)
        rma = ReturnRequest(
            id=ids.new("rma"),
            order_id=order_id,
            channel_id=aggregate.order.channel_id,
            status=ReturnStatus.REJECTED if rejection else ReturnStatus.APPROVED,
            version=1,
            lines=list(lines),
            rejection_reason=rejection,
            requested_at=now,
        )
        change = Change(
            order=aggregate.order,
            fulfillments=aggregate.fulfillments,
            payload=ReturnRequested(
                rma_id=rma.id, return_status=rma.status, rejection_reason=rejection, lines=list(lines)
            ),
            new_returns=[rma],
        )
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        return result, rma

    return retrying(attempt, clock=clock)


def receive_return(
    uow_factory: UnitOfWorkFactory,
    rma_id: str,
    items: Sequence[ReceivedItem],
    *,
    warehouse_id: str,
    authorize: Callable[[str], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> tuple[OrderAggregate, ReturnRequest]:
    def attempt() -> tuple[OrderAggregate, ReturnRequest]:
        uow = uow_factory()
        aggregate, rma = _load_return(uow_factory, rma_id)
        authorize(warehouse_id)
        if rma.status == ReturnStatus.RECEIVED:
            return aggregate, rma  # received already (a repeat): nothing more
        if rma.status != ReturnStatus.APPROVED:
            raise Conflict(
                f"return {rma.id} is {rma.status.value}; only approved returns are received",
                current=rma.status.value,
                allowed=[],
            )
        if uow.get_warehouse(warehouse_id) is None:
            raise NotFound("warehouse", warehouse_id)
        expected: dict[str, int] = {}
        for line in rma.lines:
            expected[line.sku] = expected.get(line.sku, 0) + line.quantity
        got: dict[str, int] = {}
        for item in items:
            got[item.sku] = got.get(item.sku, 0) + item.quantity
        unexpected = [
            f"{sku}: {qty} received, {expected.get(sku, 0)} expected"
            for sku, qty in got.items()
            if qty > expected.get(sku, 0)
        ]
        if unexpected:
            raise InputInvalid([FieldError(["items"], p) for p in unexpected])
        order = aggregate.order
        now = clock.now()
        received_returns = [r for r in aggregate.returns if r.status == ReturnStatus.RECEIVED]
        returned_before: dict[str, int] = {}
        for r in received_returns:
            for item in r.received:
                returned_before[item.sku] = returned_before.get(item.sku, 0) + item.quantity
        delivered = delivered_units(aggregate.fulfillments)
        all_back = all(returned_before.get(sku, 0) + got.get(sku, 0) >= qty for sku, qty in delivered.items())
        # Nothing else is still on its way: every fulfillment was delivered (or cancelled).
        everything_delivered = all(
            f.status in (FulfillmentStatus.DELIVERED, FulfillmentStatus.CANCELLED)
            for f in aggregate.fulfillments
        )
        refunded_before = sum((r.refund.total for r in received_returns if r.refund), Decimal(0))
        # Everything delivered is back and none of it was a wrong item: the refund completes.
        no_wrong_items = all(
            item.condition != ReturnCondition.WRONG_ITEM for r in received_returns for item in r.received
        ) and all(item.condition != ReturnCondition.WRONG_ITEM for item in items)
        refund = compute_refund(
            order,
            items,
            completes_order=all_back and everything_delivered and no_wrong_items,
            refunded_before=refunded_before,
        )
        done = rma.model_copy(
            update={
                "status": ReturnStatus.RECEIVED,
                "received_at": now,
                "warehouse_id": warehouse_id,
                "received": list(items),
                "refund": refund,
            }
        )
        trigger = (
            OrderTrigger.RETURN_ALL if all_back and everything_delivered else OrderTrigger.RETURN_PARTIALLY
        )
        first_return = order.status not in (OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED)
        order = order.model_copy(update={"status": next_order_status(order.status, trigger)})
        restock = resellable_units(items)
        written_off = {
            sku: qty - restock.get(sku, 0) for sku, qty in got.items() if qty > restock.get(sku, 0)
        }
        change = Change(
            order=order,
            fulfillments=aggregate.fulfillments,
            payload=ReturnReceived(
                rma_id=rma.id,
                warehouse_id=warehouse_id,
                restocked=restock,
                written_off=written_off,
                items=list(items),
                first_return=first_return,
                refund=refund,
            ),
            returns=[done if r.id == rma.id else r for r in aggregate.returns],
            stock=[StockMove(warehouse_id, sku, on_hand=qty, available=qty) for sku, qty in restock.items()],
            follow_up=[RefundRequested(rma_id=rma.id, refund=refund)],
        )
        result = stage_change(uow, aggregate, change, actor=actor, ids=ids, clock=clock)
        uow.commit()
        # The RMA as stored (stage_change moved its version on).
        return result, next(r for r in result.returns if r.id == rma.id)

    return retrying(attempt, clock=clock)


def _load_return(uow_factory: UnitOfWorkFactory, rma_id: str) -> tuple[OrderAggregate, ReturnRequest]:
    uow = uow_factory()
    order_id = uow.find_order_of_fulfillment(rma_id)  # the by-id index holds RMAs too
    aggregate = uow.get_order(order_id) if order_id else None
    rma = next((r for r in aggregate.returns if r.id == rma_id), None) if aggregate else None
    if aggregate is None or rma is None:
        raise NotFound("return", rma_id)
    return aggregate, rma


def get_return(uow_factory: UnitOfWorkFactory, rma_id: str) -> tuple[OrderAggregate, ReturnRequest]:
    return _load_return(uow_factory, rma_id)
