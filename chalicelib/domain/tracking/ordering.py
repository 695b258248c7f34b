"""The ordering rule: whether a scan may move a fulfillment's tracking state.

A fulfillment only moves forward by rank, ordered by the provider's event time, never by
arrival; late and duplicate scans change nothing; ``failed`` may recover to ``in_transit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from ..status import FulfillmentTrigger, TrackingStatus
from .model import TrackingScan

S = TrackingStatus

#: How far along a shipment a status is. Same rank = a sideways move, which is allowed (failed
#: and exception may recover to in_transit; out_for_delivery and delivery_attempted alternate).
RANK: Mapping[TrackingStatus, int] = MappingProxyType(
    {
        S.UNKNOWN: 0,
        # A voided label never pulls back a fulfillment that has shipped.
        S.CANCELLED: 0,
        S.LABEL_CREATED: 1,
        S.IN_TRANSIT: 2,
        S.EXCEPTION: 2,
        S.FAILED: 2,
        S.OUT_FOR_DELIVERY: 3,
        S.DELIVERY_ATTEMPTED: 3,
        S.AVAILABLE_FOR_PICKUP: 3,
        S.DELIVERED: 4,
        S.RETURNED_TO_SENDER: 4,
    }
)

#: Nothing moves a fulfillment out of these (they are terminal in FULFILLMENT_TRANSITIONS too).
TERMINAL_TRACKING_STATUSES = frozenset({S.DELIVERED, S.RETURNED_TO_SENDER})

#: Statuses that someone should look at (customer service, the merchant).
ALERT_STATUSES = frozenset({S.DELIVERY_ATTEMPTED, S.EXCEPTION, S.RETURNED_TO_SENDER, S.FAILED})

_TRIGGERS: Mapping[TrackingStatus, FulfillmentTrigger | None] = MappingProxyType(
    {
        S.UNKNOWN: None,
        S.LABEL_CREATED: None,
        S.CANCELLED: None,
        S.IN_TRANSIT: FulfillmentTrigger.SCAN_IN_TRANSIT,
        S.OUT_FOR_DELIVERY: FulfillmentTrigger.SCAN_OUT_FOR_DELIVERY,
        S.DELIVERY_ATTEMPTED: FulfillmentTrigger.SCAN_DELIVERY_ATTEMPTED,
        S.AVAILABLE_FOR_PICKUP: FulfillmentTrigger.SCAN_AVAILABLE_FOR_PICKUP,
        S.EXCEPTION: FulfillmentTrigger.SCAN_EXCEPTION,
        S.DELIVERED: FulfillmentTrigger.SCAN_DELIVERED,
        S.RETURNED_TO_SENDER: FulfillmentTrigger.SCAN_RETURNED_TO_SENDER,
        S.FAILED: FulfillmentTrigger.SCAN_FAILED,
    }
)


def fulfillment_trigger_for(status: TrackingStatus) -> FulfillmentTrigger | None:
    """The fulfillment trigger a scan of ``status`` fires; None for scans that say nothing about
    goods on their way (no label yet, a voided label, no information)."""
    return _TRIGGERS[status]


def should_apply(current: TrackingStatus | None, current_at: datetime | None, scan: TrackingScan) -> bool:
    """Whether ``scan`` may replace the tracking state ``(current, current_at)``.

    Yes iff the scan happened strictly after ``current_at`` (by the provider's clock; equal
    times are duplicates), its rank is at least the current rank, and the current status is not
    terminal. ``None`` means no state yet: no status (no rank check) or no time (no time check).
    """
    if current_at is not None:
        if current_at.tzinfo is None:
            raise ValueError("current_at must carry a time zone")
        if scan.occurred_at <= current_at:
            return False
    if current is None:
        return True
    if current in TERMINAL_TRACKING_STATUSES:
        return False
    return RANK[scan.status] >= RANK[current]


@dataclass(frozen=True)
class ScanOutcome:
    """The tracking state after a run of scans, and the scans that changed it (in order)."""

    status: TrackingStatus | None
    at: datetime | None
    applied: tuple[TrackingScan, ...]


def apply_scans(
    current: TrackingStatus | None, current_at: datetime | None, scans: Iterable[TrackingScan]
) -> ScanOutcome:
    """Offer ``scans`` to ``should_apply`` one by one, in the order given (arrival order).

    Give it a payload's history as is (``TrackingUpdate.scans`` is oldest first); every scan is
    still checked against the state the earlier ones left.
    """
    applied: list[TrackingScan] = []
    for scan in scans:
        if should_apply(current, current_at, scan):
            current, current_at = scan.status, scan.occurred_at
            applied.append(scan)
    return ScanOutcome(status=current, at=current_at, applied=tuple(applied))
