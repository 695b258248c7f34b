"""Order routes: placement, reads, timeline and holds. Parse, authorize, call a use case, render."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.api.framework import KEYED, Call, ProblemError, endpoint, owned
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Role
from chalicelib.domain.errors import FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import (
    Address,
    Customer,
    Fulfillment,
    Line,
    MultilineText,
    Order,
    Sku,
    Timestamp,
    TrackedScan,
    format_timestamp,
)
from chalicelib.domain.notes import is_private_note_event, normalise_tag, without_private_notes
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.domain.promise import DeliveryWindow, OrderPromise
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus, TrackingStatus
from chalicelib.service.cancellation import cancel
from chalicelib.service.order_updates import OrderChanges, update_order
from chalicelib.service.placement import place_order
from chalicelib.service.ports import InvalidCursor, OrderAggregate
from chalicelib.service.promises import promised_dates as service_promised_dates
from chalicelib.service.receipt import place_hold, release_hold

orders_api = Blueprint(__name__)

CHANNEL_OR_ADMIN = (Role.CHANNEL, Role.ADMIN)


class FulfillmentView(Fulfillment):
    """A fulfillment with its promised dates (``estimated_delivery`` is the carrier's own)."""

    #: The ship-by promise; before release, what releasing now would promise.
    promised_ship_by: Timestamp | None = None
    #: That promise's date in the warehouse's time zone.
    promised_ship_date: date | None = None
    #: When the parcel should arrive: transit table, then the carrier's estimate, then delivery.
    delivery_window: DeliveryWindow | None = None


class OrderView(Order):
    """An order with its fulfillments and promised dates, as the API shows it."""

    fulfillments: list[FulfillmentView]
    #: The latest ship-by of the fulfillments on their way; null while any has none (backorder, hold).
    promised_ship_by: Timestamp | None = None
    promised_ship_date: date | None = None
    #: By when every parcel should have arrived (docs/reference-data.md, transit table).
    estimated_delivery: DeliveryWindow | None = None


class OrderPage(BaseModel):
    items: list[Order]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class Timeline(BaseModel):
    items: list[DomainEvent]


class CancelLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=10_000, strict=True)]


class CancelRequest(BaseModel):
    """Cancel the whole order, or only ``lines``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[Line, Field(min_length=1, max_length=500)]
    lines: Annotated[list[CancelLine], Field(min_length=1, max_length=500)] | None = None

    def quantities(self) -> dict[str, int] | None:
        if self.lines is None:
            return None
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
        return totals


class ShipmentTracking(BaseModel):
    fulfillment_id: str
    warehouse_id: str | None
    status: FulfillmentStatus
    carrier: str | None
    tracking_numbers: list[str]
    tracking_url: str | None
    tracking_status: TrackingStatus | None
    tracking_status_at: Timestamp | None
    estimated_delivery: Timestamp | None
    delivered_at: Timestamp | None
    #: Every scan, oldest first: the normalised status beside the provider's raw status and substatus.
    history: list[TrackedScan]


class OrderTracking(BaseModel):
    order_id: str
    status: OrderStatus
    shipments: list[ShipmentTracking]


class OrderPatch(BaseModel):
    """What a channel may change after placement; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    shipping_address: Address | None = None
    billing_address: Address | None = None
    customer: Customer | None = None
    shipping_method: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    paid: bool | None = None


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: HoldReason
    note: Annotated[MultilineText, Field(max_length=500)] | None = None


def _bound(value: str, *, end: bool) -> str:
    """A date (whole day) or an RFC 3339 time, as the sort-key prefix it bounds."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return day.isoformat() + ("T23:59:59.999Z" if end else "T00:00:00.000Z")
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("use YYYY-MM-DD or an RFC 3339 time such as 2026-11-26T10:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 time needs a time zone (e.g. Z)")
    try:
        return format_timestamp(moment.astimezone(UTC))
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("the time is outside the range of representable dates") from None


class ListOrdersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: OrderStatus | None = None
    channel: Annotated[Line, Field(max_length=64)] | None = None
    created_from: str | None = None
    created_to: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[Line, Field(max_length=512)] | None = None
    #: Orders carrying this tag (normalised like the tag routes: ``VIP`` finds ``vip``).
    tag: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        return None if value is None else normalise_tag(value)

    @field_validator("created_from")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return None if value is None else _bound(value, end=False)

    @field_validator("created_to")
    @classmethod
    def _to(cls, value: str | None) -> str | None:
        return None if value is None else _bound(value, end=True)


def promised_dates(aggregate: OrderAggregate) -> OrderPromise:
    """The order's promised dates, as every page and route showing them computes them."""
    svc = services()
    return service_promised_dates(
        aggregate, uow_factory=svc.uow_factory, transit_times=svc.transit_times, clock=svc.clock
    )


def view_of(aggregate: OrderAggregate, *, private_notes: bool = False) -> OrderView:
    """The order as the API shows it, with its promised dates; private notes only when
    ``private_notes`` (admin keys): a store's or a warehouse's key never reads them."""
    order = aggregate.order if private_notes else without_private_notes(aggregate.order)
    promise = promised_dates(aggregate)
    fulfillments = []
    for f in aggregate.fulfillments:
        dates = promise.of(f.id)
        fulfillments.append(
            FulfillmentView(
                **f.model_dump(), **(dates.model_dump(exclude={"fulfillment_id"}) if dates else {})
            )
        )
    return OrderView(
        **order.model_dump(),
        fulfillments=fulfillments,
        promised_ship_by=promise.promised_ship_by,
        promised_ship_date=promise.promised_ship_date,
        estimated_delivery=promise.delivery_window,
    )


def _staff(call: Call) -> bool:
    """Admin keys are the operations team: they read private notes."""
    return call.who.role == Role.ADMIN


def _load_visible(call: Call, order_id: str) -> OrderAggregate:
    aggregate = services().uow_factory().get_order(order_id)
    if aggregate is None:
        raise NotFound("order", order_id)
    call.who.require_channel_access(aggregate.order.channel_id)
    return aggregate


@endpoint(
    orders_api,
    "/v1/orders",
    "POST",
    summary="Place an order",
    roles=(Role.CHANNEL,),
    access=KEYED,
    body=PlaceOrderRequest,
    response=OrderView,
    success_status=201,
    tags=("orders",),
    errors=(400, 401, 403, 409, 413, 415, 422),
)
def create_order(call: Call) -> Response:
    """Idempotent by ``Idempotency-Key`` and by ``external_id``: a retry returns the original (200)."""
    svc = services()
    key = call.header("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255):
        raise InputInvalid([FieldError(["header", "Idempotency-Key"], "must be 1 to 255 characters")])
    result = place_order(
        svc.uow_factory,
        call.body,
        channel_id=call.who.scope or "",
        idempotency_key=key,
        ids=svc.ids,
        clock=svc.clock,
    )
    view = view_of(OrderAggregate(order=result.order, fulfillments=result.fulfillments))
    return Response(
        body=view.model_dump_json(),
        status_code=201 if result.created else 200,
        headers={"Content-Type": "application/json", "Location": f"/v1/orders/{result.order.id}"},
    )


@endpoint(
    orders_api,
    "/v1/orders/{order_id}",
    "GET",
    summary="Get an order with its fulfillments and holds",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    response=OrderView,
    tags=("orders",),
    errors=(401, 403, 404),
)
def get_order(call: Call) -> OrderView:
    return view_of(_load_visible(call, call.params["order_id"]), private_notes=_staff(call))


@endpoint(
    orders_api,
    "/v1/orders",
    "GET",
    summary="List orders, newest first",
    roles=CHANNEL_OR_ADMIN,
    access=KEYED,
    query=ListOrdersQuery,
    response=OrderPage,
    tags=("orders",),
    errors=(401, 403, 422),
)
def list_orders(call: Call) -> OrderPage:
    query: ListOrdersQuery = call.query
    channel = query.channel
    if call.who.role == Role.CHANNEL:
        # A channel key lists its own channel; naming another one is refused, not silently ignored.
        if channel is not None:
            call.who.require_channel_access(channel)
        channel = call.who.scope
    try:
        orders, cursor = services().queries.list_orders(
            status=query.status.value if query.status else None,
            channel_id=channel,
            created_from=query.created_from,
            created_to=query.created_to,
            limit=query.limit,
            cursor=query.cursor,
            tag=query.tag,
        )
    except InvalidCursor:
        raise ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            "the cursor does not belong to this listing; start again without it",
        ) from None
    if not _staff(call):
        orders = [without_private_notes(order) for order in orders]
    return OrderPage(items=orders, next_cursor=cursor)


@endpoint(
    orders_api,
    "/v1/orders/{order_id}/events",
    "GET",
    summary="The order's timeline, oldest first",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    response=Timeline,
    tags=("orders",),
    errors=(401, 403, 404),
)
def order_events(call: Call) -> Timeline:
    order_id = call.params["order_id"]
    _load_visible(call, order_id)
    events = services().queries.list_events(order_id)
    if not _staff(call):
        events = [event for event in events if not is_private_note_event(event)]
    return Timeline(items=events)


@endpoint(
    orders_api,
    "/v1/orders/{order_id}/holds",
    "POST",
    summary="Put an order on hold",
    roles=(Role.ADMIN,),
    access=owned("order", "order_id"),
    body=HoldRequest,
    response=OrderView,
    tags=("holds",),
    errors=(400, 401, 403, 404, 409, 422),
)
def add_hold(call: Call) -> OrderView:
    svc = services()
    body: HoldRequest = call.body
    aggregate = place_hold(
        svc.uow_factory,
        call.params["order_id"],
        body.reason,
        body.note,
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(aggregate, private_notes=True)


@endpoint(
    orders_api,
    "/v1/orders/{order_id}/holds/{reason}",
    "DELETE",
    summary="Release a hold; releasing the last one confirms the order",
    roles=(Role.ADMIN,),
    access=owned("order", "order_id"),
    response=OrderView,
    tags=("holds",),
    errors=(401, 403, 404, 409),
)
def remove_hold(call: Call) -> OrderView:
    svc = services()
    try:
        reason = HoldReason(call.params["reason"])
    except ValueError:
        raise NotFound("hold reason", call.params["reason"]) from None
    aggregate = release_hold(
        svc.uow_factory, call.params["order_id"], reason, actor=call.who.actor, ids=svc.ids, clock=svc.clock
    )
    return view_of(aggregate, private_notes=True)


@endpoint(
    orders_api,
    "/v1/orders/{order_id}/cancel",
    "POST",
    summary="Cancel the order or some lines while nothing affected is packed",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    body=CancelRequest,
    response=OrderView,
    tags=("orders",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def cancel_order(call: Call) -> OrderView:
    svc = services()
    body: CancelRequest = call.body
    result = cancel(
        svc.uow_factory,
        call.params["order_id"],
        body.reason,
        body.quantities(),
        authorize=lambda order: call.who.require_channel_access(order.channel_id),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result, private_notes=_staff(call))


@endpoint(
    orders_api,
    "/v1/orders/{order_id}/tracking",
    "GET",
    summary="Each shipment's tracking history, normalised and raw, with the estimated delivery",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    response=OrderTracking,
    tags=("orders",),
    errors=(401, 403, 404),
)
def order_tracking(call: Call) -> OrderTracking:
    aggregate = _load_visible(call, call.params["order_id"])
    shipments = [
        ShipmentTracking(
            fulfillment_id=f.id,
            warehouse_id=f.warehouse_id,
            status=f.status,
            carrier=f.shipment.carrier if f.shipment else None,
            tracking_numbers=f.shipment.tracking_numbers if f.shipment else [],
            tracking_url=f.shipment.tracking_url if f.shipment else None,
            tracking_status=f.tracking_status,
            tracking_status_at=f.tracking_status_at,
            estimated_delivery=f.estimated_delivery,
            delivered_at=f.delivered_at,
            history=f.tracking_history,
        )
        for f in aggregate.fulfillments
        if f.shipment is not None
    ]
    return OrderTracking(order_id=aggregate.order.id, status=aggregate.order.status, shipments=shipments)


@endpoint(
    orders_api,
    "/v1/orders/{order_id}",
    "PATCH",
    summary="Change the address, customer, shipping method or payment state; hold rules run again",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    body=OrderPatch,
    response=OrderView,
    tags=("orders",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def patch_order(call: Call) -> OrderView:
    svc = services()
    body: OrderPatch = call.body
    who = call.who
    result = update_order(
        svc.uow_factory,
        call.params["order_id"],
        OrderChanges(
            shipping_address=body.shipping_address,
            billing_address=body.billing_address,
            customer=body.customer,
            shipping_method=body.shipping_method,
            paid=body.paid,
        ),
        policy=svc.hold_policy,
        authorize=lambda order: who.require_channel_access(order.channel_id),
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result, private_notes=_staff(call))
