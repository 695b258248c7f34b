"""Each provider's carrier names and status words, mapped to our carrier slugs and statuses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ..status import TrackingStatus
from .model import TrackingPayloadError

S = TrackingStatus

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
