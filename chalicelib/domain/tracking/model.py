"""The normalised model every provider's webhook becomes, and the errors of reading one."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from ..errors import DomainError, FieldError
from ..models import Strict, Timestamp, https_or_none
from ..status import TrackingStatus

Provider = Literal["easypost", "shippo", "aftership", "standard"]


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
