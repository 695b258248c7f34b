"""Ship-by promises from a warehouse's cut-off in its own time zone, across daylight-saving changes.

Every expectation is an exact UTC instant: the end of the local ship day (23:59:59.999 there), so
the same local promise lands an hour apart in UTC on either side of a clock change.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.promise import DEFAULT_BUSINESS_DAYS, PromiseError, ship_by, ship_date


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def end_of(day: str, utc_offset_hours: int) -> datetime:
    """23:59:59.999 local on ``day`` (YYYY-MM-DD) at ``utc_offset_hours``, as a UTC instant."""
    local = datetime.fromisoformat(f"{day}T23:59:59.999").replace(
        tzinfo=timezone(timedelta(hours=utc_offset_hours))
    )
    return local.astimezone(UTC)


def new_york(
    released_at: datetime,
    *,
    business_days: Collection[int] = DEFAULT_BUSINESS_DAYS,
    holidays: Collection[date] = (),
) -> datetime:
    """The promise of a New York warehouse with a 15:00 cut-off."""
    return ship_by(
        released_at,
        timezone="America/New_York",
        cutoff="15:00",
        business_days=business_days,
        holidays=holidays,
    )


# -- the rule ---------------------------------------------------------------------------------


def test_work_released_before_the_cut_off_ships_the_same_business_day() -> None:
    # Tuesday 2026-01-13, 14:59 in New York (EST, UTC-5).
    assert new_york(utc(2026, 1, 13, 19, 59)) == end_of("2026-01-13", -5)
    assert new_york(utc(2026, 1, 13, 19, 59)) == utc(2026, 1, 14, 4, 59, 59, 999000)


def test_work_released_at_or_after_the_cut_off_ships_the_next_business_day() -> None:
    assert new_york(utc(2026, 1, 13, 20, 0)) == end_of("2026-01-14", -5)  # 15:00 sharp is too late
    assert new_york(utc(2026, 1, 14, 4, 30)) == end_of("2026-01-14", -5)  # 23:30 Tuesday local


def test_friday_after_the_cut_off_ships_on_monday() -> None:
    assert new_york(utc(2026, 1, 16, 21, 0)) == end_of("2026-01-19", -5)


@pytest.mark.parametrize(
    "released_at",
    [utc(2026, 1, 17, 15, 0), utc(2026, 1, 18, 12, 0), utc(2026, 1, 19, 4, 59)],
    ids=["saturday", "sunday morning", "sunday just before midnight"],
)
def test_work_released_on_a_weekend_ships_on_monday(released_at: datetime) -> None:
    assert new_york(released_at) == end_of("2026-01-19", -5)


def test_holidays_are_not_ship_days() -> None:
    thanksgiving, day_after = date(2026, 11, 26), date(2026, 11, 27)

    # Wednesday after the cut-off: Thursday and Friday are holidays, the weekend follows.
    assert new_york(utc(2026, 11, 25, 21, 0), holidays={thanksgiving, day_after}) == end_of("2026-11-30", -5)
    # Released on the holiday itself, before the cut-off time.
    assert new_york(utc(2026, 11, 26, 14, 0), holidays={thanksgiving}) == end_of("2026-11-27", -5)


def test_a_warehouse_may_work_other_days_than_monday_to_friday() -> None:
    saturday_too = frozenset({0, 1, 2, 3, 4, 5})

    assert new_york(utc(2026, 1, 16, 21, 0), business_days=saturday_too) == end_of("2026-01-17", -5)


def test_the_local_date_decides_not_the_utc_date() -> None:
    # Sunday 20:00 UTC is Monday 05:00 in Tokyo: a business day, before the cut-off.
    assert ship_by(utc(2026, 3, 8, 20, 0), timezone="Asia/Tokyo", cutoff="15:00") == end_of("2026-03-09", 9)
    # Tuesday 02:00 UTC is still Monday 21:00 in New York: past Monday's cut-off.
    assert new_york(utc(2026, 1, 13, 2, 0)) == end_of("2026-01-13", -5)


def test_the_same_instant_gives_each_warehouse_its_own_promise() -> None:
    released = utc(2026, 6, 10, 13, 30)  # Wednesday

    promises = {
        zone: ship_by(released, timezone=zone, cutoff="15:00")
        for zone in ("Asia/Tokyo", "Europe/Berlin", "America/New_York", "America/Los_Angeles")
    }

    assert promises == {
        "Asia/Tokyo": end_of("2026-06-11", 9),  # 22:30 there: too late for Wednesday
        "Europe/Berlin": end_of("2026-06-11", 2),  # 15:30 CEST: just past the cut-off
        "America/New_York": end_of("2026-06-10", -4),  # 09:30 EDT
        "America/Los_Angeles": end_of("2026-06-10", -7),  # 06:30 PDT
    }


# -- daylight saving --------------------------------------------------------------------------


def test_new_york_spring_forward_moves_the_promise_an_hour_earlier_in_utc() -> None:
    friday_before = new_york(utc(2026, 3, 6, 19, 0))  # 14:00 EST
    friday_late = new_york(utc(2026, 3, 6, 21, 0))  # 16:00 EST: ships Monday, after the change

    assert friday_before == utc(2026, 3, 7, 4, 59, 59, 999000)  # end of Friday, EST (UTC-5)
    assert friday_late == utc(2026, 3, 10, 3, 59, 59, 999000)  # end of Monday, EDT (UTC-4)


def test_released_on_the_day_the_clocks_spring_forward() -> None:
    # Sunday 2026-03-08: 01:30 EST, then 03:30 EDT an hour of wall clock later.
    assert new_york(utc(2026, 3, 8, 6, 30)) == utc(2026, 3, 10, 3, 59, 59, 999000)
    assert new_york(utc(2026, 3, 8, 7, 30)) == utc(2026, 3, 10, 3, 59, 59, 999000)


def test_the_cut_off_is_local_time_on_both_sides_of_spring_forward() -> None:
    # 19:30 UTC is 14:30 EST on Monday 2 March but 15:30 EDT on Monday 9 March.
    assert new_york(utc(2026, 3, 2, 19, 30)) == end_of("2026-03-02", -5)
    assert new_york(utc(2026, 3, 9, 19, 30)) == end_of("2026-03-10", -4)
    assert new_york(utc(2026, 3, 9, 18, 59)) == end_of("2026-03-09", -4)  # 14:59 EDT


def test_new_york_fall_back_moves_the_promise_an_hour_later_in_utc() -> None:
    friday_before = new_york(utc(2026, 10, 30, 18, 0))  # 14:00 EDT
    friday_late = new_york(utc(2026, 10, 30, 20, 0))  # 16:00 EDT: ships Monday, after the change

    assert friday_before == utc(2026, 10, 31, 3, 59, 59, 999000)  # end of Friday, EDT (UTC-4)
    assert friday_late == utc(2026, 11, 3, 4, 59, 59, 999000)  # end of Monday, EST (UTC-5)


def test_the_cut_off_is_local_time_on_both_sides_of_fall_back() -> None:
    # 19:30 UTC is 15:30 EDT on Monday 26 October but 14:30 EST on Monday 2 November.
    assert new_york(utc(2026, 10, 26, 19, 30)) == end_of("2026-10-27", -4)
    assert new_york(utc(2026, 11, 2, 19, 30)) == end_of("2026-11-02", -5)


def test_released_in_the_repeated_hour_of_fall_back() -> None:
    # Sunday 2026-11-01 01:30 happens twice in New York (EDT, then EST): Monday either way.
    assert new_york(utc(2026, 11, 1, 5, 30)) == new_york(utc(2026, 11, 1, 6, 30)) == end_of("2026-11-02", -5)


def test_berlin_springs_forward_on_its_own_date() -> None:
    # Europe changes on 2026-03-29, three weeks after America.
    assert ship_by(utc(2026, 3, 27, 13, 0), timezone="Europe/Berlin", cutoff="15:00") == utc(
        2026, 3, 27, 22, 59, 59, 999000
    )  # Friday 14:00 CET: end of Friday, UTC+1
    assert ship_by(utc(2026, 3, 27, 15, 0), timezone="Europe/Berlin", cutoff="15:00") == utc(
        2026, 3, 30, 21, 59, 59, 999000
    )  # Friday 16:00 CET: end of Monday, CEST (UTC+2)
    # Mid-March New York has already sprung forward; Berlin is still on CET (UTC+1).
    assert ship_by(utc(2026, 3, 16, 13, 59), timezone="Europe/Berlin", cutoff="15:00") == end_of(
        "2026-03-16", 1
    )


def test_tokyo_keeps_one_offset_all_year() -> None:
    for day in ("2026-01-13", "2026-03-10", "2026-07-14", "2026-11-03"):
        released = datetime.fromisoformat(f"{day}T05:59:00+00:00")  # 14:59 JST

        assert ship_by(released, timezone="Asia/Tokyo", cutoff="15:00") == end_of(day, 9)
        assert ship_date(released + timedelta(minutes=1), timezone="Asia/Tokyo", cutoff="15:00") == (
            date.fromisoformat(day) + timedelta(days=1)
        )


def test_a_different_cut_off_moves_the_boundary() -> None:
    released = utc(2026, 1, 13, 21, 30)  # 16:30 EST

    assert ship_by(released, timezone="America/New_York", cutoff="17:00") == end_of("2026-01-13", -5)
    assert ship_by(released, timezone="America/New_York", cutoff="16:30") == end_of("2026-01-14", -5)


@settings(max_examples=200, deadline=None)
@given(
    released_at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"]),
)
def test_a_promise_is_never_before_the_release_and_always_ends_a_local_weekday(
    released_at: datetime, zone: str
) -> None:
    promise = ship_by(released_at, timezone=zone, cutoff="15:00")

    local = promise.astimezone(ZoneInfo(zone))
    assert promise > released_at and promise.tzinfo == UTC
    assert (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 59, 999000)
    assert local.weekday() < 5
    assert promise - released_at < timedelta(days=4)  # Friday after the cut-off to Monday's end


# -- bad calendars ----------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "EST5EDT/x", "zone.tab"])
def test_an_unknown_time_zone_cannot_make_a_promise(zone: str) -> None:
    with pytest.raises(PromiseError, match="unknown time zone"):
        ship_by(utc(2026, 1, 13, 12, 0), timezone=zone, cutoff="15:00")


def test_a_time_zone_region_without_a_city_cannot_make_a_promise() -> None:
    with pytest.raises(PromiseError, match="unknown time zone"):
        ship_by(utc(2026, 1, 13, 12, 0), timezone="America", cutoff="15:00")


@pytest.mark.parametrize("cutoff", ["3pm", "15", "15:00:00", "24:00", "15:60", "", "-1:00"])
def test_a_cut_off_that_is_not_a_time_of_day_cannot_make_a_promise(cutoff: str) -> None:
    with pytest.raises(PromiseError, match="is not HH:MM"):
        ship_by(utc(2026, 1, 13, 12, 0), timezone="America/New_York", cutoff=cutoff)


def test_a_naive_release_time_cannot_make_a_promise() -> None:
    with pytest.raises(PromiseError, match="timezone-aware"):
        ship_by(datetime(2026, 1, 13, 12, 0), timezone="America/New_York", cutoff="15:00")


def test_a_calendar_without_business_days_cannot_make_a_promise() -> None:
    with pytest.raises(PromiseError, match="at least one business day"):
        new_york(utc(2026, 1, 13, 12, 0), business_days=frozenset())


def test_a_calendar_whose_every_business_day_is_a_holiday_cannot_make_a_promise() -> None:
    mondays = {date(2026, 1, 19) + timedelta(weeks=n) for n in range(60)}

    with pytest.raises(PromiseError, match="no business day within a year"):
        new_york(utc(2026, 1, 13, 12, 0), business_days=frozenset({0}), holidays=mondays)
