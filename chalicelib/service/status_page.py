"""The customer's status page: its signed link, what it shows, and starting a return from it.

The link (``/orders/status/<token>``) carries a token of purpose ``status`` signed with the
link keys (``domain.tokens``): it is the only credential, so the page needs no API key. It lasts
as long as the return window: until ``window_days`` after the order's last delivery. A link
sent before anything was delivered cannot know that date, so it lasts
``LINK_LIFETIME_BEFORE_DELIVERY`` (the e-mails sent at and after delivery carry a link that runs
to the window's end); and every link lasts at least ``LINK_MINIMUM_LIFETIME`` from its e-mail,
so a message sent after the window closed (a return received, a refund) still opens a page.

``status_view`` builds everything the page shows from the order as stored: one view model, so
what other features add (promised delivery windows, notes for the customer) is one field more.

The return form carries a second token (purpose ``status-return``) naming the order and the RMA
id the submission will create, so submitting the same form twice creates one RMA
(``returns.request_return`` treats a known ``rma_id`` as a repeat); the token is signed, so the
id cannot be chosen by the sender. The return itself is ``request_return``: the API's own use
case, with its validation and events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Fulfillment, Order
from chalicelib.domain.notes import CustomerNote, customer_notes
from chalicelib.domain.promise import DeliveryWindow, OrderPromise
from chalicelib.domain.returns import ReturnLine, ReturnRequest, last_delivery, returnable
from chalicelib.domain.returns import decide as decide_return
from chalicelib.domain.status import FulfillmentStatus, ReturnStatus
from chalicelib.domain.tokens import InvalidToken, issue_token, verify_token
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWorkFactory
from chalicelib.service.returns import request_return

STATUS = "status"
RETURN_FORM = "status-return"
#: A link sent before any delivery: long enough for a backordered order to arrive, then the
#: delivered e-mail's link takes over.
LINK_LIFETIME_BEFORE_DELIVERY = timedelta(days=90)
#: Every link opens for at least this long after the e-mail that carries it.
LINK_MINIMUM_LIFETIME = timedelta(days=14)
#: A return form may be sent this long after the page was opened; then the page gives a new one.
RETURN_FORM_LIFETIME = timedelta(days=1)
#: The reasons the form offers (the API takes any text: these are what a customer picks from).
RETURN_REASONS = (
    "Does not fit",
    "Not as described",
    "Arrived damaged",
    "Wrong item sent",
    "No longer needed",
    "Other",
)

_CUSTOMER_WORDS: dict[str, str] = {
    FulfillmentStatus.PENDING: "Waiting for stock",
    FulfillmentStatus.RELEASED: "Being prepared",
    FulfillmentStatus.PICKING: "Being prepared",
    FulfillmentStatus.PICKED: "Being prepared",
    FulfillmentStatus.PACKED: "Packed, ready to ship",
    FulfillmentStatus.SHIPPED: "Shipped",
    FulfillmentStatus.IN_TRANSIT: "On its way",
    FulfillmentStatus.OUT_FOR_DELIVERY: "Out for delivery",
    FulfillmentStatus.DELIVERED: "Delivered",
    FulfillmentStatus.ON_HOLD: "On hold",
    FulfillmentStatus.CANCELLED: "Cancelled",
    FulfillmentStatus.DELIVERY_ATTEMPTED: "Delivery attempted",
    FulfillmentStatus.AVAILABLE_FOR_PICKUP: "Ready for pickup",
    FulfillmentStatus.EXCEPTION: "Delivery problem",
    FulfillmentStatus.RETURNED_TO_SENDER: "Returned to sender",
    FulfillmentStatus.FAILED: "Delivery failed",
}


def words(value: str) -> str:
    """A status as a customer reads it: "out_for_delivery" -> "Out for delivery"."""
    return _CUSTOMER_WORDS.get(value) or value.replace("_", " ").capitalize()


# -- the link -------------------------------------------------------------------------------------


def status_link_expiry(fulfillments: Iterable[Fulfillment], *, now: datetime, window_days: int) -> datetime:
    """When a status link issued ``now`` expires: the return window's end, see the module doc."""
    delivered = last_delivery(fulfillments)
    if delivered is None:
        until = now + LINK_LIFETIME_BEFORE_DELIVERY
    else:
        until = delivered + timedelta(days=window_days)
    return max(until, now + LINK_MINIMUM_LIFETIME)


def status_token(
    order_id: str,
    fulfillments: Iterable[Fulfillment],
    *,
    keys: Sequence[str],
    clock: Clock,
    window_days: int,
) -> str | None:
    """The token of the order's status link, signed with the newest key; None without keys."""
    if not keys:
        return None
    now = clock.now()
    expires = status_link_expiry(fulfillments, now=now, window_days=window_days)
    return issue_token(STATUS, order_id, key=keys[0], now=now, lifetime=expires - now)


def order_of_link(
    uow_factory: UnitOfWorkFactory, token: str, *, keys: Sequence[str], clock: Clock
) -> OrderAggregate:
    """The order a status link is for. A bad, forged or expired link, or one for an order that
    is gone, is the same ``NotFound``: the answer reveals nothing."""
    try:
        claims = verify_token(token, STATUS, keys=keys, now=clock.now())
    except InvalidToken:
        raise NotFound("page", "(invalid or expired link)") from None
    aggregate = uow_factory().get_order(claims.order_id)
    if aggregate is None:
        raise NotFound("page", "(invalid or expired link)")
    return aggregate


# -- the view model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanView:
    status: str
    occurred_at: datetime
    location: str | None
    message: str | None


@dataclass(frozen=True)
class TrackingLink:
    number: str
    url: str | None


@dataclass(frozen=True)
class ItemView:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ParcelView:
    number: int
    status: str
    items: list[ItemView]
    ship_by: datetime | None
    shipped_at: datetime | None
    carrier: str | None
    service: str | None
    tracking: list[TrackingLink]
    estimated_delivery: datetime | None
    delivered_at: datetime | None
    #: Newest first; late and duplicate scans included (the carrier saw them).
    scans: list[ScanView]
    delivery_window: DeliveryWindow | None = None


@dataclass(frozen=True)
class LineView:
    sku: str
    quantity: int
    cancelled: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class ReturnView:
    id: str
    status: str
    approved: bool
    rejection_reason: str | None
    requested_at: datetime
    items: list[ReturnLine]


@dataclass(frozen=True)
class ReturnableLine:
    """One SKU the customer may still send back, and how many units."""

    sku: str
    returnable: int


@dataclass(frozen=True)
class StatusView:
    order_number: str
    placed_at: datetime
    status: str
    currency: str
    lines: list[LineView]
    subtotal: Decimal
    shipping: Decimal
    tax: Decimal
    discount: Decimal
    total: Decimal
    #: The shipping address in part (a link can be forwarded): no street, no phone, no e-mail.
    ship_to_name: str
    ship_to_place: str
    parcels: list[ParcelView]
    returns: list[ReturnView]
    #: What the form offers; empty when nothing can be returned now.
    returnable: list[ReturnableLine]
    #: None while a return may be started; otherwise why not, in a sentence.
    return_closed_because: str | None
    return_window_closes: date | None
    delivery_window: DeliveryWindow | None = None
    customer_notes: list[CustomerNote] = field(default_factory=list)

    @property
    def return_open(self) -> bool:
        return self.return_closed_because is None


def _parcel(number: int, fulfillment: Fulfillment, promise: OrderPromise | None) -> ParcelView:
    shipment = fulfillment.shipment
    tracking: list[TrackingLink] = []
    if shipment is not None:
        # One tracking page serves every number of a shipment (carriers link by the first).
        tracking = [TrackingLink(n, shipment.tracking_url) for n in shipment.tracking_numbers]
    scans = sorted(fulfillment.tracking_history, key=lambda s: s.occurred_at, reverse=True)
    dates = promise.of(fulfillment.id) if promise is not None else None
    return ParcelView(
        number=number,
        status=words(fulfillment.status.value),
        items=[ItemView(line.sku, line.quantity) for line in fulfillment.lines],
        ship_by=fulfillment.ship_by,
        shipped_at=shipment.shipped_at if shipment else None,
        carrier=shipment.carrier.upper() if shipment else None,
        service=shipment.service if shipment else None,
        tracking=tracking,
        estimated_delivery=fulfillment.estimated_delivery,
        delivered_at=fulfillment.delivered_at,
        scans=[
            ScanView(
                status=words(s.status.value),
                occurred_at=s.occurred_at,
                location=s.location,
                message=s.message,
            )
            for s in scans
        ],
        delivery_window=dates.delivery_window if dates is not None else None,
    )


def _place(order: Order) -> str:
    address = order.shipping_address
    parts = [address.postal_code, address.city, address.country]
    return " ".join(p for p in parts[:2] if p) + f", {parts[2]}"


def _closed_because(
    fulfillments: Sequence[Fulfillment], left: dict[str, int], *, now: datetime, window_days: int
) -> str | None:
    rejection = decide_return(fulfillments, now=now, window_days=window_days)
    if rejection is not None:
        return f"A return cannot be started here: {rejection}."
    if not left:
        return "Everything delivered has been returned or is on its way back already."
    return None


def status_view(
    order: Order,
    fulfillments: Sequence[Fulfillment],
    returns: Sequence[ReturnRequest],
    *,
    now: datetime,
    window_days: int,
    promise: OrderPromise | None = None,
) -> StatusView:
    """What the status page shows of an order, in the order the page shows it: with its promised
    dates (``promise``, from ``order_promise``, the same as the API's and the e-mails') and the
    notes the shop wrote for the customer, oldest first (never a private one)."""
    active = [f for f in fulfillments if f.is_active]
    left = returnable(fulfillments, returns)
    delivered = last_delivery(fulfillments)
    return StatusView(
        order_number=order.external_id,
        placed_at=order.created_at,
        status=words(order.status.value),
        currency=order.currency,
        lines=[
            LineView(line.sku, line.quantity, line.cancelled, line.unit_price, line.line_total)
            for line in order.lines
        ],
        subtotal=order.totals.subtotal,
        shipping=order.totals.shipping,
        tax=order.totals.tax,
        discount=order.totals.discount,
        total=order.totals.total,
        ship_to_name=order.shipping_address.name,
        ship_to_place=_place(order),
        parcels=[
            _parcel(n, f, promise) for n, f in enumerate(sorted(active, key=lambda f: f.created_at), start=1)
        ],
        returns=[
            ReturnView(
                id=r.id,
                status=words(r.status.value),
                approved=r.status in (ReturnStatus.APPROVED, ReturnStatus.RECEIVED, ReturnStatus.REFUNDED),
                rejection_reason=r.rejection_reason,
                requested_at=r.requested_at,
                items=list(r.lines),
            )
            for r in sorted(returns, key=lambda r: r.requested_at, reverse=True)
        ],
        returnable=[ReturnableLine(sku, qty) for sku, qty in sorted(left.items())],
        return_closed_because=_closed_because(fulfillments, left, now=now, window_days=window_days),
        return_window_closes=(delivered + timedelta(days=window_days)).date() if delivered else None,
        delivery_window=promise.delivery_window if promise is not None else None,
        customer_notes=sorted(customer_notes(order), key=lambda n: n.created_at),
    )


# -- starting a return ----------------------------------------------------------------------------


def return_form_token(order_id: str, *, keys: Sequence[str], ids: IdGenerator, clock: Clock) -> str | None:
    """The hidden field of a return form: the order and the id its RMA will have, signed."""
    if not keys:
        return None
    subject = f"{order_id}/{ids.new('rma')}"
    return issue_token(RETURN_FORM, subject, key=keys[0], now=clock.now(), lifetime=RETURN_FORM_LIFETIME)


class FormExpired(Exception):
    """The form's token is forged, for another order, or too old: the page offers a new form."""


def rma_id_of_form(form_token: str, order_id: str, *, keys: Sequence[str], clock: Clock) -> str:
    try:
        claims = verify_token(form_token, RETURN_FORM, keys=keys, now=clock.now())
    except InvalidToken:
        raise FormExpired from None
    form_order, _, rma_id = claims.order_id.partition("/")
    if form_order != order_id or not rma_id.startswith("rma_"):
        raise FormExpired
    return rma_id


def start_return(
    uow_factory: UnitOfWorkFactory,
    aggregate: OrderAggregate,
    lines: Sequence[ReturnLine],
    *,
    form_token: str,
    keys: Sequence[str],
    window_days: int,
    ids: IdGenerator,
    clock: Clock,
) -> ReturnRequest:
    """The customer's return, made by the API's use case (same checks, same events); the form's
    RMA id makes a second submission of the same form answer with the first one's RMA."""
    rma_id = rma_id_of_form(form_token, aggregate.order.id, keys=keys, clock=clock)
    _, rma = request_return(
        uow_factory,
        aggregate.order.id,
        lines,
        window_days=window_days,
        authorize=lambda _: None,  # the signed link is the credential
        actor="customer",
        ids=ids,
        clock=clock,
        rma_id=rma_id,
    )
    return rma
