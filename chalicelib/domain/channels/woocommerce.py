"""WooCommerce REST v3 orders mapped into the order model (docs/channels.md has the field table),
and the unsigned ping WooCommerce sends when a webhook is saved."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from decimal import Decimal

from ..models import MAX_LINE_QUANTITY, Address, Customer
from ..money import MoneyError, parse_amount
from ..placement import LineRequest
from ..untrusted_json import (
    JsonPath,
    as_object,
    digit_string,
    display_text,
    fail,
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
from .status_rules import WOOCOMMERCE_STATUS, status_rule

_WOOCOMMERCE_ADDRESS = AddressKeys("address_1", "address_2", "city", "state", "postcode", "country")
_WOOCOMMERCE_PING = re.compile(rb"\Awebhook_id=[0-9]{1,20}\Z")


def map_woocommerce_order(payload: object, *, known_skus: Collection[str]) -> ChannelOrder:
    """A WooCommerce REST v3 order, as sent with ``order.created`` and ``order.updated``."""
    with reported_as(ChannelPayloadError):
        return _map(payload, known_skus)


def _map(payload: object, known_skus: Collection[str]) -> ChannelOrder:
    body = as_object(payload, ())
    external_id = digit_string(body, "id", (), what="an order id")
    items = required_list(body, "line_items", ())
    reader = OrderReader()
    reader.read_currency(body, "currency", ())

    status = optional_text(body, "status", ()) or ""
    rule = status_rule(WOOCOMMERCE_STATUS, status, "WooCommerce", "status")
    lines = _lines(reader, items, known_skus)

    shipping_method: str | None = None
    for i, item in enumerate(optional_list(body, "shipping_lines", ())):
        where: JsonPath = ("shipping_lines", i)
        shipping_method = shipping_method or optional_text(as_object(item, where), "method_title", where)
    shipping_total = reader.amount(body, "shipping_total", (), default=Decimal(0))
    tax_total = reader.amount(body, "total_tax", (), default=Decimal(0))
    discount_total = reader.amount(body, "discount_total", (), default=Decimal(0))
    buyer, shipping_address, billing_address = _people(reader, body)

    return channel_order(
        reader,
        StoreOrder(
            external_id=external_id,
            store_status=status,
            rule=rule,
            cancelled=rule.cancelled,
            cancel_reason=rule.cancel_reason,
            lines=lines,
            customer=buyer,
            shipping_address=shipping_address,
            billing_address=billing_address,
            shipping_method=shipping_method,
            shipping_total=shipping_total,
            tax_total=tax_total,
            discount_total=discount_total,
            discount_key="discount_total",
            reference=display_text(body, "number"),
            # ``date_modified`` is the site's local time with no offset; the ``_gmt`` twin is UTC.
            updated_at=iso_time_if_readable(body, "date_modified_gmt", (), naive_is_utc=True),
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
        resolved.append(
            resolve_line(
                display_text(line, "name") or f"line {i + 1}",
                optional_text(line, "sku", where),
                quantity,
                _unit_price(reader, line, where, quantity),
                known_skus,
                store_line_id=store_line_id(line),
            )
        )
    return resolved


def _unit_price(
    reader: OrderReader, line: Mapping[str, object], where: JsonPath, quantity: int
) -> Decimal | None:
    """The pre-discount unit price: ``subtotal / quantity`` when that is exact in the currency's
    minor unit, else ``price``. ``price`` is a JSON number (a float, subtotal / quantity unrounded),
    so it is only the fallback, read through ``str()`` (the shortest text that round-trips), and
    held to the same exactness rule: 3.3333333333333335 EUR is a problem, not 3.33."""
    subtotal_value = line.get("subtotal")
    if subtotal_value is not None and not isinstance(subtotal_value, str):
        fail((*where, "subtotal"), f"must be a decimal string, not {type(subtotal_value).__name__}")
    price_value = line.get("price")
    if isinstance(price_value, bool) or not (
        price_value is None or isinstance(price_value, (int, float, str))
    ):
        fail((*where, "price"), f"must be a number, not {type(price_value).__name__}")

    context = ""
    if subtotal_value and reader.exponent is not None and 1 <= quantity <= MAX_LINE_QUANTITY:
        try:
            subtotal: Decimal | None = parse_amount(subtotal_value)
        except MoneyError:
            subtotal = None
        if subtotal is not None and subtotal >= 0:
            unit = (subtotal / quantity).quantize(Decimal(1).scaleb(-reader.exponent))
            if unit * quantity == subtotal:
                return unit
            context = (
                f"subtotal {subtotal_value} / quantity {quantity} is not exact in {reader.currency}, and "
            )

    if price_value is None:
        reader.problem((*where, "price"), f"{context}price is missing")
        return None
    if isinstance(price_value, float):
        if not math.isfinite(price_value):
            reader.problem((*where, "price"), f"{context}price is not a finite number")
            return None
        price_value = str(price_value)
    return reader.money(price_value, (*where, "price"), context=context)


def _people(
    reader: OrderReader, body: Mapping[str, object]
) -> tuple[Customer | None, Address | None, Address | None]:
    """The customer (from the billing contact, else the shipping one) and both addresses."""
    shipping_obj = optional_object(body, "shipping", ())
    billing_obj = optional_object(body, "billing", ())
    shipping_name = address_name(shipping_obj, ("shipping",), full_name_key=None)
    billing_name = address_name(billing_obj, ("billing",), full_name_key=None)
    billing_person = _person(billing_obj, ("billing",))
    shipping_person = _person(shipping_obj, ("shipping",))
    buyer = build_customer(
        reader,
        name=(billing_person or shipping_person, ("billing", "first_name")),
        email=(
            optional_text(billing_obj, "email", ("billing",)) if billing_obj is not None else None,
            ("billing", "email"),
        ),
        phones=[
            optional_text(billing_obj, "phone", ("billing",)) if billing_obj is not None else None,
            optional_text(shipping_obj, "phone", ("shipping",)) if shipping_obj is not None else None,
        ],
    )
    shipping_address = build_address(
        reader,
        shipping_obj,
        ("shipping",),
        _WOOCOMMERCE_ADDRESS,
        name=shipping_name,
        name_key="first_name",
        required=True,
    )
    billing_address = build_address(
        reader,
        billing_obj,
        ("billing",),
        _WOOCOMMERCE_ADDRESS,
        name=billing_name,
        name_key="first_name",
        required=False,
    )
    return buyer, shipping_address, billing_address


def _person(obj: Mapping[str, object] | None, path: JsonPath) -> str | None:
    """First and last name (without the company, which only belongs on an address)."""
    if obj is None:
        return None
    return joined(optional_text(obj, "first_name", path), optional_text(obj, "last_name", path))


def is_woocommerce_ping(raw_body: bytes, content_type: str | None) -> bool:
    """The unsigned ``webhook_id=N`` body WooCommerce POSTs when a webhook is saved.

    It must get a 2xx or WooCommerce counts a failure, yet it carries no signature; answering it
    is safe because nothing is stored and nothing else has this shape. A missing content type is
    accepted (the body alone cannot be an order); a JSON one is not.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ("", "application/x-www-form-urlencoded"):
        return False
    return _WOOCOMMERCE_PING.match(raw_body.strip()) is not None
