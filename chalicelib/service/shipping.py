"""Step 5 of the journey, shipment: a packed fulfillment handed to its carrier with its tracking
numbers.
"""

from __future__ import annotations

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid
from chalicelib.domain.event_payloads import (
    FulfillmentShipped,
)
from chalicelib.domain.fulfillment import (
    follow_fulfillments,
    tracking_url,
)
from chalicelib.domain.models import Fulfillment, Order, Shipment
from chalicelib.domain.status import (
    FulfillmentTrigger,
    OrderStatus,
)
from chalicelib.service.changes import (
    Authorize,
    Change,
    consume,
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
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order


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
        f = fulfillment_of(aggregate, fulfillment_id)
        authorize(f)
        if repeat_or_raise(f, "ship", digest, FulfillmentTrigger.SHIP):
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
        shipped = advance(
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
        uow_factory, by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
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
    fulfillments = replace_fulfillment(aggregate.fulfillments, shipped)
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
