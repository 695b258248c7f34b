"""EventBridge schedule expressions (``rate(...)`` and 6-field ``cron(...)``) for the local event pump.

AWS's cron dialect is not the Unix one: it has a sixth field (year), day-of-week
counts 1 = SUN … 7 = SAT, exactly one of day-of-month / day-of-week must be
``?``, and it knows ``L``, ``W`` and ``#``. croniter reads its sixth field as
seconds, so it would silently fire at the wrong times; this small parser
follows the EventBridge rules instead and rejects what EventBridge rejects, so a
bad expression fails locally rather than at deploy time. All times are UTC, as
for EventBridge rules.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

__all__ = ["CronSchedule", "RateSchedule", "Schedule", "parse_schedule"]

# Spelled out rather than taken from calendar.month_abbr, which follows the locale.
_MONTH_NAMES = {
    "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
    "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
}  # fmt: skip
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_YEAR_MIN, _YEAR_MAX = 1970, 2199

_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON_RE = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule(Protocol):
    """What the pump needs from a schedule: the first firing strictly after a moment."""

    def next_after(self, moment: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every ``period``, counted from ``anchor`` (when the rule was created)."""

    period: timedelta
    anchor: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        if moment < self.anchor:
            return self.anchor + self.period
        # Counting periods from the anchor (rather than from the last firing)
        # keeps a late pass from shifting every later firing.
        elapsed = (moment - self.anchor) // self.period
        return self.anchor + (elapsed + 1) * self.period


@dataclass(frozen=True)
class _DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: frozenset[int] = frozenset()  # 15W

    def matches(self, day: date) -> bool:
        last_day = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.days or (self.last and day.day == last_day):
            return True
        if self.last_weekday and day == _nearest_weekday(day.year, day.month, last_day):
            return True
        # A day the month does not have (31W in April) never fires, as in Quartz.
        return any(
            n <= last_day and day == _nearest_weekday(day.year, day.month, n) for n in self.nearest_weekday
        )


@dataclass(frozen=True)
class _DayOfWeek:
    days: frozenset[int] = frozenset()  # 1 = SUN … 7 = SAT
    nth: frozenset[tuple[int, int]] = frozenset()  # 6#3: third Friday
    last: frozenset[int] = frozenset()  # 6L: last Friday

    def matches(self, day: date) -> bool:
        dow = _aws_day_of_week(day)
        if dow in self.days:
            return True
        if (dow, (day.day - 1) // 7 + 1) in self.nth:
            return True
        last_day = calendar.monthrange(day.year, day.month)[1]
        return dow in self.last and day.day + 7 > last_day


@dataclass(frozen=True)
class CronSchedule:
    """A parsed ``cron(minutes hours day-of-month month day-of-week year)``."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: _DayOfMonth | None = field(default=None)  # None: '?'
    day_of_week: _DayOfWeek | None = field(default=None)  # None: '?'

    def matches_day(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day_of_month is not None and not self.day_of_month.matches(day):
            return False
        return self.day_of_week is None or self.day_of_week.matches(day)

    def next_after(self, moment: datetime) -> datetime | None:
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        last_year = max(self.years)
        while day.year <= last_year:
            if day.year not in self.years:
                day = date(min(y for y in self.years if y > day.year), 1, 1)
                continue
            if day.month not in self.months:
                # Skip to the first of the next month rather than walking day by day.
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
                continue
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def parse_schedule(expression: str, *, anchor: datetime) -> RateSchedule | CronSchedule:
    """Parse an EventBridge schedule expression; ``anchor`` is when a ``rate`` starts counting."""
    text = expression.strip()
    rate = _RATE_RE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value <= 0:
            raise ValueError(f"{expression!r}: the rate value must be a positive integer")
        # EventBridge insists on the singular unit for 1 and the plural otherwise.
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
        seconds = value * _UNIT_SECONDS[unit.rstrip("s")]
        return RateSchedule(period=timedelta(seconds=seconds), anchor=anchor)
    cron = _CRON_RE.match(text)
    if cron:
        return _parse_cron(expression, cron.group(1))
    raise ValueError(f"{expression!r} is neither rate(...) nor cron(...)")


def _parse_cron(expression: str, body: str) -> CronSchedule:
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: AWS cron needs 6 fields (minutes hours dom month dow year)")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    return CronSchedule(
        expression=expression,
        minutes=tuple(sorted(_parse_field(minutes, 0, 59, {}, "minutes"))),
        hours=tuple(sorted(_parse_field(hours, 0, 23, {}, "hours"))),
        months=frozenset(_parse_field(month, 1, 12, _MONTH_NAMES, "month")),
        years=frozenset(_parse_field(year, _YEAR_MIN, _YEAR_MAX, {}, "year", cyclic=False)),
        day_of_month=None if dom == "?" else _parse_day_of_month(dom),
        day_of_week=None if dow == "?" else _parse_day_of_week(dow),
    )


def _parse_day_of_month(text: str) -> _DayOfMonth:
    days: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            nearest.add(_number(upper[:-1], 1, 31, {}, "day-of-month"))
        else:
            days |= _parse_field(part, 1, 31, {}, "day-of-month")
    return _DayOfMonth(frozenset(days), last, last_weekday, frozenset(nearest))


def _parse_day_of_week(text: str) -> _DayOfWeek:
    days: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for part in text.split(","):
        upper = part.upper()
        if "#" in upper:
            day, _, occurrence = upper.partition("#")
            nth.add((_number(day, 1, 7, _DAY_NAMES, "day-of-week"), _number(occurrence, 1, 5, {}, "#")))
        elif upper == "L":
            days.add(7)  # a bare L in day-of-week is the last day of the week: Saturday
        elif upper.endswith("L"):
            last.add(_number(upper[:-1], 1, 7, _DAY_NAMES, "day-of-week"))
        else:
            days |= _parse_field(part, 1, 7, _DAY_NAMES, "day-of-week")
    return _DayOfWeek(frozenset(days), frozenset(nth), frozenset(last))


def _parse_field(
    text: str, low: int, high: int, names: dict[str, int], what: str, *, cyclic: bool = True
) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, 1, high - low + 1, {}, f"{what} step") if slash else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, second = base.partition("-")
            start, end = _number(first, low, high, names, what), _number(second, low, high, names, what)
        else:
            start = _number(base, low, high, names, what)
            # 'a/b' means from a to the end of the range in steps of b; a bare 'a' is just a.
            end = high if slash else start
        if start <= end:
            values.update(range(start, end + 1, step))
        elif cyclic:
            # A wrapping range such as FRI-MON or 22-2 runs through the end of the cycle.
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
        else:
            raise ValueError(f"{what}: range {base!r} runs backwards")
    return values


def _number(text: str, low: int, high: int, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not upper.isdigit():
        raise ValueError(f"{what}: {text!r} is not a number or a name")
    value = int(upper)
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is outside {low}-{high}")
    return value


def _aws_day_of_week(day: date) -> int:
    # Python counts Monday = 0 … Sunday = 6; AWS counts Sunday = 1 … Saturday = 7.
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day_of_month: int) -> date:
    # Quartz's W: the weekday nearest the given day, never leaving the month.
    target = date(year, month, day_of_month)
    weekday = target.weekday()
    if weekday < 5:
        return target
    last_day = calendar.monthrange(year, month)[1]
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return target - timedelta(days=1) if day_of_month > 1 else target + timedelta(days=2)
    # Sunday: Monday after, unless that leaves the month
    return target + timedelta(days=1) if day_of_month < last_day else target - timedelta(days=2)
