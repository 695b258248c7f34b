"""The return rules of ``chalicelib.domain.returns``: what may come back, the decision, the refund.

The refund rule (docs/returns-and-inventory.md): the unit price of every unit received resellable
or damaged, less its share of the discount, plus its share of the tax (shares in proportion to the
subtotal), plus the shipping charge only with the return that completes the order; each part
rounded half-even to the currency's minor unit; the refunds of an order never exceed its total.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.money import CURRENCY_EXPONENTS
from chalicelib.domain.returns import (
    ReceivedItem,
    Refund,
    ReturnCondition,
    ReturnLine,
    ReturnRequest,
    compute_refund,
    decide,
    delivered_units,
    last_delivery,
    over_returned,
    resellable_units,
    returnable,
)
from chalicelib.domain.status import FulfillmentStatus, ReturnStatus
from tests.unit.builders import WEB, fulfillment, priced_order
from tests.unit.fakes import START

F = FulfillmentStatus
RESELLABLE, DAMAGED, WRONG = ReturnCondition.RESELLABLE, ReturnCondition.DAMAGED, ReturnCondition.WRONG_ITEM
DELIVERED_AT = START + timedelta(days=3)


def rma(
    *items: tuple[str, int], status: ReturnStatus = ReturnStatus.APPROVED, rma_id: str = "rma_0001"
) -> ReturnRequest:
    return ReturnRequest(
        id=rma_id,
        order_id="ord_0001",
        channel_id=WEB,
        status=status,
        version=1,
        lines=[ReturnLine(sku=sku, quantity=qty, reason="too small") for sku, qty in items],
        requested_at=DELIVERED_AT,
    )


def got(*items: tuple[str, int], condition: ReturnCondition = RESELLABLE) -> list[ReceivedItem]:
    return [ReceivedItem(sku=sku, quantity=qty, condition=condition) for sku, qty in items]


def parts(refund: Refund) -> tuple[str, str, str, str, str]:
    """The refund's parts as their JSON text: items, discount, tax, shipping, total."""
    doc = refund.model_dump(mode="json")
    return doc["items"], doc["discount"], doc["tax"], doc["shipping"], doc["total"]


# -- what may be returned -----------------------------------------------------------------------


def test_only_delivered_units_count_as_delivered() -> None:
    fulfillments = [
        fulfillment(("MUG-1", 2), ("TEE-M", 1), delivered_at=DELIVERED_AT),
        fulfillment(("MUG-1", 3), fulfillment_id="ful_0002", delivered_at=DELIVERED_AT),
        fulfillment(("MUG-1", 5), ("CAP-1", 1), fulfillment_id="ful_0003", status=F.IN_TRANSIT),
        fulfillment(("CAP-1", 4), fulfillment_id="ful_0004", status=F.CANCELLED),
    ]

    assert delivered_units(fulfillments) == {"MUG-1": 5, "TEE-M": 1}


def test_returnable_is_what_was_delivered_less_what_open_and_received_returns_cover() -> None:
    fulfillments = [fulfillment(("MUG-1", 4), ("TEE-M", 2), delivered_at=DELIVERED_AT)]
    returns = [
        rma(("MUG-1", 1)),
        rma(("MUG-1", 1), ("TEE-M", 2), status=ReturnStatus.RECEIVED, rma_id="rma_0002"),
        rma(("MUG-1", 2), status=ReturnStatus.REQUESTED, rma_id="rma_0003"),
    ]

    # TEE-M is all back: it is not returnable at all (not "0 returnable").
    assert returnable(fulfillments, returns) == {}
    assert returnable(fulfillments, returns[:2]) == {"MUG-1": 2}


def test_a_rejected_return_gives_its_units_back_to_what_may_be_returned() -> None:
    fulfillments = [fulfillment(("MUG-1", 2), delivered_at=DELIVERED_AT)]

    left = returnable(fulfillments, [rma(("MUG-1", 2), status=ReturnStatus.REJECTED)])

    assert left == {"MUG-1": 2}


def test_units_on_their_way_cannot_be_returned_yet() -> None:
    fulfillments = [
        fulfillment(("MUG-1", 1), delivered_at=DELIVERED_AT),
        fulfillment(("TEE-M", 1), fulfillment_id="ful_0002", status=F.SHIPPED),
    ]

    assert returnable(fulfillments, []) == {"MUG-1": 1}


def test_a_request_within_what_may_be_returned_is_not_over_returned() -> None:
    lines = [ReturnLine(sku="MUG-1", quantity=2, reason="broken")]

    assert over_returned(lines, {"MUG-1": 2}) == []


def test_over_returned_adds_up_the_lines_of_one_sku_and_names_each_sku_once() -> None:
    lines = [
        ReturnLine(sku="MUG-1", quantity=1, reason="broken"),
        ReturnLine(sku="MUG-1", quantity=2, reason="too many"),
        ReturnLine(sku="TEE-M", quantity=1, reason="too small"),
        ReturnLine(sku="CAP-1", quantity=1, reason="never ordered"),
    ]

    assert over_returned(lines, {"MUG-1": 2, "TEE-M": 1}) == [
        "MUG-1: 3 requested, 2 delivered and not yet returned",
        "CAP-1: 1 requested, 0 delivered and not yet returned",
    ]


# -- the decision -------------------------------------------------------------------------------


def test_nothing_delivered_yet_is_a_rejection_whatever_the_window() -> None:
    fulfillments = [fulfillment(("MUG-1", 1), status=F.OUT_FOR_DELIVERY)]

    assert decide(fulfillments, now=START, window_days=365) == "nothing of this order has been delivered yet"


def test_a_request_on_the_last_instant_of_the_window_is_approved() -> None:
    fulfillments = [fulfillment(("MUG-1", 1), delivered_at=DELIVERED_AT)]

    assert decide(fulfillments, now=DELIVERED_AT + timedelta(days=30), window_days=30) is None


def test_a_request_after_the_window_is_rejected_naming_the_day_it_closed() -> None:
    fulfillments = [fulfillment(("MUG-1", 1), delivered_at=DELIVERED_AT)]

    reason = decide(fulfillments, now=DELIVERED_AT + timedelta(days=30, microseconds=1), window_days=30)

    assert reason == "the 30-day return window closed on 2026-12-29"


def test_the_window_runs_from_the_last_delivery_of_the_order() -> None:
    later = DELIVERED_AT + timedelta(days=10)
    fulfillments = [
        fulfillment(("MUG-1", 1), delivered_at=DELIVERED_AT),
        fulfillment(("TEE-M", 1), fulfillment_id="ful_0002", delivered_at=later),
        # A parcel sent back by the carrier does not open a window, whatever time it carries.
        fulfillment(
            ("CAP-1", 1),
            fulfillment_id="ful_0003",
            status=F.RETURNED_TO_SENDER,
            delivered_at=later + timedelta(days=20),
        ),
    ]

    assert last_delivery(fulfillments) == later
    assert decide(fulfillments, now=DELIVERED_AT + timedelta(days=35), window_days=30) is None
    assert decide(fulfillments, now=later + timedelta(days=31), window_days=30) is not None


# -- the refund: known answers --------------------------------------------------------------------

#: 3 mugs at 10.00 and a tee at 40.00: subtotal 70.00, less 7.00, plus 5.60 tax and 4.99 shipping.
ORDER = priced_order(
    ("MUG-1", 3, "10.00"), ("TEE-M", 1, "40.00"), discount="7.00", tax="5.60", shipping="4.99"
)


def test_the_order_of_the_known_answers_adds_up_to_what_was_paid() -> None:
    assert ORDER.totals.total == Decimal("73.59")


def test_one_unit_back_earns_its_price_less_its_discount_share_plus_its_tax_share() -> None:
    refund = compute_refund(ORDER, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))

    # share 10/70: discount 1.00, tax 0.80; no shipping while things are still out.
    assert parts(refund) == ("10.00", "1.00", "0.80", "0.00", "9.80")
    assert refund.currency == "USD"


def test_refunds_of_one_then_the_rest_add_up_to_what_was_paid_and_the_last_one_carries_the_shipping() -> None:
    first = compute_refund(ORDER, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))
    rest = compute_refund(
        ORDER, got(("MUG-1", 2), ("TEE-M", 1)), completes_order=True, refunded_before=first.total
    )

    assert parts(rest) == ("60.00", "6.00", "4.80", "4.99", "63.79")
    assert first.total + rest.total == ORDER.totals.total


def test_refunds_of_one_unit_then_two_add_up_to_no_more_than_was_paid() -> None:
    # A third of the 5.00 discount is 1.666…: the first share rounds up, the second down.
    order = priced_order(("MUG-1", 3, "10.00"), discount="5.00", shipping="1.00")
    assert order.totals.total == Decimal("26.00")

    first = compute_refund(order, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))
    second = compute_refund(order, got(("MUG-1", 2)), completes_order=True, refunded_before=first.total)

    assert parts(first) == ("10.00", "1.67", "0.00", "0.00", "8.33")
    assert parts(second) == ("20.00", "3.33", "0.00", "1.00", "17.67")
    assert first.total + second.total == order.totals.total


def test_the_cap_takes_off_the_cent_that_rounding_each_return_separately_adds() -> None:
    order = priced_order(("MUG-1", 3, "10.00"), discount="1.00")  # 29.00 paid
    refunds: list[Decimal] = []
    for _ in range(3):
        refund = compute_refund(
            order,
            got(("MUG-1", 1)),
            completes_order=len(refunds) == 2,
            refunded_before=sum(refunds, Decimal(0)),
        )
        refunds.append(refund.total)

    # 10.00 - 0.33 each time; the last one is cut to what is left of the 29.00.
    assert refunds == [Decimal("9.67"), Decimal("9.67"), Decimal("9.66")]
    assert sum(refunds) == order.totals.total


def test_shipping_is_refunded_only_with_the_return_that_completes_the_order() -> None:
    order = priced_order(("MUG-1", 2, "10.00"), shipping="6.50")

    partial = compute_refund(order, got(("MUG-1", 2)), completes_order=False, refunded_before=Decimal(0))
    complete = compute_refund(order, got(("MUG-1", 2)), completes_order=True, refunded_before=Decimal(0))

    assert (partial.shipping, partial.total) == (Decimal("0.00"), Decimal("20.00"))
    assert (complete.shipping, complete.total) == (Decimal("6.50"), Decimal("26.50"))


def test_a_damaged_unit_is_refunded_and_a_wrong_item_earns_nothing() -> None:
    damaged = compute_refund(
        ORDER, got(("MUG-1", 1), condition=DAMAGED), completes_order=False, refunded_before=Decimal(0)
    )
    wrong = compute_refund(
        ORDER, got(("TEE-M", 1), condition=WRONG), completes_order=False, refunded_before=Decimal(0)
    )

    assert damaged.total == Decimal("9.80")
    assert parts(wrong)[:4] == ("0.00", "0.00", "0.00", "0.00")
    assert wrong.total == 0


def test_a_sku_the_order_never_had_earns_nothing() -> None:
    refund = compute_refund(ORDER, got(("CAP-1", 2)), completes_order=False, refunded_before=Decimal(0))

    assert refund.total == Decimal(0)


def test_nothing_more_is_refunded_once_the_order_total_has_been_refunded() -> None:
    refund = compute_refund(
        ORDER, got(("MUG-1", 1)), completes_order=True, refunded_before=ORDER.totals.total
    )

    assert refund.total == Decimal(0)
    assert refund.items == Decimal("10.00")  # the parts still say what came back


def test_shares_are_rounded_half_even_to_the_yen() -> None:
    # Half of the 1 yen discount is 0.5 -> 0; half of the 5 yen tax is 2.5 -> 2 (half-up: 1 and 3).
    order = priced_order(("MUG-1", 2, "1000"), currency="JPY", discount="1", tax="5")

    refund = compute_refund(order, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))

    assert parts(refund) == ("1000", "0", "2", "0", "1002")


def test_yen_refunds_of_one_then_two_units_add_up_to_what_was_paid() -> None:
    order = priced_order(("MUG-1", 3, "1000"), currency="JPY", discount="100", tax="80", shipping="500")
    assert order.totals.total == Decimal("3480")

    first = compute_refund(order, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))
    second = compute_refund(order, got(("MUG-1", 2)), completes_order=True, refunded_before=first.total)

    assert parts(first) == ("1000", "33", "27", "0", "994")
    assert parts(second) == ("2000", "67", "53", "500", "2486")
    assert first.total + second.total == order.totals.total


def test_bahraini_dinar_refunds_keep_three_decimals() -> None:
    order = priced_order(
        ("MUG-1", 3, "1.250"), currency="BHD", discount="0.100", tax="0.375", shipping="0.500"
    )
    assert order.totals.total == Decimal("4.525")

    first = compute_refund(order, got(("MUG-1", 1)), completes_order=False, refunded_before=Decimal(0))
    second = compute_refund(order, got(("MUG-1", 2)), completes_order=True, refunded_before=first.total)

    assert parts(first) == ("1.250", "0.033", "0.125", "0.000", "1.342")
    assert parts(second) == ("2.500", "0.067", "0.250", "0.500", "3.183")
    assert first.total + second.total == order.totals.total


def test_returning_everything_one_unit_at_a_time_refunds_exactly_what_was_paid() -> None:
    order = priced_order(("MUG-1", 3, "10.00"), discount="2.00")  # 28.00 paid; 0.666… off each mug
    refunded = Decimal(0)
    for n in range(3):
        refund = compute_refund(order, got(("MUG-1", 1)), completes_order=n == 2, refunded_before=refunded)
        refunded += refund.total

    assert refunded == order.totals.total


def test_every_unit_of_a_sku_sold_at_two_prices_back_refunds_what_was_paid_for_them() -> None:
    order = priced_order(("MUG-1", 1, "10.00"), ("MUG-1", 1, "20.00"))  # e.g. a second mug not on sale

    refund = compute_refund(order, got(("MUG-1", 2)), completes_order=True, refunded_before=Decimal(0))

    assert refund.total == order.totals.total == Decimal("30.00")


def test_only_resellable_units_go_back_on_the_shelf() -> None:
    received = [
        *got(("MUG-1", 2), ("TEE-M", 1)),
        *got(("MUG-1", 1)),
        *got(("TEE-M", 3), condition=DAMAGED),
        *got(("CAP-1", 1), condition=WRONG),
    ]

    assert resellable_units(received) == {"MUG-1": 3, "TEE-M": 1}


# -- the refund: property -------------------------------------------------------------------------


@st.composite
def orders_and_returns(draw: st.DrawFn):
    """An order with a discount, tax and shipping, and its units split into a sequence of returns."""
    currency = draw(st.sampled_from(["USD", "JPY", "BHD"]))
    unit = Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency])
    skus = draw(st.lists(st.sampled_from(["MUG-1", "TEE-M", "CAP-1"]), min_size=1, max_size=3, unique=True))
    items = [(sku, draw(st.integers(1, 4)), draw(st.integers(1, 50_000)) * unit) for sku in skus]
    subtotal = sum((qty * price for _, qty, price in items), Decimal(0))
    discount = draw(st.integers(0, int(subtotal / unit))) * unit
    tax = draw(st.integers(0, 20_000)) * unit
    shipping = draw(st.integers(0, 5_000)) * unit
    order = priced_order(
        *[(sku, qty, str(price)) for sku, qty, price in items],
        currency=currency,
        discount=str(discount),
        tax=str(tax),
        shipping=str(shipping),
    )
    units = [sku for sku, qty, _ in items for _ in range(qty)]
    units = draw(st.permutations(units))
    cuts = (
        sorted(draw(st.sets(st.integers(1, len(units) - 1), max_size=len(units) - 1)))
        if len(units) > 1
        else []
    )
    bounds = [0, *cuts, len(units)]
    returns = [units[a:b] for a, b in pairwise(bounds)]
    conditions = draw(
        st.lists(st.sampled_from([RESELLABLE, DAMAGED]), min_size=len(units), max_size=len(units))
    )
    return order, returns, conditions, unit


@settings(max_examples=150, deadline=None)
@given(orders_and_returns())
def test_refunds_of_returns_covering_every_unit_never_exceed_the_total_and_reach_it_within_rounding(
    case,
) -> None:
    order, returns, conditions, unit = case
    refunded = Decimal(0)
    condition_of = iter(conditions)
    for n, skus in enumerate(returns):
        received = [ReceivedItem(sku=sku, quantity=1, condition=next(condition_of)) for sku in skus]
        refund = compute_refund(
            order, received, completes_order=n == len(returns) - 1, refunded_before=refunded
        )
        assert refund.total >= 0
        assert refund.total == refund.total.quantize(unit)  # never finer than the minor unit
        refunded += refund.total
        assert refunded <= order.totals.total

    # Each return's discount and tax shares are rounded on their own: at most half a minor unit
    # each, so everything back refunds the total, less at most one minor unit per return.
    assert order.totals.total - len(returns) * unit <= refunded <= order.totals.total
