"""Use cases of delivery: carrier tracking updates received, and applied to the fulfillment.

Ingest (the webhook route) must answer within the provider's deadline, so it
does only this, in one transaction: the webhook's dedup item, and the update
as a ``tracking.received`` event kept under its tracking number (the outbox:
the stream and the bus bring it to the tracking queue). An update for a
tracking number nobody shipped is kept as ``tracking.unmatched`` (not routed
anywhere) and counted, and the provider is told 202 so it stops retrying.

The tracking worker applies it: every scan goes into the fulfillment's
history, and the tracking status is **replayed** over the whole history in
the provider's event-time order (``domain.tracking.apply_scans``). So the
result depends only on which scans exist, never on the order they arrived
in: a delivery posted before the in-transit scan ends delivered either way,
and late or duplicate scans are recorded without changing anything.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.event_payloads import TrackingReceived, TrackingUnmatched, TrackingUpdated
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.fulfillment import follow_fulfillments
from chalicelib.domain.models import MAX_TRACKED_SCANS, DeliveryException, Fulfillment, TrackedScan
from chalicelib.domain.status import (
    DELIVERY_EXCEPTIONS,
    TrackingStatus,
    allowed_fulfillment_triggers,
    next_fulfillment_status,
)
from chalicelib.domain.tracking import (
    RANK,
    TERMINAL_TRACKING_STATUSES,
    TrackingScan,
    TrackingUpdate,
    apply_scans,
    fulfillment_trigger_for,
)
from chalicelib.service.changes import Change, load_order
from chalicelib.service.exceptions import exception_recorded
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import Message, Retry, consume_once, consume_order_event

#: Webhook ids are remembered this long: AfterShip retries for about three days.
WEBHOOK_DEDUP_TTL_SECONDS = 14 * 24 * 3600
UNMATCHED_METRIC = "unmatched_tracking_events"
CONSUMER_SCOPE = "consumer#tracking"


class Ingested(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNMATCHED = "unmatched"


def ingest(
    uow_factory: UnitOfWorkFactory, update: TrackingUpdate, *, ids: IdGenerator, clock: Clock
) -> Ingested:
    def stage(uow: UnitOfWork) -> Ingested:
        target = uow.find_tracking(update.tracking_number)
        now = clock.now()
        payload: TrackingReceived | TrackingUnmatched = (
            TrackingReceived(update=update, fulfillment_id=target.fulfillment_id, shipped_with=target.carrier)
            if target is not None
            else TrackingUnmatched(update=update)
        )
        uow.add_event(
            DomainEvent.recording(
                payload,
                id=ids.new("evt"),
                order_id=target.order_id if target else None,
                tracking_number=update.tracking_number,
                occurred_at=now,
                actor=f"carrier:{update.provider}",
            )
        )
        if target is None:
            uow.count(UNMATCHED_METRIC, now.date().isoformat())
        return Ingested.ACCEPTED if target else Ingested.UNMATCHED

    webhook = Message(
        scope=f"webhook#{update.provider}",
        key=update.provider_event_id,
        ref=update.tracking_number,
        ttl_seconds=WEBHOOK_DEDUP_TTL_SECONDS,
    )
    # A duplicate (seen before, or the provider's retry racing its first delivery) changes nothing.
    return consume_once(
        uow_factory,
        webhook,
        stage,
        replay=lambda: Ingested.DUPLICATE,
        clock=clock,
        retry=Retry.ON_TRANSACTION_CONFLICT,
    )


def _tracked(scan: TrackingScan, provider: str) -> TrackedScan:
    return TrackedScan(
        status=scan.status,
        raw_status=scan.raw_status,
        raw_substatus=scan.raw_substatus,
        occurred_at=scan.occurred_at,
        message=scan.message,
        location=scan.location,
        provider=provider,
        applied=False,
    )


def _identity(scan: TrackedScan) -> tuple[Any, ...]:
    return (scan.occurred_at, scan.status, scan.raw_status, scan.raw_substatus, scan.message)


def replay(fulfillment: Fulfillment, update: TrackingUpdate) -> tuple[Fulfillment, list[TrackedScan]]:
    """The fulfillment with the update's scans merged into its history and its tracking state
    replayed in event-time order; also the scans that were new."""
    known = {_identity(s) for s in fulfillment.tracking_history}
    fresh: list[TrackedScan] = []
    for scan in (_tracked(s, update.provider) for s in update.scans):
        if _identity(scan) not in known:
            known.add(_identity(scan))
            fresh.append(scan)
    # Scans of the same instant: the higher rank first, so the lower one counts as a duplicate of
    # that moment whatever order they arrived in (a voided label never hides a delivery).
    history = sorted(
        [*fulfillment.tracking_history, *fresh], key=lambda s: (s.occurred_at, -RANK[s.status], _identity(s))
    )
    as_scans = [
        TrackingScan(
            status=s.status,
            raw_status=s.raw_status,
            raw_substatus=s.raw_substatus,
            occurred_at=s.occurred_at,
            message=s.message,
            location=s.location,
        )
        for s in history
    ]
    outcome = apply_scans(None, None, as_scans)
    applied = {(s.occurred_at, s.status, s.raw_status, s.raw_substatus, s.message) for s in outcome.applied}
    # (the same fields, in the same order, as _identity)
    history = [s.model_copy(update={"applied": _identity(s) in applied}) for s in history][
        -MAX_TRACKED_SCANS:
    ]
    # An estimate replaces the kept one only when its update is at least as recent as the update
    # the kept one came from (retries and late deliveries bring old estimates back).
    given_at = fulfillment.estimated_delivery_at
    fresher = update.estimated_delivery is not None and (given_at is None or update.occurred_at >= given_at)
    updates: dict[str, Any] = {
        "tracking_history": history,
        "tracking_status": outcome.status,
        "tracking_status_at": outcome.at,
        "estimated_delivery": update.estimated_delivery if fresher else fulfillment.estimated_delivery,
        "estimated_delivery_at": update.occurred_at if fresher else given_at,
    }
    if (
        fulfillment.tracking_status in TERMINAL_TRACKING_STATUSES
        and outcome.status != fulfillment.tracking_status
    ):
        # Delivered (or returned) stays so: a late scan of the other end is recorded, not applied.
        kept = {_identity(s): s.applied for s in fulfillment.tracking_history}
        history = [s.model_copy(update={"applied": kept.get(_identity(s), False)}) for s in history]
        return fulfillment.model_copy(update={"tracking_history": history}), fresh
    updates.update(_moved(fulfillment, outcome.status, outcome.at or update.occurred_at, update.provider))
    if outcome.status == TrackingStatus.DELIVERED:
        updates["delivered_at"] = outcome.at
    return fulfillment.model_copy(update=updates), fresh


def _moved(
    fulfillment: Fulfillment, tracked: TrackingStatus | None, at: datetime, provider: str
) -> dict[str, Any]:
    """The fulfillment's status after a new tracking status, and the delivery exception it records
    when the carrier ends the parcel's journey without a delivery (returned to sender)."""
    status = fulfillment.status
    if tracked is not None and tracked != fulfillment.tracking_status:
        trigger = fulfillment_trigger_for(tracked)
        # A state that takes no such scan keeps it (delivered, cancelled; a parcel operations
        # declared damaged, or whose exception was resolved): the scan is history only.
        if trigger is not None and trigger in allowed_fulfillment_triggers(status):
            status = next_fulfillment_status(status, trigger)
    moved: dict[str, Any] = {"status": status}
    if status in DELIVERY_EXCEPTIONS and status != fulfillment.status:
        moved["delivery_exception"] = DeliveryException(
            kind=status, source="carrier", recorded_at=at, recorded_by=f"carrier:{provider}"
        )
    return moved


def apply_tracking(
    uow_factory: UnitOfWorkFactory, received: DomainEvent, *, ids: IdGenerator, clock: Clock
) -> OrderAggregate | None:
    """Apply a ``tracking.received`` event; None when it was applied before (a redelivery)."""
    payload = received.payload(TrackingReceived)
    update, fulfillment_id = payload.update, payload.fulfillment_id

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        before = next((f for f in aggregate.fulfillments if f.id == fulfillment_id), None)
        if before is None:
            return None
        after, fresh = replay(before, update)
        fulfillments = [after if f.id == before.id else f for f in aggregate.fulfillments]
        return Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=TrackingUpdated(
                fulfillment_id=before.id,
                provider=update.provider,
                carrier=update.carrier,
                tracking_number=update.tracking_number,
                tracking_status_before=before.tracking_status,
                tracking_status=after.tracking_status,
                changed=after.tracking_status != before.tracking_status,
                fulfillment_status=after.status,
                raw_status=update.raw_status,
                raw_substatus=update.raw_substatus,
                estimated_delivery=update.estimated_delivery.isoformat()
                if update.estimated_delivery
                else None,
                public_url=update.public_url,
                new_scans=fresh,
                # Scans that arrived but did not move the state: late, duplicate, or lower rank.
                ignored_scans=len([s for s in fresh if not _applied(after, s)]),
            ),
            # The carrier ended the parcel's journey without a delivery: it awaits a resolution.
            follow_up=[exception_recorded(after, source="carrier")]
            if after.status in DELIVERY_EXCEPTIONS and after.status != before.status
            else [],
        )

    return consume_order_event(
        uow_factory,
        Message(scope=CONSUMER_SCOPE, key=received.id, ref=fulfillment_id),
        lambda uow: load_order(uow, received.order_id or ""),
        decide,
        actor=f"carrier:{update.provider}",
        ids=ids,
        clock=clock,
    )


def _applied(fulfillment: Fulfillment, scan: TrackedScan) -> bool:
    return any(_identity(s) == _identity(scan) and s.applied for s in fulfillment.tracking_history)
