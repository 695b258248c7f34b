from __future__ import annotations

from decimal import Decimal
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    Money,
    MoneyError,
    check_amount_for_currency,
    currency_exponent,
    decimal_places,
    parse_amount,
)

PROPERTY = settings(max_examples=200, deadline=None)


def make(amount: object, currency: str) -> Money:
    """Money from raw input, as a request body supplies it (strings, numbers)."""
    return Money.model_validate({"amount": amount, "currency": currency})


def usd(amount: str) -> Money:
    return make(amount, "USD")


# -- exponents --------------------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "exponent"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3)])
def test_each_currency_has_its_iso_4217_minor_unit(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "stored"),
    [("89.99", "USD", "89.99"), ("5", "USD", "5.00"), ("1500", "JPY", "1500"), ("1.234", "BHD", "1.234")],
)
def test_an_amount_is_stored_with_exactly_the_currencys_number_of_decimals(
    amount: str, currency: str, stored: str
) -> None:
    money = make(amount, currency)

    assert money.amount == Decimal(stored)
    assert str(money.amount) == stored


@pytest.mark.parametrize(
    ("amount", "currency"), [("89.999", "USD"), ("1500.5", "JPY"), ("1.2345", "BHD"), ("0.001", "EUR")]
)
def test_a_price_with_more_decimals_than_the_currency_allows_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(ValidationError, match=f"has more decimals than {currency} allows"):
        make(amount, currency)


def test_trailing_zeros_beyond_the_currencys_precision_are_not_extra_decimals() -> None:
    assert str(usd("12.5000").amount) == "12.50"
    assert str(make("1500.000", "JPY").amount) == "1500"


def test_the_precision_check_names_the_currency_and_its_exponent() -> None:
    with pytest.raises(MoneyError) as excinfo:
        check_amount_for_currency(Decimal("1.999"), "USD")

    assert str(excinfo.value) == "1.999 has more decimals than USD allows (2)"


# -- what is not money ----------------------------------------------------------------------


def test_a_float_is_refused_even_when_it_looks_exact() -> None:
    with pytest.raises(ValidationError, match="not floating-point numbers"):
        make(1.5, "USD")


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_an_amount_although_python_counts_it_as_an_integer(value: bool) -> None:
    with pytest.raises(MoneyError, match="not floating-point numbers"):
        parse_amount(value)


@pytest.mark.parametrize("value", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf"])
def test_nan_and_infinity_are_refused(value: str) -> None:
    with pytest.raises(MoneyError, match="not a decimal amount"):
        parse_amount(value)


@pytest.mark.parametrize("value", ["", "12,50", "twelve", "1.2.3", "$5"])
def test_text_that_is_not_a_decimal_number_is_refused(value: str) -> None:
    with pytest.raises(MoneyError, match="is not a decimal amount"):
        parse_amount(value)


@pytest.mark.parametrize("value", [None, [1], {"amount": "1"}, b"1.00"])
def test_values_of_other_types_are_refused(value: object) -> None:
    with pytest.raises(MoneyError, match="decimal strings"):
        parse_amount(value)


def test_strings_and_integers_are_parsed_exactly() -> None:
    assert parse_amount(" 89.99 ") == Decimal("89.99")
    assert parse_amount(42) == Decimal(42)
    assert parse_amount(Decimal("0.10")).as_tuple() == Decimal("0.10").as_tuple()


def test_the_largest_amount_is_accepted_and_one_cent_more_is_not() -> None:
    assert parse_amount(str(MAX_AMOUNT)) == MAX_AMOUNT
    assert parse_amount(f"-{MAX_AMOUNT}") == -MAX_AMOUNT
    with pytest.raises(MoneyError, match="above the maximum of 1000000000"):
        parse_amount("1000000000.01")


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", ""])
def test_an_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValidationError, match="unknown ISO 4217 currency"):
        make("1.00", currency)


def test_money_is_immutable() -> None:
    money = usd("1.00")

    with pytest.raises(ValidationError, match="frozen"):
        money.amount = Decimal("2.00")  # type: ignore[misc]


# -- arithmetic -------------------------------------------------------------------------------


def test_adding_and_subtracting_keep_the_currency_and_its_precision() -> None:
    total = usd("89.99") + usd("0.01")

    assert total == usd("90.00")
    assert str(total.amount) == "90.00"
    assert usd("10.00") - usd("10.05") == usd("-0.05")


def test_times_multiplies_by_a_whole_quantity_exactly() -> None:
    assert usd("0.10").times(3) == usd("0.30")
    assert make("0.333", "BHD").times(3) == make("0.999", "BHD")
    assert usd("19.99").times(0) == Money.zero("USD")


def test_money_in_different_currencies_cannot_be_combined() -> None:
    with pytest.raises(MoneyError, match="cannot combine USD with EUR"):
        usd("1.00") + make("1.00", "EUR")
    with pytest.raises(MoneyError, match="cannot combine JPY with USD"):
        make("1", "JPY") - usd("1.00")


def test_money_is_equal_only_to_money_in_the_same_currency() -> None:
    assert usd("1.00") != make("1.00", "CAD")
    assert usd("1.00") == usd("1")


def test_zero_has_the_currencys_exponent() -> None:
    assert str(Money.zero("USD").amount) == "0.00"
    assert str(Money.zero("JPY").amount) == "0"
    assert str(Money.zero("BHD").amount) == "0.000"


# -- serialisation ----------------------------------------------------------------------------


def test_money_serialises_as_a_decimal_string_with_the_currencys_decimals() -> None:
    money = make(5, "USD")

    assert money.model_dump(mode="json") == {"amount": "5.00", "currency": "USD"}
    assert money.model_dump_json() == '{"amount":"5.00","currency":"USD"}'
    assert str(money) == "5.00 USD"


@pytest.mark.parametrize("text", ["1E+3", "1_000", "\u0663", "1,5", " ", "0x10"])
def test_only_plain_ascii_decimals_are_amounts(text: str) -> None:
    with pytest.raises(MoneyError, match="not a decimal amount"):
        parse_amount(text)


def test_money_survives_a_round_trip_through_json() -> None:
    money = make("1.230", "BHD")

    assert Money.model_validate_json(money.model_dump_json()) == money


def test_in_python_mode_the_amount_stays_a_decimal() -> None:
    assert usd("2.50").model_dump() == {"amount": Decimal("2.50"), "currency": "USD"}


def test_negative_zero_is_serialised_as_plain_zero() -> None:
    assert make("-0", "USD").model_dump(mode="json")["amount"] == "0.00"


def test_a_negative_amount_times_zero_is_plain_zero() -> None:
    assert usd("-0.01").times(0).model_dump(mode="json")["amount"] == "0.00"


# -- properties -------------------------------------------------------------------------------

CURRENCIES = sorted(CURRENCY_EXPONENTS)


@st.composite
def amounts(draw: st.DrawFn, currency: str, bound: Decimal = MAX_AMOUNT / 2) -> Decimal:
    """A valid amount of ``currency``: an integer number of minor units, within ``bound``."""
    exponent = CURRENCY_EXPONENTS[currency]
    limit = int(bound.scaleb(exponent))
    return Decimal(draw(st.integers(min_value=-limit, max_value=limit))).scaleb(-exponent)


@st.composite
def money_pairs(draw: st.DrawFn) -> tuple[Money, Money]:
    currency = draw(st.sampled_from(CURRENCIES))
    return (
        Money(amount=draw(amounts(currency)), currency=currency),
        Money(amount=draw(amounts(currency)), currency=currency),
    )


@PROPERTY
@given(money_pairs())
def test_adding_then_subtracting_the_same_money_gives_back_exactly_the_original(
    pair: tuple[Money, Money],
) -> None:
    a, b = pair

    result = a + b - b

    assert result == a
    # Exactly: the same digits and exponent, not merely a numerically equal Decimal.
    assert result.amount.as_tuple() == a.amount.as_tuple()


@st.composite
def money_and_quantity(draw: st.DrawFn) -> tuple[Money, int]:
    currency = draw(st.sampled_from(CURRENCIES))
    quantity = draw(st.integers(min_value=0, max_value=50))
    amount = draw(amounts(currency, bound=MAX_AMOUNT / 50))
    return make(amount, currency), quantity


@PROPERTY
@given(money_and_quantity())
def test_times_n_equals_adding_the_amount_n_times(case: tuple[Money, int]) -> None:
    money, quantity = case

    repeated = reduce(lambda total, _: total + money, range(quantity), Money.zero(money.currency))

    product = money.times(quantity).amount.as_tuple()
    assert money.times(quantity) == repeated
    # The same digits at the same exponent (a zero result's sign: see the negative-zero tests above).
    assert (product.digits, product.exponent) == (
        repeated.amount.as_tuple().digits,
        repeated.amount.as_tuple().exponent,
    )


@st.composite
def valid_amounts(draw: st.DrawFn) -> tuple[str, Decimal]:
    """A currency and an amount with at most its number of decimals (possibly fewer)."""
    currency = draw(st.sampled_from(CURRENCIES))
    places = draw(st.integers(min_value=0, max_value=CURRENCY_EXPONENTS[currency]))
    limit = int(MAX_AMOUNT.scaleb(places))
    return currency, Decimal(draw(st.integers(min_value=-limit, max_value=limit))).scaleb(-places)


@PROPERTY
@given(valid_amounts())
def test_quantizing_a_valid_amount_never_changes_its_value(case: tuple[str, Decimal]) -> None:
    currency, amount = case

    quantized = check_amount_for_currency(amount, currency)

    assert quantized == amount
    assert -quantized.as_tuple().exponent == CURRENCY_EXPONENTS[currency]  # type: ignore[operator]
    assert make(str(amount), currency).amount == amount


@st.composite
def over_precise_amounts(draw: st.DrawFn) -> tuple[str, Decimal]:
    currency = draw(st.sampled_from(CURRENCIES))
    places = CURRENCY_EXPONENTS[currency] + draw(st.integers(min_value=1, max_value=4))
    units = draw(st.integers(min_value=1, max_value=10**12).filter(lambda n: n % 10 != 0))
    return currency, Decimal(units).scaleb(-places)


@PROPERTY
@given(over_precise_amounts())
def test_an_amount_with_a_significant_digit_below_the_minor_unit_is_always_refused(
    case: tuple[str, Decimal],
) -> None:
    currency, amount = case

    assert decimal_places(amount) > CURRENCY_EXPONENTS[currency]
    with pytest.raises(MoneyError, match="has more decimals than"):
        check_amount_for_currency(amount, currency)
