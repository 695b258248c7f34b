"""What every provider's parser shares: locations, validated scans and updates, and the history
with the current status in it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pydantic import ValidationError

from ..status import TrackingStatus
from ..untrusted_json import JsonPath, as_object, optional_text
from .model import TrackingPayloadError, TrackingScan, TrackingUpdate


def location(*parts: str | None) -> str | None:
    kept = [p.strip() for p in parts if p and p.strip()]
    return ", ".join(kept) or None


def place(obj: Mapping[str, object], key: str, path: JsonPath) -> str | None:
    """EasyPost's and Shippo's location objects ({city, state, zip, country}) as one line."""
    value = obj.get(key)
    if value is None:
        return None
    where: JsonPath = (*path, key)
    found = as_object(value, where)
    return location(
        optional_text(found, "city", where),
        optional_text(found, "state", where),
        optional_text(found, "country", where),
    )


def new_scan(**fields: object) -> TrackingScan:
    try:
        return TrackingScan.model_validate(fields)
    except ValidationError as exc:  # a safety net: the readers already checked the types
        raise TrackingPayloadError(f"not a valid scan: {exc.errors()[0]['msg']}") from exc


def new_update(**fields: object) -> TrackingUpdate:
    try:
        return TrackingUpdate.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TrackingPayloadError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def with_current(
    scans: list[TrackingScan],
    status: TrackingStatus,
    raw_status: str,
    raw_substatus: str | None,
    *,
    current: TrackingScan | None = None,
    when: Callable[[], datetime] | None = None,
) -> tuple[datetime, list[TrackingScan]]:
    """The time of the current status and the history, oldest first, including the current one.

    ``current`` is given when the payload states the current status's own time (Shippo). Else
    the current status happened at the latest scan with the same status; when the history has
    none, a scan at ``when()`` (the provider's own update time) is added for it.
    """
    history = sorted(scans, key=lambda s: s.occurred_at)
    if current is None:
        same = [s for s in history if s.status is status]
        if same:
            return same[-1].occurred_at, history
        if when is None:
            raise TrackingPayloadError("the payload does not say when the current status happened")
        current = new_scan(
            status=status, raw_status=raw_status, raw_substatus=raw_substatus, occurred_at=when()
        )
    key = (current.raw_status, current.raw_substatus, current.occurred_at)
    if not any((s.raw_status, s.raw_substatus, s.occurred_at) == key for s in history):
        history = sorted([*history, current], key=lambda s: s.occurred_at)
    return current.occurred_at, history
