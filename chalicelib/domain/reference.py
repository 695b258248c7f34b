"""Reference data an administrator maintains: warehouses, products, boxes and API keys.

What a request may say is validated here (pure pydantic, no I/O); whether the
names it refers to exist is the use case's business (service/reference.py).

Invariants:
- every stored reference record carries a ``version`` that grows by one with
  every change; a change names the version it was decided on (``If-Match``)
  or, for a new record, that there was none, so two administrators never
  overwrite each other silently;
- a request that changes nothing writes nothing (no new version, no event),
  so re-sending it, or re-running an import, is harmless;
- an API key's raw value is never stored, logged or shown after minting:
  only its SHA-256 and a public handle (``key_<hash prefix>``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, Field, model_validator

from .auth import Role
from .errors import DomainError
from .models import (
    WORKING_WEEK,
    Address,
    Box,
    CountryCode,
    Line,
    Product,
    ShortText,
    Strict,
    Timestamp,
    Warehouse,
    Weekday,
)
from .money import Amount
from .promise import PromiseError, parse_cutoff, zone

_WAREHOUSE_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
_BOX_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
_BIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,31}$")
#: Largest side of a product or box (3 m) and heaviest product (1 t): above, the value is a typo.
MAX_MILLIMETRES = 3_000
MAX_GRAMS = 1_000_000
#: Holidays one warehouse calendar may list (a few years ahead).
MAX_HOLIDAYS = 400
#: Warehouses one product names a bin in (each bin is one item of the product's transaction).
MAX_BINS = 50


def _check_pattern(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{what} must match {pattern.pattern}")
        return value

    return AfterValidator(check)


WarehouseId = Annotated[str, _check_pattern(_WAREHOUSE_ID, "a warehouse id")]
BoxCode = Annotated[str, _check_pattern(_BOX_CODE, "a box code")]
BinLocation = Annotated[str, _check_pattern(_BIN, "a bin location")]
Millimetres = Annotated[int, Field(gt=0, le=MAX_MILLIMETRES)]
Grams = Annotated[int, Field(gt=0, le=MAX_GRAMS)]


def is_warehouse_id(value: str) -> bool:
    return bool(_WAREHOUSE_ID.match(value))


def is_box_code(value: str) -> bool:
    return bool(_BOX_CODE.match(value))


def _check_timezone(value: str) -> str:
    try:
        zone(value)
    except PromiseError as exc:
        raise ValueError(f"{exc}: use an IANA zone such as Europe/Berlin") from None
    return value


def _check_cutoff(value: str) -> str:
    if not re.fullmatch(r"\d\d:\d\d", value):
        raise ValueError("the cut-off is local time as HH:MM, e.g. 15:00")
    try:
        parse_cutoff(value)
    except PromiseError as exc:
        raise ValueError(str(exc)) from None
    return value


TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_check_timezone)]
Cutoff = Annotated[str, AfterValidator(_check_cutoff)]


class WarehouseSpec(Strict):
    """The body of ``PUT /v1/warehouses/{warehouse_id}``: the whole warehouse, as it should be."""

    name: ShortText
    address: Address | None = None
    country: CountryCode
    timezone: TimeZoneName
    priority: Annotated[int, Field(ge=0, le=1_000)]
    cutoff: Cutoff = "15:00"
    business_days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = Field(
        default_factory=lambda: list(WORKING_WEEK)
    )
    holidays: Annotated[list[date], Field(max_length=MAX_HOLIDAYS)] = Field(default_factory=list)
    active: bool = True

    @model_validator(mode="after")
    def _calendar(self) -> WarehouseSpec:
        if len(set(self.business_days)) != len(self.business_days):
            raise ValueError("business_days names a day twice")
        if len(set(self.holidays)) != len(self.holidays):
            raise ValueError("holidays lists a date twice")
        return self

    def build(self, warehouse_id: str) -> Warehouse:
        """The warehouse as stored: days in week order, holidays sorted (equal specs, equal records)."""
        return Warehouse(
            id=warehouse_id,
            name=self.name,
            priority=self.priority,
            timezone=self.timezone,
            cutoff=self.cutoff,
            country=self.country,
            address=self.address,
            business_days=sorted(self.business_days, key=lambda day: day.number),
            holidays=sorted(self.holidays),
            active=self.active,
        )


class ProductSpec(Strict):
    """The body of ``PUT /v1/products/{sku}``.

    ``bins`` (warehouse id -> bin location) is written through to the product's stock level in
    each warehouse named, where pick lists read it; a warehouse left out keeps its bin.
    """

    name: ShortText
    length_mm: Millimetres
    width_mm: Millimetres
    height_mm: Millimetres
    weight_grams: Grams
    keep_upright: bool = False
    hazmat: bool = False
    active: bool = True
    bins: Annotated[dict[WarehouseId, BinLocation], Field(max_length=MAX_BINS)] = Field(default_factory=dict)

    def build(self, sku: str) -> Product:
        return Product(
            sku=sku,
            name=self.name,
            weight_grams=self.weight_grams,
            length_mm=self.length_mm,
            width_mm=self.width_mm,
            height_mm=self.height_mm,
            keep_upright=self.keep_upright,
            hazmat=self.hazmat,
            active=self.active,
        )


class ProductRecord(Product):
    """A product as the API shows it: with its bin in each warehouse that has one."""

    bins: dict[str, str] = Field(default_factory=dict)


class BoxDefinition(Strict):
    """The body of ``PUT /v1/warehouses/{warehouse_id}/boxes/{code}``.

    Inner measures are what the goods must fit into; outer ones what carriers bill (they default
    to the inner ones). ``max_weight_grams`` is the gross limit: contents and the empty box.
    """

    inner_length_mm: Millimetres
    inner_width_mm: Millimetres
    inner_height_mm: Millimetres
    outer_length_mm: Millimetres | None = None
    outer_width_mm: Millimetres | None = None
    outer_height_mm: Millimetres | None = None
    tare_weight_grams: Annotated[int, Field(ge=0, le=MAX_GRAMS)] = 0
    max_weight_grams: Grams
    cost: Amount

    @model_validator(mode="after")
    def _consistent(self) -> BoxDefinition:
        if self.cost < 0:
            raise ValueError("a box cannot cost less than nothing")
        inner = (self.inner_length_mm, self.inner_width_mm, self.inner_height_mm)
        outer = (self.outer_length_mm, self.outer_width_mm, self.outer_height_mm)
        if any(side is not None for side in outer):
            if any(side is None for side in outer):
                raise ValueError("give all three outer dimensions or none")
            if any(o is not None and o < i for o, i in zip(outer, inner, strict=True)):
                raise ValueError("an outer dimension is smaller than the inner one")
        if self.tare_weight_grams >= self.max_weight_grams:
            raise ValueError("the empty box already reaches its weight limit")
        return self

    def build(self, code: str) -> Box:
        return Box(code=code, **self.model_dump())


class ApiKeyRequest(Strict):
    """The body of ``POST /v1/api-keys``."""

    role: Role
    #: The channel id of a channel key, the warehouse id of a warehouse key; none for admin keys.
    scope: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    label: Annotated[Line, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _scope_fits_role(self) -> ApiKeyRequest:
        if self.role == Role.ADMIN and self.scope is not None:
            raise ValueError("admin keys have no scope")
        if self.role != Role.ADMIN and self.scope is None:
            raise ValueError(f"a {self.role.value} key needs a scope (the {self.role.value} id)")
        return self


class ApiKeyRecord(Strict):
    """What the service keeps about a key and shows of it: never the key itself."""

    key_id: str
    role: Role
    scope: str | None = None
    label: str = ""
    created_at: Timestamp
    created_by: str = ""
    revoked_at: Timestamp | None = None
    #: When a request last authenticated with it, to within the API's key cache time.
    last_used_at: Timestamp | None = None


def new_raw_key(role: Role) -> str:
    """A fresh key: 256 random bits, prefixed so a leaked key says what it is."""
    return f"oms_{role.value[:2]}_{secrets.token_urlsafe(32)}"


class PreconditionFailed(DomainError):
    """The record is not at the version the change was decided on (412)."""

    def __init__(self, what: str, ident: str, *, current: int | None, expected: int | None) -> None:
        self.current = current
        self.expected = expected
        now = "does not exist" if current is None else f"is at version {current}"
        super().__init__(f"{what} {ident} {now}, not {expected}; read it again and decide on that")


class PreconditionRequired(DomainError):
    """A change to an existing record without naming the version it was decided on (428)."""

    def __init__(self, what: str, ident: str, *, current: int) -> None:
        self.current = current
        super().__init__(
            f"{what} {ident} exists (version {current}): send If-Match with the version you read"
        )


T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A stored reference record with its version (the HTTP ETag)."""

    value: T
    version: int


def check_version(what: str, ident: str, current: int | None, expected: int | None) -> None:
    """Raise unless a change decided on ``expected`` may replace ``current``.

    ``expected`` None: the caller did not say (no If-Match) - allowed for a new record only.
    ``expected`` 0: the caller wants a new record (If-None-Match: *).
    """
    if expected is None:
        if current is not None:
            raise PreconditionRequired(what, ident, current=current)
        return
    if (current or 0) != expected:
        raise PreconditionFailed(what, ident, current=current, expected=expected)
