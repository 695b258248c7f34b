"""The promised dates of an order as every reader shows them (the API, the status page, e-mails).

One function, so that the order's response, the customer's status page and the messages never
disagree: ``order_promise`` (domain/promise.py) over the warehouses and the transit table as
they are now. Both are cached per process by their adapters, so a warm reader makes no DynamoDB
round trip for them.
"""

from __future__ import annotations

from chalicelib.domain.promise import OrderPromise, order_promise
from chalicelib.service.ports import Clock, OrderAggregate, TransitTimes, UnitOfWorkFactory


def promised_dates(
    aggregate: OrderAggregate, *, uow_factory: UnitOfWorkFactory, transit_times: TransitTimes, clock: Clock
) -> OrderPromise:
    """The order's ship-by and estimated delivery window, per fulfillment and as a whole."""
    return order_promise(
        aggregate.order,
        aggregate.fulfillments,
        warehouses=uow_factory().list_warehouses(),
        transit=transit_times.transit_table(),
        now=clock.now(),
    )
