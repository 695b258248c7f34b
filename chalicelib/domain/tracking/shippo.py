"""Shippo ``track_updated`` webhooks (docs/webhooks.md has the field table)."""

from __future__ import annotations

import hashlib
import json

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
from .statuses import map_shippo_status, normalise_carrier


def parse_shippo(payload: object, raw_body: bytes) -> TrackingUpdate:
    """A Shippo ``track_updated`` webhook: ``{event, test, data: Track}``."""
    with reported_as(TrackingPayloadError):
        return _parse(payload, raw_body)


def _parse(payload: object, raw_body: bytes) -> TrackingUpdate:
    body = as_object(payload, ())
    event_type = required_text(body, "event", ())
    if event_type != "track_updated":
        raise NotATrackingEvent("shippo", event_type)
    path: JsonPath = ("data",)
    track = as_object(body.get("data"), path)
    raw_carrier = required_text(track, "carrier", path)
    tracking_number = required_text(track, "tracking_number", path)
    status_path: JsonPath = (*path, "tracking_status")
    current = _shippo_scan(track.get("tracking_status"), status_path)
    if current is None:
        fail((*status_path, "status_date"), "is missing")
    status_entry = as_object(track.get("tracking_status"), status_path)

    scans = [
        scan
        for i, item in enumerate(optional_list(track, "tracking_history", path))
        if (scan := _shippo_scan(item, (*path, "tracking_history", i))) is not None
    ]

    occurred_at, history = with_current(
        scans, current.status, current.raw_status, current.raw_substatus, current=current
    )
    return new_update(
        provider="shippo",
        provider_event_id=shippo_event_id(
            raw_carrier, tracking_number, optional_text(status_entry, "object_id", status_path), raw_body
        ),
        carrier=normalise_carrier(raw_carrier),
        tracking_number=tracking_number,
        status=current.status,
        raw_status=current.raw_status,
        raw_substatus=current.raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=iso_time(track, "eta", path),
        public_url=None,  # a Shippo Track carries no tracking page link
        scans=history,
    )


def _shippo_scan(item: object, where: JsonPath) -> TrackingScan | None:
    """A Shippo tracking status record as a scan; None when it carries no time at all."""
    entry = as_object(item, where)
    raw_status = required_text(entry, "status", where)
    substatus_value = entry.get("substatus")
    raw_substatus = None
    if substatus_value is not None:
        raw_substatus = optional_text(as_object(substatus_value, (*where, "substatus")), "code", where)
    occurred_at = (
        iso_time(entry, "status_date", where)
        # Shippo leaves status_date empty while the carrier has said nothing (UNKNOWN); its own
        # record times are then the best "when" there is.
        or iso_time(entry, "object_updated", where)
        or iso_time(entry, "object_created", where)
    )
    if occurred_at is None:
        return None
    return new_scan(
        status=map_shippo_status(raw_status, raw_substatus),
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        message=optional_text(entry, "status_details", where),
        location=place(entry, "location", where),
    )


def shippo_event_id(carrier: str, tracking_number: str, object_id: str | None, raw_body: bytes) -> str:
    """Shippo sends no event id. A status record's ``object_id`` is stable across retries and new
    for every change, so carrier + tracking number + object_id identify one update; without it
    only the exact bytes can (a retry sends the same bytes)."""
    if object_id:
        material = json.dumps([carrier, tracking_number, object_id], separators=(",", ":")).encode()
    else:
        material = raw_body
    return hashlib.sha256(material).hexdigest()
