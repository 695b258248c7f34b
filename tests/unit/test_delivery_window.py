"""Estimated delivery windows: ship day plus transit business days, the carrier's estimate once
known, and the order's promise as the API, the e-mail and the status page show it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.models import Hold, Shipment, Warehouse
from chalicelib.domain.promise import (
    DeliveryWindow,
    WindowBasis,
    add_business_days,
    delivery_window,
    order_promise,
    warehouse_ship_by,
)
from chalicelib.domain.status import FulfillmentStatus, HoldReason
from chalicelib.domain.transit import BUILT_IN_DEFAULT, TransitTable, TransitTime, TransitTimeSpec
from tests.unit.builders import EAST, WEST, fulfillment, make_order

ZONES = ["America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "Pacific/Auckland", "UTC"]
NY = "America/New_York"


def row(min_days: int, max_days: int, carrier: str = "*", service: str = "*", *methods: str) -> TransitTime:
    return TransitTime(
        carrier=carrier, service=service, min_days=min_days, max_days=max_days, shipping_methods=list(methods)
    )


def business_days_between(after: date, until: date) -> int:
    """Weekdays d with after < d <= until, counted one by one (the reference for the fast count)."""
    count, day = 0, after
    while day < until:
        day += timedelta(days=1)
        count += day.weekday() < 5
    return count


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
transit_rows = st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: row(min(t), max(t)))


# -- the window of one parcel ------------------------------------------------------------------


@given(start=instants, transit=transit_rows, tz=st.sampled_from(ZONES), shipped=st.booleans())
def test_a_transit_window_is_ordered_on_business_days_and_never_before_the_ship_day(
    start: datetime, transit: TransitTime, tz: str, shipped: bool
) -> None:
    window = delivery_window(
        ship_by=None if shipped else start,
        shipped_at=start if shipped else None,
        transit=transit,
        timezone=tz,
    )

    assert window is not None
    ship_day = start.astimezone(ZoneInfo(tz)).date()
    assert ship_day <= window.earliest <= window.latest
    assert window.earliest.weekday() < 5 and window.latest.weekday() < 5
    assert window.basis == WindowBasis.TRANSIT_TABLE


@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), days=st.integers(0, 40))
def test_adding_business_days_counts_weekdays_after_the_ship_day(day: date, days: int) -> None:
    arrival = add_business_days(day, days)

    assert arrival.weekday() < 5
    if day.weekday() < 5:
        assert business_days_between(day, arrival) == days
    else:  # a weekend ship day: the next Monday is the first day in transit
        assert business_days_between(day, arrival) == max(days, 1)


@given(start=instants, transit=transit_rows, tz=st.sampled_from(ZONES), offset=st.integers(-12, 14))
def test_the_window_depends_on_the_instant_not_on_the_offset_it_is_written_in(
    start: datetime, transit: TransitTime, tz: str, offset: int
) -> None:
    elsewhere = start.astimezone(timezone(timedelta(hours=offset)))

    assert delivery_window(ship_by=start, shipped_at=None, transit=transit, timezone=tz) == delivery_window(
        ship_by=elsewhere, shipped_at=None, transit=transit, timezone=tz
    )


def test_the_ship_day_is_a_date_of_the_warehouse_time_zone() -> None:
    # Friday 2026-12-04 23:30 in New York is already Saturday in UTC.
    late_friday = datetime(2026, 12, 5, 4, 30, tzinfo=UTC)
    transit = row(1, 2)

    in_new_york = delivery_window(ship_by=None, shipped_at=late_friday, transit=transit, timezone=NY)
    in_berlin = delivery_window(
        ship_by=None, shipped_at=late_friday, transit=transit, timezone="Europe/Berlin"
    )

    assert in_new_york == DeliveryWindow(
        earliest=date(2026, 12, 7), latest=date(2026, 12, 8), basis=WindowBasis.TRANSIT_TABLE
    )
    assert in_berlin == DeliveryWindow(  # Saturday there: Monday is the first transit day
        earliest=date(2026, 12, 7), latest=date(2026, 12, 8), basis=WindowBasis.TRANSIT_TABLE
    )


def test_a_friday_ship_by_with_one_to_five_days_spans_the_next_week() -> None:
    ship_by = datetime(2026, 12, 4, 23, 59, 59, tzinfo=ZoneInfo(NY))

    window = delivery_window(ship_by=ship_by, shipped_at=None, transit=row(1, 5), timezone=NY)

    assert window == DeliveryWindow(
        earliest=date(2026, 12, 7), latest=date(2026, 12, 11), basis=WindowBasis.TRANSIT_TABLE
    )


def test_the_ship_day_replaces_the_ship_by_once_the_parcel_ships() -> None:
    promised = datetime(2026, 12, 2, 23, 59, tzinfo=ZoneInfo(NY))  # Wednesday
    shipped = datetime(2026, 12, 3, 15, 0, tzinfo=ZoneInfo(NY))  # Thursday, a day late

    window = delivery_window(ship_by=promised, shipped_at=shipped, transit=row(1, 3), timezone=NY)

    assert window is not None and (window.earliest, window.latest) == (date(2026, 12, 4), date(2026, 12, 8))


@given(start=instants, transit=transit_rows, estimate=instants)
def test_a_carrier_estimate_takes_precedence_and_never_falls_before_the_ship_day(
    start: datetime, transit: TransitTime, estimate: datetime
) -> None:
    window = delivery_window(
        ship_by=None, shipped_at=start, transit=transit, timezone=NY, carrier_estimate=estimate
    )

    assert window is not None and window.basis == WindowBasis.CARRIER
    assert window.earliest == window.latest == max(estimate.date(), start.astimezone(ZoneInfo(NY)).date())


def test_a_carrier_estimate_is_read_as_the_carrier_s_own_date() -> None:
    # Providers pass "2026-12-09" (no offset) on as midnight UTC: it is the 9th, not New York's 8th.
    window = delivery_window(
        ship_by=None,
        shipped_at=datetime(2026, 12, 7, 18, 0, tzinfo=UTC),
        transit=row(1, 5),
        timezone=NY,
        carrier_estimate=datetime(2026, 12, 9, tzinfo=UTC),
    )

    assert window == DeliveryWindow(
        earliest=date(2026, 12, 9), latest=date(2026, 12, 9), basis=WindowBasis.CARRIER
    )


def test_a_delivered_parcel_s_window_is_its_delivery_day() -> None:
    window = delivery_window(
        ship_by=None,
        shipped_at=datetime(2026, 12, 7, 18, 0, tzinfo=UTC),
        transit=row(1, 5),
        timezone=NY,
        carrier_estimate=datetime(2026, 12, 9, tzinfo=UTC),
        delivered_at=datetime(2026, 12, 8, 15, 0, tzinfo=UTC),
    )

    assert window == DeliveryWindow(
        earliest=date(2026, 12, 8), latest=date(2026, 12, 8), basis=WindowBasis.DELIVERED
    )


def test_without_a_ship_day_there_is_no_window() -> None:
    assert delivery_window(ship_by=None, shipped_at=None, transit=row(1, 5), timezone=NY) is None


# -- the transit table ------------------------------------------------------------------------------


TABLE = TransitTable.of(
    [
        row(1, 5, "ups", "ground", "Standard", "UPS Ground"),
        row(1, 1, "ups", "next_day_air", "Express"),
        row(2, 4, "ups", "*"),
        row(1, 3, "usps", "priority_mail", "Priority"),
        row(2, 7, "*", "*"),
    ]
)


@pytest.mark.parametrize(
    ("carrier", "service", "method", "expected"),
    [
        ("ups", "ground", "Express", ("ups", "ground")),  # shipped: the parcel's service wins
        ("UPS", "Next Day Air", None, ("ups", "next_day_air")),  # carrier and service as written
        ("ups", "worldwide_saver", None, ("ups", "*")),  # the carrier's default
        ("usps", "Priority Mail", "Standard", ("usps", "priority_mail")),
        ("dhl", "express", "Express", ("ups", "next_day_air")),  # not in the table: the method's row
        (None, None, "  ups   GROUND ", ("ups", "ground")),  # before shipping: the method, blanks collapsed
        (None, None, "Pickup in store", ("*", "*")),
        (None, None, None, ("*", "*")),
    ],
)
def test_the_most_specific_row_applies(
    carrier: str | None, service: str | None, method: str | None, expected: tuple[str, str]
) -> None:
    assert TABLE.for_parcel(carrier, service, method).key == expected


def test_an_empty_table_answers_the_built_in_default() -> None:
    assert TransitTable().for_parcel(None, None, "Standard") == BUILT_IN_DEFAULT
    assert (BUILT_IN_DEFAULT.min_days, BUILT_IN_DEFAULT.max_days) == (1, 5)


def test_a_row_with_fewer_days_at_most_than_at_least_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_days is more than max_days"):
        TransitTimeSpec(min_days=3, max_days=2)


def test_a_row_naming_a_shipping_method_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="named twice"):
        TransitTimeSpec(min_days=1, max_days=2, shipping_methods=["Standard", " standard"])


def test_equal_specs_build_equal_rows() -> None:
    one = TransitTimeSpec(min_days=1, max_days=2, shipping_methods=["b", "A"]).build("ups", "ground")
    other = TransitTimeSpec(min_days=1, max_days=2, shipping_methods=["A", "b"]).build("ups", "ground")

    assert one == other and one.shipping_methods == ["A", "b"]


# -- the order's promise -----------------------------------------------------------------------------

PLACED_AT = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York, before the cut-off
WAREHOUSES = [
    Warehouse(id=EAST, name="East", priority=1, timezone=NY, country="US"),
    Warehouse(id=WEST, name="West", priority=2, timezone="America/Los_Angeles", country="US"),
]


def test_a_pending_fulfillment_promises_what_releasing_it_now_would() -> None:
    order = make_order(created_at=PLACED_AT, shipping_method="Standard")
    pending = fulfillment(("MUG-1", 1), status=FulfillmentStatus.PENDING)

    promise = order_promise(order, [pending], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)

    assert promise.promised_ship_by == warehouse_ship_by(PLACED_AT, WAREHOUSES[0])
    assert promise.promised_ship_date == date(2026, 12, 7)  # 04:59 UTC on the 8th is the 7th in New York
    assert promise.delivery_window == DeliveryWindow(
        earliest=date(2026, 12, 8), latest=date(2026, 12, 14), basis=WindowBasis.TRANSIT_TABLE
    )
    assert promise.fulfillments[0].delivery_window == promise.delivery_window


def test_an_order_on_hold_promises_nothing_until_it_is_released() -> None:
    hold = Hold(reason=HoldReason.FRAUD_REVIEW, placed_at=PLACED_AT, placed_by="system:receipt")
    order = make_order(created_at=PLACED_AT, holds=[hold])
    held = fulfillment(("MUG-1", 1), status=FulfillmentStatus.PENDING)

    promise = order_promise(order, [held], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)

    assert (promise.promised_ship_by, promise.delivery_window) == (None, None)


def test_an_order_with_a_backorder_promises_nothing_as_a_whole() -> None:
    order = make_order(created_at=PLACED_AT)
    released = fulfillment(("MUG-1", 1), status=FulfillmentStatus.RELEASED).model_copy(
        update={"ship_by": datetime(2026, 12, 8, 4, 59, tzinfo=UTC)}
    )
    backorder = fulfillment(
        ("TEE-M", 1), status=FulfillmentStatus.PENDING, fulfillment_id="ful_0002", warehouse_id=None
    )

    promise = order_promise(order, [released, backorder], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)

    assert (promise.promised_ship_by, promise.delivery_window) == (None, None)
    assert promise.of("ful_0001") is not None and promise.of("ful_0001").delivery_window is not None  # type: ignore[union-attr]
    assert promise.of("ful_0002") == promise.of("ful_0002").model_copy(  # type: ignore[union-attr]
        update={"promised_ship_by": None, "delivery_window": None}
    )


def test_the_order_s_promise_is_its_last_parcel_s_and_cancelled_ones_do_not_count() -> None:
    order = make_order(created_at=PLACED_AT, shipping_method="Priority")
    east = fulfillment(("MUG-1", 1), status=FulfillmentStatus.RELEASED).model_copy(
        update={"ship_by": datetime(2026, 12, 8, 4, 59, tzinfo=UTC)}  # Monday in New York
    )
    west = fulfillment(
        ("TEE-M", 1), status=FulfillmentStatus.RELEASED, fulfillment_id="ful_0002", warehouse_id=WEST
    ).model_copy(update={"ship_by": datetime(2026, 12, 9, 7, 59, tzinfo=UTC)})  # Tuesday in Los Angeles
    cancelled = fulfillment(
        ("CAP-1", 1), status=FulfillmentStatus.CANCELLED, fulfillment_id="ful_0003"
    ).model_copy(update={"ship_by": datetime(2026, 12, 20, tzinfo=UTC)})

    promise = order_promise(
        order, [east, west, cancelled], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT
    )

    assert promise.promised_ship_by == west.ship_by
    assert promise.delivery_window == DeliveryWindow(  # Priority: 1 to 3 days after Tuesday
        earliest=date(2026, 12, 9), latest=date(2026, 12, 11), basis=WindowBasis.TRANSIT_TABLE
    )
    assert [p.fulfillment_id for p in promise.fulfillments] == ["ful_0001", "ful_0002"]


def test_after_shipping_the_window_follows_the_carrier() -> None:
    order = make_order(created_at=PLACED_AT, shipping_method="Standard")
    shipped_at = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    shipped = fulfillment(("MUG-1", 1), status=FulfillmentStatus.IN_TRANSIT).model_copy(
        update={
            "ship_by": datetime(2026, 12, 8, 4, 59, tzinfo=UTC),
            "shipment": Shipment(
                carrier="usps", service="Priority Mail", tracking_numbers=["9400"], shipped_at=shipped_at
            ),
        }
    )

    by_table = order_promise(order, [shipped], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)
    estimated = shipped.model_copy(update={"estimated_delivery": datetime(2026, 12, 9, tzinfo=UTC)})
    by_carrier = order_promise(order, [estimated], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)

    assert by_table.delivery_window == DeliveryWindow(  # usps priority_mail, not the Standard method's row
        earliest=date(2026, 12, 8), latest=date(2026, 12, 10), basis=WindowBasis.TRANSIT_TABLE
    )
    assert by_carrier.delivery_window == DeliveryWindow(
        earliest=date(2026, 12, 9), latest=date(2026, 12, 9), basis=WindowBasis.CARRIER
    )
    assert by_carrier.promised_ship_by == shipped.ship_by


def test_a_parcel_returned_to_sender_has_no_window_and_leaves_the_order_s_promise() -> None:
    order = make_order(created_at=PLACED_AT)
    returned = fulfillment(("MUG-1", 1), status=FulfillmentStatus.RETURNED_TO_SENDER).model_copy(
        update={"ship_by": datetime(2026, 12, 8, 4, 59, tzinfo=UTC)}
    )
    reship = fulfillment(
        ("MUG-1", 1), status=FulfillmentStatus.RELEASED, fulfillment_id="ful_0002"
    ).model_copy(update={"ship_by": datetime(2026, 12, 10, 4, 59, tzinfo=UTC)})

    promise = order_promise(order, [returned, reship], warehouses=WAREHOUSES, transit=TABLE, now=PLACED_AT)

    assert promise.of("ful_0001").delivery_window is None  # type: ignore[union-attr]
    assert promise.promised_ship_by == reship.ship_by
    assert promise.delivery_window == DeliveryWindow(  # the default row: 2 to 7 days after Wednesday
        earliest=date(2026, 12, 11), latest=date(2026, 12, 18), basis=WindowBasis.TRANSIT_TABLE
    )
