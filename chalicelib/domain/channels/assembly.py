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
from ..placement import LineRequest, PlaceOrderRequest
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
    title: str, sku: str | None, quantity: int, unit_price: Decimal | None, known_skus: Collection[str]
) -> LineRequest | UnresolvedLine:
    reason: str | None = None
    if sku is None:
        reason = "no SKU"
    elif sku not in known_skus:
        # Exact match only: "mug" and "MUG" may well be different products in a catalogue.
        reason = f"SKU {sku!r} is not in the catalogue"
    elif not 1 <= quantity <= MAX_LINE_QUANTITY:
        reason = f"quantity {quantity} is outside 1..{MAX_LINE_QUANTITY}"
    elif unit_price is None:
        reason = "its price cannot be read (see problems)"
    else:
        try:
            return LineRequest(sku=sku, quantity=quantity, unit_price=unit_price)
        except ValidationError as exc:  # a catalogue SKU the order model refuses (e.g. a space in it)
            reason = f"SKU {sku!r}: {exc.errors()[0]['msg']}"
    return UnresolvedLine(title=title, sku=sku, quantity=quantity, unit_price=unit_price, reason=reason)


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


def channel_order(reader: OrderReader, read: StoreOrder) -> ChannelOrder:
    """The ``ChannelOrder``: the request (or the problems that prevent one) and the holds."""
    placeable, unresolved = _sort_lines(read.lines)
    notes = [_unresolved_note(line) for line in unresolved]
    if read.rule.hold and not read.cancelled:
        notes.append(read.rule.hold)
    request = _assemble(reader, read, placeable)
    return ChannelOrder(
        external_id=read.external_id,
        request=request,
        # One hold per reason: a second finding with the same reason would be a second hold to lift.
        holds=[HoldFinding(HoldReason.MANUAL, "; ".join(notes))] if notes else [],
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
    elif not lines:
        # PlaceOrderRequest needs a line; the order is still taken (see unresolved_lines) and
        # recorded for manual handling instead of being placed.
        reader.problem(("line_items",), "no line can be placed (see unresolved_lines)")
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
    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if subtotal + read.shipping_total + read.tax_total - read.discount_total < 0:
        reader.problem((read.discount_key,), "the discount is larger than the order")
        return None
    try:
        return PlaceOrderRequest(
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
