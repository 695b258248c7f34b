"""What the OMS asks a store's own API to do, and how each call ended.

The write-back to Shopify and WooCommerce (fulfillments with tracking, tracking milestones,
cancellations, stock levels) is planned in the domain and sent by the store API clients
(``chalicelib.adapters.stores``) through the ``StoreApi`` port (``chalicelib.service.ports``).
These values are the vocabulary between the two: plain, immutable, no I/O.

Every call ends in exactly one :data:`StoreCallOutcome`; the clients never raise for what the
store answers and never sleep. The caller (a queue worker) turns the outcome into what happens to
its message:

* :class:`Done`: the store holds what was asked (also when it already did: every request here
  is idempotent, so a retried message changes nothing twice);
* :class:`RetryAfter`: the store is busy or down (throttled, HTTP 429, 5xx, no answer); send the
  same request again after ``seconds``, through the queue;
* :class:`CredentialsRejected`: the store refused the channel's credentials (expired or revoked
  token, a missing scope) or the configured store URL cannot be used; an operator must fix the
  channel, and the message must be kept until then;
* :class:`Rejected`: the store refused this request for good (unknown order or SKU, an order
  that cannot be cancelled any more): sending it again would fail the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from .status import TrackingStatus

#: The shortest wait a :class:`RetryAfter` asks for: a store that says "now" is retried by the
#: queue, which cannot redeliver sooner than a second anyway.
MIN_RETRY_SECONDS = 1
#: The longest: SQS cannot hide a message for longer than 12 hours; longer waits are capped.
MAX_RETRY_SECONDS = 12 * 60 * 60


@dataclass(frozen=True)
class Done:
    """The store holds what was asked. ``detail`` says what was done (or that it already was)."""

    detail: str = ""


@dataclass(frozen=True)
class RetryAfter:
    """Try the same request again in ``seconds`` (clamped to 1 s .. 12 h); ``reason`` for logs."""

    seconds: int
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", max(MIN_RETRY_SECONDS, min(MAX_RETRY_SECONDS, self.seconds)))


@dataclass(frozen=True)
class CredentialsRejected:
    """The channel's store API credentials (or URL) need an operator; keep the message."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """The store refused this request for good; ``reason`` carries the store's own messages."""

    reason: str


StoreCallOutcome = Done | RetryAfter | CredentialsRejected | Rejected


# --- Credentials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopifyCredentials:
    """An Admin API access token for ``url`` (``https://<shop>.myshopify.com``)."""

    url: str
    access_token: str

    def __repr__(self) -> str:  # never log a token
        return f"ShopifyCredentials(url={self.url!r}, access_token=***)"


@dataclass(frozen=True)
class WooCommerceCredentials:
    """A WooCommerce REST API key (Read/Write) for the store at ``url``."""

    url: str
    consumer_key: str
    consumer_secret: str

    def __repr__(self) -> str:
        key = self.consumer_key
        return f"WooCommerceCredentials(url={self.url!r}, consumer_key={key!r}, consumer_secret=***)"


StoreCredentials = ShopifyCredentials | WooCommerceCredentials


# --- Requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedLine:
    """``quantity`` units of ``sku`` in one parcel."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class ParcelShipped:
    """One OMS fulfillment left the warehouse: one parcel group, maybe several parcels.

    It is ONE Shopify fulfillment carrying all of its tracking numbers (and their links), or ONE
    customer-visible WooCommerce note listing every number with its link. The store recognises
    it as already written when any of ``tracking_numbers`` is there.

    ``completes_order``: nothing of the order is left to ship after this group (WooCommerce then
    moves the order to ``completed``; Shopify closes fulfillment orders by itself).
    """

    store_order_id: str
    lines: tuple[ShippedLine, ...]
    carrier: str
    tracking_numbers: tuple[str, ...]
    #: The carrier's tracking page per number (same order), None where unknown.
    tracking_urls: tuple[str | None, ...] = ()
    notify_customer: bool = True
    completes_order: bool = False
    #: The promised delivery window (first and last day, inclusive), when the OMS has one:
    #: WooCommerce's note says it; Shopify's fulfillment has no field for it (its milestone
    #: events carry the estimate instead).
    expected_between: tuple[date, date] | None = None

    def links(self) -> list[tuple[str, str | None]]:
        """Each tracking number with its link (None where there is none)."""
        urls = list(self.tracking_urls) + [None] * len(self.tracking_numbers)
        return list(zip(self.tracking_numbers, urls, strict=False))


class Milestone(StrEnum):
    """Carrier milestones the stores show; values are Shopify's ``FulfillmentEventStatus``."""

    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    ATTEMPTED_DELIVERY = "ATTEMPTED_DELIVERY"
    DELIVERED = "DELIVERED"
    FAILURE = "FAILURE"


#: The carrier statuses that are milestones a store shows. ``label_created`` is not one (the
#: fulfillment itself says it shipped); an exception, a failure and a return to sender are all
#: "failure" to a customer.
MILESTONE_OF: Mapping[TrackingStatus, Milestone] = {
    TrackingStatus.IN_TRANSIT: Milestone.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY: Milestone.OUT_FOR_DELIVERY,
    TrackingStatus.AVAILABLE_FOR_PICKUP: Milestone.READY_FOR_PICKUP,
    TrackingStatus.DELIVERY_ATTEMPTED: Milestone.ATTEMPTED_DELIVERY,
    TrackingStatus.DELIVERED: Milestone.DELIVERED,
    TrackingStatus.EXCEPTION: Milestone.FAILURE,
    TrackingStatus.FAILED: Milestone.FAILURE,
    TrackingStatus.RETURNED_TO_SENDER: Milestone.FAILURE,
}


@dataclass(frozen=True)
class MilestoneReached:
    """The parcel group with ``tracking_numbers`` (written back as shipped: any of its numbers
    finds it in the store) reached ``milestone``."""

    store_order_id: str
    tracking_numbers: tuple[str, ...]
    milestone: Milestone
    happened_at: datetime
    message: str | None = None
    #: The last day of the promised delivery window, while the parcel is on its way (Shopify's
    #: ``estimatedDeliveryAt``, which its order status page shows).
    estimated_delivery: date | None = None


@dataclass(frozen=True)
class OrderCancelled:
    """The OMS cancelled the order (``lines`` empty) or some of its lines.

    A whole cancellation cancels the store order (Shopify: never restocking, the OMS owns stock;
    ``refund`` to the original payment methods when asked). Cancelled lines alone are noted on the
    WooCommerce order; Shopify has no partial cancellation here and answers :class:`Rejected`.
    """

    store_order_id: str
    reason: str
    lines: tuple[ShippedLine, ...] = ()
    notify_customer: bool = False
    refund: bool = False

    @property
    def whole_order(self) -> bool:
        return not self.lines


@dataclass(frozen=True)
class CustomerNoteAdded:
    """Staff added a note meant for the customer (``visibility: customer``) to the order."""

    store_order_id: str
    note_id: str
    text: str


@dataclass(frozen=True)
class StockLevelChanged:
    """``available`` units of ``sku`` are what the store may sell.

    ``location_ids``: the store locations to set (Shopify location ids, ``gid://shopify/Location/…``
    or the number); WooCommerce has one stock count per product and ignores them.
    ``idempotency_key``: the same for a resent request, different for a new level (e.g. the id of
    the stock change being pushed); Shopify requires one on ``inventorySetQuantities``.
    """

    sku: str
    available: int
    idempotency_key: str
    location_ids: tuple[str, ...] = ()


StoreRequest = ParcelShipped | MilestoneReached | OrderCancelled | CustomerNoteAdded | StockLevelChanged
