"""What the operator console looks up across warehouses and channels: late work, delivery
problems, carrier events nobody shipped, and orders by a store's own id. Every read is bounded
(by key or index, ``ATTENTION_LIMIT`` rows at most), never a scan."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.domain.models import Fulfillment, format_timestamp
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.delivery import UNMATCHED_METRIC
from chalicelib.service.placement import external_id_scope
from chalicelib.service.ports import (
    Counters,
    OrderQueries,
    StoreAlerts,
    StoreApiAlert,
    StoreRejection,
    UnitOfWorkFactory,
    WriteBackLedger,
)

#: Rows per list on the "needs attention" page (each list links to where the rest can be seen).
ATTENTION_LIMIT = 25
#: Work still in the warehouse: past its ship-by it breaches the SLA.
SLA_STATUSES = (
    FulfillmentStatus.RELEASED,
    FulfillmentStatus.PICKING,
    FulfillmentStatus.PICKED,
    FulfillmentStatus.PACKED,
)
#: Parcels the carrier could not deliver yet, and delivery exceptions not yet resolved (a
#: resolved one is reshipped or refunded and leaves the list; a restock alone does not resolve it).
DELIVERY_PROBLEM_STATUSES = (
    FulfillmentStatus.EXCEPTION,
    FulfillmentStatus.DELIVERY_ATTEMPTED,
    FulfillmentStatus.FAILED,
    FulfillmentStatus.RETURNED_TO_SENDER,
    FulfillmentStatus.LOST,
    FulfillmentStatus.DAMAGED,
)


def orders_by_external_id(
    uow_factory: UnitOfWorkFactory, external_id: str, channel_ids: Iterable[str]
) -> list[str]:
    """Order ids placed under ``external_id`` by any of the channels: one read of each
    channel's ``ext#<channel>`` dedup record, so the cost grows with channels, not orders."""
    uow = uow_factory()
    found: list[str] = []
    for channel_id in channel_ids:
        record = uow.get_dedup(external_id_scope(channel_id), external_id)
        if record is not None and record.ref:
            found.append(record.ref)
    return found


def late_work(uow_factory: UnitOfWorkFactory, queries: OrderQueries, now: datetime) -> list[Fulfillment]:
    """Fulfillments still in a warehouse past their ship-by: one bounded read per warehouse and
    status of the work index (``ship_by < now``, oldest promise first)."""
    before = format_timestamp(now)
    found: list[Fulfillment] = []
    for warehouse in uow_factory().list_warehouses():
        for status in SLA_STATUSES:
            found += queries.list_work(
                warehouse.id, status.value, ship_by_before=before, limit=ATTENTION_LIMIT
            )
    return sorted(found, key=lambda f: (f.ship_by or now, f.id))[:ATTENTION_LIMIT]


def delivery_problems(uow_factory: UnitOfWorkFactory, queries: OrderQueries) -> list[Fulfillment]:
    """Fulfillments the carrier could not deliver, most recently changed first."""
    found: list[Fulfillment] = []
    for warehouse in uow_factory().list_warehouses():
        for status in DELIVERY_PROBLEM_STATUSES:
            found += queries.list_work(warehouse.id, status.value, ship_by_before=None, limit=ATTENTION_LIMIT)
    return sorted(found, key=lambda f: (f.updated_at, f.id), reverse=True)[:ATTENTION_LIMIT]


def unmatched_tracking(counters: Counters, days: list[str]) -> dict[str, int]:
    """Carrier events for numbers nobody shipped, per day."""
    return counters.daily_counter(UNMATCHED_METRIC, days)


def failing_store_connections(alerts: StoreAlerts) -> list[StoreApiAlert]:
    """Channels whose store refuses their API credentials: their write-backs are parked until
    the channel's ``store_api`` is fixed (one read of one partition)."""
    return alerts.failing_channels(ATTENTION_LIMIT)


def refused_write_backs(ledger: WriteBackLedger) -> list[StoreRejection]:
    """Write-back requests a store refused for good (kept 14 days), newest first."""
    return ledger.rejections(ATTENTION_LIMIT)
