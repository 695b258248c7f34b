"""The order model every channel is normalised into, and its fulfillments.

Invariants kept here (and relied on by the repository):
- an order's ``version`` grows by one with every state change, and the change's
  event item is keyed by that version, so the timeline has no gaps;
- an active (not shipped, not cancelled) fulfillment holds a reservation of
  exactly its lines' quantities in its warehouse: the reservation is not a
  separate record but a property of the fulfillment's status;
- ``OrderLine.allocated + backordered + cancelled == quantity``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from .geo import COUNTRY_CODES
from .money import Amount
from .status import (
    FULFILLMENT_SHIPPED_STATES,
    RESOLVED_EXCEPTIONS,
    FulfillmentStatus,
    HoldReason,
    OrderStatus,
    TrackingStatus,
)
from .text import LINE_PATTERN, MULTILINE_PATTERN, DocumentedPattern, check_line, check_multiline

#: Upper bound on one line's quantity: above it the request is a mistake, not an order.
MAX_LINE_QUANTITY = 10_000
#: Upper bound on lines in one order (the transaction limit bites before; see placement).
MAX_LINES = 500

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: Timestamps outside these years are refused: nothing the service records happened before
#: 1970, and keeping a margin below year 9999 lets day and month arithmetic (delivery windows,
#: return windows, SLA deadlines) never overflow ``datetime``.
EARLIEST_YEAR = 1970
LATEST_YEAR = 9000


def _ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("the time is outside the range of representable dates") from None
    if not EARLIEST_YEAR <= utc.year < LATEST_YEAR:
        raise ValueError(f"timestamps lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return utc


Timestamp = Annotated[
    datetime,
    AfterValidator(_ensure_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not a valid e-mail address")
    return value


def _check_phone(value: str) -> str:
    if not _E164.match(value):
        raise ValueError("phone numbers are in E.164 form, e.g. +14155550123")
    return value


def _check_country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (e.g. US, DE)")
    return value


def _check_sku(value: str) -> str:
    if not _SKU.match(value):
        raise ValueError("SKUs are 1-64 letters, digits, '.', '_', '-', '/'")
    return value


def is_sku(value: str) -> bool:
    return bool(_SKU.match(value))


Email = Annotated[str, Field(max_length=254), AfterValidator(_check_email)]
Phone = Annotated[str, AfterValidator(_check_phone)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
Sku = Annotated[str, AfterValidator(_check_sku)]
#: One line of text a person wrote: no control or bidirectional-control characters (domain/text.py).
Line = Annotated[str, AfterValidator(check_line), DocumentedPattern(LINE_PATTERN)]
#: Text from a box that may hold several lines (notes, comments): tab, LF and CR allowed.
MultilineText = Annotated[str, AfterValidator(check_multiline), DocumentedPattern(MULTILINE_PATTERN)]
ShortText = Annotated[Line, Field(min_length=1, max_length=200)]

#: A link we put in front of customers (e-mails, tracking pages): an absolute https URL of at
#: most 2,000 characters with a host, and nothing a mail client could run or misread.
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")
HTTPS_URL_PATTERN = _HTTPS_URL.pattern


def _check_https_url(value: str) -> str:
    if len(value) > 2000 or not _HTTPS_URL.match(value):
        raise ValueError("must be an https:// URL (at most 2000 characters, no spaces or controls)")
    return value


HttpsUrl = Annotated[str, AfterValidator(_check_https_url), DocumentedPattern(HTTPS_URL_PATTERN)]


def https_or_none(value: object) -> object:
    """A provider's link if it is an https URL we may show to customers, else None (dropped)."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 2000 and _HTTPS_URL.match(value.strip()):
        return value.strip()
    return None


class Strict(BaseModel):
    """Unknown fields are an error: a typo must not silently drop data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Customer(Strict):
    email: Email
    name: ShortText
    phone: Phone | None = None


class Address(Strict):
    name: ShortText
    line1: ShortText
    line2: Annotated[Line, Field(max_length=200)] | None = None
    city: ShortText
    region: Annotated[Line, Field(max_length=100)] | None = None
    # Optional in the schema because some countries have no postal codes;
    # the receipt hold rules flag a missing one where it is needed.
    postal_code: Annotated[Line, Field(max_length=20)] | None = None
    country: CountryCode


class NotifyPreferences(Strict):
    email: bool = True
    sms: bool = False


class OrderLine(Strict):
    sku: Sku
    quantity: int
    unit_price: Amount
    line_total: Amount
    #: Units waiting for stock (no warehouse could take them at placement).
    backordered: int = 0
    cancelled: int = 0


class UnresolvedLine(Strict):
    """A line a store sent that the service cannot fulfil as is (no SKU, or one not in the
    catalogue). The order is taken anyway, on hold, and the line kept: a line whose only fault is
    an unknown SKU (``unknown_sku``) holds the order as ``unresolved_lines`` and is placed when
    that hold is released after the product is created; any other waits for a person (``manual``)."""

    title: str
    sku: str | None = None
    quantity: int
    unit_price: Amount
    reason: str
    #: The store's id of the line (Shopify and WooCommerce line item ``id``), when it sent one.
    store_line_id: str | None = None
    unknown_sku: bool = False


class OrderTotals(Strict):
    subtotal: Amount
    shipping: Amount
    tax: Amount
    discount: Amount
    total: Amount


class Hold(Strict):
    reason: HoldReason
    note: str | None = None
    placed_at: Timestamp
    placed_by: str


class NoteVisibility(StrEnum):
    """Who may read a staff note: ``private`` stays with the operations team (the console and admin
    keys); ``customer`` is shown to the customer (the status page) and written back to the store."""

    PRIVATE = "private"
    CUSTOMER = "customer"


class OrderNote(Strict):
    """A note a person left on an order (``domain/notes.py`` has the rules). Appended, never edited."""

    id: str
    text: str
    visibility: NoteVisibility
    #: Who wrote it: the actor of the API key or the console session (``admin:<key id>``).
    author: str
    created_at: Timestamp


class Order(Strict):
    id: str
    channel_id: str
    external_id: str
    status: OrderStatus
    version: int
    currency: str
    customer: Customer
    shipping_address: Address
    billing_address: Address | None = None
    shipping_method: str | None = None
    paid: bool
    notify: NotifyPreferences
    lines: list[OrderLine]
    totals: OrderTotals
    holds: list[Hold] = Field(default_factory=list)
    unresolved_lines: list[UnresolvedLine] = Field(default_factory=list)
    created_at: Timestamp
    updated_at: Timestamp
    confirmed_at: Timestamp | None = None
    #: When the receipt checks (hold rules) ran; until then nothing is released to a warehouse.
    received_at: Timestamp | None = None
    #: Store channels: the store's own modification time of the version this order reflects
    #: (Shopify ``updated_at``, WooCommerce ``date_modified_gmt``). A store webhook older than it
    #: arrived late and changes nothing. None for orders of the REST API.
    store_updated_at: Timestamp | None = None
    #: Staff notes, oldest first; private ones are shown to admin keys and the console only.
    notes: list[OrderNote] = Field(default_factory=list)
    #: Tags, sorted (normalised: ``domain/notes.normalise_tag``).
    tags: list[str] = Field(default_factory=list)

    @property
    def hold_reasons(self) -> set[HoldReason]:
        return {h.reason for h in self.holds}

    @property
    def has_backorder(self) -> bool:
        return any(line.backordered > 0 for line in self.lines)

    def total_value(self) -> Decimal:
        return self.totals.total


class FulfillmentLine(Strict):
    sku: Sku
    quantity: int


class Package(Strict):
    """One parcel of a fulfillment as packed: the box used and what it weighed."""

    box: Annotated[str, Field(min_length=1, max_length=40)]
    weight_grams: Annotated[int, Field(gt=0, le=1_000_000)]
    tracking_number: str | None = None


class Shipment(Strict):
    carrier: str
    service: str
    tracking_numbers: list[str]
    tracking_url: str | None = None
    shipped_at: Timestamp


class TrackedScan(Strict):
    """One carrier scan as the fulfillment keeps it: normalised status beside the provider's raw one."""

    status: TrackingStatus
    raw_status: str
    raw_substatus: str | None = None
    occurred_at: Timestamp
    message: str | None = None
    location: str | None = None
    provider: str
    #: False for a late or duplicate scan: recorded, but it changed nothing.
    applied: bool


#: Scans kept per fulfillment (the oldest are dropped first; the timeline keeps every update).
MAX_TRACKED_SCANS = 200


class DeliveryException(Strict):
    """How a parcel's journey ended without a delivery, and who said so."""

    kind: FulfillmentStatus  # one of status.DELIVERY_EXCEPTIONS
    #: ``carrier`` (a tracking scan) or ``operations`` (``POST .../exception``).
    source: str
    note: str | None = None
    recorded_at: Timestamp
    recorded_by: str


class ExceptionResolution(Strict):
    """What was done for the customer about a delivery exception (once: reship or refund)."""

    action: str  # "reship" or "refund"
    resolved_at: Timestamp
    resolved_by: str
    #: The new fulfillment(s) of the same units (a reship; backorders when stock was short).
    reship_fulfillment_ids: list[str] = Field(default_factory=list)
    #: The amount ``refund.requested`` asked for (a refund), in the order's currency.
    refund_total: Amount | None = None
    #: The order had been counted fully shipped before the reship: the reship leaving does not
    #: count it again (see domain.kpis.milestone_flags).
    order_was_fully_shipped: bool = False


class ParcelRestock(Strict):
    """A returned parcel's goods back at the warehouse: resellable units restocked, the rest
    written off."""

    warehouse_id: str
    restocked: dict[str, int]
    written_off: dict[str, int]
    restocked_at: Timestamp
    restocked_by: str


class Fulfillment(Strict):
    """What one warehouse ships for an order, or, with no warehouse yet, units waiting for stock.

    A fulfillment with ``warehouse_id`` None is a backorder: one SKU, status
    ``pending``, no reservation; it is allocated first come, first served
    (by ``created_at``) when stock arrives.
    """

    id: str
    order_id: str
    channel_id: str
    warehouse_id: str | None
    status: FulfillmentStatus
    version: int
    lines: list[FulfillmentLine]
    created_at: Timestamp
    updated_at: Timestamp
    ship_by: Timestamp | None = None
    picked_at: Timestamp | None = None
    packed_at: Timestamp | None = None
    packages: list[Package] = Field(default_factory=list)
    #: The box codes packing recommended, kept to record when staff chose others.
    recommended_boxes: list[str] = Field(default_factory=list)
    shipment: Shipment | None = None
    sla_breached_at: Timestamp | None = None
    cancel_reason: str | None = None
    #: The carrier's view, normalised: status and the provider's time of it (never arrival time).
    tracking_status: TrackingStatus | None = None
    tracking_status_at: Timestamp | None = None
    estimated_delivery: Timestamp | None = None
    #: When the carrier gave that estimate (its update's time): only a newer update replaces it.
    estimated_delivery_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    tracking_history: list[TrackedScan] = Field(default_factory=list)
    #: Hash of the request that made each warehouse step, so an identical repeat is a no-op.
    step_requests: dict[str, str] = Field(default_factory=dict)
    #: Set when the parcel's journey ended without a delivery (lost, damaged, returned).
    delivery_exception: DeliveryException | None = None
    resolution: ExceptionResolution | None = None
    restock: ParcelRestock | None = None
    #: On a reship: the fulfillment whose units it sends again.
    reship_of: str | None = None

    @property
    def awaiting_stock(self) -> bool:
        return self.warehouse_id is None

    @property
    def holds_reservation(self) -> bool:
        """True while the goods are promised but still on the shelf (see module invariants)."""
        return (
            self.warehouse_id is not None
            and self.status not in FULFILLMENT_SHIPPED_STATES
            and self.status != FulfillmentStatus.CANCELLED
        )

    @property
    def is_active(self) -> bool:
        """False once cancelled, or once its delivery exception was resolved (reshipped by another
        fulfillment, or refunded): it no longer counts towards the order's status."""
        return self.status not in _INACTIVE

    def quantity_of(self, sku: str) -> int:
        return sum(line.quantity for line in self.lines if line.sku == sku)


_INACTIVE = frozenset({FulfillmentStatus.CANCELLED, *RESOLVED_EXCEPTIONS})


class Weekday(StrEnum):
    """Days of the week as warehouse calendars name them (``date.weekday()`` order)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday .. 6 for Sunday, as ``date.weekday()`` counts."""
        return list(Weekday).index(self)


#: Monday to Friday: the working week of a warehouse that does not say otherwise.
WORKING_WEEK = (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)


class Warehouse(Strict):
    id: str
    name: str
    #: Lower number = preferred when several warehouses could ship an order.
    priority: int
    timezone: str
    cutoff: str = "15:00"
    country: CountryCode
    address: Address | None = None
    #: The days it ships; the others are closed days, as holidays are (domain/promise.py).
    business_days: list[Weekday] = Field(default_factory=lambda: list(WORKING_WEEK))
    #: Local dates on which it does not ship.
    holidays: list[date] = Field(default_factory=list)
    #: An inactive warehouse is given no new work (sourcing, backorders); its open work stays.
    active: bool = True

    @property
    def business_day_numbers(self) -> frozenset[int]:
        return frozenset(day.number for day in self.business_days)


class ChannelKind(StrEnum):
    API = "api"
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"


class BackorderPolicy(StrEnum):
    #: Accept what no warehouse holds as a backorder (allocated when stock arrives).
    BACKORDER = "backorder"
    #: Refuse the whole order (409 insufficient_stock) when anything is short.
    REJECT = "reject"


class StoreApiLink(Strict):
    """A store's API as its channel records it (``domain/store_connection.py``); the credentials
    are in the secret store, stamped with ``url`` and ``updated_at``."""

    url: str
    updated_at: Timestamp


class Channel(Strict):
    """Where orders come from: the store's own API client, or a Shopify/WooCommerce store.

    The store's signing secrets and API credentials are not part of the channel: they live in
    SSM Parameter Store and are never returned by the API."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: ChannelKind = ChannelKind.API
    backorder_policy: BackorderPolicy = BackorderPolicy.BACKORDER
    #: Shopify: the shop's myshopify.com domain (checked against X-Shopify-Shop-Domain when set).
    shop_domain: str | None = None
    #: The store's API, for writing back fulfillments, tracking and stock; None: not connected.
    store_api: StoreApiLink | None = None
    #: Warehouse id -> the store's location its stock is pushed to (Shopify location ids).
    locations: dict[str, str] = Field(default_factory=dict)
    #: Push changes of ``available`` to the store.
    stock_sync: bool = False


class StockLevel(Strict):
    """One SKU in one warehouse. ``available = on_hand - reserved`` is stored, not derived,
    because DynamoDB conditions cannot do arithmetic (``available >= :qty``)."""

    sku: str
    warehouse_id: str
    on_hand: int
    reserved: int
    available: int
    #: Bin location, e.g. "A-03-2": pick lists walk the bins in this order.
    bin: str | None = None
    #: At or below this many available, the stock is low (reorder); above the overstock level,
    #: too much money sits on the shelf. None: not watched.
    reorder_point: int | None = None
    overstock_level: int | None = None

    @property
    def below_reorder_point(self) -> bool:
        return self.reorder_point is not None and self.available <= self.reorder_point

    @property
    def overstocked(self) -> bool:
        return self.overstock_level is not None and self.on_hand > self.overstock_level


class Product(Strict):
    sku: str
    name: str
    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    #: "This side up": packing turns it only about the vertical axis.
    keep_upright: bool = False
    #: Dangerous goods (batteries, aerosols): carriers need to know; kept for labels and reports.
    hazmat: bool = False
    #: An inactive product is not sold: new orders naming it are refused; placed orders keep it.
    active: bool = True


class Box(Strict):
    """A shipping carton one warehouse stocks; packing recommends the cheapest one the goods fit in.

    Dimensions are inside measures (what the goods must fit into); ``cost`` is what one box costs
    the warehouse, in its own currency.
    """

    code: Annotated[str, Field(min_length=1, max_length=40)]
    inner_length_mm: Annotated[int, Field(gt=0)]
    inner_width_mm: Annotated[int, Field(gt=0)]
    inner_height_mm: Annotated[int, Field(gt=0)]
    max_weight_grams: Annotated[int, Field(gt=0)]
    cost: Amount
    #: The empty box's weight and outer measures: carriers bill the box, not its contents'
    #: bounding box. Unknown outer measures default to the inner ones.
    tare_weight_grams: Annotated[int, Field(ge=0)] = 0
    outer_length_mm: Annotated[int, Field(gt=0)] | None = None
    outer_width_mm: Annotated[int, Field(gt=0)] | None = None
    outer_height_mm: Annotated[int, Field(gt=0)] | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)
