"""Holiday-aware promises: each warehouse's own calendar (business days, holidays, time zone,
cut-off) decides its ship-by dates, and release_work uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.models import Warehouse, Weekday
from chalicelib.domain.promise import warehouse_ship_by
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.changes import release_work
from tests.unit.builders import fulfillment

ZONES = ["America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "UTC"]


@st.composite
def calendars(draw: st.DrawFn) -> Warehouse:
    days = draw(st.sets(st.sampled_from(list(Weekday)), min_size=1, max_size=7))
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=60, unique=True))
    hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))
    return Warehouse(
        id="wh-x",
        name="X",
        priority=1,
        timezone=draw(st.sampled_from(ZONES)),
        cutoff=f"{hour:02d}:{minute:02d}",
        country="DE",
        business_days=sorted(days, key=lambda d: d.number),
        holidays=holidays,
    )


released = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


def ship_day(warehouse: Warehouse, at: datetime) -> date:
    return warehouse_ship_by(at, warehouse).astimezone(ZoneInfo(warehouse.timezone)).date()


@settings(max_examples=300, deadline=None)
@given(warehouse=calendars(), at=released)
def test_a_ship_by_date_is_never_a_holiday_or_closed_day_and_never_before_the_release(
    warehouse: Warehouse, at: datetime
) -> None:
    promise = warehouse_ship_by(at, warehouse)
    day = ship_day(warehouse, at)
    assert promise > at
    assert day not in warehouse.holidays
    assert day.weekday() in warehouse.business_day_numbers
    local_release = at.astimezone(ZoneInfo(warehouse.timezone)).date()
    # No open day is skipped: every day between the release and the promise is closed, or is the
    # release day itself (released after its cut-off).
    for offset in range(1, (day - local_release).days):
        between = local_release + timedelta(days=offset)
        assert between in warehouse.holidays or between.weekday() not in warehouse.business_day_numbers


@settings(max_examples=300, deadline=None)
@given(warehouse=calendars(), at=released, later=st.timedeltas(timedelta(0), timedelta(days=20)))
def test_a_later_release_never_gets_an_earlier_promise(
    warehouse: Warehouse, at: datetime, later: timedelta
) -> None:
    assert warehouse_ship_by(at + later, warehouse) >= warehouse_ship_by(at, warehouse)


def test_christmas_in_berlin_ships_after_the_holidays() -> None:
    berlin = Warehouse(
        id="wh-berlin",
        name="Berlin",
        priority=1,
        timezone="Europe/Berlin",
        cutoff="14:00",
        country="DE",
        holidays=[date(2026, 12, 24), date(2026, 12, 25)],
    )
    # Wednesday 23 December 2026, 15:00 in Berlin: after the cut-off; Thursday and Friday are holidays.
    at = datetime(2026, 12, 23, 14, 0, tzinfo=UTC)
    assert ship_day(berlin, at) == date(2026, 12, 28)  # Monday
    saturday_shift = berlin.model_copy(update={"business_days": [*berlin.business_days, Weekday.SAT]})
    assert ship_day(saturday_shift, at) == date(2026, 12, 26)


def test_work_released_to_a_warehouse_is_promised_by_its_calendar() -> None:
    berlin = Warehouse(
        id="wh-berlin",
        name="Berlin",
        priority=1,
        timezone="Europe/Berlin",
        cutoff="14:00",
        country="DE",
        holidays=[date(2026, 12, 24), date(2026, 12, 25)],
    )
    pending = fulfillment(("MUG-1", 1), status=FulfillmentStatus.PENDING, warehouse_id="wh-berlin")
    [released_work] = release_work([pending], [berlin], datetime(2026, 12, 23, 14, 0, tzinfo=UTC))
    assert released_work.ship_by == datetime(2026, 12, 28, 22, 59, 59, 999000, tzinfo=UTC)
