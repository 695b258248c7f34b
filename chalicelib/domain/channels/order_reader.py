"""The problems of one store order, and its money read exactly in the order's currency.

Wrong JSON types raise (``untrusted_json``: the payload is not an order); wrong values, such as an
amount with more decimals than the currency has, become problems: the order is still recorded,
for a person to deal with.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ..money import CURRENCY_EXPONENTS, MoneyError, check_amount_for_currency, parse_amount
from ..untrusted_json import JsonPath, fail, optional_text, where


class OrderReader:
    """Collects the problems of one payload and knows its currency's minor unit."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.currency: str | None = None
        self.exponent: int | None = None

    def problem(self, path: JsonPath, msg: str) -> None:
        self.problems.append(f"{where(path)}: {msg}")

    def read_currency(self, obj: Mapping[str, object], key: str, path: JsonPath) -> None:
        currency = optional_text(obj, key, path)
        if currency is None:
            self.problem((*path, key), "is missing")
        elif currency not in CURRENCY_EXPONENTS:
            self.problem((*path, key), f"{currency!r} is not an ISO 4217 currency")
        else:
            self.currency, self.exponent = currency, CURRENCY_EXPONENTS[currency]

    def amount(
        self, obj: Mapping[str, object], key: str, path: JsonPath, *, default: Decimal | None
    ) -> Decimal | None:
        """A decimal-string amount; absent means ``default`` (or, with no default, a problem)."""
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if default is None:
                self.problem((*path, key), "is missing")
            return default
        return self.money(value, (*path, key))

    def money(self, value: object, at: JsonPath, *, context: str = "") -> Decimal | None:
        """Exact in the order's currency or a problem: amounts are never rounded."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            fail(at, f'must be a decimal string such as "19.99", not {type(value).__name__}')
        try:
            amount = parse_amount(value)
            if amount < 0:
                raise MoneyError("amounts cannot be negative")
            if self.currency is not None:
                amount = check_amount_for_currency(amount, self.currency)
        except MoneyError as exc:
            self.problem(at, f"{context}{exc}")
            return None
        return amount
