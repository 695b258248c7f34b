"""Store orders (Shopify, WooCommerce) mapped into the one order model every channel shares.

A mapper takes the decoded JSON of a store's order webhook (signature already verified over the
raw bytes) and returns a ``ChannelOrder``: the ``PlaceOrderRequest`` the store's order becomes,
plus what the request cannot say (lines that cannot be placed, holds to put on at placement, the
store's cancellation, its raw status).

Three kinds of trouble, kept apart on purpose:

- not an order at all (not an object, no id, no ``line_items`` list, a mapped field of the wrong
  JSON type): ``ChannelPayloadError`` naming the field. Mappers never raise ``KeyError`` or
  ``TypeError``.
- an order line that cannot be placed (no SKU, a SKU not in the catalogue, a quantity out of
  range): an ``UnresolvedLine`` and a ``manual`` hold naming it. The line is never dropped.
- an order that cannot become a valid request (no shipping address, no e-mail, an amount with
  more decimals than its currency has, no placeable line at all): ``request`` is None and
  ``problems`` says why, so the service can record the order for manual handling rather than
  lose it. ``request is None`` exactly when ``problems`` is not empty.

Values are never invented: a phone that is not already E.164 is dropped, amounts are never
rounded, a missing address is not filled from another one. docs/channels.md has the field-by-field
tables and the reasons for each choice.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import NoReturn

from pydantic import TypeAdapter, ValidationError

from .errors import DomainError, FieldError
from .holds import HoldFinding
from .models import MAX_LINE_QUANTITY, MAX_LINES, Address, Customer, Phone
from .money import (
    CURRENCY_EXPONENTS,
    MoneyError,
    check_amount_for_currency,
    parse_amount,
)
from .placement import LineRequest, PlaceOrderRequest
from .status import HoldReason

# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Status tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StatusRule:
    paid: bool
    cancelled: bool = False
    cancel_reason: str | None = None
    #: Note of a ``manual`` hold this status calls for (someone must look before it ships).
    hold: str | None = None


#: Shopify ``financial_status``. Only money actually captured counts as paid; anything else
#: leaves ``paid`` False and the receipt rules put a ``payment_pending`` hold on the order.
SHOPIFY_FINANCIAL_STATUS: Mapping[str, _StatusRule] = MappingProxyType(
    {
        "paid": _StatusRule(paid=True),
        # Captured, then part of it given back: goods may still be owed, but the refunded items
        # are not visible in line_items' quantities, so a person decides what still ships.
        "partially_refunded": _StatusRule(
            paid=True, hold="Shopify shows a partial refund: check which lines still ship"
        ),
        "pending": _StatusRule(paid=False),
        # Authorised but not captured: not money yet (merchants who capture on fulfilment release
        # the payment_pending hold, or capture first).
        "authorized": _StatusRule(paid=False),
        "partially_paid": _StatusRule(paid=False),
        "refunded": _StatusRule(
            paid=False, hold="Shopify shows the payment refunded: confirm before shipping"
        ),
        "voided": _StatusRule(paid=False, hold="Shopify shows the payment voided: confirm before shipping"),
    }
)

#: WooCommerce order ``status`` (REST v3).
WOOCOMMERCE_STATUS: Mapping[str, _StatusRule] = MappingProxyType(
    {
        "processing": _StatusRule(paid=True),
        # The merchant marked it done; with this service shipping, that comes after our shipment
        # notice, and an order arriving already completed was still paid for.
        "completed": _StatusRule(paid=True),
        "pending": _StatusRule(paid=False),
        "on-hold": _StatusRule(paid=False),
        # A declined payment that the customer may still retry: the order waits for payment.
        "failed": _StatusRule(paid=False),
        "cancelled": _StatusRule(paid=False, cancelled=True),
        # All money returned before anything shipped means the merchant does not want it shipped;
        # after shipment the cancel is refused by the order state machine and changes nothing.
        "refunded": _StatusRule(paid=False, cancelled=True, cancel_reason="refunded in WooCommerce"),
        "trash": _StatusRule(paid=False, cancelled=True, cancel_reason="moved to the trash in WooCommerce"),
    }
)


def _status_rule(table: Mapping[str, _StatusRule], raw: str, store: str, field: str) -> _StatusRule:
    rule = table.get(raw)
    if rule is not None:
        return rule
    # A status added later (or a plugin's own) must not ship unpaid goods, nor bounce the order.
    if not raw:
        return _StatusRule(paid=False, hold=f"{store} sent no {field}")
    return _StatusRule(paid=False, hold=f"{store} {field} {raw!r} is not one this service knows")


# --------------------------------------------------------------------------------------------
# Reading untrusted JSON: wrong types raise with the path, wrong values become problems
# --------------------------------------------------------------------------------------------

_Path = tuple[str | int, ...]

_PHONE: TypeAdapter[str] = TypeAdapter(Phone)
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")
#: Ids are digits; the bound keeps ``str(int)`` away from Python's 4300-digit conversion limit.
_ID_TEXT = re.compile(r"^[0-9]{1,64}$", re.ASCII)


def _where(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def _fail(path: _Path, msg: str) -> NoReturn:
    raise ChannelPayloadError(f"{_where(path)}: {msg}", [FieldError(loc=list(path), msg=msg)])


def _object(value: object, path: _Path) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        _fail(path, "is missing" if value is None else f"must be an object, not {type(value).__name__}")
    return value


def _optional_object(obj: Mapping[str, object], key: str, path: _Path) -> Mapping[str, object] | None:
    value = obj.get(key)
    return None if value is None else _object(value, (*path, key))


def _required_list(obj: Mapping[str, object], key: str, path: _Path) -> list[object]:
    value = obj.get(key)
    if not isinstance(value, list):
        _fail((*path, key), "is missing" if value is None else f"must be a list, not {type(value).__name__}")
    return value


def _optional_list(obj: Mapping[str, object], key: str, path: _Path) -> list[object]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail((*path, key), f"must be a list, not {type(value).__name__}")
    return value


def _text(obj: Mapping[str, object], key: str, path: _Path) -> str | None:
    """A string field we map; empty means absent (both stores send "" for unset fields)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail((*path, key), f"must be a string, not {type(value).__name__}")
    return value.strip() or None


def _store_time(obj: Mapping[str, object], key: str, path: _Path, *, naive_is_utc: bool) -> datetime | None:
    """A store's timestamp in UTC; None when absent or unreadable. A time without an offset is
    UTC only where the store says so (WooCommerce's ``*_gmt`` fields), never guessed."""
    text = _text(obj, key, path)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        if not naive_is_utc:
            return None
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _label(obj: Mapping[str, object], key: str) -> str | None:
    """A field only shown to people (titles, order numbers): any type is tolerated, since a
    plugin's odd label is no reason to refuse an order."""
    value = obj.get(key)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**64:
        return str(value)
    return None


def _int(obj: Mapping[str, object], key: str, path: _Path) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(
            (*path, key), "is missing" if value is None else f"must be an integer, not {type(value).__name__}"
        )
    if value.bit_length() > 63:  # no store counts that high; and it keeps str(value) cheap
        _fail((*path, key), "is out of range")
    return value


def _identifier(obj: Mapping[str, object], key: str, path: _Path) -> str:
    """An order id as a string, exactly: an integer (Python's json keeps big ones exact) or a
    string of digits. A float is refused: above 2**53 it has already lost digits."""
    value = obj.get(key)
    where = (*path, key)
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value.bit_length() > 200:
            _fail(where, "is not an order id")
        text = str(value)
    elif value is None:
        _fail(where, "is missing")
    else:
        _fail(where, f"must be an integer or a string of digits, not {type(value).__name__}")
    if not _ID_TEXT.match(text):
        _fail(where, "must be digits")
    return text


def _joined(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None


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


class _Reader:
    """Collects the problems of one payload and knows its currency's minor unit."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.currency: str | None = None
        self.exponent: int | None = None

    def problem(self, path: _Path, msg: str) -> None:
        self.problems.append(f"{_where(path)}: {msg}")

    def read_currency(self, obj: Mapping[str, object], key: str, path: _Path) -> None:
        currency = _text(obj, key, path)
        if currency is None:
            self.problem((*path, key), "is missing")
        elif currency not in CURRENCY_EXPONENTS:
            self.problem((*path, key), f"{currency!r} is not an ISO 4217 currency")
        else:
            self.currency, self.exponent = currency, CURRENCY_EXPONENTS[currency]

    def amount(
        self, obj: Mapping[str, object], key: str, path: _Path, *, default: Decimal | None
    ) -> Decimal | None:
        """A decimal-string amount; absent means ``default`` (or, with no default, a problem)."""
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if default is None:
                self.problem((*path, key), "is missing")
            return default
        return self.money(value, (*path, key))

    def money(self, value: object, where: _Path, *, context: str = "") -> Decimal | None:
        """Exact in the order's currency or a problem: amounts are never rounded."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            _fail(where, f'must be a decimal string such as "19.99", not {type(value).__name__}')
        try:
            amount = parse_amount(value)
            if amount < 0:
                raise MoneyError("amounts cannot be negative")
            if self.currency is not None:
                amount = check_amount_for_currency(amount, self.currency)
        except MoneyError as exc:
            self.problem(where, f"{context}{exc}")
            return None
        return amount


# --------------------------------------------------------------------------------------------
# Shared pieces: lines, addresses, customer, assembly
# --------------------------------------------------------------------------------------------


def _resolve_line(
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


@dataclass(frozen=True)
class _AddressKeys:
    """The store's key for each ``Address`` field (``name`` is composed by the caller)."""

    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str

    def key_of(self, field: str) -> str:
        return str(getattr(self, field, field))


_SHOPIFY_ADDRESS = _AddressKeys("address1", "address2", "city", "province_code", "zip", "country_code")
_WOOCOMMERCE_ADDRESS = _AddressKeys("address_1", "address_2", "city", "state", "postcode", "country")
_ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")
_ADDRESS_REQUIRED = ("name", "line1", "city", "country")


def _address(
    reader: _Reader,
    obj: Mapping[str, object] | None,
    path: _Path,
    keys: _AddressKeys,
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
        values.update({field: _text(obj, keys.key_of(field), path) for field in _ADDRESS_FIELDS})
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


def _address_name(obj: Mapping[str, object] | None, path: _Path, *, full_name_key: str | None) -> str | None:
    """The addressee: the store's full name (else first and last name) and the company.

    ``Address`` has no company field, and a parcel for a business without its company on the
    label may not be delivered, so the company goes on the name line: "Lise Meitner, Institut".
    """
    if obj is None:
        return None
    full = _text(obj, full_name_key, path) if full_name_key else None
    person = full or _joined(_text(obj, "first_name", path), _text(obj, "last_name", path))
    company = _text(obj, "company", path)
    if person and company and company not in person:
        return f"{person}, {company}"
    return person or company


def _customer(
    reader: _Reader,
    *,
    name: tuple[str | None, _Path],
    email: tuple[str | None, _Path],
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


@dataclass(frozen=True)
class _Parts:
    external_id: str
    customer: Customer | None
    shipping_address: Address | None
    billing_address: Address | None
    lines: list[LineRequest]
    line_count: int
    shipping_method: str | None
    paid: bool
    shipping_total: Decimal | None
    tax_total: Decimal | None
    discount_total: Decimal | None
    #: Where the store keeps the discount, for the problem when it exceeds the order.
    discount_key: str


def _assemble(reader: _Reader, parts: _Parts) -> PlaceOrderRequest | None:
    if parts.line_count == 0:
        reader.problem(("line_items",), "is empty: an order needs at least one line")
    elif not parts.lines:
        # PlaceOrderRequest needs a line; the order is still taken (see unresolved_lines) and
        # recorded for manual handling instead of being placed.
        reader.problem(("line_items",), "no line can be placed (see unresolved_lines)")
    elif len(parts.lines) > MAX_LINES:
        reader.problem(
            ("line_items",), f"{len(parts.lines)} lines are more than the {MAX_LINES} an order may have"
        )
    if (
        reader.problems
        or reader.currency is None
        or parts.customer is None
        or parts.shipping_address is None
        or parts.shipping_total is None
        or parts.tax_total is None
        or parts.discount_total is None
    ):
        return None
    subtotal = sum((line.unit_price * line.quantity for line in parts.lines), Decimal(0))
    if subtotal + parts.shipping_total + parts.tax_total - parts.discount_total < 0:
        reader.problem((parts.discount_key,), "the discount is larger than the order")
        return None
    try:
        return PlaceOrderRequest(
            external_id=parts.external_id,
            customer=parts.customer,
            shipping_address=parts.shipping_address,
            billing_address=parts.billing_address,
            lines=parts.lines,
            currency=reader.currency,
            shipping_method=parts.shipping_method,
            paid=parts.paid,
            shipping_total=parts.shipping_total,
            tax_total=parts.tax_total,
            discount_total=parts.discount_total,
        )
    except ValidationError as exc:  # a safety net: every part was checked on its own above
        for err in exc.errors():
            reader.problem(tuple(err["loc"]), err["msg"])
        return None


def _manual_holds(notes: list[str]) -> list[HoldFinding]:
    # One hold per reason: a second finding with the same reason would be a second hold to lift.
    return [HoldFinding(HoldReason.MANUAL, "; ".join(notes))] if notes else []


# --------------------------------------------------------------------------------------------
# Shopify
# --------------------------------------------------------------------------------------------


def map_shopify_order(payload: object, *, known_skus: Collection[str]) -> ChannelOrder:
    """A Shopify REST order, as sent with ``orders/create``, ``orders/updated`` and
    ``orders/cancelled``."""
    body = _object(payload, ())
    external_id = _identifier(body, "id", ())
    items = _required_list(body, "line_items", ())
    reader = _Reader()
    reader.read_currency(body, "currency", ())

    financial_status = _text(body, "financial_status", ()) or ""
    rule = _status_rule(SHOPIFY_FINANCIAL_STATUS, financial_status, "Shopify", "financial_status")
    cancelled = _text(body, "cancelled_at", ()) is not None
    cancel_reason = _text(body, "cancel_reason", ()) if cancelled else None

    resolved: list[LineRequest | UnresolvedLine] = []
    for i, item in enumerate(items):
        where: _Path = ("line_items", i)
        line = _object(item, where)
        resolved.append(
            _resolve_line(
                _label(line, "title") or _label(line, "name") or f"line {i + 1}",
                _text(line, "sku", where),
                _int(line, "quantity", where),
                reader.amount(line, "price", where, default=None),
                known_skus,
            )
        )
    lines, unresolved = _sort_lines(resolved)

    shipping_method: str | None = None
    shipping_total: Decimal | None = Decimal(0)
    for i, item in enumerate(_optional_list(body, "shipping_lines", ())):
        where = ("shipping_lines", i)
        shipping_line = _object(item, where)
        shipping_method = shipping_method or _text(shipping_line, "title", where)
        price = reader.amount(shipping_line, "price", where, default=None)
        shipping_total = None if price is None or shipping_total is None else shipping_total + price

    tax_total = reader.amount(body, "total_tax", (), default=Decimal(0))
    if body.get("taxes_included") is True and tax_total is not None:
        # Prices already contain the tax; the order model adds tax on top of the lines, so the
        # included tax would be counted twice. (Zero in the amount's own exponent: "0.00".)
        tax_total = Decimal(0).quantize(tax_total)
    discount_total = reader.amount(body, "total_discounts", (), default=Decimal(0))

    customer_obj = _optional_object(body, "customer", ())
    shipping_obj = _optional_object(body, "shipping_address", ())
    billing_obj = _optional_object(body, "billing_address", ())
    customer_name = (
        _joined(
            _text(customer_obj, "first_name", ("customer",)),
            _text(customer_obj, "last_name", ("customer",)),
        )
        if customer_obj is not None
        else None
    )
    shipping_name = _address_name(shipping_obj, ("shipping_address",), full_name_key="name")
    billing_name = _address_name(billing_obj, ("billing_address",), full_name_key="name")
    email = _text(body, "email", ()) or _text(body, "contact_email", ())
    email_path: _Path = ("email",)
    customer_email = _text(customer_obj, "email", ("customer",)) if customer_obj is not None else None
    if email is None and customer_email is not None:
        # Problems name the field the value came from; a missing e-mail is named "email".
        email, email_path = customer_email, ("customer", "email")
    customer = _customer(
        reader,
        name=(customer_name or shipping_name or billing_name, ("customer", "first_name")),
        email=(email, email_path),
        phones=[
            _text(customer_obj, "phone", ("customer",)) if customer_obj is not None else None,
            _text(body, "phone", ()),
            _text(billing_obj, "phone", ("billing_address",)) if billing_obj is not None else None,
            _text(shipping_obj, "phone", ("shipping_address",)) if shipping_obj is not None else None,
        ],
    )
    shipping_address = _address(
        reader,
        shipping_obj,
        ("shipping_address",),
        _SHOPIFY_ADDRESS,
        name=shipping_name,
        name_key="name",
        required=True,
    )
    billing_address = _address(
        reader,
        billing_obj,
        ("billing_address",),
        _SHOPIFY_ADDRESS,
        name=billing_name,
        name_key="name",
        required=False,
    )

    notes = [_unresolved_note(line) for line in unresolved]
    if rule.hold and not cancelled:
        notes.append(rule.hold)
    request = _assemble(
        reader,
        _Parts(
            external_id=external_id,
            customer=customer,
            shipping_address=shipping_address,
            billing_address=billing_address,
            lines=lines,
            line_count=len(items),
            shipping_method=shipping_method,
            paid=rule.paid,
            shipping_total=shipping_total,
            tax_total=tax_total,
            discount_total=discount_total,
            discount_key="total_discounts",
        ),
    )
    return ChannelOrder(
        external_id=external_id,
        request=request,
        holds=_manual_holds(notes),
        unresolved_lines=unresolved,
        cancelled=cancelled,
        cancel_reason=cancel_reason,
        store_status=financial_status,
        problems=reader.problems,
        paid=rule.paid,
        reference=_label(body, "name"),
        updated_at=_store_time(body, "updated_at", (), naive_is_utc=False),
    )


# --------------------------------------------------------------------------------------------
# WooCommerce
# --------------------------------------------------------------------------------------------


def _woocommerce_unit_price(
    reader: _Reader, line: Mapping[str, object], where: _Path, quantity: int
) -> Decimal | None:
    """The pre-discount unit price: ``subtotal / quantity`` when that is exact in the currency's
    minor unit, else ``price``. ``price`` is a JSON number (a float, subtotal / quantity unrounded),
    so it is only the fallback, read through ``str()`` (the shortest text that round-trips), and
    held to the same exactness rule: 3.3333333333333335 EUR is a problem, not 3.33."""
    subtotal_value = line.get("subtotal")
    if subtotal_value is not None and not isinstance(subtotal_value, str):
        _fail((*where, "subtotal"), f"must be a decimal string, not {type(subtotal_value).__name__}")
    price_value = line.get("price")
    if isinstance(price_value, bool) or not (
        price_value is None or isinstance(price_value, (int, float, str))
    ):
        _fail((*where, "price"), f"must be a number, not {type(price_value).__name__}")

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


def map_woocommerce_order(payload: object, *, known_skus: Collection[str]) -> ChannelOrder:
    """A WooCommerce REST v3 order, as sent with ``order.created`` and ``order.updated``."""
    body = _object(payload, ())
    external_id = _identifier(body, "id", ())
    items = _required_list(body, "line_items", ())
    reader = _Reader()
    reader.read_currency(body, "currency", ())

    status = _text(body, "status", ()) or ""
    rule = _status_rule(WOOCOMMERCE_STATUS, status, "WooCommerce", "status")

    resolved: list[LineRequest | UnresolvedLine] = []
    for i, item in enumerate(items):
        where: _Path = ("line_items", i)
        line = _object(item, where)
        quantity = _int(line, "quantity", where)
        resolved.append(
            _resolve_line(
                _label(line, "name") or f"line {i + 1}",
                _text(line, "sku", where),
                quantity,
                _woocommerce_unit_price(reader, line, where, quantity),
                known_skus,
            )
        )
    lines, unresolved = _sort_lines(resolved)

    shipping_method: str | None = None
    for i, item in enumerate(_optional_list(body, "shipping_lines", ())):
        where = ("shipping_lines", i)
        shipping_method = shipping_method or _text(_object(item, where), "method_title", where)
    shipping_total = reader.amount(body, "shipping_total", (), default=Decimal(0))
    tax_total = reader.amount(body, "total_tax", (), default=Decimal(0))
    discount_total = reader.amount(body, "discount_total", (), default=Decimal(0))

    shipping_obj = _optional_object(body, "shipping", ())
    billing_obj = _optional_object(body, "billing", ())
    shipping_name = _address_name(shipping_obj, ("shipping",), full_name_key=None)
    billing_name = _address_name(billing_obj, ("billing",), full_name_key=None)
    billing_person = (
        _joined(_text(billing_obj, "first_name", ("billing",)), _text(billing_obj, "last_name", ("billing",)))
        if billing_obj is not None
        else None
    )
    shipping_person = (
        _joined(
            _text(shipping_obj, "first_name", ("shipping",)), _text(shipping_obj, "last_name", ("shipping",))
        )
        if shipping_obj is not None
        else None
    )
    customer = _customer(
        reader,
        name=(billing_person or shipping_person, ("billing", "first_name")),
        email=(
            _text(billing_obj, "email", ("billing",)) if billing_obj is not None else None,
            ("billing", "email"),
        ),
        phones=[
            _text(billing_obj, "phone", ("billing",)) if billing_obj is not None else None,
            _text(shipping_obj, "phone", ("shipping",)) if shipping_obj is not None else None,
        ],
    )
    shipping_address = _address(
        reader,
        shipping_obj,
        ("shipping",),
        _WOOCOMMERCE_ADDRESS,
        name=shipping_name,
        name_key="first_name",
        required=True,
    )
    billing_address = _address(
        reader,
        billing_obj,
        ("billing",),
        _WOOCOMMERCE_ADDRESS,
        name=billing_name,
        name_key="first_name",
        required=False,
    )

    notes = [_unresolved_note(line) for line in unresolved]
    if rule.hold and not rule.cancelled:
        notes.append(rule.hold)
    request = _assemble(
        reader,
        _Parts(
            external_id=external_id,
            customer=customer,
            shipping_address=shipping_address,
            billing_address=billing_address,
            lines=lines,
            line_count=len(items),
            shipping_method=shipping_method,
            paid=rule.paid,
            shipping_total=shipping_total,
            tax_total=tax_total,
            discount_total=discount_total,
            discount_key="discount_total",
        ),
    )
    return ChannelOrder(
        external_id=external_id,
        request=request,
        holds=_manual_holds(notes),
        unresolved_lines=unresolved,
        cancelled=rule.cancelled,
        cancel_reason=rule.cancel_reason,
        store_status=status,
        problems=reader.problems,
        paid=rule.paid,
        reference=_label(body, "number"),
        # ``date_modified`` is the site's local time with no offset; the ``_gmt`` twin is UTC.
        updated_at=_store_time(body, "date_modified_gmt", (), naive_is_utc=True),
    )


_WOOCOMMERCE_PING = re.compile(rb"\Awebhook_id=[0-9]{1,20}\Z")


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


# --------------------------------------------------------------------------------------------
# Fingerprint
# --------------------------------------------------------------------------------------------


def _amount_text(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return "0" if amount.is_zero() else format(amount.normalize(), "f")


def order_fingerprint(order: ChannelOrder) -> str:
    """A hash of everything the service acts on: the request (customer, addresses, lines, paid,
    totals), unplaceable lines, holds, cancellation and problems.

    Not in it: the store's raw status and order number. Stores re-send an order for changes the
    service does not act on (a tag, a note, our own fulfilment being recorded, WooCommerce
    ``processing`` becoming ``completed``), and those must be recognised as the same order.
    """
    material = {
        "external_id": order.external_id,
        "request": None if order.request is None else order.request.request_hash(),
        "unresolved": [
            [line.title, line.sku, line.quantity, _amount_text(line.unit_price), line.reason]
            for line in order.unresolved_lines
        ],
        "holds": [[hold.reason.value, hold.note] for hold in order.holds],
        "paid": order.paid,
        "cancelled": order.cancelled,
        "cancel_reason": order.cancel_reason,
        "problems": order.problems,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
