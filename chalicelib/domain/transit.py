"""The transit table: how many business days each carrier service takes, and which of the
store's shipping methods it serves (reference data, ``PUT /v1/transit-times/{carrier}/{service}``).

A row is keyed by carrier and service, both lowercase slugs; ``*`` as the service makes the row
the carrier's default, and the row ``*`` / ``*`` the default of every carrier. ``min_days`` and
``max_days`` count business days (Monday to Friday) after the ship day. ``shipping_methods``
names the order ``shipping_method`` values the row serves (compared case-insensitively, blanks
collapsed): before a parcel ships its carrier is not known, so the order's shipping method
chooses the row; once shipped, the shipment's carrier and service do.

Which row applies, most specific first:
- shipped: ``carrier/service``, then ``carrier/*``; then as before shipping;
- before shipping: the row naming the order's shipping method; then ``*/*``;
- no ``*/*`` row stored: ``BUILT_IN_DEFAULT`` (1 to 5 business days).

Invariants: ``0 <= min_days <= max_days <= MAX_TRANSIT_DAYS``; a shipping method is named by
one row at most (the use case refuses a second: which row applies is never ambiguous).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from .models import Line, Strict

#: The key part that makes a row a default (``ups/*``, ``*/*``).
ANY = "*"
#: More than six weeks in transit is a typo, not a service.
MAX_TRANSIT_DAYS = 40
#: Shipping methods one row may serve, and rows the table may hold (one partition, read whole).
MAX_SHIPPING_METHODS = 50
MAX_TRANSIT_ROWS = 500

_CARRIER = re.compile(r"^(?:\*|[a-z0-9][a-z0-9_\-]{0,39})$")
_SERVICE = re.compile(r"^(?:\*|[a-z0-9][a-z0-9._\-]{0,59})$")


def normalise_method(name: str) -> str:
    """A shipping method as rows are matched on it: trimmed, blanks collapsed, lowercase."""
    return " ".join(name.split()).casefold()


def service_key(name: str) -> str:
    """A shipment's service as the table keys it: lowercase, blanks as ``_`` ("Priority Mail"
    is ``priority_mail``)."""
    return "_".join(name.split()).lower()


def is_carrier_key(value: str) -> bool:
    return bool(_CARRIER.match(value))


def is_service_key(value: str) -> bool:
    return bool(_SERVICE.match(value))


def _check_methods(methods: list[str]) -> list[str]:
    seen: set[str] = set()
    for method in methods:
        key = normalise_method(method)
        if not key:
            raise ValueError("a shipping method cannot be blank")
        if key in seen:
            raise ValueError(f"shipping method {method!r} is named twice")
        seen.add(key)
    return methods


TransitDays = Annotated[int, Field(ge=0, le=MAX_TRANSIT_DAYS)]
ShippingMethods = Annotated[
    list[Annotated[Line, Field(min_length=1, max_length=200)]],
    Field(max_length=MAX_SHIPPING_METHODS),
    AfterValidator(_check_methods),
]


class TransitTimeSpec(Strict):
    """The body of ``PUT /v1/transit-times/{carrier}/{service}``: the whole row, as it should be."""

    #: Business days (Monday to Friday) after the ship day: the earliest and the latest arrival.
    min_days: TransitDays
    max_days: TransitDays
    #: The order ``shipping_method`` values this service delivers (before the parcel ships).
    shipping_methods: ShippingMethods = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> TransitTimeSpec:
        if self.min_days > self.max_days:
            raise ValueError("min_days is more than max_days")
        return self

    def build(self, carrier: str, service: str) -> TransitTime:
        """The row as stored: methods sorted (equal specs, equal records)."""
        return TransitTime(
            carrier=carrier,
            service=service,
            min_days=self.min_days,
            max_days=self.max_days,
            shipping_methods=sorted(self.shipping_methods, key=normalise_method),
        )


class TransitTime(Strict):
    """One row of the transit table."""

    carrier: str
    service: str
    min_days: int
    max_days: int
    shipping_methods: list[str] = Field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.carrier, self.service)


#: The default when the table has no ``*/*`` row: typical ground parcel services.
BUILT_IN_DEFAULT = TransitTime(carrier=ANY, service=ANY, min_days=1, max_days=5)


@dataclass(frozen=True)
class TransitTable:
    """The whole table, as read (small: every row fits in one partition)."""

    rows: tuple[TransitTime, ...] = ()

    @classmethod
    def of(cls, rows: Iterable[TransitTime]) -> TransitTable:
        return cls(tuple(sorted(rows, key=lambda r: r.key)))

    def _by_key(self) -> dict[tuple[str, str], TransitTime]:
        return {row.key: row for row in self.rows}

    def default(self) -> TransitTime:
        return self._by_key().get((ANY, ANY), BUILT_IN_DEFAULT)

    def for_shipping_method(self, shipping_method: str | None) -> TransitTime:
        """The row serving an order's shipping method, else the default."""
        if shipping_method:
            wanted = normalise_method(shipping_method)
            for row in self.rows:
                if any(normalise_method(m) == wanted for m in row.shipping_methods):
                    return row
        return self.default()

    def for_parcel(
        self, carrier: str | None, service: str | None, shipping_method: str | None
    ) -> TransitTime:
        """The row for a parcel: its carrier service once shipped, else its order's shipping method."""
        by_key = self._by_key()
        if carrier:
            carrier_key = carrier.lower()
            exact = by_key.get((carrier_key, service_key(service or "")))
            if exact is not None:
                return exact
            carrier_default = by_key.get((carrier_key, ANY))
            if carrier_default is not None:
                return carrier_default
        return self.for_shipping_method(shipping_method)

    def method_owner(self, shipping_method: str, *, besides: tuple[str, str]) -> TransitTime | None:
        """The row other than ``besides`` already naming ``shipping_method``, if any."""
        wanted = normalise_method(shipping_method)
        for row in self.rows:
            if row.key != besides and any(normalise_method(m) == wanted for m in row.shipping_methods):
                return row
        return None


def example_row() -> dict[str, Any]:
    """A row as documents and event schemas show it."""
    return {
        "carrier": "ups",
        "service": "ground",
        "min_days": 1,
        "max_days": 5,
        "shipping_methods": ["Standard", "UPS Ground"],
    }
