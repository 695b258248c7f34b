"""Needs attention: what someone should look at now (holds, late work, delivery problems,
unmatched tracking numbers, store connections refused, write-backs refused, dead-letter queues)."""

from __future__ import annotations

from datetime import timedelta

from chalice.app import Response

from chalicelib.api import console_data as data
from chalicelib.api.console.visit import Visit, console_route
from chalicelib.domain.status import OrderStatus

UNMATCHED_DAYS = 7


@console_route(
    "/console/attention", "GET", "holds, SLA breaches, delivery problems, unmatched tracking, DLQs"
)
def console_attention(visit: Visit) -> Response:
    svc = visit.svc
    now = svc.clock.now()
    on_hold, more_on_hold = svc.queries.list_orders(
        status=OrderStatus.ON_HOLD.value,
        channel_id=None,
        created_from=None,
        created_to=None,
        limit=data.ATTENTION_LIMIT,
        cursor=None,
    )
    days = [(now.date() - timedelta(days=n)).isoformat() for n in range(UNMATCHED_DAYS)]
    unmatched = data.unmatched_tracking(svc, days)
    try:
        queues: list[data.QueueDepth] | None = data.dead_letter_queues(svc)
    except data.QueuesUnavailable:
        queues = None
    return visit.page(
        "attention",
        title="Needs attention",
        section="attention",
        now=now,
        on_hold=on_hold,
        more_on_hold=more_on_hold is not None,
        on_hold_url=visit.url("/console/orders", status=OrderStatus.ON_HOLD.value),
        late=data.late_work(svc, now),
        problems=data.delivery_problems(svc),
        limit=data.ATTENTION_LIMIT,
        unmatched=[(day, unmatched.get(day, 0)) for day in days],
        queues=queues,
        store_connections=data.failing_store_connections(svc),
        refused_write_backs=data.refused_write_backs(svc),
    )
