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

The modules: one parser per provider (``easypost``, ``shippo``, ``aftership``, ``standard``), what
they share (``parsing``), the tables of carriers and statuses (``statuses``), the normalised model
(``model``) and the ordering rule (``ordering``). JSON types are read with
``domain.untrusted_json``.

Pure: no I/O, no clock.
"""

from .aftership import parse_aftership
from .easypost import parse_easypost
from .model import NotATrackingEvent, Provider, TrackingPayloadError, TrackingScan, TrackingUpdate
from .ordering import (
    ALERT_STATUSES,
    RANK,
    TERMINAL_TRACKING_STATUSES,
    ScanOutcome,
    apply_scans,
    fulfillment_trigger_for,
    should_apply,
)
from .shippo import parse_shippo, shippo_event_id
from .standard import StandardTrackingData, StandardTrackingEvent, parse_standard
from .statuses import (
    CARRIER_SLUGS,
    map_aftership_status,
    map_easypost_status,
    map_shippo_status,
    normalise_carrier,
)

__all__ = [
    "ALERT_STATUSES",
    "CARRIER_SLUGS",
    "RANK",
    "TERMINAL_TRACKING_STATUSES",
    "NotATrackingEvent",
    "Provider",
    "ScanOutcome",
    "StandardTrackingData",
    "StandardTrackingEvent",
    "TrackingPayloadError",
    "TrackingScan",
    "TrackingUpdate",
    "apply_scans",
    "fulfillment_trigger_for",
    "map_aftership_status",
    "map_easypost_status",
    "map_shippo_status",
    "normalise_carrier",
    "parse_aftership",
    "parse_easypost",
    "parse_shippo",
    "parse_standard",
    "shippo_event_id",
    "should_apply",
]
