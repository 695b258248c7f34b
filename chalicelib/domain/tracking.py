"""Carrier tracking: provider webhooks normalised into one ``TrackingUpdate``, and the rule that
decides whether a scan may move a fulfillment.

Each parser takes the decoded JSON of a provider's webhook (signature already verified over the
raw bytes) and returns the provider's current status plus the scan history the payload carries,
each scan with our ``TrackingStatus`` and the provider's raw status and substatus beside it.
Parsers never raise ``KeyError``/``TypeError``: anything malformed is a ``TrackingPayloadError``
naming the field (a 400), and a well-formed event that is not about tracking is a
``NotATrackingEvent`` (acknowledge it and store nothing).

The ordering rule: a fulfillment only moves forward by rank, ordered by the
provider's event time, never by arrival; late and duplicate scans change nothing; ``failed`` may
recover to ``in_transit``. See ``should_apply``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Literal, NoReturn

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError

from .errors import DomainError, FieldError
from .models import HttpsUrl, Line, Strict, Timestamp, https_or_none
from .status import FulfillmentTrigger, TrackingStatus

S = TrackingStatus

Provider = Literal["easypost", "shippo", "aftership", "standard"]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TrackingPayloadError(DomainError, ValueError):
    """A webhook body that is not the provider's documented shape (400, nothing stored)."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        self.errors = errors or []
        super().__init__(detail)


class NotATrackingEvent(TrackingPayloadError):
    """A well-formed event of another kind (EasyPost sends every account event to every webhook
    URL). Answer it with a 2xx and store nothing: a 4xx makes the provider retry it for days."""

    def __init__(self, provider: Provider, event_type: str) -> None:
        self.provider = provider
        self.event_type = event_type
        super().__init__(f"{provider} event {event_type!r} is not a tracking update")


# --------------------------------------------------------------------------------------------
# The normalised model
# --------------------------------------------------------------------------------------------


class _Value(Strict):
    model_config = ConfigDict(frozen=True)


class TrackingScan(_Value):
    """One carrier event: our status, the provider's raw status, and when it happened (UTC)."""

    status: TrackingStatus
    raw_status: str
    raw_substatus: str | None = None
    occurred_at: Timestamp
    message: str | None = None
    #: "CITY, STATE, COUNTRY" as far as the provider says, e.g. "ORLANDO, FL, US".
    location: str | None = None


class TrackingUpdate(_Value):
    """What one webhook says about one tracking number."""

    provider: Provider
    #: Dedup key within the provider (see docs/webhooks.md for how each one is derived).
    provider_event_id: Annotated[str, Field(min_length=1)]
    #: Lowercase slug shared by every provider ("fedex", "usps", "dhl_express").
    carrier: Annotated[str, Field(min_length=1)]
    tracking_number: Annotated[str, Field(min_length=1)]
    status: TrackingStatus
    raw_status: str
    raw_substatus: str | None = None
    #: When the current status happened, by the provider's clock.
    occurred_at: Timestamp
    estimated_delivery: Timestamp | None = None
    #: Goes into customers' e-mails as a link: https only; a carrier's other link is dropped.
    public_url: Annotated[str | None, BeforeValidator(https_or_none)] = None
    #: The history the payload carries, oldest first; the current status is one of them.
    scans: list[TrackingScan]


# --------------------------------------------------------------------------------------------
# Our Standard Webhooks payload (documented in the OpenAPI document and docs/webhooks.md)
# --------------------------------------------------------------------------------------------


class StandardTrackingData(Strict):
    carrier: Annotated[Line, Field(min_length=1, max_length=64)]
    tracking_number: Annotated[Line, Field(min_length=1, max_length=100)]
    status: TrackingStatus
    #: The sender's own status words, kept beside ours; ``status`` is used when absent.
    raw_status: Annotated[Line, Field(min_length=1, max_length=100)] | None = None
    raw_substatus: Annotated[Line, Field(min_length=1, max_length=100)] | None = None
    occurred_at: Timestamp
    estimated_delivery: Timestamp | None = None
    message: Annotated[Line, Field(max_length=1000)] | None = None
    location: Annotated[Line, Field(max_length=200)] | None = None
    public_url: HttpsUrl | None = None


class StandardTrackingEvent(Strict):
    """Body of ``POST /v1/webhooks/carriers/standard`` (signed per standardwebhooks.com)."""

    type: Literal["tracking.updated"]
    #: The spec's recommended envelope field; accepted, not used (``data.occurred_at`` orders).
    timestamp: Timestamp | None = None
    data: StandardTrackingData


# --------------------------------------------------------------------------------------------
# Carriers and statuses
# --------------------------------------------------------------------------------------------

#: Every provider's carrier spelling, squashed (lowercase, letters and digits only), to our slug.
#: One table for all providers, so the same carrier gets the same slug whoever reports it.
CARRIER_SLUGS: Mapping[str, str] = MappingProxyType(
    {
        "fedex": "fedex",  # EasyPost "FedEx", Shippo "fedex", AfterShip "fedex"
        "usps": "usps",
        "ups": "ups",
        "dhlexpress": "dhl_express",  # EasyPost "DHLExpress", Shippo "dhl_express"
        "dhl": "dhl_express",  # AfterShip's slug "dhl" is DHL Express
        "dhlecommerce": "dhl_ecommerce",  # Shippo "dhl_ecommerce"
        "dhlglobalmail": "dhl_ecommerce",  # AfterShip "dhl-global-mail" (DHL eCommerce US)
        "canadapost": "canada_post",  # EasyPost "CanadaPost", Shippo "canada_post", AfterShip "canada-post"
        "ontrac": "ontrac",
        "lasership": "lasership",
        "royalmail": "royal_mail",
        "australiapost": "australia_post",
        "purolator": "purolator",
        "amazonshipping": "amazon_shipping",
    }
)

_EASYPOST_STATUS: Mapping[str, TrackingStatus] = MappingProxyType(
    {
        "unknown": S.UNKNOWN,
        "error": S.UNKNOWN,
        "pre_transit": S.LABEL_CREATED,
        "in_transit": S.IN_TRANSIT,
        "out_for_delivery": S.OUT_FOR_DELIVERY,
        "available_for_pickup": S.AVAILABLE_FOR_PICKUP,
        "delivered": S.DELIVERED,
        "return_to_sender": S.RETURNED_TO_SENDER,
        "failure": S.FAILED,
        "cancelled": S.CANCELLED,
    }
)

_SHIPPO_STATUS: Mapping[str, TrackingStatus] = MappingProxyType(
    {
        "UNKNOWN": S.UNKNOWN,
        "PRE_TRANSIT": S.LABEL_CREATED,
        "TRANSIT": S.IN_TRANSIT,
        "DELIVERED": S.DELIVERED,
        "RETURNED": S.RETURNED_TO_SENDER,
        "FAILURE": S.FAILED,
    }
)

#: Shippo TRANSIT substatus codes that say more than "in transit"; other codes stay in_transit.
_SHIPPO_TRANSIT_SUBSTATUS: Mapping[str, TrackingStatus] = MappingProxyType(
    {
        "out_for_delivery": S.OUT_FOR_DELIVERY,
        "pickup_available": S.AVAILABLE_FOR_PICKUP,
        "delivery_attempted": S.DELIVERY_ATTEMPTED,
        "notice_left": S.DELIVERY_ATTEMPTED,
        "delayed": S.EXCEPTION,
        "address_issue": S.EXCEPTION,
        "package_held": S.EXCEPTION,
        "package_damaged": S.EXCEPTION,
    }
)

_AFTERSHIP_TAG: Mapping[str, TrackingStatus] = MappingProxyType(
    {
        "pending": S.UNKNOWN,
        "inforeceived": S.LABEL_CREATED,
        "intransit": S.IN_TRANSIT,
        "outfordelivery": S.OUT_FOR_DELIVERY,
        "availableforpickup": S.AVAILABLE_FOR_PICKUP,
        "attemptfail": S.DELIVERY_ATTEMPTED,
        "delivered": S.DELIVERED,
        "exception": S.EXCEPTION,
        "expired": S.EXCEPTION,
    }
)

#: AfterShip "Delivery Sub-statuses" (aftership.com/docs/tracking/enum/delivery-sub-statuses):
#: 010 returning to sender, 011 returned to sender, 012 shipment damaged, 013 shipment lost.
#: Every other Exception subtag (customs, refused, incorrect address, ...) stays an exception.
_AFTERSHIP_EXCEPTION_SUBTAG: Mapping[str, TrackingStatus] = MappingProxyType(
    {
        "exception_010": S.RETURNED_TO_SENDER,
        "exception_011": S.RETURNED_TO_SENDER,
        "exception_012": S.FAILED,
        "exception_013": S.FAILED,
    }
)


def normalise_carrier(raw: str) -> str:
    """Our slug for a provider's carrier name; unknown carriers become lowercase snake_case."""
    squashed = re.sub(r"[^a-z0-9]", "", raw.lower())
    if squashed in CARRIER_SLUGS:
        return CARRIER_SLUGS[squashed]
    slug = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")
    if not slug:
        raise TrackingPayloadError(f"carrier {raw!r} has no letters or digits")
    return slug


def map_easypost_status(status: str) -> TrackingStatus:
    """Unrecognised values are ``unknown`` (rank 0, moves nothing) rather than an error, so a
    status EasyPost adds later is stored raw instead of bouncing the whole webhook."""
    return _EASYPOST_STATUS.get(status.strip().lower(), S.UNKNOWN)


def map_shippo_status(status: str, substatus: str | None) -> TrackingStatus:
    ours = _SHIPPO_STATUS.get(status.strip().upper(), S.UNKNOWN)
    if ours is S.IN_TRANSIT and substatus:
        return _SHIPPO_TRANSIT_SUBSTATUS.get(substatus.strip().lower(), S.IN_TRANSIT)
    return ours


def map_aftership_status(tag: str, subtag: str | None) -> TrackingStatus:
    key = tag.strip().lower()
    ours = _AFTERSHIP_TAG.get(key, S.UNKNOWN)
    if key == "exception" and subtag:
        return _AFTERSHIP_EXCEPTION_SUBTAG.get(subtag.strip().lower(), S.EXCEPTION)
    return ours


# --------------------------------------------------------------------------------------------
# The ordering rule
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Reading untrusted JSON with paths in the errors
# --------------------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


def _where(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def _fail(path: _Path, msg: str) -> NoReturn:
    raise TrackingPayloadError(f"{_where(path)}: {msg}", [FieldError(loc=list(path), msg=msg)])


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _object(value: object, path: _Path) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        _fail(path, "must be an object" if value is not None else "is missing")
    return value


def _required_str(obj: Mapping[str, object], key: str, path: _Path) -> str:
    value = obj.get(key)
    if value is None:
        _fail((*path, key), "is missing")
    if not isinstance(value, str):
        _fail((*path, key), f"must be a string, not {type(value).__name__}")
    if not value.strip():
        _fail((*path, key), "must not be empty")
    return value.strip()


def _optional_str(obj: Mapping[str, object], key: str, path: _Path) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail((*path, key), f"must be a string, not {type(value).__name__}")
    return value.strip() or None


def _list(obj: Mapping[str, object], key: str, path: _Path) -> list[object]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail((*path, key), f"must be a list, not {type(value).__name__}")
    return value


def _parse_time(value: object, path: _Path) -> datetime:
    if not isinstance(value, str):
        _fail(path, f"must be an ISO 8601 time string, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        _fail(path, f"is not an ISO 8601 time: {_shown(value)}")
    if parsed.tzinfo is None:
        # AfterShip passes carriers' local times through, some without an offset (and dates
        # without a time). There is no zone to recover them from; UTC keeps them ordered within
        # a few hours of the truth, where rejecting them would lose the webhook altogether.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC time
        _fail(path, f"is outside the range of representable times: {_shown(value)}")


def _optional_time(obj: Mapping[str, object], key: str, path: _Path) -> datetime | None:
    value = obj.get(key)
    return None if value is None or value == "" else _parse_time(value, (*path, key))


def _location(*parts: str | None) -> str | None:
    kept = [p.strip() for p in parts if p and p.strip()]
    return ", ".join(kept) or None


def _place(obj: Mapping[str, object], key: str, path: _Path) -> str | None:
    """EasyPost's and Shippo's location objects ({city, state, zip, country}) as one line."""
    value = obj.get(key)
    if value is None:
        return None
    where: _Path = (*path, key)
    place = _object(value, where)
    return _location(
        _optional_str(place, "city", where),
        _optional_str(place, "state", where),
        _optional_str(place, "country", where),
    )


def _scan(**fields: object) -> TrackingScan:
    try:
        return TrackingScan.model_validate(fields)
    except ValidationError as exc:  # a safety net: the readers above already checked the types
        raise TrackingPayloadError(f"not a valid scan: {exc.errors()[0]['msg']}") from exc


def _finish(
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
        current = _scan(status=status, raw_status=raw_status, raw_substatus=raw_substatus, occurred_at=when())
    key = (current.raw_status, current.raw_substatus, current.occurred_at)
    if not any((s.raw_status, s.raw_substatus, s.occurred_at) == key for s in history):
        history = sorted([*history, current], key=lambda s: s.occurred_at)
    return current.occurred_at, history


def _update(**fields: object) -> TrackingUpdate:
    try:
        return TrackingUpdate.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TrackingPayloadError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


# --------------------------------------------------------------------------------------------
# EasyPost
# --------------------------------------------------------------------------------------------


def parse_easypost(payload: object) -> TrackingUpdate:
    """An EasyPost Event whose ``result`` is a Tracker (``tracker.created``/``tracker.updated``)."""
    event = _object(payload, ())
    description = _required_str(event, "description", ())
    if not description.startswith("tracker."):
        raise NotATrackingEvent("easypost", description)
    event_id = _required_str(event, "id", ())
    path: _Path = ("result",)
    tracker = _object(event.get("result"), path)
    tracking_number = _required_str(tracker, "tracking_code", path)
    carrier = normalise_carrier(_required_str(tracker, "carrier", path))
    raw_status = _required_str(tracker, "status", path)
    raw_substatus = _optional_str(tracker, "status_detail", path)
    status = map_easypost_status(raw_status)

    scans: list[TrackingScan] = []
    for i, item in enumerate(_list(tracker, "tracking_details", path)):
        where: _Path = (*path, "tracking_details", i)
        detail = _object(item, where)
        occurred_at = _optional_time(detail, "datetime", where)
        if occurred_at is None:
            continue  # a scan with no time cannot be ordered against the others
        detail_status = _required_str(detail, "status", where)
        scans.append(
            _scan(
                status=map_easypost_status(detail_status),
                raw_status=detail_status,
                raw_substatus=_optional_str(detail, "status_detail", where),
                occurred_at=occurred_at,
                message=_optional_str(detail, "message", where),
                location=_place(detail, "tracking_location", where),
            )
        )

    def when() -> datetime:
        at = _optional_time(tracker, "updated_at", path) or _optional_time(event, "created_at", ())
        if at is None:
            _fail((*path, "updated_at"), "is missing, and no tracking detail has the current status")
        return at

    occurred_at, history = _finish(scans, status, raw_status, raw_substatus, when=when)
    return _update(
        provider="easypost",
        provider_event_id=event_id,
        carrier=carrier,
        tracking_number=tracking_number,
        status=status,
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=_optional_time(tracker, "est_delivery_date", path),
        public_url=_optional_str(tracker, "public_url", path),
        scans=history,
    )


# --------------------------------------------------------------------------------------------
# Shippo
# --------------------------------------------------------------------------------------------


def _shippo_scan(item: object, where: _Path) -> TrackingScan | None:
    """A Shippo tracking status record as a scan; None when it carries no time at all."""
    entry = _object(item, where)
    raw_status = _required_str(entry, "status", where)
    substatus_value = entry.get("substatus")
    raw_substatus = None
    if substatus_value is not None:
        raw_substatus = _optional_str(_object(substatus_value, (*where, "substatus")), "code", where)
    occurred_at = (
        _optional_time(entry, "status_date", where)
        # Shippo leaves status_date empty while the carrier has said nothing (UNKNOWN); its own
        # record times are then the best "when" there is.
        or _optional_time(entry, "object_updated", where)
        or _optional_time(entry, "object_created", where)
    )
    if occurred_at is None:
        return None
    return _scan(
        status=map_shippo_status(raw_status, raw_substatus),
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        message=_optional_str(entry, "status_details", where),
        location=_place(entry, "location", where),
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


def parse_shippo(payload: object, raw_body: bytes) -> TrackingUpdate:
    """A Shippo ``track_updated`` webhook: ``{event, test, data: Track}``."""
    body = _object(payload, ())
    event_type = _required_str(body, "event", ())
    if event_type != "track_updated":
        raise NotATrackingEvent("shippo", event_type)
    path: _Path = ("data",)
    track = _object(body.get("data"), path)
    raw_carrier = _required_str(track, "carrier", path)
    tracking_number = _required_str(track, "tracking_number", path)
    status_path: _Path = (*path, "tracking_status")
    current = _shippo_scan(track.get("tracking_status"), status_path)
    if current is None:
        _fail((*status_path, "status_date"), "is missing")
    status_entry = _object(track.get("tracking_status"), status_path)

    scans = [
        scan
        for i, item in enumerate(_list(track, "tracking_history", path))
        if (scan := _shippo_scan(item, (*path, "tracking_history", i))) is not None
    ]

    occurred_at, history = _finish(
        scans, current.status, current.raw_status, current.raw_substatus, current=current
    )
    return _update(
        provider="shippo",
        provider_event_id=shippo_event_id(
            raw_carrier, tracking_number, _optional_str(status_entry, "object_id", status_path), raw_body
        ),
        carrier=normalise_carrier(raw_carrier),
        tracking_number=tracking_number,
        status=current.status,
        raw_status=current.raw_status,
        raw_substatus=current.raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=_optional_time(track, "eta", path),
        public_url=None,  # a Shippo Track carries no tracking page link
        scans=history,
    )


# --------------------------------------------------------------------------------------------
# AfterShip
# --------------------------------------------------------------------------------------------


def _unix_time(value: object, path: _Path) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"must be unix seconds, not {type(value).__name__}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        _fail(path, f"is not a representable time: {_shown(value)}")


def parse_aftership(payload: object) -> TrackingUpdate:
    """An AfterShip ``tracking_update`` webhook: ``{event, event_id, ts, msg: Tracking}``."""
    body = _object(payload, ())
    event_type = _required_str(body, "event", ())
    if event_type != "tracking_update":
        raise NotATrackingEvent("aftership", event_type)
    event_id = _required_str(body, "event_id", ())
    path: _Path = ("msg",)
    msg = _object(body.get("msg"), path)
    tracking_number = _required_str(msg, "tracking_number", path)
    carrier = normalise_carrier(_required_str(msg, "slug", path))
    raw_status = _required_str(msg, "tag", path)
    raw_substatus = _optional_str(msg, "subtag", path)
    status = map_aftership_status(raw_status, raw_substatus)

    scans: list[TrackingScan] = []
    for i, item in enumerate(_list(msg, "checkpoints", path)):
        where: _Path = (*path, "checkpoints", i)
        checkpoint = _object(item, where)
        occurred_at = _optional_time(checkpoint, "checkpoint_time", where)
        if occurred_at is None:
            continue  # a scan with no time cannot be ordered against the others
        tag = _required_str(checkpoint, "tag", where)
        subtag = _optional_str(checkpoint, "subtag", where)
        country = _optional_str(checkpoint, "country_region", where) or _optional_str(
            checkpoint, "country_iso3", where
        )
        scans.append(
            _scan(
                status=map_aftership_status(tag, subtag),
                raw_status=tag,
                raw_substatus=subtag,
                occurred_at=occurred_at,
                message=_optional_str(checkpoint, "message", where),
                location=_location(
                    _optional_str(checkpoint, "city", where),
                    _optional_str(checkpoint, "state", where),
                    country,
                )
                or _optional_str(checkpoint, "location", where),
            )
        )

    def when() -> datetime:
        at = _optional_time(msg, "updated_at", path)
        if at is not None:
            return at
        if body.get("ts") is None:
            _fail((*path, "updated_at"), "is missing, and no checkpoint has the current status")
        return _unix_time(body.get("ts"), ("ts",))

    estimate = _optional_time(msg, "expected_delivery", path)
    if estimate is None and msg.get("latest_estimated_delivery") is not None:
        latest_path: _Path = (*path, "latest_estimated_delivery")
        latest = _object(msg.get("latest_estimated_delivery"), latest_path)
        estimate = _optional_time(latest, "datetime", latest_path)

    occurred_at, history = _finish(scans, status, raw_status, raw_substatus, when=when)
    return _update(
        provider="aftership",
        provider_event_id=event_id,
        carrier=carrier,
        tracking_number=tracking_number,
        status=status,
        raw_status=raw_status,
        raw_substatus=raw_substatus,
        occurred_at=occurred_at,
        estimated_delivery=estimate,
        public_url=_optional_str(msg, "courier_tracking_link", path)
        or _optional_str(msg, "aftership_tracking_url", path),
        scans=history,
    )


# --------------------------------------------------------------------------------------------
# Standard Webhooks (our own payload)
# --------------------------------------------------------------------------------------------


def parse_standard(payload: object, webhook_id: str) -> TrackingUpdate:
    """Our ``StandardTrackingEvent``; ``webhook_id`` (the ``webhook-id`` header) is the dedup key."""
    if not isinstance(webhook_id, str) or not webhook_id.strip():
        raise TrackingPayloadError(
            "the webhook-id header is missing", [FieldError(["webhook-id"], "is missing")]
        )
    try:
        event = StandardTrackingEvent.model_validate(payload)
    except ValidationError as exc:
        errors = [
            FieldError(loc=list(err["loc"]), msg=err["msg"], type=err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise TrackingPayloadError(
            "; ".join(f"{'.'.join(map(str, e.loc)) or 'body'}: {e.msg}" for e in errors), errors
        ) from exc
    data = event.data
    raw_status = data.raw_status or data.status.value
    scan = _scan(
        status=data.status,
        raw_status=raw_status,
        raw_substatus=data.raw_substatus,
        occurred_at=data.occurred_at,
        message=data.message,
        location=data.location,
    )
    return _update(
        provider="standard",
        provider_event_id=webhook_id.strip(),
        carrier=normalise_carrier(data.carrier),
        tracking_number=data.tracking_number,
        status=data.status,
        raw_status=raw_status,
        raw_substatus=data.raw_substatus,
        occurred_at=data.occurred_at,
        estimated_delivery=data.estimated_delivery,
        public_url=data.public_url,
        scans=[scan],
    )
