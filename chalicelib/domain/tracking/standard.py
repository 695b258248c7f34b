"""Our own Standard Webhooks tracking payload (documented in the OpenAPI document and
docs/webhooks.md): validated by its pydantic model rather than read field by field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError

from ..errors import FieldError
from ..models import HttpsUrl, Line, Strict, Timestamp
from ..status import TrackingStatus
from .model import TrackingPayloadError, TrackingUpdate
from .parsing import new_scan, new_update
from .statuses import normalise_carrier


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
    scan = new_scan(
        status=data.status,
        raw_status=raw_status,
        raw_substatus=data.raw_substatus,
        occurred_at=data.occurred_at,
        message=data.message,
        location=data.location,
    )
    return new_update(
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
