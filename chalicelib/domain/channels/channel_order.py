"""What a store order becomes: ``ChannelOrder``, its unplaceable lines, and the store-version rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..errors import DomainError, FieldError
from ..holds import HoldFinding
from ..placement import PlaceOrderRequest


class ChannelPayloadError(DomainError, ValueError):
    """A webhook body that is not a store order at all (nothing to record but the raw body)."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        self.errors = errors or []
        super().__init__(detail)


@dataclass(frozen=True)
class UnresolvedLine:
    """A line the store sold that cannot be placed; kept so that a person can deal with it."""

    title: str
    sku: str | None
    quantity: int
    #: None only when the price itself could not be read (``problems`` then says why).
    unit_price: Decimal | None
    reason: str
    #: The store's id of the line, when it sent one.
    store_line_id: str | None = None
    #: The line's only fault is a SKU the catalogue does not know (yet): creating the product
    #: resolves it. Such lines hold the order as ``unresolved_lines``; others as ``manual``.
    unknown_sku: bool = False


@dataclass(frozen=True)
class ChannelOrder:
    """One store order as the service sees it."""

    #: The store's order id as a string, digit for digit (Shopify ids exceed 2**53).
    external_id: str
    #: What to place; None exactly when ``problems`` is not empty.
    request: PlaceOrderRequest | None
    #: Holds to put on the order at placement, at most one per reason.
    holds: list[HoldFinding]
    unresolved_lines: list[UnresolvedLine]
    #: The store says the order is cancelled.
    cancelled: bool
    cancel_reason: str | None
    #: The store's own status word, unmapped (Shopify ``financial_status``, WooCommerce ``status``).
    store_status: str
    problems: list[str]
    #: Whether the store says the order is paid (also ``request.paid``; kept when request is None).
    paid: bool = False
    #: The store's human-facing order number ("#1001", "5127"), for notes and screens.
    reference: str | None = None
    #: When the store last changed the order (Shopify ``updated_at``, WooCommerce
    #: ``date_modified_gmt``), in UTC: which of two versions of an order is the newer. None when
    #: the store sent none that can be read without guessing a time zone.
    updated_at: datetime | None = None


class StaleStoreOrder(Exception):
    """A store's version of an order older than the one the order already reflects."""

    def __init__(self, applied: datetime, received: datetime) -> None:
        self.applied = applied
        self.received = received
        super().__init__(
            f"the store's version of {received.isoformat()} is older than the one applied, "
            f"{applied.isoformat()}"
        )


def check_store_version(applied: datetime | None, received: datetime | None) -> None:
    """Raise ``StaleStoreOrder`` when ``received`` is older than ``applied``.

    Stores send webhooks in no particular order and retry failed ones for hours, so arrival order
    says nothing; the store's own modification time does. The same time again is the same version
    (a retry, or a change within the store's one-second resolution): it applies, idempotently.
    Without a time on either side there is nothing to compare, and the update applies.
    """
    if applied is not None and received is not None and received < applied:
        raise StaleStoreOrder(applied, received)
