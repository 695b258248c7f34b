"""Cancelling an order, or some of its units, while nothing of them is packed."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid
from chalicelib.domain.event_payloads import (
    OrderCancelled,
    OrderLinesCancelled,
    StockReleased,
)
from chalicelib.domain.fulfillment import (
    CancellationPlan,
    NothingLeftToCancel,
    book_cancellations,
    plan_cancellation,
    settle,
)
from chalicelib.domain.models import Order
from chalicelib.domain.status import (
    FulfillmentTrigger,
    OrderStatus,
    OrderTrigger,
    next_order_status,
)
from chalicelib.service.changes import (
    Change,
    load_order,
    release,
)
from chalicelib.service.fulfillment import advance
from chalicelib.service.ports import (
    Clock,
    IdGenerator,
    OrderAggregate,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order


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
            fulfillments.append(advance(f, FulfillmentTrigger.CANCEL, cancel_reason=reason))
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
