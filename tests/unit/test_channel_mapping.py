"""Shopify and WooCommerce orders mapped into the one order model (chalicelib/domain/channels/).

Every fixture is checked against the exact request it must become, field by field; the choices
(statuses, unplaceable lines, rounding, phones) are pinned by small edits of those fixtures; and
two properties throw arbitrary JSON, and fixtures broken at random places, at both mappers: the
only exception they may raise is ``ChannelPayloadError``, and every line sent is accounted for.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.channels import (
    ChannelOrder,
    ChannelPayloadError,
    UnresolvedLine,
    is_woocommerce_ping,
    map_shopify_order,
    map_woocommerce_order,
    order_fingerprint,
)
from chalicelib.domain.errors import DomainError
from chalicelib.domain.holds import HoldFinding
from chalicelib.domain.models import Address, Customer, Product
from chalicelib.domain.placement import LineRequest, PlaceOrderRequest, check_request
from chalicelib.domain.status import HoldReason

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: The integration seed's catalogue (tests/integration/conftest.py STOCK).
CATALOGUE = frozenset({"TSHIRT-M", "MUG", "POSTER", "LAST-UNITS", "SOLD-OUT"})
SHOPIFY_FIXTURES = [
    "orders-create.json",
    "orders-create-unknown-sku.json",
    "orders-create-pending.json",
    "orders-updated.json",
    "orders-cancelled.json",
]
WOOCOMMERCE_FIXTURES = ["order-created-processing.json", "order-updated-on-hold.json", "order-cancelled.json"]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shopify(name: str = "orders-create.json") -> Any:
    return json.loads((FIXTURES / "shopify" / name).read_bytes())


def woo(name: str = "order-created-processing.json") -> Any:
    return json.loads((FIXTURES / "woocommerce" / name).read_bytes())


def map_shopify(payload: Any) -> ChannelOrder:
    return map_shopify_order(payload, known_skus=CATALOGUE)


def map_woo(payload: Any) -> ChannelOrder:
    return map_woocommerce_order(payload, known_skus=CATALOGUE)


def edited_shopify(**changes: Any) -> Any:
    """``orders-create.json`` with some top-level fields replaced."""
    return {**shopify(), **changes}


def placed(order: ChannelOrder) -> PlaceOrderRequest:
    assert order.problems == []
    assert order.request is not None
    return order.request


def manual_notes(order: ChannelOrder) -> list[str]:
    return [hold.note for hold in order.holds if hold.reason is HoldReason.MANUAL]


ADA = Customer(email="ada.lovelace@example.com", name="Ada Lovelace", phone="+12127363100")
ADA_EMPIRE_STATE = Address(
    name="Ada Lovelace",
    line1="350 Fifth Avenue",
    line2="Suite 2100",
    city="New York",
    region="NY",
    postal_code="10118",
    country="US",
)


# -- Shopify: each fixture, exactly --------------------------------------------------------------


def test_a_paid_shopify_order_becomes_exactly_this_request() -> None:
    order = map_shopify(shopify())

    assert placed(order) == PlaceOrderRequest(
        external_id="820982911946154508",
        customer=ADA,
        shipping_address=ADA_EMPIRE_STATE,
        billing_address=ADA_EMPIRE_STATE,
        lines=[
            LineRequest(sku="TSHIRT-M", quantity=2, unit_price=Decimal("19.99")),
            LineRequest(sku="MUG", quantity=1, unit_price=Decimal("12.50")),
        ],
        currency="USD",
        shipping_method="Standard Shipping",
        paid=True,
        shipping_total=Decimal("5.00"),
        tax_total=Decimal("4.19"),
        discount_total=Decimal("5.25"),
    )
    assert (order.holds, order.unresolved_lines) == ([], [])
    assert (order.cancelled, order.cancel_reason) == (False, None)
    assert (order.store_status, order.paid, order.reference) == ("paid", True, "#1001")


def test_the_shopify_order_id_above_two_to_the_53_stays_exact_digit_for_digit() -> None:
    payload = shopify()
    assert payload["id"] > 2**53  # the fixture is the case it claims to be

    order = map_shopify(payload)

    assert order.external_id == "820982911946154508"
    assert order.external_id != str(int(float(payload["id"])))  # what a float would have made of it
    assert placed(order).external_id == "820982911946154508"


def test_a_shopify_order_id_sent_as_a_string_is_taken_as_is() -> None:
    payload = shopify()
    payload["id"] = "820982911946154508"

    assert map_shopify(payload).external_id == "820982911946154508"


def test_a_shopify_order_id_sent_as_a_float_is_refused_because_it_has_already_lost_digits() -> None:
    payload = shopify()
    payload["id"] = float(payload["id"])

    with pytest.raises(ChannelPayloadError, match=r"^id: must be an integer or a string of digits"):
        map_shopify(payload)


def test_amounts_come_out_as_decimals_in_the_currency_minor_unit() -> None:
    request = placed(map_shopify(shopify()))

    amounts = [request.shipping_total, request.tax_total, request.discount_total]
    amounts += [line.unit_price for line in request.lines]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert [str(a) for a in amounts] == ["5.00", "4.19", "5.25", "19.99", "12.50"]


def test_an_unknown_sku_and_a_line_without_sku_are_kept_as_unresolved_lines_and_held_by_name() -> None:
    order = map_shopify(shopify("orders-create-unknown-sku.json"))

    request = placed(order)
    assert request.lines == [LineRequest(sku="TSHIRT-M", quantity=1, unit_price=Decimal("19.99"))]
    assert request.paid is True
    assert order.unresolved_lines == [
        UnresolvedLine(
            title="Limited Hoodie",
            sku="HOODIE-LTD-L",
            quantity=1,
            unit_price=Decimal("49.00"),
            reason="SKU 'HOODIE-LTD-L' is not in the catalogue",
            store_line_id="466157113",
            unknown_sku=True,
        ),
        UnresolvedLine(
            title="Gift card",
            sku=None,
            quantity=1,
            unit_price=Decimal("25.00"),
            reason="no SKU",
            store_line_id="466157114",
        ),
    ]
    assert order.holds == [
        HoldFinding(
            HoldReason.UNRESOLVED_LINES,
            "line 'Limited Hoodie' (SKU 'HOODIE-LTD-L' is not in the catalogue), quantity 1, was not placed",
        ),
        HoldFinding(HoldReason.MANUAL, "line 'Gift card' (no SKU), quantity 1, was not placed"),
    ]


def test_a_blank_sku_counts_as_no_sku() -> None:
    payload = shopify()
    payload["line_items"][1]["sku"] = "   "

    order = map_shopify(payload)

    assert [(u.title, u.sku, u.reason) for u in order.unresolved_lines] == [("Enamel Mug", None, "no SKU")]
    assert [line.sku for line in placed(order).lines] == ["TSHIRT-M"]


def test_skus_match_the_catalogue_exactly_not_case_insensitively() -> None:
    payload = shopify()
    payload["line_items"][1]["sku"] = "mug"

    order = map_shopify(payload)

    assert [u.reason for u in order.unresolved_lines] == ["SKU 'mug' is not in the catalogue"]


def test_an_order_whose_lines_are_all_unresolved_is_placed_with_no_line_and_held() -> None:
    payload = shopify("orders-create-unknown-sku.json")
    del payload["line_items"][0]  # the only line with a catalogue SKU

    order = map_shopify(payload)

    assert (placed(order).lines, order.problems) == ([], [])
    assert [u.title for u in order.unresolved_lines] == ["Limited Hoodie", "Gift card"]
    assert [hold.reason for hold in order.holds] == [HoldReason.UNRESOLVED_LINES, HoldReason.MANUAL]
    assert "Limited Hoodie" in order.holds[0].note
    assert manual_notes(order) == ["line 'Gift card' (no SKU), quantity 1, was not placed"]
    assert order.external_id == "820982911946154571"


def test_an_order_whose_only_line_has_an_unknown_sku_is_placed_with_no_line_on_an_unresolved_lines_hold() -> (
    None
):
    payload = shopify("orders-create-unknown-sku.json")
    del payload["line_items"][2], payload["line_items"][0]  # keep the hoodie alone

    order = map_shopify(payload)

    assert placed(order).lines == []
    assert [(hold.reason, "HOODIE-LTD-L" in hold.note) for hold in order.holds] == [
        (HoldReason.UNRESOLVED_LINES, True)
    ]
    assert [
        (u.sku, u.quantity, u.unit_price, u.store_line_id, u.unknown_sku) for u in order.unresolved_lines
    ] == [("HOODIE-LTD-L", 1, Decimal("49.00"), "466157113", True)]


def test_an_unknown_sku_the_order_model_would_refuse_is_for_a_person_not_for_the_catalogue() -> None:
    payload = shopify()
    payload["line_items"][1]["sku"] = "MUG BLUE"  # a space: no product can ever have this SKU

    order = map_shopify(payload)

    assert [(u.sku, u.unknown_sku) for u in order.unresolved_lines] == [("MUG BLUE", False)]
    assert [hold.reason for hold in order.holds] == [HoldReason.MANUAL]


def test_an_order_with_no_lines_at_all_is_a_problem_not_an_error() -> None:
    payload = shopify()
    payload["line_items"] = []

    order = map_shopify(payload)

    assert order.request is None
    assert order.problems == ["line_items: is empty: an order needs at least one line"]


def test_a_quantity_out_of_range_makes_the_line_unresolved_not_the_order_invalid() -> None:
    payload = shopify()
    payload["line_items"][1]["quantity"] = 0

    order = map_shopify(payload)

    assert [(u.sku, u.quantity, u.reason) for u in order.unresolved_lines] == [
        ("MUG", 0, "quantity 0 is outside 1..10000")
    ]
    assert [line.sku for line in placed(order).lines] == ["TSHIRT-M"]


def test_a_pending_shopify_order_is_not_paid_and_its_included_tax_is_not_added_again() -> None:
    order = map_shopify(shopify("orders-create-pending.json"))

    assert placed(order) == PlaceOrderRequest(
        external_id="820982911946154602",
        # Neither the customer nor the addresses have an E.164 phone ("030 1234567"): none invented.
        customer=Customer(email="emmy.noether@example.com", name="Emmy Noether", phone=None),
        shipping_address=Address(
            name="Emmy Noether", line1="Friedrichstraße 68", city="Berlin", postal_code="10117", country="DE"
        ),
        billing_address=Address(
            name="Emmy Noether", line1="Friedrichstraße 68", city="Berlin", postal_code="10117", country="DE"
        ),
        lines=[LineRequest(sku="POSTER", quantity=1, unit_price=Decimal("15.00"))],
        currency="EUR",
        shipping_method="DHL Paket",
        paid=False,
        shipping_total=Decimal("4.90"),
        tax_total=Decimal("0"),
        discount_total=Decimal("0"),
    )
    # No payment_pending finding here: paid=False is what makes receipt hold the order.
    assert order.holds == []
    assert (order.store_status, order.paid) == ("pending", False)


@pytest.mark.parametrize(
    ("financial_status", "paid", "held"),
    [
        ("paid", True, False),
        ("partially_refunded", True, True),
        ("pending", False, False),
        ("authorized", False, False),
        ("partially_paid", False, False),
        ("refunded", False, True),
        ("voided", False, True),
        ("something_new", False, True),
        (None, False, True),
    ],
)
def test_only_captured_money_counts_as_paid_and_odd_payment_states_are_held_for_a_person(
    financial_status: str | None, paid: bool, held: bool
) -> None:
    payload = shopify()
    payload["financial_status"] = financial_status

    order = map_shopify(payload)

    assert placed(order).paid is paid
    assert order.paid is paid
    assert (len(manual_notes(order)) == 1) is held
    assert order.store_status == (financial_status or "")


def test_an_unknown_financial_status_is_named_in_the_hold() -> None:
    payload = shopify()
    payload["financial_status"] = "something_new"

    assert manual_notes(map_shopify(payload)) == [
        "Shopify financial_status 'something_new' is not one this service knows"
    ]


def test_an_updated_shopify_order_carries_the_new_shipping_address_only() -> None:
    created = placed(map_shopify(shopify("orders-create.json")))
    updated = placed(map_shopify(shopify("orders-updated.json")))

    assert updated.shipping_address == Address(
        name="Ada Lovelace",
        line1="20 W 34th St",
        city="New York",
        region="NY",
        postal_code="10001",
        country="US",
    )
    assert updated.model_copy(update={"shipping_address": created.shipping_address}) == created


def test_a_cancelled_shopify_order_says_so_with_the_reason_and_is_not_held_for_its_refund() -> None:
    order = map_shopify(shopify("orders-cancelled.json"))

    assert (order.cancelled, order.cancel_reason) == (True, "customer")
    assert order.external_id == "820982911946154508"
    assert order.store_status == "refunded"
    # The cancellation explains the refund: a "refunded" hold would only be noise.
    assert order.holds == []
    assert placed(order).paid is False


def test_an_open_shopify_order_is_not_cancelled_even_with_a_stale_cancel_reason() -> None:
    payload = shopify()
    payload["cancel_reason"] = "customer"

    order = map_shopify(payload)

    assert (order.cancelled, order.cancel_reason) == (False, None)


# -- Shopify: customer, phones, addresses -------------------------------------------------------


def test_a_phone_written_in_e164_with_separators_is_normalised() -> None:
    assert placed(map_shopify(shopify())).customer.phone == "+12127363100"  # "+1 (212) 736-3100"


def test_a_phone_without_country_code_is_dropped_not_guessed() -> None:
    payload = shopify()
    for where in ("billing_address", "shipping_address"):
        payload[where]["phone"] = "(212) 736-3100"

    assert placed(map_shopify(payload)).customer.phone is None


def test_the_customer_phone_comes_before_the_address_phones() -> None:
    payload = shopify()
    payload["customer"]["phone"] = "+442079460958"

    assert placed(map_shopify(payload)).customer.phone == "+442079460958"


def test_without_a_customer_record_the_name_comes_from_the_shipping_address() -> None:
    payload = shopify()
    payload["customer"] = None
    payload["shipping_address"]["name"] = "A. Lovelace"

    customer = placed(map_shopify(payload)).customer

    assert (customer.name, customer.email) == ("A. Lovelace", "ada.lovelace@example.com")


def test_the_email_falls_back_to_the_customer_record() -> None:
    payload = shopify()
    payload["email"] = ""
    payload["contact_email"] = None
    payload["customer"]["email"] = "ada@example.org"

    assert placed(map_shopify(payload)).customer.email == "ada@example.org"


def test_an_order_without_any_email_cannot_be_placed_and_says_why() -> None:
    payload = shopify()
    payload["email"] = payload["contact_email"] = payload["customer"]["email"] = None

    order = map_shopify(payload)

    assert order.request is None
    assert order.problems == ["email: is missing: the order has no customer e-mail"]


def test_an_invalid_email_is_a_problem_at_the_field_it_came_from() -> None:
    payload = shopify()
    payload["email"] = payload["contact_email"] = "ada.lovelace"

    order = map_shopify(payload)

    assert order.request is None
    assert order.problems == ["email: Value error, not a valid e-mail address"]


def test_an_order_without_a_shipping_address_cannot_be_placed() -> None:
    payload = shopify()
    del payload["shipping_address"]

    order = map_shopify(payload)

    assert order.request is None
    assert order.problems == ["shipping_address: is missing: the order has nowhere to ship to"]


def test_a_shipping_address_problem_names_the_shopify_field() -> None:
    payload = shopify()
    payload["shipping_address"]["address1"] = ""
    payload["shipping_address"]["country_code"] = "XX"

    order = map_shopify(payload)

    assert order.problems == ["shipping_address.address1: is missing"]
    payload["shipping_address"]["address1"] = "350 Fifth Avenue"
    assert map_shopify(payload).problems == [
        "shipping_address.country_code: Value error, not an ISO 3166-1 alpha-2 country code (e.g. US, DE)"
    ]


def test_an_incomplete_billing_address_is_left_out_rather_than_blocking_the_order() -> None:
    payload = shopify()
    payload["billing_address"] = {"name": "Ada Lovelace", "country_code": "US"}

    assert placed(map_shopify(payload)).billing_address is None


def test_a_company_goes_on_the_address_name_line_because_the_address_has_no_company_field() -> None:
    payload = shopify()
    payload["shipping_address"]["company"] = "Analytical Engines Ltd"

    assert placed(map_shopify(payload)).shipping_address.name == "Ada Lovelace, Analytical Engines Ltd"


# -- Shopify: money -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "value", "problem"),
    [
        (
            ("line_items", 0, "price"),
            "19.999",
            "line_items[0].price: 19.999 has more decimals than USD allows (2)",
        ),
        (
            ("shipping_lines", 0, "price"),
            "5.005",
            "shipping_lines[0].price: 5.005 has more decimals than USD allows (2)",
        ),
        (("total_tax",), "4.191", "total_tax: 4.191 has more decimals than USD allows (2)"),
        (("total_discounts",), "5.251", "total_discounts: 5.251 has more decimals than USD allows (2)"),
    ],
)
def test_an_amount_with_more_decimals_than_the_currency_has_is_a_problem_never_rounded(
    where: tuple[str | int, ...], value: str, problem: str
) -> None:
    payload = shopify()
    target = payload
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value

    order = map_shopify(payload)

    assert order.request is None
    assert order.problems == [problem]


def test_yen_prices_may_not_have_any_decimals() -> None:
    payload = shopify()
    payload["currency"] = "JPY"
    for line in payload["line_items"]:
        line["price"] = "1500"
    payload["line_items"][1]["price"] = "1500.50"
    payload["shipping_lines"][0]["price"] = payload["total_tax"] = payload["total_discounts"] = "0"

    assert map_shopify(payload).problems == [
        "line_items[1].price: 1500.50 has more decimals than JPY allows (0)"
    ]


def test_trailing_zeros_within_the_minor_unit_are_fine() -> None:
    payload = shopify()
    payload["line_items"][1]["price"] = "12.5"

    assert placed(map_shopify(payload)).lines[1].unit_price == Decimal("12.50")


def test_an_unknown_currency_and_an_unreadable_amount_are_problems() -> None:
    payload = shopify()
    payload["currency"] = "XYZ"
    payload["total_tax"] = "four"

    assert map_shopify(payload).problems == [
        "currency: 'XYZ' is not an ISO 4217 currency",
        "total_tax: 'four' is not a decimal amount such as \"89.99\"",
    ]


def test_a_negative_amount_is_a_problem() -> None:
    payload = shopify()
    payload["shipping_lines"][0]["price"] = "-0.01"

    assert map_shopify(payload).problems == ["shipping_lines[0].price: amounts cannot be negative"]


def test_a_shipping_line_without_a_price_is_a_problem_not_free_shipping() -> None:
    payload = shopify()
    del payload["shipping_lines"][0]["price"]

    assert map_shopify(payload).problems == ["shipping_lines[0].price: is missing"]


def test_shipping_is_the_sum_of_all_shipping_lines_and_the_method_is_the_first_title() -> None:
    payload = shopify()
    payload["shipping_lines"].append({"title": "Gift wrap", "price": "2.50"})

    request = placed(map_shopify(payload))

    assert (request.shipping_total, request.shipping_method) == (Decimal("7.50"), "Standard Shipping")


def test_a_discount_larger_than_the_order_is_a_problem() -> None:
    payload = shopify()
    payload["total_discounts"] = "100.00"

    assert map_shopify(payload).problems == ["total_discounts: the discount is larger than the order"]


# -- WooCommerce ---------------------------------------------------------------------------------


def test_a_processing_woocommerce_order_becomes_exactly_this_request() -> None:
    order = map_woo(woo())

    assert placed(order) == PlaceOrderRequest(
        external_id="5127",
        # billing.phone "030 80620" is not E.164: dropped.
        customer=Customer(email="lise.meitner@example.de", name="Lise Meitner", phone=None),
        shipping_address=Address(
            name="Lise Meitner, Institut für Kernphysik",
            line1="Hahn-Meitner-Platz 1",
            line2="Gebäude 4",
            city="Berlin",
            region="BE",
            postal_code="14109",
            country="DE",
        ),
        billing_address=Address(
            name="Lise Meitner",
            line1="Hahn-Meitner-Platz 1",
            city="Berlin",
            region="BE",
            postal_code="14109",
            country="DE",
        ),
        lines=[
            # Pre-discount unit prices from subtotal / quantity (the line totals are after the coupon).
            LineRequest(sku="TSHIRT-M", quantity=2, unit_price=Decimal("19.99")),
            LineRequest(sku="POSTER", quantity=1, unit_price=Decimal("12.00")),
        ],
        currency="EUR",
        shipping_method="DHL Paket",
        paid=True,
        shipping_total=Decimal("4.90"),
        tax_total=Decimal("9.86"),
        discount_total=Decimal("5.00"),
    )
    assert (order.holds, order.unresolved_lines, order.cancelled) == ([], [], False)
    assert (order.store_status, order.reference) == ("processing", "5127")


def test_an_on_hold_woocommerce_order_is_not_paid_so_receipt_holds_it_for_payment() -> None:
    order = map_woo(woo("order-updated-on-hold.json"))

    assert placed(order) == PlaceOrderRequest(
        external_id="5128",
        customer=Customer(email="marie.curie@example.at", name="Marie Curie", phone="+431427751101"),
        shipping_address=Address(
            name="Marie Curie", line1="Boltzmanngasse 3", city="Wien", postal_code="1090", country="AT"
        ),
        billing_address=Address(
            name="Marie Curie", line1="Boltzmanngasse 3", city="Wien", postal_code="1090", country="AT"
        ),
        lines=[LineRequest(sku="MUG", quantity=3, unit_price=Decimal("8.99"))],
        currency="EUR",
        shipping_method="Österreichische Post",
        paid=False,
        shipping_total=Decimal("5.90"),
        tax_total=Decimal("6.57"),
        discount_total=Decimal("0.00"),
    )
    assert order.holds == []
    assert order.store_status == "on-hold"


def test_a_cancelled_woocommerce_order_says_so() -> None:
    order = map_woo(woo("order-cancelled.json"))

    assert (order.cancelled, order.cancel_reason, order.store_status) == (True, None, "cancelled")
    assert order.external_id == "5127"
    assert order.holds == []


@pytest.mark.parametrize(
    ("status", "paid", "cancelled", "held"),
    [
        ("processing", True, False, False),
        ("completed", True, False, False),
        ("pending", False, False, False),
        ("on-hold", False, False, False),
        ("failed", False, False, False),
        ("cancelled", False, True, False),
        ("refunded", False, True, False),
        ("trash", False, True, False),
        ("checkout-draft", False, False, True),
        ("awaiting-shipment", False, False, True),
    ],
)
def test_woocommerce_statuses_map_to_paid_cancelled_or_a_hold_for_a_person(
    status: str, paid: bool, cancelled: bool, held: bool
) -> None:
    payload = woo()
    payload["status"] = status

    order = map_woo(payload)

    assert (placed(order).paid, order.cancelled, len(manual_notes(order)) == 1) == (paid, cancelled, held)


def test_a_refunded_or_trashed_woocommerce_order_is_cancelled_with_that_reason() -> None:
    for status, reason in [
        ("refunded", "refunded in WooCommerce"),
        ("trash", "moved to the trash in WooCommerce"),
    ]:
        payload = woo()
        payload["status"] = status
        assert map_woo(payload).cancel_reason == reason


def test_the_unit_price_falls_back_to_the_float_price_when_the_subtotal_does_not_divide_exactly() -> None:
    payload = woo()
    payload["line_items"][0].update({"subtotal": "39.97", "price": 19.99})  # 39.97 / 2 = 19.985

    assert placed(map_woo(payload)).lines[0].unit_price == Decimal("19.99")


def test_the_float_price_is_read_through_its_shortest_text_not_its_binary_value() -> None:
    payload = woo()
    payload["line_items"][0].update({"subtotal": "", "price": 0.1 + 0.2})  # 0.30000000000000004

    order = map_woo(payload)

    assert order.request is None
    assert order.problems == [
        "line_items[0].price: 0.30000000000000004 has more decimals than EUR allows (2)"
    ]


def test_a_unit_price_that_is_exact_in_neither_subtotal_nor_price_is_a_problem_never_rounded() -> None:
    payload = woo()
    payload["line_items"][1].update({"quantity": 3, "subtotal": "10.00", "price": 10 / 3})

    order = map_woo(payload)

    assert order.request is None
    assert order.problems == [
        "line_items[1].price: subtotal 10.00 / quantity 3 is not exact in EUR, and "
        "3.3333333333333335 has more decimals than EUR allows (2)"
    ]


def test_a_woocommerce_line_with_neither_subtotal_nor_price_is_a_problem() -> None:
    payload = woo()
    del payload["line_items"][0]["subtotal"]
    del payload["line_items"][0]["price"]

    order = map_woo(payload)

    assert order.problems == ["line_items[0].price: price is missing"]
    assert [(u.sku, u.unit_price, u.reason) for u in order.unresolved_lines] == [
        ("TSHIRT-M", None, "its price cannot be read (see problems)")
    ]


def test_an_integer_price_is_taken_as_whole_currency_units() -> None:
    payload = woo()
    del payload["line_items"][1]["subtotal"]  # only price: 12 remains

    assert placed(map_woo(payload)).lines[1].unit_price == Decimal("12.00")


def test_an_unknown_woocommerce_sku_and_an_empty_one_become_unresolved_lines_and_a_hold() -> None:
    payload = woo()
    payload["line_items"][0]["sku"] = "TSHIRT-XXL"
    payload["line_items"][1]["sku"] = ""

    order = map_woo(payload)

    assert placed(order).lines == []  # no line is left to place: the order is taken, on hold
    assert [(u.title, u.sku, u.quantity, u.unit_price, u.reason) for u in order.unresolved_lines] == [
        (
            "Classic T-Shirt - M",
            "TSHIRT-XXL",
            2,
            Decimal("19.99"),
            "SKU 'TSHIRT-XXL' is not in the catalogue",
        ),
        ("Art Poster", None, 1, Decimal("12.00"), "no SKU"),
    ]
    assert order.holds == [
        HoldFinding(
            HoldReason.UNRESOLVED_LINES,
            "line 'Classic T-Shirt - M' (SKU 'TSHIRT-XXL' is not in the catalogue), "
            "quantity 2, was not placed",
        ),
        HoldFinding(HoldReason.MANUAL, "line 'Art Poster' (no SKU), quantity 1, was not placed"),
    ]


def test_the_woocommerce_customer_email_is_the_billing_email() -> None:
    payload = woo()
    payload["billing"]["email"] = ""

    assert map_woo(payload).problems == ["billing.email: is missing: the order has no customer e-mail"]


def test_an_empty_woocommerce_shipping_block_is_no_shipping_address_and_is_not_filled_from_billing() -> None:
    payload = woo()
    payload["shipping"] = dict.fromkeys(payload["shipping"], "")

    order = map_woo(payload)

    assert order.request is None
    assert order.problems == ["shipping: is missing: the order has nowhere to ship to"]


# -- Both stores: what placement will make of the requests ------------------------------------


def all_fixture_orders() -> list[tuple[str, Any, ChannelOrder]]:
    return [(n, p, map_shopify(p)) for n in SHOPIFY_FIXTURES for p in [shopify(n)]] + [
        (n, p, map_woo(p)) for n in WOOCOMMERCE_FIXTURES for p in [woo(n)]
    ]


def test_every_fixture_request_passes_the_placement_checks_against_the_catalogue() -> None:
    products = {
        sku: Product(sku=sku, name=sku, weight_grams=100, length_mm=10, width_mm=10, height_mm=10)
        for sku in CATALOGUE
    }
    for name, _, order in all_fixture_orders():
        assert check_request(placed(order), products) == [], name


def test_every_fully_placeable_fixture_adds_up_to_the_store_own_total() -> None:
    """The tax and discount mapping is right: lines + shipping + tax - discount is the store's total
    (fixtures with unplaceable lines leave those out, so they are not expected to add up)."""
    checked = 0
    for name, payload, order in all_fixture_orders():
        if order.unresolved_lines:
            continue
        request = placed(order)
        subtotal = sum((line.unit_price * line.quantity for line in request.lines), Decimal(0))
        total = subtotal + request.shipping_total + request.tax_total - request.discount_total
        store_total = payload.get("total_price", payload.get("total"))
        assert total == Decimal(store_total), name
        checked += 1
    assert checked == 7


# -- Fingerprints ----------------------------------------------------------------------------------


def test_the_same_order_sent_again_has_the_same_fingerprint() -> None:
    assert order_fingerprint(map_shopify(shopify())) == order_fingerprint(map_shopify(shopify()))
    assert order_fingerprint(map_woo(woo())) == order_fingerprint(map_woo(woo()))


def test_changes_the_service_does_not_act_on_keep_the_fingerprint() -> None:
    resent = shopify()
    resent.update({"updated_at": "2024-09-13T08:00:00-04:00", "tags": "vip", "note": "gift"})
    resent["line_items"][1]["price"] = "12.5"  # the same price, written differently
    completed = woo()
    completed["status"] = "completed"

    assert order_fingerprint(map_shopify(resent)) == order_fingerprint(map_shopify(shopify()))
    assert order_fingerprint(map_woo(completed)) == order_fingerprint(map_woo(woo()))


def test_a_changed_shipping_address_changes_the_fingerprint() -> None:
    created = order_fingerprint(map_shopify(shopify("orders-create.json")))
    updated = order_fingerprint(map_shopify(shopify("orders-updated.json")))

    assert created != updated
    moved = woo()
    moved["shipping"]["postcode"] = "10117"
    assert order_fingerprint(map_woo(moved)) != order_fingerprint(map_woo(woo()))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.update(financial_status="pending"), id="paid"),
        pytest.param(lambda p: p.update(cancelled_at="2024-09-12T15:40:11-04:00"), id="cancelled"),
        pytest.param(lambda p: p["line_items"][0].update(quantity=3), id="quantity"),
        pytest.param(lambda p: p["line_items"][1].update(sku="MUG-BLUE"), id="line unresolved"),
        pytest.param(lambda p: p["customer"].update(first_name="Augusta Ada"), id="customer"),
        pytest.param(lambda p: p["billing_address"].update(zip="10001"), id="billing address"),
    ],
)
def test_what_the_service_acts_on_changes_the_fingerprint(change: Any) -> None:
    payload = shopify()
    change(payload)

    assert order_fingerprint(map_shopify(payload)) != order_fingerprint(map_shopify(shopify()))


def test_when_the_order_cannot_be_placed_its_payment_still_changes_the_fingerprint() -> None:
    unplaceable = shopify()
    unplaceable["email"] = unplaceable["contact_email"] = unplaceable["customer"]["email"] = None
    unpaid = copy.deepcopy(unplaceable)
    unpaid["financial_status"] = "pending"

    assert map_shopify(unplaceable).request is None
    assert order_fingerprint(map_shopify(unpaid)) != order_fingerprint(map_shopify(unplaceable))


# -- Not orders at all ---------------------------------------------------------------------------


def malformed(base: Any, edit: Any) -> Any:
    payload = copy.deepcopy(base)
    edit(payload)
    return payload


MALFORMED: list[tuple[str, Any, str]] = [
    ("a list", [], "body: must be an object, not list"),
    ("a string", "order", "body: must be an object, not str"),
    ("null", None, "body: is missing"),
    ("no id", malformed(shopify(), lambda p: p.pop("id")), "id: is missing"),
    ("a boolean id", malformed(shopify(), lambda p: p.update(id=True)), "id: must be an integer"),
    ("a negative id", malformed(shopify(), lambda p: p.update(id=-5)), "id: is not an order id"),
    ("an id of letters", malformed(shopify(), lambda p: p.update(id="abc")), "id: must be digits"),
    ("no line_items", malformed(shopify(), lambda p: p.pop("line_items")), "line_items: is missing"),
    (
        "line_items an object",
        malformed(shopify(), lambda p: p.update(line_items={})),
        "line_items: must be a list",
    ),
    (
        "a line a string",
        malformed(shopify(), lambda p: p["line_items"].append("x")),
        r"line_items\[2\]: must be",
    ),
    (
        "a quantity as text",
        malformed(shopify(), lambda p: p["line_items"][0].update(quantity="2")),
        r"line_items\[0\].quantity: must be an integer, not str",
    ),
    (
        "a quantity as a boolean",
        malformed(shopify(), lambda p: p["line_items"][0].update(quantity=True)),
        r"line_items\[0\].quantity: must be an integer, not bool",
    ),
    (
        "a SKU as a number",
        malformed(shopify(), lambda p: p["line_items"][0].update(sku=42)),
        r"line_items\[0\].sku: must be a string, not int",
    ),
    (
        "a price as a float",
        malformed(shopify(), lambda p: p["line_items"][0].update(price=19.99)),
        r"line_items\[0\].price: must be a decimal string",
    ),
    (
        "an address as a string",
        malformed(shopify(), lambda p: p.update(shipping_address="350 Fifth Avenue")),
        "shipping_address: must be an object, not str",
    ),
]


@pytest.mark.parametrize(("case", "payload", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_a_shopify_payload_that_is_not_an_order_raises_channel_payload_error_naming_the_field(
    case: str, payload: Any, message: str
) -> None:
    with pytest.raises(ChannelPayloadError, match=f"^{message}") as raised:
        map_shopify(payload)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, DomainError)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.update(id=5127.0), "id: must be an integer or a string of digits, not float"),
        (lambda p: p.update(line_items=None), "line_items: is missing"),
        (lambda p: p["line_items"][0].update(price=[19.99]), r"line_items\[0\].price: must be a number"),
        (lambda p: p["line_items"][0].update(subtotal=39.98), r"line_items\[0\].subtotal: must be a decimal"),
        (lambda p: p.update(billing=["x"]), "billing: must be an object, not list"),
        (lambda p: p.update(shipping_lines=[7]), r"shipping_lines\[0\]: must be an object, not int"),
    ],
)
def test_a_woocommerce_payload_that_is_not_an_order_raises_channel_payload_error_naming_the_field(
    edit: Any, message: str
) -> None:
    with pytest.raises(ChannelPayloadError, match=f"^{message}"):
        map_woo(malformed(woo(), edit))


def test_a_payload_error_carries_the_path_as_a_field_error() -> None:
    with pytest.raises(ChannelPayloadError) as raised:
        map_shopify(malformed(shopify(), lambda p: p["line_items"][1].update(quantity=None)))

    assert [(e.loc, e.msg) for e in raised.value.errors] == [(["line_items", 1, "quantity"], "is missing")]


# -- Properties: arbitrary JSON never escapes as anything but ChannelPayloadError --------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**53, max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "19.99", "19.999", "-1", "TSHIRT-M", "MUG", "+12125550123", "US", "USD", "1e3"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ORDER_KEYS = [
    "id",
    "line_items",
    "currency",
    "email",
    "customer",
    "shipping_address",
    "billing_address",
    "shipping_lines",
    "financial_status",
    "status",
    "shipping",
    "billing",
    "total_tax",
    "cancelled_at",
]
order_shaped = st.dictionaries(st.sampled_from(ORDER_KEYS), json_values, max_size=len(ORDER_KEYS))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


@st.composite
def broken_fixtures(draw: st.DrawFn) -> tuple[str, Any]:
    """A real fixture with a few of its values replaced by arbitrary JSON, or removed."""
    store, name = draw(
        st.sampled_from(
            [("shopify", n) for n in SHOPIFY_FIXTURES] + [("woocommerce", n) for n in WOOCOMMERCE_FIXTURES]
        )
    )
    payload = shopify(name) if store == "shopify" else woo(name)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(payload) or [("id",)]))
        parent = payload
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            parent.pop(where[-1], None)
        else:
            parent[where[-1]] = draw(json_values)
    return store, payload


def check_mapping(store: str, payload: Any) -> None:
    mapper = map_shopify if store == "shopify" else map_woo
    try:
        order = mapper(payload)
    except ChannelPayloadError as exc:
        assert str(exc)
        return
    assert isinstance(order.external_id, str)
    assert order.external_id.isdigit()
    assert (order.request is None) == bool(order.problems)
    # Each unresolved line holds the order: awaiting a product as unresolved_lines, else manual.
    reasons = {hold.reason for hold in order.holds}
    if any(line.unknown_sku for line in order.unresolved_lines):
        assert HoldReason.UNRESOLVED_LINES in reasons
    if any(not line.unknown_sku for line in order.unresolved_lines):
        assert HoldReason.MANUAL in reasons
    assert all(line.sku for line in order.unresolved_lines if line.unknown_sku)
    if order.request is not None:
        # Never dropped: each line sent is either placed or unresolved.
        assert len(order.request.lines) + len(order.unresolved_lines) == len(payload["line_items"])
        assert order.request.external_id == order.external_id
    assert len(order_fingerprint(order)) == 64


@PROPERTY
@given(st.sampled_from(["shopify", "woocommerce"]), json_values | order_shaped)
def test_arbitrary_json_maps_or_raises_channel_payload_error_and_nothing_else(
    store: str, payload: Any
) -> None:
    check_mapping(store, payload)


@PROPERTY
@given(broken_fixtures())
def test_fixtures_broken_anywhere_map_or_raise_channel_payload_error_and_nothing_else(
    broken: tuple[str, Any],
) -> None:
    check_mapping(*broken)


ALL_FIXTURES = [("shopify", n) for n in SHOPIFY_FIXTURES] + [("woocommerce", n) for n in WOOCOMMERCE_FIXTURES]


@pytest.mark.parametrize(("store", "name"), ALL_FIXTURES, ids=[n for _, n in ALL_FIXTURES])
def test_any_one_field_removed_or_null_maps_or_raises_channel_payload_error(store: str, name: str) -> None:
    """Exhaustive where the property above samples: every field of the fixture, one at a time."""
    original = shopify(name) if store == "shopify" else woo(name)
    for where in paths(original):
        for how in ("removed", "null"):
            if how == "removed" and isinstance(where[-1], int):
                continue
            payload = copy.deepcopy(original)
            parent = payload
            for key in where[:-1]:
                parent = parent[key]
            if how == "removed":
                del parent[where[-1]]
            else:
                parent[where[-1]] = None
            try:
                check_mapping(store, payload)
            except Exception as exc:
                raise AssertionError(f"{'.'.join(map(str, where))} {how}: {exc!r}") from exc


# -- The WooCommerce ping -----------------------------------------------------------------------


def test_the_woocommerce_ping_is_recognised() -> None:
    body = (FIXTURES / "woocommerce" / "ping.txt").read_bytes()

    assert body == b"webhook_id=42"
    assert is_woocommerce_ping(body, "application/x-www-form-urlencoded")
    assert is_woocommerce_ping(body, "application/x-www-form-urlencoded; charset=UTF-8")
    assert is_woocommerce_ping(body, None)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ((FIXTURES / "woocommerce" / "order-created-processing.json").read_bytes(), "application/json"),
        (b"webhook_id=42", "application/json"),
        (b"webhook_id=", "application/x-www-form-urlencoded"),
        (b"webhook_id=abc", "application/x-www-form-urlencoded"),
        (b"webhook_id=42&status=active", "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
    ],
)
def test_anything_else_is_not_a_ping(body: bytes, content_type: str) -> None:
    assert not is_woocommerce_ping(body, content_type)


# -- the store's own version of the order: its last change ------------------------------------------


def test_a_shopify_order_carries_the_stores_updated_at_in_utc() -> None:
    assert map_shopify(shopify("orders-create.json")).updated_at == datetime(
        2024, 9, 12, 14, 21, 9, tzinfo=UTC
    )
    assert map_shopify(shopify("orders-updated.json")).updated_at == datetime(
        2024, 9, 12, 15, 2, 45, tzinfo=UTC
    )


def test_a_woocommerce_order_carries_its_gmt_modification_time_not_the_sites_local_one() -> None:
    order = map_woo(woo("order-cancelled.json"))

    assert order.updated_at == datetime(2024, 9, 16, 15, 42, 8, tzinfo=UTC)  # date_modified is 17:42 local


@pytest.mark.parametrize(
    "value",
    # The last one has no UTC time: an hour before the first representable moment.
    [None, "", "yesterday", "2024-09-12T10:21:09", "0001-01-01T00:00:00+01:00"],
)
def test_a_shopify_order_without_a_usable_updated_at_has_none_and_is_still_placeable(value: Any) -> None:
    """A naive Shopify time has no zone to compare it in: unknown, not guessed."""
    order = map_shopify(edited_shopify(updated_at=value))

    assert order.updated_at is None and order.request is not None


def test_an_updated_at_of_the_wrong_json_type_is_a_payload_error_naming_it() -> None:
    with pytest.raises(ChannelPayloadError, match="updated_at: must be a string"):
        map_shopify(edited_shopify(updated_at=1726150869))
    with pytest.raises(ChannelPayloadError, match="date_modified_gmt: must be a string"):
        map_woo({**woo(), "date_modified_gmt": ["2024"]})


def test_the_stores_updated_at_is_not_part_of_the_fingerprint() -> None:
    """A store re-sending an unchanged order later is still the same order."""
    assert order_fingerprint(map_shopify(shopify())) == order_fingerprint(
        map_shopify(edited_shopify(updated_at="2024-09-13T08:00:00-04:00"))
    )


@given(
    known=st.lists(st.booleans(), min_size=2, max_size=2),
    store=st.sampled_from(["shopify", "woocommerce"]),
)
def test_whatever_skus_the_catalogue_knows_every_line_is_placed_or_awaits_its_product_on_hold(
    known: list[bool], store: str
) -> None:
    payload = shopify() if store == "shopify" else woo()
    for line, is_known in zip(payload["line_items"], known, strict=False):
        if not is_known:
            line["sku"] = f"NEW-{line['sku']}"

    order = (map_shopify if store == "shopify" else map_woo)(payload)

    request = placed(order)  # always an order, never a problem
    assert [line.sku for line in request.lines] == [
        line["sku"] for line, is_known in zip(payload["line_items"], known, strict=False) if is_known
    ]
    awaiting = [line.sku for line in order.unresolved_lines if line.unknown_sku]
    assert awaiting == [line["sku"] for line in payload["line_items"] if line["sku"].startswith("NEW-")]
    assert [hold.reason for hold in order.holds] == ([HoldReason.UNRESOLVED_LINES] if awaiting else [])
