"""Use cases of returns: requesting an RMA, and receiving the goods back.

Both are one transaction on the order (``service.unit_of_work.change_order``). Receiving puts
resellable units back on the shelf (``on_hand`` and ``available`` up) in the
receiving warehouse, writes the rest off (they never re-enter stock),
computes the refund (``domain.returns``) and records ``return.received``
followed by ``refund.requested``: payments stay with the store, which gets the
refund request as an event (and as a webhook when subscribed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.event_payloads import RefundRequested, ReturnReceived, ReturnRequested
from chalicelib.domain.models import Order
from chalicelib.domain.returns import (
    ReceivedItem,
    ReturnLine,
    ReturnRequest,
    assess_receipt,
    over_returned,
    returnable,
    unexpected_items,
)
from chalicelib.domain.returns import decide as decide_return
from chalicelib.domain.status import (
    OrderStatus,
    OrderTrigger,
    ReturnStatus,
    next_order_status,
)
from chalicelib.service.changes import Change, StockMove, load_order
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import change_order


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
    rma_id: str | None = None,
) -> tuple[OrderAggregate, ReturnRequest]:
    """Approve (or, outside the window, reject) a return; asking for more than was delivered and
    not yet returned is refused outright (422).

    ``rma_id`` makes the request idempotent (the status page's form carries one): when the order
    holds that RMA already, this is a repeat and nothing changes; the RMA is answered as it is."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        authorize(aggregate.order)
        if rma_id is not None and any(r.id == rma_id for r in aggregate.returns):
            return None  # made already (a double submit, or a retry that lost its answer)
        problems = over_returned(lines, returnable(aggregate.fulfillments, aggregate.returns))
        if problems:
            raise InputInvalid([FieldError(["lines"], p) for p in problems])
        now = clock.now()
        rejection = decide_return(aggregate.fulfillments, now=now, window_days=window_days)
        rma = ReturnRequest(
            id=rma_id or ids.new("rma"),
            order_id=order_id,
            channel_id=aggregate.order.channel_id,
            status=ReturnStatus.REJECTED if rejection else ReturnStatus.APPROVED,
            version=1,
            lines=list(lines),
            rejection_reason=rejection,
            requested_at=now,
        )
        return Change(
            order=aggregate.order,
            fulfillments=aggregate.fulfillments,
            payload=ReturnRequested(
                rma_id=rma.id, return_status=rma.status, rejection_reason=rejection, lines=list(lines)
            ),
            new_returns=[rma],
        )

    result = change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )
    if rma_id is not None:
        return result, _rma(result, rma_id)
    return result, result.returns[-1]  # stage_change puts the new RMA last


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
    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        rma = _rma(aggregate, rma_id)
        authorize(warehouse_id)
        if rma.status == ReturnStatus.RECEIVED:
            return None  # received already (a repeat): nothing more
        if rma.status != ReturnStatus.APPROVED:
            raise Conflict(
                f"return {rma.id} is {rma.status.value}; only approved returns are received",
                current=rma.status.value,
                allowed=[],
            )
        if uow.get_warehouse(warehouse_id) is None:
            raise NotFound("warehouse", warehouse_id)
        unexpected = unexpected_items(rma, items)
        if unexpected:
            raise InputInvalid([FieldError(["items"], p) for p in unexpected])
        return _received(aggregate, rma, items, warehouse_id, now=clock.now())

    result = change_order(
        uow_factory, lambda uow: _load_return(uow, rma_id)[0], decide, actor=actor, ids=ids, clock=clock
    )
    # The RMA as stored (stage_change moved its version on).
    return result, _rma(result, rma_id)


def _received(
    aggregate: OrderAggregate,
    rma: ReturnRequest,
    items: Sequence[ReceivedItem],
    warehouse_id: str,
    *,
    now: datetime,
) -> Change:
    order = aggregate.order
    receipt = assess_receipt(order, aggregate.fulfillments, aggregate.returns, items)
    refund = receipt.refund
    done = rma.model_copy(
        update={
            "status": ReturnStatus.RECEIVED,
            "received_at": now,
            "warehouse_id": warehouse_id,
            "received": list(items),
            "refund": refund,
        }
    )
    trigger = OrderTrigger.RETURN_ALL if receipt.returns_everything else OrderTrigger.RETURN_PARTIALLY
    first_return = order.status not in (OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED)
    return Change(
        order=order.model_copy(update={"status": next_order_status(order.status, trigger)}),
        fulfillments=aggregate.fulfillments,
        payload=ReturnReceived(
            rma_id=rma.id,
            warehouse_id=warehouse_id,
            restocked=receipt.restocked,
            written_off=receipt.written_off,
            items=list(items),
            first_return=first_return,
            refund=refund,
        ),
        returns=[done if r.id == rma.id else r for r in aggregate.returns],
        stock=[
            StockMove(warehouse_id, sku, on_hand=qty, available=qty) for sku, qty in receipt.restocked.items()
        ],
        follow_up=[RefundRequested(rma_id=rma.id, refund=refund)],
    )


def _rma(aggregate: OrderAggregate, rma_id: str) -> ReturnRequest:
    return next(r for r in aggregate.returns if r.id == rma_id)


def _load_return(uow: UnitOfWork, rma_id: str) -> tuple[OrderAggregate, ReturnRequest]:
    order_id = uow.find_order_of_fulfillment(rma_id)  # the by-id index holds RMAs too
    aggregate = uow.get_order(order_id) if order_id else None
    rma = next((r for r in aggregate.returns if r.id == rma_id), None) if aggregate else None
    if aggregate is None or rma is None:
        raise NotFound("return", rma_id)
    return aggregate, rma


def get_return(uow_factory: UnitOfWorkFactory, rma_id: str) -> tuple[OrderAggregate, ReturnRequest]:
    return _load_return(uow_factory(), rma_id)
