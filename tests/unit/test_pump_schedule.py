"""The event pump reads EventBridge schedule expressions the way EventBridge does (UTC, AWS cron dialect)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from chalice.app import Cron, Rate

from infra.local.schedule import CronSchedule, RateSchedule, parse_schedule

pytestmark = pytest.mark.unit

ANCHOR = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def next_after(expression: str, moment: datetime) -> datetime | None:
    return parse_schedule(expression, anchor=ANCHOR).next_after(moment)


def test_a_rate_fires_every_period_counted_from_its_anchor() -> None:
    schedule = parse_schedule("rate(5 minutes)", anchor=ANCHOR)

    assert isinstance(schedule, RateSchedule)
    assert schedule.period == timedelta(minutes=5)
    assert schedule.next_after(ANCHOR) == at(2024, 1, 1, 0, 5)
    assert schedule.next_after(at(2024, 1, 1, 0, 5)) == at(2024, 1, 1, 0, 10)
    # A late look does not shift the grid: the next firing is still on a 5-minute mark.
    assert schedule.next_after(at(2024, 1, 1, 0, 12, 30)) == at(2024, 1, 1, 0, 15)


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        (Rate(1, unit=Rate.HOURS).to_string(), timedelta(hours=1)),
        (Rate(7, unit=Rate.DAYS).to_string(), timedelta(days=7)),
    ],
)
def test_rates_read_their_value_and_unit(expression: str, period: timedelta) -> None:
    schedule = parse_schedule(expression, anchor=ANCHOR)
    assert isinstance(schedule, RateSchedule) and schedule.period == period


def test_chalice_cron_objects_parse() -> None:
    expression = Cron(0, 9, "?", "*", "MON-FRI", "*").to_string()
    assert isinstance(parse_schedule(expression, anchor=ANCHOR), CronSchedule)


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        ("cron(0/15 * * * ? *)", at(2024, 1, 1, 10, 7), at(2024, 1, 1, 10, 15)),
        ("cron(0/15 * * * ? *)", at(2024, 1, 1, 10, 45), at(2024, 1, 1, 11, 0)),
        ("cron(*/20 * * * ? *)", at(2024, 1, 1, 10, 40), at(2024, 1, 1, 11, 0)),
        ("cron(5,35 * * * ? *)", at(2024, 1, 1, 10, 5), at(2024, 1, 1, 10, 35)),
        # strictly after: a moment on a firing minute looks for the next one
        ("cron(0 10 * * ? *)", at(2024, 1, 1, 10, 0), at(2024, 1, 2, 10, 0)),
        ("cron(0 10 * * ? *)", at(2024, 1, 1, 9, 59, 59), at(2024, 1, 1, 10, 0)),
        # day-of-week: 1 = SUN … 7 = SAT, names in any case, ranges
        ("cron(0 10 ? * MON-FRI *)", at(2024, 1, 5, 10, 0), at(2024, 1, 8, 10, 0)),
        ("cron(0 10 ? * mon-fri *)", at(2024, 1, 6, 0, 0), at(2024, 1, 8, 10, 0)),
        ("cron(0 0 ? * 1 *)", at(2024, 1, 1, 0, 0), at(2024, 1, 7, 0, 0)),
        ("cron(0 0 ? * 7 *)", at(2024, 1, 1, 0, 0), at(2024, 1, 6, 0, 0)),
        ("cron(0 0 ? * FRI-MON *)", at(2024, 1, 2, 0, 0), at(2024, 1, 5, 0, 0)),
        # months and years
        ("cron(0 9 ? JAN,JUL MON *)", at(2024, 1, 30, 0, 0), at(2024, 7, 1, 9, 0)),
        ("cron(0 0 29 2 ? *)", at(2025, 1, 1), at(2028, 2, 29, 0, 0)),
        ("cron(30 6 1 * ? 2030)", at(2024, 5, 5), at(2030, 1, 1, 6, 30)),
        # hour ranges that wrap around midnight
        ("cron(0 22-1 * * ? *)", at(2024, 1, 1, 23, 30), at(2024, 1, 2, 0, 0)),
        ("cron(0 22-1 * * ? *)", at(2024, 1, 2, 1, 0), at(2024, 1, 2, 22, 0)),
        # L, W, LW and #
        ("cron(0 18 L * ? *)", at(2024, 2, 10), at(2024, 2, 29, 18, 0)),
        ("cron(0 12 15W * ? *)", at(2024, 6, 1), at(2024, 6, 14, 12, 0)),  # 15th is a Saturday
        ("cron(0 12 1W * ? *)", at(2024, 5, 31, 13, 0), at(2024, 6, 3, 12, 0)),  # 1st Saturday: Monday 3rd
        ("cron(0 12 30W * ? *)", at(2024, 6, 1), at(2024, 6, 28, 12, 0)),  # 30th Sunday, last day: Friday
        ("cron(0 0 LW * ? *)", at(2024, 8, 1), at(2024, 8, 30, 0, 0)),  # 31st is a Saturday
        ("cron(0 8 ? * 2#1 *)", at(2024, 1, 2), at(2024, 2, 5, 8, 0)),  # first Monday
        ("cron(15 10 ? * 6L 2022-2023)", at(2023, 12, 1), at(2023, 12, 29, 10, 15)),  # last Friday
    ],
)
def test_cron_finds_the_next_matching_minute(expression: str, moment: datetime, expected: datetime) -> None:
    assert next_after(expression, moment) == expected


def test_cron_stops_when_its_years_run_out() -> None:
    assert next_after("cron(15 10 ? * 6L 2022-2023)", at(2023, 12, 29, 10, 15)) is None
    assert next_after("cron(0 0 31 2 ? *)", at(2024, 1, 1)) is None  # never: February has no 31st


def test_cron_works_in_utc_whatever_the_moments_timezone() -> None:
    paris_winter = timezone(timedelta(hours=1))
    assert next_after("cron(0 10 * * ? *)", datetime(2024, 1, 1, 10, 30, tzinfo=paris_winter)) == at(
        2024, 1, 1, 10, 0
    )


@pytest.mark.parametrize(
    "expression",
    [
        "cron(* * * * * *)",  # day-of-month and day-of-week both given
        "cron(0 12 ? * ? *)",  # both '?'
        "cron(0 12 * * ?)",  # 5 fields
        "cron(60 * * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 * 13 ? *)",
        "cron(0 12 * * ? 2200)",
        "cron(0 12 * FOO ? *)",
        "cron(0 12 * * ? 2025-2024)",
        "cron(0/0 * * * ? *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 fortnights)",
        "at(2024-01-01T00:00:00)",
    ],
)
def test_expressions_eventbridge_rejects_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression, anchor=ANCHOR)
