"""Use cases of delivery exceptions: recording that a parcel was lost, damaged or returned to
the sender, and resolving it (reship, refund, restock). The rules are in ``domain.exceptions``.

Every command is one transaction on the order (the fulfillment, any new fulfillments, stock
moves and the event items together). Each keeps the hash of its request on the fulfillment
(``step_requests``, as the warehouse steps do): the same request again answers with the order as
it is and writes nothing; a different one the state no longer allows is a 409 naming the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid
from chalicelib.domain.event_payloads import RefundRequested
from chalicelib.domain.events import EventPayload
from chalicelib.domain.exception_payloads import (
    FulfillmentExceptionRecorded,
    FulfillmentResolved,
    ReshipFulfillment,
)
from chalicelib.domain.exceptions import (
    DECLARATIONS,
    RESTOCKABLE,
    RestockedItem,
    build_reship,
    exception_kind,
    exception_refund,
    plan_restock,
    restock_errors,
    units,
)
from chalicelib.domain.fulfillment import follow_fulfillments
from chalicelib.domain.kpis import fully_shipped
from chalicelib.domain.models import DeliveryException, ExceptionResolution, Fulfillment, ParcelRestock
from chalicelib.domain.sourcing import plan_sourcing
from chalicelib.domain.status import DELIVERY_EXCEPTIONS, FulfillmentStatus, FulfillmentTrigger
from chalicelib.service.changes import Authorize, Change, StockMove, release_work, reserve, summary
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
    StockConflict,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order

Action = Literal["reship", "refund", "restock"]
#: The step_requests key of each command (reship and refund share one: they exclude each other).
EXCEPTION_STEP = "exception"
RESOLUTION_STEP = "resolution"
RESTOCK_STEP = "restock"


def record_exception(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    kind: FulfillmentStatus,
    *,
    note: str | None,
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Operations declare how a shipped parcel's journey ended: lost, damaged or returned."""
    digest = request_hash({"step": EXCEPTION_STEP, "kind": kind.value, "note": note})
    trigger = DECLARATIONS[kind]

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = fulfillment_of(aggregate, fulfillment_id)
        authorize(f)
        if repeat_or_raise(f, EXCEPTION_STEP, digest, trigger):
            return None
        declared = advance(
            f,
            trigger,
            delivery_exception=DeliveryException(
                kind=kind, source="operations", note=note, recorded_at=clock.now(), recorded_by=actor
            ),
            step_requests={**f.step_requests, EXCEPTION_STEP: digest},
        )
        fulfillments = replace_fulfillment(aggregate.fulfillments, declared)
        return Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=exception_recorded(declared, source="operations"),
        )

    return change_order(
        uow_factory, by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
    )


def exception_recorded(
    f: Fulfillment, *, source: Literal["carrier", "operations"]
) -> FulfillmentExceptionRecorded:
    """The event of ``f`` having just ended in a delivery exception (its status is the kind)."""
    return FulfillmentExceptionRecorded(
        fulfillment_id=f.id,
        warehouse_id=f.warehouse_id,
        kind=f.status,
        source=source,
        note=f.delivery_exception.note if f.delivery_exception else None,
        lines=f.lines,
    )


def resolve_exception(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    action: Action,
    *,
    items: Sequence[RestockedItem] = (),
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Reship, refund or restock the fulfillment's units (see ``domain.exceptions``)."""
    step = RESTOCK_STEP if action == "restock" else RESOLUTION_STEP
    digest = request_hash(
        {
            "step": action,
            "items": [[i.sku, i.quantity, i.resellable] for i in items],
        }
    )

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = fulfillment_of(aggregate, fulfillment_id)
        authorize(f)
        if f.step_requests.get(step) == digest:
            return None  # this very request was applied: answer with the order as it is
        stamped = f.model_copy(update={"step_requests": {**f.step_requests, step: digest}})
        if action == "restock":
            return _restock(aggregate, stamped, items, actor=actor, clock=clock)
        if f.status not in DELIVERY_EXCEPTIONS:
            raise _not_resolvable(f)
        if action == "refund":
            return _refund(aggregate, stamped, actor=actor, clock=clock)
        return _reship(aggregate, stamped, uow, actor=actor, ids=ids, clock=clock)

    # A reservation whose stock moved since it was read: source again from fresh levels.
    return change_order(
        uow_factory,
        by_fulfillment(fulfillment_id),
        decide,
        actor=actor,
        ids=ids,
        clock=clock,
        version_conflicts=(StockConflict,),
    )


def _not_resolvable(f: Fulfillment) -> Conflict:
    if f.resolution is not None:
        detail = f"fulfillment {f.id} was resolved already ({f.resolution.action})"
    else:
        detail = (
            f"fulfillment {f.id} is {f.status.value}: only a parcel returned to sender, lost or damaged "
            "is resolved (declare it with POST /v1/fulfillments/{id}/exception)"
        )
    return Conflict(detail, current=f.status.value, allowed=[])


def _resolved(
    aggregate: OrderAggregate,
    f: Fulfillment,
    payload: FulfillmentResolved,
    *,
    new: Sequence[Fulfillment] = (),
    stock: Sequence[StockMove] = (),
    follow_up: Sequence[EventPayload] = (),
    order_lines_from: OrderAggregate | None = None,
) -> Change:
    order = (order_lines_from or aggregate).order
    fulfillments = replace_fulfillment(aggregate.fulfillments, f)
    return Change(
        order=follow_fulfillments(order, [*fulfillments, *new]),
        fulfillments=fulfillments,
        payload=payload,
        new_fulfillments=list(new),
        stock=list(stock),
        follow_up=list(follow_up),
    )


def _payload(f: Fulfillment, kind: FulfillmentStatus, action: Action, **data: object) -> FulfillmentResolved:
    fields: dict[str, object] = {
        "reship_fulfillments": [],
        "warehouse_id": None,
        "restocked": {},
        "written_off": {},
        "refund": None,
        **data,
    }
    return FulfillmentResolved.model_validate(
        {"fulfillment_id": f.id, "action": action, "kind": kind, "lines": f.lines, **fields}
    )


def _refund(aggregate: OrderAggregate, f: Fulfillment, *, actor: str, clock: Clock) -> Change:
    kind = f.status
    refund = exception_refund(aggregate.order, aggregate.fulfillments, aggregate.returns, f)
    refunded = advance(
        f,
        FulfillmentTrigger.REFUND,
        resolution=ExceptionResolution(
            action="refund", resolved_at=clock.now(), resolved_by=actor, refund_total=refund.total
        ),
    )
    return _resolved(
        aggregate,
        refunded,
        _payload(f, kind, "refund", refund=refund),
        follow_up=[RefundRequested(rma_id=None, fulfillment_id=f.id, refund=refund)],
    )


def _reship(
    aggregate: OrderAggregate, f: Fulfillment, uow: UnitOfWork, *, actor: str, ids: IdGenerator, clock: Clock
) -> Change:
    kind, now = f.status, clock.now()
    demand = units(f.lines)
    warehouses = uow.list_warehouses()
    _, stock = uow.get_catalogue(demand, [w.id for w in warehouses])
    plan = plan_sourcing(demand, warehouses, {key: level.available for key, level in stock.items()})
    order, pending = build_reship(aggregate.order, f, plan, new_id=lambda: ids.new("ful"), now=now)
    new = release_work(pending, warehouses, now)
    reshipped = advance(
        f,
        FulfillmentTrigger.RESHIP,
        resolution=ExceptionResolution(
            action="reship",
            resolved_at=now,
            resolved_by=actor,
            reship_fulfillment_ids=[n.id for n in new],
            order_was_fully_shipped=fully_shipped(aggregate.fulfillments),
        ),
    )
    moves = [
        reserve(warehouse_id, sku, quantity)
        for warehouse_id, skus in plan.allocations.items()
        for sku, quantity in skus.items()
    ]
    payload = _payload(
        f,
        kind,
        "reship",
        reship_fulfillments=[ReshipFulfillment.model_validate(r.model_dump()) for r in summary(new)],
    )
    with_lines = OrderAggregate(order=order, fulfillments=aggregate.fulfillments, returns=aggregate.returns)
    return _resolved(aggregate, reshipped, payload, new=new, stock=moves, order_lines_from=with_lines)


def _restock(
    aggregate: OrderAggregate, f: Fulfillment, items: Sequence[RestockedItem], *, actor: str, clock: Clock
) -> Change:
    kind = exception_kind(f)
    if kind not in RESTOCKABLE or f.warehouse_id is None:
        raise Conflict(
            f"fulfillment {f.id} is {f.status.value}: only a parcel returned to sender or damaged "
            "comes back to be restocked",
            current=f.status.value,
            allowed=[],
        )
    if f.restock is not None:
        raise Conflict(f"fulfillment {f.id} was restocked already", current=f.status.value, allowed=[])
    errors = restock_errors(f, items)
    if errors:
        raise InputInvalid([FieldError(["items"], e) for e in errors])
    plan = plan_restock(items)
    warehouse_id = f.warehouse_id
    restocked = f.model_copy(
        update={
            "restock": ParcelRestock(
                warehouse_id=warehouse_id,
                restocked=plan.restocked,
                written_off=plan.written_off,
                restocked_at=clock.now(),
                restocked_by=actor,
            )
        }
    )
    return _resolved(
        aggregate,
        restocked,
        _payload(
            f,
            kind,
            "restock",
            warehouse_id=warehouse_id,
            restocked=plan.restocked,
            written_off=plan.written_off,
        ),
        stock=[StockMove(warehouse_id, sku, on_hand=q, available=q) for sku, q in plan.restocked.items()],
    )
