"""What the console's pages read that has no API route of its own, for the pages to show.

The key behind a session, the channel list, per-status counts capped at ``COUNT_CAP``, orders by
their external id, SLA breaches and delivery problems across warehouses, the unmatched-tracking
counters and the depth of each dead-letter queue. The reads are the ``ConsoleReads`` port's and
``chalicelib.service.attention``'s; what is here is what the pages need of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.bootstrap import Services
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import Channel, Fulfillment
from chalicelib.service import attention
from chalicelib.service.attention import ATTENTION_LIMIT
from chalicelib.service.ports import QueueDepth, QueuesUnavailable, StoreApiAlert, StoreRejection

__all__ = ["ATTENTION_LIMIT", "COUNT_CAP", "QueueDepth", "QueuesUnavailable"]

#: Counts per status stop here: the page says "100+" rather than reading a busy status to the end.
COUNT_CAP = 100


def principal_for_key_hash(svc: Services, key_hash: str) -> Principal | None:
    """The key a session was opened with, read on every request (not cached) so that a revoked
    key ends its sessions at once."""
    return svc.console.principal_for_key_hash(key_hash)


def list_channels(svc: Services) -> list[Channel]:
    return svc.console.list_channels()


def status_counts(
    svc: Services,
    statuses: Iterable[str],
    *,
    channel_id: str | None,
    created_from: str | None,
    created_to: str | None,
) -> dict[str, int]:
    """Orders per status; ``COUNT_CAP + 1`` stands for "more than COUNT_CAP"."""
    return svc.console.status_counts(
        statuses, channel_id=channel_id, created_from=created_from, created_to=created_to, cap=COUNT_CAP
    )


def orders_by_external_id(svc: Services, external_id: str, channel_ids: Iterable[str]) -> list[str]:
    return attention.orders_by_external_id(svc.uow_factory, external_id, channel_ids)


def late_work(svc: Services, now: datetime) -> list[Fulfillment]:
    return attention.late_work(svc.uow_factory, svc.queries, now)


def delivery_problems(svc: Services) -> list[Fulfillment]:
    return attention.delivery_problems(svc.uow_factory, svc.queries)


def unmatched_tracking(svc: Services, days: list[str]) -> dict[str, int]:
    return attention.unmatched_tracking(svc.counters, days)


def failing_store_connections(svc: Services) -> list[StoreApiAlert]:
    return attention.failing_store_connections(svc.store_alerts())


def refused_write_backs(svc: Services) -> list[StoreRejection]:
    return attention.refused_write_backs(svc.writeback_ledger())


def dead_letter_queues(svc: Services) -> list[QueueDepth]:
    """Every dead-letter queue of the stage with its depth; raises ``QueuesUnavailable``."""
    return svc.console.dead_letter_queues(svc.settings.stage)
