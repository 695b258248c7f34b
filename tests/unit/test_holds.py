from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.holds import HoldFinding, HoldPolicy, evaluate_holds
from chalicelib.domain.status import HoldReason
from tests.unit.builders import ADDRESS, make_order

POLICY = HoldPolicy.parse("USD=100;JPY=10000;*=500")


def reasons(findings: list[HoldFinding]) -> list[HoldReason]:
    return [f.reason for f in findings]


def address(**changes: object) -> dict[str, object]:
    return {**ADDRESS, **changes}


def test_a_clean_order_has_no_holds() -> None:
    assert evaluate_holds(make_order(total="99.99"), POLICY) == []


def test_an_unpaid_order_waits_for_payment() -> None:
    assert evaluate_holds(make_order(paid=False), POLICY) == [
        HoldFinding(HoldReason.PAYMENT_PENDING, "payment not captured yet")
    ]


# -- fraud review -----------------------------------------------------------------------------


def test_the_policy_is_parsed_per_currency_with_a_default() -> None:
    assert POLICY.fraud_review_thresholds == {
        "USD": Decimal("100"),
        "JPY": Decimal("10000"),
        "*": Decimal("500"),
    }
    assert POLICY.threshold_for("EUR") == Decimal("500")


def test_a_bare_number_is_the_threshold_for_every_currency() -> None:
    policy = HoldPolicy.parse("2000")

    assert policy.fraud_review_thresholds == {"*": Decimal("2000")}
    assert policy.threshold_for("JPY") == Decimal("2000")


def test_currency_codes_and_spacing_in_the_policy_are_normalised() -> None:
    policy = HoldPolicy.parse(" usd = 150 ; ; jpy=9000 ")

    assert policy.fraud_review_thresholds == {"USD": Decimal("150"), "JPY": Decimal("9000")}
    assert policy.threshold_for("EUR") is None


def test_without_a_default_a_currency_not_listed_is_never_sent_to_fraud_review() -> None:
    policy = HoldPolicy.parse("USD=100")

    assert evaluate_holds(make_order(total="1000000.00", currency="EUR"), policy) == []


@pytest.mark.parametrize(
    ("total", "currency", "held"),
    [
        ("100.00", "USD", False),  # at the threshold: not above it
        ("100.01", "USD", True),
        ("10000", "JPY", False),
        ("10001", "JPY", True),
        ("499.99", "EUR", False),  # EUR falls back to "*"
        ("500.01", "EUR", True),
        ("500.001", "BHD", True),
    ],
)
def test_an_order_above_its_currencys_threshold_goes_to_fraud_review(
    total: str, currency: str, held: bool
) -> None:
    findings = evaluate_holds(make_order(total=total, currency=currency), POLICY)

    assert reasons(findings) == ([HoldReason.FRAUD_REVIEW] if held else [])


def test_the_fraud_note_names_the_value_and_the_threshold() -> None:
    (finding,) = evaluate_holds(make_order(total="150.00"), POLICY)

    assert finding == HoldFinding(HoldReason.FRAUD_REVIEW, "order value 150.00 USD is above 100")


def test_a_billing_country_different_from_the_shipping_country_goes_to_fraud_review() -> None:
    findings = evaluate_holds(make_order(billing=address(country="NG", postal_code="100001")), POLICY)

    assert findings == [
        HoldFinding(HoldReason.FRAUD_REVIEW, "billing country NG differs from shipping country US")
    ]


def test_a_billing_address_in_the_shipping_country_is_no_reason_for_review() -> None:
    billing = address(name="Charles Babbage", city="Chicago", postal_code="60601")

    assert evaluate_holds(make_order(billing=billing), POLICY) == []


def test_two_fraud_signals_make_one_fraud_review_hold_with_both_notes() -> None:
    findings = evaluate_holds(make_order(total="250.00", billing=address(country="DE")), POLICY)

    assert findings == [
        HoldFinding(
            HoldReason.FRAUD_REVIEW,
            "order value 250.00 USD is above 100; billing country DE differs from shipping country US",
        )
    ]


# -- address ----------------------------------------------------------------------------------


@pytest.mark.parametrize("postal_code", [None, ""])
def test_a_us_address_without_a_postal_code_is_held(postal_code: str | None) -> None:
    findings = evaluate_holds(make_order(shipping=address(postal_code=postal_code)), POLICY)

    assert findings == [HoldFinding(HoldReason.ADDRESS_INVALID, "postal code missing; US uses postal codes")]


def test_a_whitespace_postal_code_counts_as_missing() -> None:
    findings = evaluate_holds(make_order(shipping=address(postal_code="   ")), POLICY)

    assert reasons(findings) == [HoldReason.ADDRESS_INVALID]


def test_a_hong_kong_address_without_a_postal_code_is_fine() -> None:
    hong_kong = address(city="Hong Kong", region=None, postal_code=None, country="HK")

    assert evaluate_holds(make_order(shipping=hong_kong), POLICY) == []


# -- together ---------------------------------------------------------------------------------


def test_every_reason_that_applies_is_reported_in_a_fixed_order() -> None:
    order = make_order(
        total="120.00",
        paid=False,
        shipping=address(postal_code=None),
        billing=address(country="CA", postal_code="M5V 2T6"),
    )

    assert reasons(evaluate_holds(order, POLICY)) == [
        HoldReason.PAYMENT_PENDING,
        HoldReason.FRAUD_REVIEW,
        HoldReason.ADDRESS_INVALID,
    ]
