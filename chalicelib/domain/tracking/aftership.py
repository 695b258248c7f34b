"""AfterShip ``tracking_update`` webhooks (docs/webhooks.md has the field table)."""

from __future__ import annotations

from collections.abc import Mapping
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
    unix_time,
)
from .model import NotATrackingEvent, TrackingPayloadError, TrackingScan, TrackingUpdate
from .parsing import location, new_scan, new_update, with_current
from .statuses import map_aftership_status, normalise_carrier


def parse_aftership(payload: object) -> TrackingUpdate:
    """An AfterShip ``tracking_update`` webhook: ``{event, event_id, ts, msg: Tracking}``."""
    with reported_as(TrackingPayloadError):
        return _parse(payload)


def _parse(payload: object) -> TrackingUpdate:
    body = as_object(payload, ())
    event_type = required_text(body, "event", ())
    if event_type != "tracking_update":
        raise NotATrackingEvent("aftership", event_type)
    event_id = required_text(body, "event_id", ())
    path: JsonPath = ("msg",)
    msg = as_object(body.get("msg"), path)
    tracking_number = required_text(msg, "tracking_number", path)
    carrier = normalise_carrier(required_text(msg, "slug", path))
    raw_status = required_text(msg, "tag", path)
    raw_substatus = optional_text(msg, "subtag", path)
    status = map_aftership_status(raw_status, raw_substatus)

    scans = [
        scan
        for i, item in enumerate(optional_list(msg, "checkpoints", path))
        if (scan := _checkpoint_scan(item, (*path, "checkpoints", i))) is not None
    ]

    def when() -> datetime:
        at = iso_time(msg, "updated_at", path)
        if at is not None:
            return at
        if body.get("ts") is None:
            fail((*path, "updated_at"), "is missing, and no checkpoint has the current status")
        return unix_time(body.get("ts"), ("ts",))

    estimate = _estimated_delivery(msg, path)
    occurred_at, history = with_current(scans, status, raw_status, raw_substatus, when=when)
    return new_update(
        provider="aftership",
        provider_event_id=event_id,
        carrier=carrier,
        tracking_number=tracking_number,
        status=status,
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=estimate,
        public_url=optional_text(msg, "courier_tracking_link", path)
        or optional_text(msg, "aftership_tracking_url", path),
        scans=history,
    )


def _checkpoint_scan(item: object, where: JsonPath) -> TrackingScan | None:
    """A checkpoint as a scan; None when it has no time (it cannot be ordered against the others)."""
    checkpoint = as_object(item, where)
    occurred_at = iso_time(checkpoint, "checkpoint_time", where)
    if occurred_at is None:
        return None
    tag = required_text(checkpoint, "tag", where)
    subtag = optional_text(checkpoint, "subtag", where)
    country = optional_text(checkpoint, "country_region", where) or optional_text(
        checkpoint, "country_iso3", where
    )
    return new_scan(
        status=map_aftership_status(tag, subtag),
        raw_status=tag,
        raw_substatus=subtag,
        occurred_at=occurred_at,
        message=optional_text(checkpoint, "message", where),
        location=location(
            optional_text(checkpoint, "city", where),
            optional_text(checkpoint, "state", where),
            country,
        )
        or optional_text(checkpoint, "location", where),
    )


def _estimated_delivery(msg: Mapping[str, object], path: JsonPath) -> datetime | None:
    """``expected_delivery``, else the ``latest_estimated_delivery`` object's ``datetime``."""
    estimate = iso_time(msg, "expected_delivery", path)
    if estimate is None and msg.get("latest_estimated_delivery") is not None:
        latest_path: JsonPath = (*path, "latest_estimated_delivery")
        latest = as_object(msg.get("latest_estimated_delivery"), latest_path)
        estimate = iso_time(latest, "datetime", latest_path)
    return estimate
