"""Use cases of KPIs: counting each event once, and reporting a period.

The kpi worker turns each event into counter increments (``domain.kpis``) and
adds them, with the event's dedup item, in one transaction: a redelivered
event finds its dedup item and adds nothing, so every figure counts each event
exactly once. Counters live per day (the event's own UTC date) and channel;
the report reads the days of the period, one query per day, never a scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Protocol

from chalicelib.domain.errors import FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.kpis import (
    KpiReport,
    compute_report,
    increments_for,
    kpi_channel,
    kpi_day,
    needs_facts,
    order_facts,
)
from chalicelib.service.ports import Clock, OrderQueries, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import Message, Retry, consume_once

CONSUMER_SCOPE = "consumer#kpi"
#: Longer than any redelivery can come late (SQS keeps messages 4 days, a DLQ 14, then a redrive).
DEDUP_TTL_SECONDS = 30 * 24 * 3600
MAX_REPORT_DAYS = 366


def counter_name(channel: str, metric: str) -> str:
    """The counter's sort key under ``KPI#<day>``: ``m#<channel>#<metric>``."""
    return f"m#{channel}#{metric}"


class CounterReader(Protocol):
    def kpi_counters(self, days: Iterable[str]) -> dict[tuple[str, str, str], int]:
        """(day, channel, metric) -> value for the given days (yyyy-mm-dd)."""
        ...


def record_kpis(
    uow_factory: UnitOfWorkFactory, queries: OrderQueries, event: DomainEvent, *, clock: Clock
) -> bool:
    """Count ``event``; False when it had been counted before (a redelivery)."""

    def stage(uow: UnitOfWork) -> bool:
        facts = None
        if needs_facts(event) and event.order_id:
            aggregate = uow.get_order(event.order_id)
            if aggregate is None:
                raise NotFound("order", event.order_id)
            facts = order_facts(aggregate.order, aggregate.fulfillments, queries.list_events(event.order_id))
        day, channel = kpi_day(event).isoformat(), kpi_channel(event)
        for increment in increments_for(event, facts):
            uow.count(counter_name(channel, increment.metric), day, increment.value)
        return True

    counted = Message(scope=CONSUMER_SCOPE, key=event.id, ref=event.type, ttl_seconds=DEDUP_TTL_SECONDS)
    # Not retried here: the queue redelivers a message whose transaction failed.
    return consume_once(uow_factory, counted, stage, replay=lambda: False, clock=clock, retry=Retry.NEVER)


def kpi_report(counters: CounterReader, *, from_date: date, to_date: date, channel: str | None) -> KpiReport:
    if to_date < from_date:
        raise InputInvalid([FieldError(["query", "to"], "must not be before from")])
    days = (to_date - from_date).days + 1
    if days > MAX_REPORT_DAYS:
        raise InputInvalid([FieldError(["query", "to"], f"a report covers at most {MAX_REPORT_DAYS} days")])
    wanted = [(from_date + timedelta(days=n)).isoformat() for n in range(days)]
    raw: Mapping[tuple[str, str, str], int] = counters.kpi_counters(wanted)
    keyed = {(date.fromisoformat(day), ch, metric): value for (day, ch, metric), value in raw.items()}
    return compute_report(keyed, from_date=from_date, to_date=to_date, channel=channel)
