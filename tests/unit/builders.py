"""Test data: a small catalogue, placement requests as a channel sends them, orders as stored."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.event_payloads import payload_model
from chalicelib.domain.models import (
    Address,
    Channel,
    Customer,
    Fulfillment,
    FulfillmentLine,
    NotifyPreferences,
    Order,
    OrderLine,
    OrderTotals,
    Product,
    Warehouse,
)
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from chalicelib.domain.tracking import Provider, TrackingScan, TrackingUpdate
from tests.unit.fakes import START, FakeStore
from tools.events import example_data

WEB = "ch_web"  # backorders what it cannot ship
STRICT = "ch_strict"  # rejects what it cannot ship
EAST = "wh_east"  # priority 1
WEST = "wh_west"  # priority 2


def seed_catalogue(store: FakeStore, skus: list[str] | tuple[str, ...] = ("MUG-1", "TEE-M", "CAP-1")) -> None:
    """Two channels, two warehouses, the given products; no stock (tests set it)."""
    store.add_channel(Channel(id=WEB, name="Web shop", kind="api", backorder_policy="backorder"))
    store.add_channel(Channel(id=STRICT, name="Marketplace", kind="api", backorder_policy="reject"))
    store.add_warehouse(
        Warehouse(id=EAST, name="East", priority=1, timezone="America/New_York", country="US")
    )
    store.add_warehouse(
        Warehouse(id=WEST, name="West", priority=2, timezone="America/Los_Angeles", country="US")
    )
    for sku in skus:
        store.add_product(
            Product(sku=sku, name=sku, weight_grams=300, length_mm=100, width_mm=100, height_mm=100)
        )


ADDRESS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


def request_body(**overrides: Any) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders``; ``lines`` defaults to two MUG-1 at 12.50."""
    body: dict[str, Any] = {
        "external_id": "EXT-1",
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "shipping_address": deepcopy(ADDRESS),
        "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price": "12.50"}],
        "currency": "USD",
    }
    body.update(overrides)
    return body


def order_request(**overrides: Any) -> PlaceOrderRequest:
    return PlaceOrderRequest.model_validate(request_body(**overrides))


def lines(*items: tuple[str, int], price: str = "10.00") -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": qty, "unit_price": price} for sku, qty in items]


def make_order(
    *,
    total: str = "50.00",
    currency: str = "USD",
    paid: bool = True,
    shipping: dict[str, Any] | None = None,
    billing: dict[str, Any] | None = None,
    status: OrderStatus = OrderStatus.PLACED,
    created_at: datetime = START,
    **overrides: Any,
) -> Order:
    """An order as the repository holds it, with one line worth ``total``."""
    amount = Decimal(total)
    fields: dict[str, Any] = {
        "id": "ord_0001",
        "channel_id": WEB,
        "external_id": "EXT-1",
        "status": status,
        "version": 1,
        "currency": currency,
        "customer": Customer(email="ada@example.com", name="Ada Lovelace"),
        "shipping_address": Address.model_validate(shipping if shipping is not None else ADDRESS),
        "billing_address": Address.model_validate(billing) if billing is not None else None,
        "paid": paid,
        "notify": NotifyPreferences(),
        "lines": [OrderLine(sku="MUG-1", quantity=1, unit_price=amount, line_total=amount)],
        "totals": OrderTotals(
            subtotal=amount, shipping=Decimal(0), tax=Decimal(0), discount=Decimal(0), total=amount
        ),
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(overrides)
    return Order(**fields)


#: Carrier scans happen the day after the fakes' START: ``scan(S.IN_TRANSIT, 5)`` is 08:05 that day.
SCANS_FROM = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def scan(
    status: TrackingStatus, minute: int, *, message: str | None = None, location: str | None = None
) -> TrackingScan:
    """A scan ``minute`` minutes after ``SCANS_FROM``, its raw status our own status word."""
    return TrackingScan(
        status=status,
        raw_status=status.value,
        occurred_at=SCANS_FROM + timedelta(minutes=minute),
        message=message,
        location=location,
    )


def tracking_update(
    number: str,
    *scans: TrackingScan,
    event_id: str,
    provider: Provider = "easypost",
    carrier: str = "usps",
    estimated_delivery: datetime | None = None,
    public_url: str | None = None,
) -> TrackingUpdate:
    """What one webhook says: ``scans`` as its history, the latest of them its current status."""
    latest = max(scans, key=lambda s: s.occurred_at)
    return TrackingUpdate(
        provider=provider,
        provider_event_id=event_id,
        carrier=carrier,
        tracking_number=number,
        status=latest.status,
        raw_status=latest.raw_status,
        raw_substatus=latest.raw_substatus,
        occurred_at=latest.occurred_at,
        estimated_delivery=estimated_delivery,
        public_url=public_url,
        scans=sorted(scans, key=lambda s: s.occurred_at),
    )


def milestones(
    *,
    first_confirmation: bool = False,
    order_fully_shipped: bool = False,
    order_fully_delivered: bool = False,
) -> dict[str, bool]:
    """The KPI milestone flags every order change puts in its own event's data (never in its
    follow-up events): ``{**milestones(), ...}`` for a change that reaches none of them."""
    return {
        "first_confirmation": first_confirmation,
        "order_fully_shipped": order_fully_shipped,
        "order_fully_delivered": order_fully_delivered,
    }


def priced_order(
    *items: tuple[str, int, str],
    currency: str = "USD",
    discount: str = "0",
    tax: str = "0",
    shipping: str = "0",
    **overrides: Any,
) -> Order:
    """An order of ``items`` (sku, quantity, unit price) whose totals add up the way placement adds
    them: subtotal - discount + tax + shipping."""
    order_lines = [
        OrderLine(sku=sku, quantity=qty, unit_price=Decimal(price), line_total=Decimal(price) * qty)
        for sku, qty, price in items
    ]
    subtotal = sum((line.line_total for line in order_lines), Decimal(0))
    totals = OrderTotals(
        subtotal=subtotal,
        shipping=Decimal(shipping),
        tax=Decimal(tax),
        discount=Decimal(discount),
        total=subtotal - Decimal(discount) + Decimal(tax) + Decimal(shipping),
    )
    return make_order(currency=currency, lines=order_lines, totals=totals, **overrides)


def fulfillment(
    *items: tuple[str, int],
    status: FulfillmentStatus = FulfillmentStatus.DELIVERED,
    delivered_at: datetime | None = None,
    fulfillment_id: str = "ful_0001",
    order_id: str = "ord_0001",
    warehouse_id: str | None = EAST,
) -> Fulfillment:
    """A fulfillment of ``items`` (sku, quantity) as stored, in ``status``."""
    return Fulfillment(
        id=fulfillment_id,
        order_id=order_id,
        channel_id=WEB,
        warehouse_id=warehouse_id,
        status=status,
        version=1,
        lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in items],
        created_at=START,
        updated_at=delivered_at or START,
        delivered_at=delivered_at,
    )


#: A field given as MISSING is left out of an event's data (to show what a consumer does with an
#: event that lacks it).
MISSING: Any = object()
_MILESTONE_FLAGS = ("first_confirmation", "order_fully_shipped", "order_fully_delivered")


def event_data(kind: str, **data: Any) -> dict[str, Any]:
    """A complete payload of ``kind`` (the event catalogue's example, without the milestone flags,
    which only an order change sets), with ``data`` over it; a field given as MISSING is left out."""
    example = {k: v for k, v in example_data(payload_model(kind)).items() if k not in _MILESTONE_FLAGS}
    return {k: v for k, v in {**example, **data}.items() if v is not MISSING}
