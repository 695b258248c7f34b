"""The pieces every store's order is made of: lines, addresses, the customer, and the assembly of
the ``PlaceOrderRequest`` and ``ChannelOrder`` from them. Each store's mapper reads its own field
names and hands the values over; nothing here knows which store they came from."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from ..holds import HoldFinding
from ..models import MAX_LINE_QUANTITY, MAX_LINES, Address, Customer, Phone
from ..placement import LineRequest, PlaceOrderRequest, StoreOrderRequest
from ..status import HoldReason
from ..untrusted_json import JsonPath, optional_text
from .channel_order import ChannelOrder, UnresolvedLine
from .order_reader import OrderReader
from .status_rules import StatusRule

_PHONE: TypeAdapter[str] = TypeAdapter(Phone)
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")

# --------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------


def resolve_line(
    title: str,
    sku: str | None,
    quantity: int,
    unit_price: Decimal | None,
    known_skus: Collection[str],
    *,
    store_line_id: str | None = None,
) -> LineRequest | UnresolvedLine:
    reason: str | None = None
    unknown_sku = False
    if sku is None:
        reason = "no SKU"
    elif not 1 <= quantity <= MAX_LINE_QUANTITY:
        reason = f"quantity {quantity} is outside 1..{MAX_LINE_QUANTITY}"
    elif unit_price is None:
        reason = "its price cannot be read (see problems)"
    else:
        try:
            line = LineRequest(sku=sku, quantity=quantity, unit_price=unit_price)
        except ValidationError as exc:  # a SKU the order model refuses (e.g. a space in it)
            reason = f"SKU {sku!r}: {exc.errors()[0]['msg']}"
        else:
            if sku in known_skus:
                return line
            # Exact match only: "mug" and "MUG" may well be different products in a catalogue.
            # Only this fault is resolved by creating the product (the line is otherwise sound).
            reason, unknown_sku = f"SKU {sku!r} is not in the catalogue", True
    return UnresolvedLine(
        title=title,
        sku=sku,
        quantity=quantity,
        unit_price=unit_price,
        reason=reason,
        store_line_id=store_line_id,
        unknown_sku=unknown_sku,
    )


def store_line_id(line: Mapping[str, object]) -> str | None:
    """The store's id of a line item as a string, digit for digit (Shopify ids exceed 2**53), or
    None when the store sent none usable: it only identifies the line to people and the store."""
    value = line.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text if text.isdigit() and len(text) <= 40 else None


def _sort_lines(
    resolved: list[LineRequest | UnresolvedLine],
) -> tuple[list[LineRequest], list[UnresolvedLine]]:
    placeable = [line for line in resolved if isinstance(line, LineRequest)]
    unresolved = [line for line in resolved if isinstance(line, UnresolvedLine)]
    return placeable, unresolved


def _unresolved_note(line: UnresolvedLine) -> str:
    return f"line {line.title!r} ({line.reason}), quantity {line.quantity}, was not placed"


# --------------------------------------------------------------------------------------------
# Addresses and the customer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressKeys:
    """The store's key for each ``Address`` field (``name`` is composed by the caller)."""

    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str

    def key_of(self, field: str) -> str:
        return str(getattr(self, field, field))


_ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")
_ADDRESS_REQUIRED = ("name", "line1", "city", "country")


def build_address(
    reader: OrderReader,
    obj: Mapping[str, object] | None,
    path: JsonPath,
    keys: AddressKeys,
    *,
    name: str | None,
    name_key: str,
    required: bool,
) -> Address | None:
    """The address, or None. A shipping address (``required``) that is missing or invalid is a
    problem; a billing address is optional in the order model and only feeds the fraud rule, so
    an incomplete one is left out rather than blocking the order."""
    values: dict[str, str | None] = {"name": name}
    if obj is not None:
        values.update({field: optional_text(obj, keys.key_of(field), path) for field in _ADDRESS_FIELDS})
    if not any(values.values()):
        if required:
            reader.problem(path, "is missing: the order has nowhere to ship to")
        return None
    missing = [field for field in _ADDRESS_REQUIRED if not values.get(field)]
    if missing:
        if required:
            for field in missing:
                reader.problem((*path, name_key if field == "name" else keys.key_of(field)), "is missing")
        return None
    try:
        return Address.model_validate(values)
    except ValidationError as exc:
        if required:
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else ""
                reader.problem((*path, name_key if field == "name" else keys.key_of(field)), err["msg"])
        return None


def joined(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None


def address_name(
    obj: Mapping[str, object] | None, path: JsonPath, *, full_name_key: str | None
) -> str | None:
    """The addressee: the store's full name (else first and last name) and the company.

    ``Address`` has no company field, and a parcel for a business without its company on the
    label may not be delivered, so the company goes on the name line: "Lise Meitner, Institut".
    """
    if obj is None:
        return None
    full = optional_text(obj, full_name_key, path) if full_name_key else None
    person = full or joined(optional_text(obj, "first_name", path), optional_text(obj, "last_name", path))
    company = optional_text(obj, "company", path)
    if person and company and company not in person:
        return f"{person}, {company}"
    return person or company


def _e164(raw: str | None) -> str | None:
    """The phone in E.164 if it is written as one (a leading +, separators allowed); otherwise
    None: without a country we cannot know what a local number means, and must not guess."""
    if raw is None or not raw.startswith("+"):
        return None
    candidate = "+" + _PHONE_SEPARATORS.sub("", raw[1:])
    try:
        return _PHONE.validate_python(candidate)
    except ValidationError:
        return None


def build_customer(
    reader: OrderReader,
    *,
    name: tuple[str | None, JsonPath],
    email: tuple[str | None, JsonPath],
    phones: list[str | None],
) -> Customer | None:
    name_value, name_path = name
    email_value, email_path = email
    if name_value is None:
        reader.problem(name_path, "is missing: the order has no customer name")
    if email_value is None:
        reader.problem(email_path, "is missing: the order has no customer e-mail")
    if name_value is None or email_value is None:
        return None
    phone = next((p for p in map(_e164, phones) if p is not None), None)
    try:
        return Customer(email=email_value, name=name_value, phone=phone)
    except ValidationError as exc:
        for err in exc.errors():
            reader.problem(email_path if err["loc"][:1] == ("email",) else name_path, err["msg"])
        return None


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreOrder:
    """Everything a store's mapper read from one order, in the order model's terms."""

    external_id: str
    #: The store's status word and what it means (see ``status_rules``).
    store_status: str
    rule: StatusRule
    cancelled: bool
    cancel_reason: str | None
    #: Each line sent, placeable or not, in the store's order.
    lines: list[LineRequest | UnresolvedLine]
    customer: Customer | None
    shipping_address: Address | None
    billing_address: Address | None
    shipping_method: str | None
    shipping_total: Decimal | None
    tax_total: Decimal | None
    discount_total: Decimal | None
    #: Where the store keeps the discount, for the problem when it exceeds the order.
    discount_key: str
    reference: str | None
    updated_at: datetime | None


def line_holds(unresolved: list[UnresolvedLine], status_hold: str | None) -> list[HoldFinding]:
    """The holds for a store order's unplaceable lines and its status: lines waiting for a product
    hold it as ``unresolved_lines``, anything else for a person as ``manual``. One hold per reason:
    a second finding with the same reason would be a second hold to lift."""
    awaiting = [_unresolved_note(line) for line in unresolved if line.unknown_sku]
    manual = [_unresolved_note(line) for line in unresolved if not line.unknown_sku]
    if status_hold:
        manual.append(status_hold)
    holds = []
    if awaiting:
        holds.append(HoldFinding(HoldReason.UNRESOLVED_LINES, "; ".join(awaiting)))
    if manual:
        holds.append(HoldFinding(HoldReason.MANUAL, "; ".join(manual)))
    return holds


def channel_order(reader: OrderReader, read: StoreOrder) -> ChannelOrder:
    """The ``ChannelOrder``: the request (or the problems that prevent one) and the holds."""
    placeable, unresolved = _sort_lines(read.lines)
    request = _assemble(reader, read, placeable)
    return ChannelOrder(
        external_id=read.external_id,
        request=request,
        holds=line_holds(unresolved, read.rule.hold if not read.cancelled else None),
        unresolved_lines=unresolved,
        cancelled=read.cancelled,
        cancel_reason=read.cancel_reason,
        store_status=read.store_status,
        problems=reader.problems,
        paid=read.rule.paid,
        reference=read.reference,
        updated_at=read.updated_at,
    )


def _assemble(reader: OrderReader, read: StoreOrder, lines: list[LineRequest]) -> PlaceOrderRequest | None:
    if not read.lines:
        reader.problem(("line_items",), "is empty: an order needs at least one line")
    elif len(lines) > MAX_LINES:
        reader.problem(("line_items",), f"{len(lines)} lines are more than the {MAX_LINES} an order may have")
    if (
        reader.problems
        or reader.currency is None
        or read.customer is None
        or read.shipping_address is None
        or read.shipping_total is None
        or read.tax_total is None
        or read.discount_total is None
    ):
        return None
    # The order's total counts its unresolved lines too (they are the customer's, and placed later).
    priced = [(line.unit_price, line.quantity) for line in read.lines if line.unit_price is not None]
    subtotal = sum((price * quantity for price, quantity in priced), Decimal(0))
    if subtotal + read.shipping_total + read.tax_total - read.discount_total < 0:
        reader.problem((read.discount_key,), "the discount is larger than the order")
        return None
    # No placeable line at all (every one unresolved): the order is still placed, with no line,
    # on hold, its lines kept as unresolved lines (a store order never vanishes).
    request_type = PlaceOrderRequest if lines else StoreOrderRequest
    try:
        return request_type(
            external_id=read.external_id,
            customer=read.customer,
            shipping_address=read.shipping_address,
            billing_address=read.billing_address,
            lines=lines,
            currency=reader.currency,
            shipping_method=read.shipping_method,
            paid=read.rule.paid,
            shipping_total=read.shipping_total,
            tax_total=read.tax_total,
            discount_total=read.discount_total,
        )
    except ValidationError as exc:  # a safety net: every part was checked on its own above
        for err in exc.errors():
            reader.problem(tuple(err["loc"]), err["msg"])
        return None
