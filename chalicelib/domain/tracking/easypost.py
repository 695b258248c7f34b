"""EasyPost tracker events (docs/webhooks.md has the field table)."""

from __future__ import annotations

from datetime import datetime

from ..untrusted_json import (
    JsonPath,
    as_object,
    fail,
    iso_time,
    optional_list,
    optional_text,
    reported_as,
    required_text,
)
from .model import NotATrackingEvent, TrackingPayloadError, TrackingScan, TrackingUpdate
from .parsing import new_scan, new_update, place, with_current
from .statuses import map_easypost_status, normalise_carrier


def parse_easypost(payload: object) -> TrackingUpdate:
    """An EasyPost Event whose ``result`` is a Tracker (``tracker.created``/``tracker.updated``)."""
    with reported_as(TrackingPayloadError):
        return _parse(payload)


def _parse(payload: object) -> TrackingUpdate:
    event = as_object(payload, ())
    description = required_text(event, "description", ())
    if not description.startswith("tracker."):
        raise NotATrackingEvent("easypost", description)
    event_id = required_text(event, "id", ())
    path: JsonPath = ("result",)
    tracker = as_object(event.get("result"), path)
    tracking_number = required_text(tracker, "tracking_code", path)
    carrier = normalise_carrier(required_text(tracker, "carrier", path))
    raw_status = required_text(tracker, "status", path)
    raw_substatus = optional_text(tracker, "status_detail", path)
    status = map_easypost_status(raw_status)

    scans: list[TrackingScan] = []
    for i, item in enumerate(optional_list(tracker, "tracking_details", path)):
        where: JsonPath = (*path, "tracking_details", i)
        detail = as_object(item, where)
        occurred_at = iso_time(detail, "datetime", where)
        if occurred_at is None:
            continue  # a scan with no time cannot be ordered against the others
        detail_status = required_text(detail, "status", where)
        scans.append(
            new_scan(
                status=map_easypost_status(detail_status),
                raw_status=detail_status,
                raw_substatus=optional_text(detail, "status_detail", where),
                occurred_at=occurred_at,
                message=optional_text(detail, "message", where),
                location=place(detail, "tracking_location", where),
            )
        )

    def when() -> datetime:
        at = iso_time(tracker, "updated_at", path) or iso_time(event, "created_at", ())
        if at is None:
            fail((*path, "updated_at"), "is missing, and no tracking detail has the current status")
        return at

    occurred_at, history = with_current(scans, status, raw_status, raw_substatus, when=when)
    return new_update(
        provider="easypost",
        provider_event_id=event_id,
        carrier=carrier,
        tracking_number=tracking_number,
        status=status,
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=iso_time(tracker, "est_delivery_date", path),
        public_url=optional_text(tracker, "public_url", path),
        scans=history,
    )
