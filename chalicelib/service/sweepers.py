"""Scheduled checks that catch what no event will: work that silently stopped moving."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from chalicelib.domain.event_payloads import SlaBreached
from chalicelib.domain.models import Fulfillment, format_timestamp
from chalicelib.domain.status import FulfillmentStatus, OrderStatus
from chalicelib.service.changes import Change, load_order, stage_change
from chalicelib.service.notifications import ClaimHeld, NotificationClaims, send_once
from chalicelib.service.ports import Clock, IdGenerator, Notifier, OrderQueries, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import Unchanged, commit_once

#: Receipt normally takes seconds; an order still ``placed`` after this was never received
#: (a relay or receipt worker failing, a message in a DLQ) and a person must look.
STUCK_AFTER = timedelta(minutes=15)
#: One alert per stuck order per day, however often the sweeper runs.
REALERT_SECONDS = 24 * 3600
PAGE = 100
MAX_PAGES = 20


def alert_stuck_orders(
    queries: OrderQueries, notifier: Notifier, claims: NotificationClaims, clock: Clock
) -> list[str]:
    """Alert operations about orders stuck in ``placed``; returns the ids alerted this run."""
    cutoff = format_timestamp(clock.now() - STUCK_AFTER)
    alerted: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        orders, cursor = queries.list_orders(
            status=OrderStatus.PLACED.value,
            channel_id=None,
            created_from=None,
            created_to=cutoff,
            limit=PAGE,
            cursor=cursor,
        )
        for order in orders:
            alert = {
                "type": "order.stuck",
                "order_id": order.id,
                "channel_id": order.channel_id,
                "status": order.status.value,
                "created_at": format_timestamp(order.created_at),
                "hint": "check the receipt queue's DLQ and the outbox relay's errors",
            }
            # The ``sent`` claim is the once-a-day memory; a failed publish releases the claim,
            # so the next run tries again instead of staying silent for a day.
            try:
                _, published = send_once(
                    claims,
                    f"stuck/{order.id}",
                    partial(
                        notifier.publish_operations,
                        subject=f"Order {order.id} is stuck in placed",
                        message=alert,
                    ),
                    sent_seconds=REALERT_SECONDS,
                )
            except ClaimHeld:
                continue  # a concurrent run is alerting about it right now
            if not published:
                continue  # alerted within the last day
            alerted.append(order.id)
        if cursor is None:
            break
    return alerted


def sweep_sla(
    uow_factory: UnitOfWorkFactory, queries: OrderQueries, ids: IdGenerator, clock: Clock
) -> list[str]:
    """Record ``sla.breached`` (which alerts operations) once for each fulfillment past its
    ship-by promise and not shipped. Held work is not looked at: holds pause the clock, and
    releasing a hold sets a new promise."""
    now = clock.now()
    breached: list[str] = []
    for warehouse in uow_factory().list_warehouses():
        for status in UNSHIPPED_WORK:
            # Breached work stays in the queue until it moves on, so read past it: up to
            # PAGE * MAX_PAGES late fulfillments per warehouse and status each sweep.
            late = queries.list_work(
                warehouse.id, status.value, ship_by_before=format_timestamp(now), limit=PAGE * MAX_PAGES
            )
            for fulfillment in late:
                if fulfillment.sla_breached_at is None and _record_breach(
                    uow_factory, fulfillment, ids, clock
                ):
                    breached.append(fulfillment.id)
    return breached


UNSHIPPED_WORK = (
    FulfillmentStatus.RELEASED,
    FulfillmentStatus.PICKING,
    FulfillmentStatus.PICKED,
    FulfillmentStatus.PACKED,
)


def _record_breach(uow_factory: UnitOfWorkFactory, late: Fulfillment, ids: IdGenerator, clock: Clock) -> bool:
    def stage(uow: UnitOfWork) -> bool | Unchanged[bool]:
        aggregate = load_order(uow, late.order_id)
        current = next((f for f in aggregate.fulfillments if f.id == late.id), None)
        if current is None or current.sla_breached_at is not None or current.status not in UNSHIPPED_WORK:
            return Unchanged(False)
        marked = current.model_copy(update={"sla_breached_at": clock.now()})
        change = Change(
            order=aggregate.order,
            fulfillments=[marked if f.id == current.id else f for f in aggregate.fulfillments],
            payload=SlaBreached(
                fulfillment_id=current.id,
                warehouse_id=current.warehouse_id,
                ship_by=format_timestamp(current.ship_by) if current.ship_by else None,
                fulfillment_status=current.status,
            ),
        )
        stage_change(uow, aggregate, change, actor="system:sla", ids=ids, clock=clock)
        return True

    return commit_once(uow_factory, stage, clock=clock)
