"""Signed webhooks back to the stores: endpoints, which events they get, and the retry schedule.

A channel registers endpoints (an https URL and the event types it wants).
Every subscribed order event is POSTed to each endpoint, signed per Standard
Webhooks. The ``webhook-id`` of one event to one endpoint is derived from both
ids, so it is the same on every retry and the store can deduplicate on it.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field

from .events import EventType
from .models import Strict, Timestamp

#: Order events a store may subscribe to (what happens inside the service, e.g. notification
#: bookkeeping or inbound carrier payloads, is not offered).
SUBSCRIBABLE_EVENTS: frozenset[str] = frozenset(
    {
        EventType.ORDER_PLACED,
        EventType.ORDER_CONFIRMED,
        EventType.ORDER_UPDATED,
        EventType.ORDER_ON_HOLD,
        EventType.ORDER_HOLD_RELEASED,
        EventType.ORDER_BACKORDERED,
        EventType.ORDER_BACKORDER_ALLOCATED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_LINES_CANCELLED,
        EventType.ORDER_EDITED,
        EventType.PAYMENT_ADJUSTMENT_REQUESTED,
        EventType.FULFILLMENT_PICKED,
        EventType.FULFILLMENT_SHORT_PICKED,
        EventType.FULFILLMENT_PACKED,
        EventType.FULFILLMENT_SHIPPED,
        EventType.FULFILLMENT_EXCEPTION_RECORDED,
        EventType.FULFILLMENT_RESOLVED,
        EventType.TRACKING_UPDATED,
        EventType.FEEDBACK_RECEIVED,
        EventType.RETURN_REQUESTED,
        EventType.RETURN_RECEIVED,
        EventType.REFUND_REQUESTED,
    }
)

#: Seconds to wait before each retry after a failed delivery: about a day in all, then the
#: delivery goes to the dead-letter queue (the queue's maxReceiveCount is one more than this).
RETRY_DELAYS = (60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


#: Active endpoints one channel may have: every event is POSTed to each, so endpoints are what
#: one tenant's order volume is multiplied by in outbound calls.
MAX_ENDPOINTS_PER_CHANNEL = 10


def retry_delay(attempt: int) -> int:
    """Delay before the attempt after ``attempt`` (1-based) failed."""
    return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class WebhookEndpoint(Strict):
    id: str
    channel_id: str
    url: Annotated[str, Field(max_length=2000)]
    events: list[str]
    status: EndpointStatus = EndpointStatus.ACTIVE
    disabled_reason: str | None = None
    created_at: Timestamp
    updated_at: Timestamp

    def wants(self, event_type: str) -> bool:
        return self.status == EndpointStatus.ACTIVE and event_type in self.events


class Delivery(Strict):
    """One attempt to deliver one event to one endpoint."""

    endpoint_id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    attempted_at: Timestamp
    status_code: int | None
    outcome: str  # delivered | failed | gone | refused
    error: str | None = None
    duration_ms: int


def webhook_id(event_id: str, endpoint_id: str) -> str:
    """Stable per event and endpoint: retries carry the same id."""
    return f"msg_{event_id.removeprefix('evt_')}_{endpoint_id.removeprefix('whe_')}"


class UnsafeUrl(ValueError):
    """A URL the service refuses to call (scheme, or an address inside a private network)."""


def check_url_syntax(url: str, *, require_https: bool) -> str:
    """http(s) with a host, no credentials in it; returns the host.

    ``require_https`` everywhere but the local stack and tests: a webhook's body is an order,
    with a customer's name and address, and its signature is no protection against reading it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeUrl("only http and https URLs are allowed")
    if require_https and parts.scheme != "https":
        raise UnsafeUrl("only https URLs are allowed")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed; authenticate with the signature")
    return parts.hostname


def check_address(address: str, *, allow_loopback: bool) -> None:
    """Refuse addresses a webhook must never reach from inside AWS (SSRF): private ranges,
    link-local (the instance metadata service lives there), loopback, multicast, reserved."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        if allow_loopback:
            return
        raise UnsafeUrl(f"{address} is a loopback address")
    if ip.is_link_local or ip.is_private or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise UnsafeUrl(f"{address} is not a public address")
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared address space that VPCs may use
        raise UnsafeUrl(f"{address} is not a globally routable address")
