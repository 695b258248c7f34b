"""Scheduled checks that catch what no event will: work that silently stopped moving."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.models import format_timestamp
from chalicelib.domain.status import OrderStatus
from chalicelib.service.notifications import NotificationClaims
from chalicelib.service.ports import Clock, Notifier, OrderQueries

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
            if not claims.claim(f"stuck/{order.id}", seconds=REALERT_SECONDS):
                continue
            notifier.publish_operations(
                subject=f"Order {order.id} is stuck in placed",
                message={
                    "type": "order.stuck",
                    "order_id": order.id,
                    "channel_id": order.channel_id,
                    "status": order.status.value,
                    "created_at": format_timestamp(order.created_at),
                    "hint": "check the receipt queue's DLQ and the outbox relay's errors",
                },
            )
            alerted.append(order.id)
        if cursor is None:
            break
    return alerted
