"""Promise dates: by when a warehouse must ship, from its cut-off in its own time zone.

Rule: work released before the warehouse's cut-off on a business day ships
that same day; after the cut-off (or on a closed day or holiday) it ships the
next business day. Each warehouse has its own calendar: the weekdays it ships
(``business_days``, Monday to Friday unless set) and its holidays, both as
dates of its own time zone. The promise is the end of the ship day in the
warehouse's local time (23:59:59.999), so a parcel handed to the carrier
any time that day is on time. All arithmetic is done in local wall-clock
time through ``zoneinfo``, which makes daylight-saving changes come out
right: a 15:00 cut-off is 15:00 local on both sides of the change.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from .models import Warehouse

#: Monday..Friday (``date.weekday()``).
DEFAULT_BUSINESS_DAYS = frozenset({0, 1, 2, 3, 4})
END_OF_DAY = time(23, 59, 59, 999000)


class PromiseError(ValueError):
    """A warehouse calendar that cannot produce a promise (bad zone, bad cut-off, no business days)."""


def parse_cutoff(cutoff: str) -> time:
    try:
        hours, minutes = cutoff.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise PromiseError(f"cut-off {cutoff!r} is not HH:MM") from None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a zone directory such as "America"
        raise PromiseError(f"unknown time zone {name!r}") from None


def ship_date(
    released_at: datetime,
    *,
    timezone: str,
    cutoff: str,
    business_days: Collection[int] = DEFAULT_BUSINESS_DAYS,
    holidays: Collection[date] = (),
) -> date:
    """The local date on which work released at ``released_at`` must ship."""
    if released_at.tzinfo is None:
        raise PromiseError("released_at must be timezone-aware")
    if not business_days:
        raise PromiseError("a warehouse needs at least one business day")
    local = released_at.astimezone(zone(timezone))
    day = local.date()

    def is_business(d: date) -> bool:
        return d.weekday() in business_days and d not in holidays

    if not (is_business(day) and local.time() < parse_cutoff(cutoff)):
        day += timedelta(days=1)
    for _ in range(370):  # a year of holidays at most; beyond that the calendar is broken
        if is_business(day):
            return day
        day += timedelta(days=1)
    raise PromiseError("no business day within a year")


def ship_by(
    released_at: datetime,
    *,
    timezone: str,
    cutoff: str,
    business_days: Collection[int] = DEFAULT_BUSINESS_DAYS,
    holidays: Collection[date] = (),
) -> datetime:
    """The promise as a UTC instant: the end of the ship day in the warehouse's time zone."""
    day = ship_date(
        released_at, timezone=timezone, cutoff=cutoff, business_days=business_days, holidays=holidays
    )
    return datetime.combine(day, END_OF_DAY, tzinfo=zone(timezone)).astimezone(UTC)


def warehouse_ship_by(released_at: datetime, warehouse: Warehouse) -> datetime:
    """The promise of work released to ``warehouse`` at ``released_at``, by its own calendar."""
    return ship_by(
        released_at,
        timezone=warehouse.timezone,
        cutoff=warehouse.cutoff,
        business_days=warehouse.business_day_numbers,
        holidays=frozenset(warehouse.holidays),
    )
