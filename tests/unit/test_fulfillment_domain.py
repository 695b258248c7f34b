"""Pure rules of the warehouse road: the order follows its fulfillments, short picks,
cancellation plans and carrier tracking links."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.fulfillment import (
    NothingLeftToCancel,
    assess_pick,
    derive_order_status,
    follow_fulfillments,
    pick_report_errors,
    plan_cancellation,
    settle,
    tracking_url,
)
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Order
from chalicelib.domain.status import FulfillmentStatus, InvalidTransition, OrderStatus
from tests.unit.builders import EAST, WEB, WEST, make_order
from tests.unit.fakes import START

F, O = FulfillmentStatus, OrderStatus  # noqa: E741 - short aliases keep the tables readable


def ful(
    fid: str,
    status: FulfillmentStatus = F.RELEASED,
    *lines: tuple[str, int],
    warehouse_id: str | None = EAST,
    minutes: int = 0,
) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id="ord_0001",
        channel_id=WEB,
        warehouse_id=warehouse_id,
        status=status,
        version=1,
        lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in lines or (("MUG-1", 1),)],
        created_at=START + timedelta(minutes=minutes),
        updated_at=START,
    )


def backorder(fid: str, *lines: tuple[str, int], status: FulfillmentStatus = F.PENDING) -> Fulfillment:
    return ful(fid, status, *lines, warehouse_id=None)


def order(status: OrderStatus) -> Order:
    return make_order(status=status)


# -- the order follows its fulfillments -------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "statuses", "expected"),
    [
        (O.CONFIRMED, [F.RELEASED, F.RELEASED], O.CONFIRMED),
        (O.CONFIRMED, [F.PICKING, F.RELEASED], O.IN_FULFILLMENT),
        (O.CONFIRMED, [F.PICKED], O.IN_FULFILLMENT),
        (O.IN_FULFILLMENT, [F.PACKED, F.RELEASED], O.IN_FULFILLMENT),
        (O.IN_FULFILLMENT, [F.SHIPPED, F.PICKED], O.PARTIALLY_SHIPPED),
        (O.IN_FULFILLMENT, [F.SHIPPED, F.PENDING], O.PARTIALLY_SHIPPED),  # a backorder still waits
        (O.PARTIALLY_SHIPPED, [F.SHIPPED, F.IN_TRANSIT], O.SHIPPED),
        (O.IN_FULFILLMENT, [F.SHIPPED, F.CANCELLED], O.SHIPPED),  # cancelled work does not count
        (O.SHIPPED, [F.DELIVERED, F.IN_TRANSIT], O.PARTIALLY_DELIVERED),
        (O.SHIPPED, [F.DELIVERED, F.DELIVERED], O.DELIVERED),
        (O.BACKORDERED, [F.RELEASED, F.PENDING], O.BACKORDERED),
        (O.BACKORDERED, [F.PICKED, F.PENDING], O.IN_FULFILLMENT),
        (O.ON_HOLD, [F.ON_HOLD, F.PACKED], O.ON_HOLD),  # held: work under way does not lift the hold
        (O.PLACED, [F.PENDING], O.PLACED),
        (O.CONFIRMED, [F.CANCELLED], O.CONFIRMED),  # nothing active: the order keeps its status
        (O.CANCELLED, [F.SHIPPED], O.CANCELLED),
        (O.RETURNED, [F.DELIVERED], O.RETURNED),
    ],
)
def test_the_order_status_is_derived_from_its_active_fulfillments(
    current: OrderStatus, statuses: list[FulfillmentStatus], expected: OrderStatus
) -> None:
    fulfillments = [ful(f"ful_{n}", status) for n, status in enumerate(statuses)]

    assert derive_order_status(order(current), fulfillments) == expected


def test_following_the_fulfillments_moves_the_order_through_its_state_machine() -> None:
    confirmed = order(O.CONFIRMED)

    moved = follow_fulfillments(confirmed, [ful("ful_1", F.SHIPPED), ful("ful_2", F.PICKED)])

    assert moved.status == O.PARTIALLY_SHIPPED
    assert moved.model_copy(update={"status": O.CONFIRMED}) == confirmed  # nothing else changes
    assert follow_fulfillments(confirmed, [ful("ful_1", F.RELEASED)]) is confirmed


def test_following_the_fulfillments_refuses_a_move_the_order_machine_does_not_allow() -> None:
    # A backordered order cannot jump to shipped: it has units that never shipped.
    with pytest.raises(InvalidTransition) as excinfo:
        follow_fulfillments(order(O.BACKORDERED), [ful("ful_1", F.SHIPPED)])

    assert (excinfo.value.entity, excinfo.value.current, excinfo.value.trigger) == (
        "order",
        "backordered",
        "ship_all",
    )


def test_a_backordered_order_whose_last_backorder_goes_is_confirmed() -> None:
    fulfillments = [ful("ful_1", F.RELEASED), backorder("ful_2", status=F.CANCELLED)]

    assert settle(order(O.BACKORDERED), fulfillments).status == O.CONFIRMED


def test_a_backordered_order_with_a_backorder_still_waiting_stays_backordered() -> None:
    fulfillments = [ful("ful_1", F.RELEASED), backorder("ful_2"), backorder("ful_3", status=F.CANCELLED)]

    assert settle(order(O.BACKORDERED), fulfillments).status == O.BACKORDERED


def test_a_held_backorder_still_counts_as_waiting() -> None:
    assert settle(order(O.BACKORDERED), [backorder("ful_1", status=F.ON_HOLD)]).status == O.BACKORDERED


def test_settling_confirms_first_and_then_follows_the_work() -> None:
    fulfillments = [ful("ful_1", F.PICKED), backorder("ful_2", status=F.CANCELLED)]

    assert settle(order(O.BACKORDERED), fulfillments).status == O.IN_FULFILLMENT


def test_settling_leaves_an_order_that_was_not_backordered_to_its_work() -> None:
    assert settle(order(O.IN_FULFILLMENT), [ful("ful_1", F.SHIPPED), backorder("ful_2")]).status == (
        O.PARTIALLY_SHIPPED
    )


# -- picks ------------------------------------------------------------------------------------


def test_a_complete_pick_has_no_shortfall() -> None:
    work = ful("ful_1", F.RELEASED, ("MUG-1", 2), ("TEE-M", 1))

    outcome = assess_pick(work, {"MUG-1": 2, "TEE-M": 1})

    assert outcome.picked == work.lines
    assert (outcome.shortfalls, outcome.is_short) == ({}, False)


def test_a_short_pick_keeps_what_was_found_and_names_what_was_not() -> None:
    work = ful("ful_1", F.RELEASED, ("MUG-1", 3), ("TEE-M", 1), ("CAP-1", 2))

    outcome = assess_pick(work, {"MUG-1": 1, "TEE-M": 0, "CAP-1": 2})

    assert outcome.picked == [
        FulfillmentLine(sku="MUG-1", quantity=1),
        FulfillmentLine(sku="CAP-1", quantity=2),
    ]
    assert (outcome.shortfalls, outcome.is_short) == ({"MUG-1": 2, "TEE-M": 1}, True)


def test_a_pick_of_nothing_at_all_picks_no_line() -> None:
    outcome = assess_pick(ful("ful_1", F.RELEASED, ("MUG-1", 2)), {"MUG-1": 0})

    assert (outcome.picked, outcome.shortfalls) == ([], {"MUG-1": 2})


def test_a_correct_pick_report_has_no_errors() -> None:
    work = ful("ful_1", F.RELEASED, ("MUG-1", 2), ("TEE-M", 1))

    assert pick_report_errors(work, {"MUG-1": 0, "TEE-M": 1}) == []


@pytest.mark.parametrize(
    ("reported", "errors"),
    [
        ({"MUG-1": 2}, ["TEE-M was not reported (report 0 when none was found)"]),
        ({"MUG-1": 3, "TEE-M": 1}, ["MUG-1: 3 picked but only 2 wanted"]),
        ({"MUG-1": 2, "TEE-M": 1, "CAP-1": 1}, ["CAP-1 is not in this fulfillment"]),
        (
            {"CAP-1": 0, "TEE-M": 5},
            [
                "CAP-1 is not in this fulfillment",
                "MUG-1 was not reported (report 0 when none was found)",
                "TEE-M: 5 picked but only 1 wanted",
            ],
        ),
    ],
    ids=["an unreported sku", "an over-pick", "an unknown sku", "all of them"],
)
def test_a_pick_report_is_checked_against_the_work(reported: dict[str, int], errors: list[str]) -> None:
    work = ful("ful_1", F.RELEASED, ("MUG-1", 2), ("TEE-M", 1))

    assert pick_report_errors(work, reported) == errors


# -- cancellation plans -----------------------------------------------------------------------


def test_cancelling_a_whole_order_cancels_every_open_fulfillment_and_releases_their_stock() -> None:
    fulfillments = [
        ful("ful_1", F.PICKED, ("MUG-1", 2), ("TEE-M", 1)),
        ful("ful_2", F.RELEASED, ("MUG-1", 1), warehouse_id=WEST),
        backorder("ful_3", ("CAP-1", 4)),
        ful("ful_4", F.SHIPPED, ("MUG-1", 5)),  # gone already: not part of the plan
        ful("ful_5", F.CANCELLED, ("MUG-1", 9)),
    ]

    plan = plan_cancellation(fulfillments, None)

    assert plan.remaining == {"ful_1": [], "ful_2": [], "ful_3": []}
    assert plan.cancelled == {"MUG-1": 3, "TEE-M": 1, "CAP-1": 4}
    assert plan.released == {(EAST, "MUG-1"): 2, (EAST, "TEE-M"): 1, (WEST, "MUG-1"): 1}
    assert plan.blocking == []


def test_a_packed_fulfillment_blocks_cancelling_the_whole_order() -> None:
    packed = ful("ful_2", F.PACKED)

    plan = plan_cancellation([ful("ful_1", F.RELEASED), packed], None)

    assert plan.blocking == [packed]
    assert (plan.remaining, plan.cancelled, plan.released) == ({}, {}, {})


def test_cancelled_units_come_from_backorders_first() -> None:
    fulfillments = [ful("ful_1", F.RELEASED, ("MUG-1", 3)), backorder("ful_2", ("MUG-1", 2))]

    plan = plan_cancellation(fulfillments, {"MUG-1": 3})

    assert plan.remaining == {"ful_2": [], "ful_1": [FulfillmentLine(sku="MUG-1", quantity=2)]}
    assert (plan.cancelled, plan.released) == ({"MUG-1": 3}, {(EAST, "MUG-1"): 1})


def test_then_from_the_fulfillment_least_far_along() -> None:
    fulfillments = [
        ful("ful_1", F.PICKED, ("MUG-1", 2)),
        ful("ful_2", F.RELEASED, ("MUG-1", 1), warehouse_id=WEST),
        ful("ful_3", F.PICKING, ("MUG-1", 2)),
    ]

    plan = plan_cancellation(fulfillments, {"MUG-1": 2})

    assert plan.remaining == {"ful_2": [], "ful_3": [FulfillmentLine(sku="MUG-1", quantity=1)]}
    assert plan.released == {(WEST, "MUG-1"): 1, (EAST, "MUG-1"): 1}


def test_among_equally_far_along_fulfillments_the_oldest_gives_first() -> None:
    fulfillments = [ful("ful_new", F.RELEASED, minutes=5), ful("ful_old", F.RELEASED, minutes=1)]

    assert plan_cancellation(fulfillments, {"MUG-1": 1}).remaining == {"ful_old": []}


def test_cancelling_a_line_leaves_the_fulfillments_other_lines_alone() -> None:
    plan = plan_cancellation([ful("ful_1", F.RELEASED, ("MUG-1", 2), ("TEE-M", 1))], {"TEE-M": 1})

    assert plan.remaining == {"ful_1": [FulfillmentLine(sku="MUG-1", quantity=2)]}


def test_units_that_only_packed_work_still_holds_are_blocked_by_it() -> None:
    packed = ful("ful_2", F.PACKED, ("MUG-1", 2))

    plan = plan_cancellation([ful("ful_1", F.RELEASED, ("MUG-1", 1)), packed], {"MUG-1": 2})

    assert plan.blocking == [packed]


def test_units_available_outside_packed_work_are_taken_there_without_blocking() -> None:
    plan = plan_cancellation([ful("ful_1", F.PACKED, ("MUG-1", 2)), ful("ful_2", F.RELEASED)], {"MUG-1": 1})

    assert (plan.blocking, plan.remaining) == ([], {"ful_2": []})


def test_cancelling_more_units_than_are_open_is_refused() -> None:
    fulfillments = [ful("ful_1", F.RELEASED, ("MUG-1", 2)), ful("ful_2", F.SHIPPED, ("MUG-1", 3))]

    with pytest.raises(NothingLeftToCancel) as excinfo:
        plan_cancellation(fulfillments, {"MUG-1": 4})

    assert (excinfo.value.sku, excinfo.value.excess) == ("MUG-1", 2)
    assert str(excinfo.value) == "2 more units of MUG-1 than the order has open to cancel"


def test_cancelling_a_sku_the_order_does_not_have_is_refused() -> None:
    with pytest.raises(NothingLeftToCancel):
        plan_cancellation([ful("ful_1", F.RELEASED)], {"CAP-1": 1})


SKUS = ("MUG-1", "TEE-M", "CAP-1")
CANCELLABLE_OR_NOT = [F.PENDING, F.ON_HOLD, F.RELEASED, F.PICKING, F.PICKED, F.PACKED, F.SHIPPED, F.CANCELLED]


@st.composite
def fulfillment_sets(draw: st.DrawFn) -> list[Fulfillment]:
    """Fulfillments as the service makes them: each SKU once per fulfillment, backorders single-SKU."""
    result = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        status = draw(st.sampled_from(CANCELLABLE_OR_NOT))
        if draw(st.booleans()) and status in (F.PENDING, F.ON_HOLD, F.CANCELLED):
            skus = [draw(st.sampled_from(SKUS))]
            warehouse: str | None = None
        else:
            skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
            warehouse = draw(st.sampled_from([EAST, WEST]))
        lines = [(sku, draw(st.integers(min_value=1, max_value=5))) for sku in skus]
        result.append(
            ful(f"ful_{n}", status, *lines, warehouse_id=warehouse, minutes=draw(st.integers(0, 3)))
        )
    return result


def open_units(fulfillments: list[Fulfillment]) -> Counter[str]:
    units: Counter[str] = Counter()
    for f in fulfillments:
        if f.is_active and f.status not in (F.SHIPPED,):
            for line in f.lines:
                units[line.sku] += line.quantity
    return units


@settings(max_examples=150, deadline=None)
@given(
    fulfillments=fulfillment_sets(),
    request=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(SKUS), st.integers(min_value=1, max_value=8), min_size=1)
    ),
)
def test_a_cancellation_plan_accounts_for_every_open_unit(
    fulfillments: list[Fulfillment], request: dict[str, int] | None
) -> None:
    try:
        plan = plan_cancellation(fulfillments, request)
    except NothingLeftToCancel as refused:
        assert refused.excess > 0
        return
    if plan.blocking:
        assert all(f.status == F.PACKED for f in plan.blocking)
        return

    after = [
        f.model_copy(update={"lines": plan.remaining[f.id]}) if f.id in plan.remaining else f
        for f in fulfillments
    ]
    before, left = open_units(fulfillments), open_units(after)
    for sku in SKUS:
        assert plan.cancelled.get(sku, 0) + left[sku] == before[sku]
    if request is not None:
        assert plan.cancelled == request
    # Exactly the cancelled units that held a reservation (not a backorder's) are released.
    released: Counter[str] = Counter()
    for (_, sku), quantity in plan.released.items():
        released[sku] += quantity
    from_backorders = open_units([f for f in fulfillments if f.awaiting_stock]) - open_units(
        [f for f in after if f.awaiting_stock]
    )
    for sku in SKUS:
        assert released[sku] == plan.cancelled.get(sku, 0) - from_backorders[sku]
    assert all(line.quantity > 0 for lines in plan.remaining.values() for line in lines)


# -- tracking links ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("carrier", "url"),
    [
        ("usps", "https://tools.usps.com/go/TrackConfirmAction?tLabels=1Z999"),
        ("UPS", "https://www.ups.com/track?tracknum=1Z999"),
        ("FedEx", "https://www.fedex.com/fedextrack/?trknbr=1Z999"),
        ("dhl", "https://www.dhl.com/global-en/home/tracking/tracking-express.html?tracking-id=1Z999"),
        ("royal_mail", "https://www.royalmail.com/track-your-item#/tracking-results/1Z999"),
        ("dpd", "https://tracking.dpd.de/status/en_US/parcel/1Z999"),
    ],
)
def test_known_carriers_get_a_link_to_their_tracking_page(carrier: str, url: str) -> None:
    assert tracking_url(carrier, "1Z999") == url


def test_an_unknown_carrier_gets_no_link_rather_than_a_wrong_one() -> None:
    assert tracking_url("pigeon-post", "1Z999") is None


def test_the_tracking_number_is_quoted_into_the_link() -> None:
    assert (
        tracking_url("ups", "1Z 99/9?&x=1#") == "https://www.ups.com/track?tracknum=1Z%2099%2F9%3F%26x%3D1%23"
    )
