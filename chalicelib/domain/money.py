"""Money: a Decimal amount in an ISO 4217 currency, never a float.

Invariant: an amount never carries more fractional digits than its currency's
minor unit allows (``"89.99"`` is valid for EUR, ``"89.999"`` is not, JPY has
no fractional digits at all). Arithmetic keeps that invariant: sums and
products of valid amounts by whole quantities stay exact.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

# ISO 4217 active codes and their minor units (number of fractional digits).
# Kept as data, not code, so a currency is added by adding a line.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2,
    "CDF": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2,
    "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2,
    "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2,
    "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2,
    "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0,
    "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2,
    "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2,
    "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2,
    "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2,
    "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
    "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2,
    "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2,
    "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
    "UAH": 2, "UGX": 0, "USD": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

_DECIMAL_TEXT = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$", re.ASCII)

#: Largest amount the service accepts for one price or total (sanity bound).
MAX_AMOUNT = Decimal("1000000000")


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown ISO 4217 currency {currency!r}") from None


def parse_amount(value: object) -> Decimal:
    """Parse a JSON money value. Strings and integers only: a float has already lost precision."""
    if isinstance(value, (bool, float)):
        raise MoneyError('amounts are decimal strings such as "89.99", not floating-point numbers')
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        # Plain ASCII decimals only: Decimal() alone would also take "1_000", "1e3" or Arabic digits.
        if not _DECIMAL_TEXT.match(value.strip()):
            raise MoneyError(f'{value!r} is not a decimal amount such as "89.99"')
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal amount") from None
    else:
        raise MoneyError('amounts are decimal strings such as "89.99"')
    if not amount.is_finite():
        raise MoneyError("amount must be a finite number")
    if abs(amount) > MAX_AMOUNT:
        raise MoneyError(f"amount is above the maximum of {MAX_AMOUNT}")
    return amount


def decimal_places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite amounts only (parse_amount guarantees it)
    return max(0, -exponent)


def check_amount_for_currency(amount: Decimal, currency: str) -> Decimal:
    """Return the amount quantized to the currency; refuse extra fractional digits."""
    exponent = currency_exponent(currency)
    if decimal_places(amount) > exponent:
        raise MoneyError(f"{amount} has more decimals than {currency} allows ({exponent})")
    return amount.quantize(Decimal(1).scaleb(-exponent))


def format_amount(amount: Decimal) -> str:
    # Decimal keeps the sign of zero (-0.01 * 0 is -0.00); money never shows "-0.00".
    return format(amount.copy_abs() if amount.is_zero() else amount, "f")


#: A Decimal that accepts JSON strings/ints and serialises as a decimal string.
Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
]


class Money(BaseModel):
    """An amount in a currency; equal only to money in the same currency."""

    model_config = ConfigDict(frozen=True)

    amount: Amount
    currency: str

    @model_validator(mode="after")
    def _amount_fits_currency(self) -> Money:
        # Frozen model: normalise the exponent once, at construction.
        object.__setattr__(self, "amount", check_amount_for_currency(self.amount, self.currency))
        return self

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=Decimal(0), currency=currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount)} {self.currency}"
