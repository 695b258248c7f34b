"""Shopify REST orders mapped into the order model (docs/channels.md has the field table)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal

from ..models import Address, Customer
from ..placement import LineRequest
from ..untrusted_json import (
    JsonPath,
    as_object,
    digit_string,
    display_text,
    iso_time_if_readable,
    optional_list,
    optional_object,
    optional_text,
    reported_as,
    required_int,
    required_list,
)
from .assembly import (
    AddressKeys,
    StoreOrder,
    address_name,
    build_address,
    build_customer,
    channel_order,
    joined,
    resolve_line,
    store_line_id,
)
from .channel_order import ChannelOrder, ChannelPayloadError, UnresolvedLine
from .order_reader import OrderReader
from .status_rules import SHOPIFY_FINANCIAL_STATUS, status_rule

_SHOPIFY_ADDRESS = AddressKeys("address1", "address2", "city", "province_code", "zip", "country_code")


def map_shopify_order(payload: object, *, known_skus: Collection[str]) -> ChannelOrder:
    """A Shopify REST order, as sent with ``orders/create``, ``orders/updated`` and
    ``orders/cancelled``."""
    with reported_as(ChannelPayloadError):
        return _map(payload, known_skus)


def _map(payload: object, known_skus: Collection[str]) -> ChannelOrder:
    body = as_object(payload, ())
    external_id = digit_string(body, "id", (), what="an order id")
    items = required_list(body, "line_items", ())
    reader = OrderReader()
    reader.read_currency(body, "currency", ())

    financial_status = optional_text(body, "financial_status", ()) or ""
    rule = status_rule(SHOPIFY_FINANCIAL_STATUS, financial_status, "Shopify", "financial_status")
    cancelled = optional_text(body, "cancelled_at", ()) is not None
    cancel_reason = optional_text(body, "cancel_reason", ()) if cancelled else None

    lines = _lines(reader, items, known_skus)
    shipping_method, shipping_total = _shipping(reader, body)
    tax_total = reader.amount(body, "total_tax", (), default=Decimal(0))
    if body.get("taxes_included") is True and tax_total is not None:
        # Prices already contain the tax; the order model adds tax on top of the lines, so the
        # included tax would be counted twice. (Zero in the amount's own exponent: "0.00".)
        tax_total = Decimal(0).quantize(tax_total)
    discount_total = reader.amount(body, "total_discounts", (), default=Decimal(0))
    buyer, shipping_address, billing_address = _people(reader, body)

    return channel_order(
        reader,
        StoreOrder(
            external_id=external_id,
            store_status=financial_status,
            rule=rule,
            cancelled=cancelled,
            cancel_reason=cancel_reason,
            lines=lines,
            customer=buyer,
            shipping_address=shipping_address,
            billing_address=billing_address,
            shipping_method=shipping_method,
            shipping_total=shipping_total,
            tax_total=tax_total,
            discount_total=discount_total,
            discount_key="total_discounts",
            reference=display_text(body, "name"),
            updated_at=iso_time_if_readable(body, "updated_at", (), naive_is_utc=False),
        ),
    )


def _lines(
    reader: OrderReader, items: list[object], known_skus: Collection[str]
) -> list[LineRequest | UnresolvedLine]:
    resolved: list[LineRequest | UnresolvedLine] = []
    for i, item in enumerate(items):
        where: JsonPath = ("line_items", i)
        line = as_object(item, where)
        quantity = required_int(line, "quantity", where)
        # After an order edit Shopify keeps ``quantity`` as first ordered and says what is left in
        # ``current_quantity`` (0 for a line the edit removed): the order is what is left.
        if "current_quantity" in line:
            quantity = required_int(line, "current_quantity", where)
            if quantity == 0:
                continue
        resolved.append(
            resolve_line(
                display_text(line, "title") or display_text(line, "name") or f"line {i + 1}",
                optional_text(line, "sku", where),
                quantity,
                reader.amount(line, "price", where, default=None),
                known_skus,
                store_line_id=store_line_id(line),
            )
        )
    return resolved


def _shipping(reader: OrderReader, body: Mapping[str, object]) -> tuple[str | None, Decimal | None]:
    """The first shipping line's title, and the sum of every shipping line's price."""
    shipping_method: str | None = None
    shipping_total: Decimal | None = Decimal(0)
    for i, item in enumerate(optional_list(body, "shipping_lines", ())):
        where: JsonPath = ("shipping_lines", i)
        shipping_line = as_object(item, where)
        shipping_method = shipping_method or optional_text(shipping_line, "title", where)
        price = reader.amount(shipping_line, "price", where, default=None)
        shipping_total = None if price is None or shipping_total is None else shipping_total + price
    return shipping_method, shipping_total


def _people(
    reader: OrderReader, body: Mapping[str, object]
) -> tuple[Customer | None, Address | None, Address | None]:
    """The customer, the shipping address and the billing address."""
    customer_obj = optional_object(body, "customer", ())
    shipping_obj = optional_object(body, "shipping_address", ())
    billing_obj = optional_object(body, "billing_address", ())
    customer_name = (
        joined(
            optional_text(customer_obj, "first_name", ("customer",)),
            optional_text(customer_obj, "last_name", ("customer",)),
        )
        if customer_obj is not None
        else None
    )
    shipping_name = address_name(shipping_obj, ("shipping_address",), full_name_key="name")
    billing_name = address_name(billing_obj, ("billing_address",), full_name_key="name")
    buyer = _customer(
        reader,
        body,
        customer_obj,
        shipping_obj,
        billing_obj,
        name=customer_name or shipping_name or billing_name,
    )
    shipping_address = build_address(
        reader,
        shipping_obj,
        ("shipping_address",),
        _SHOPIFY_ADDRESS,
        name=shipping_name,
        name_key="name",
        required=True,
    )
    billing_address = build_address(
        reader,
        billing_obj,
        ("billing_address",),
        _SHOPIFY_ADDRESS,
        name=billing_name,
        name_key="name",
        required=False,
    )
    return buyer, shipping_address, billing_address


def _customer(
    reader: OrderReader,
    body: Mapping[str, object],
    customer_obj: Mapping[str, object] | None,
    shipping_obj: Mapping[str, object] | None,
    billing_obj: Mapping[str, object] | None,
    *,
    name: str | None,
) -> Customer | None:
    email = optional_text(body, "email", ()) or optional_text(body, "contact_email", ())
    email_path: JsonPath = ("email",)
    customer_email = optional_text(customer_obj, "email", ("customer",)) if customer_obj is not None else None
    if email is None and customer_email is not None:
        # Problems name the field the value came from; a missing e-mail is named "email".
        email, email_path = customer_email, ("customer", "email")
    return build_customer(
        reader,
        name=(name, ("customer", "first_name")),
        email=(email, email_path),
        phones=[
            optional_text(customer_obj, "phone", ("customer",)) if customer_obj is not None else None,
            optional_text(body, "phone", ()),
            optional_text(billing_obj, "phone", ("billing_address",)) if billing_obj is not None else None,
            optional_text(shipping_obj, "phone", ("shipping_address",)) if shipping_obj is not None else None,
        ],
    )
