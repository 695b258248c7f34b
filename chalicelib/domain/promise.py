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

Delivery windows (``delivery_window``, ``order_promise``): the earliest and latest local date a
parcel should arrive, counted in business days (Monday to Friday) after its ship day, from the
transit table (domain/transit.py). The ship day is the promised one (``ship_by``) until the parcel
ships, then the day it shipped (``shipped_at``), both as dates of the warehouse's time zone.
Holidays at the destination are not known and are ignored: a window across one may be a day short.
A carrier's own estimate, once it gave one, replaces the table (a one-day window), and a delivered
parcel's window is its delivery day. Carrier times are read as UTC dates: providers pass the
carrier's local times on without an offset, and those are stored as UTC (domain/untrusted_json.py).
Invariants: ``earliest <= latest``; neither is before the ship day; transit-table windows fall on
business days.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import Fulfillment, Order, Strict, Timestamp, Warehouse
from .status import FulfillmentStatus
from .transit import TransitTable, TransitTime

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


# -- delivery windows ------------------------------------------------------------------------------

#: Delivery windows count Monday to Friday: carriers' business days, whatever the warehouse's.
TRANSIT_BUSINESS_DAYS = DEFAULT_BUSINESS_DAYS
#: Parcels that will not arrive: no window (a reshipment gets its own).
_NOT_ARRIVING = frozenset({FulfillmentStatus.RETURNED_TO_SENDER, FulfillmentStatus.FAILED})


class WindowBasis(StrEnum):
    #: Counted from the transit table (before shipping from ship-by, after from the ship day).
    TRANSIT_TABLE = "transit_table"
    #: The carrier's own estimate.
    CARRIER = "carrier"
    #: The parcel arrived: the window is that day.
    DELIVERED = "delivered"


class DeliveryWindow(Strict):
    """When a parcel (or an order) should arrive: local dates, both inclusive."""

    earliest: date
    latest: date
    basis: WindowBasis


def add_business_days(day: date, days: int) -> date:
    """The business day ``days`` business days after ``day`` (Monday to Friday); ``0`` is ``day``
    itself, or the next business day when ``day`` is a weekend."""
    if days < 0:
        raise PromiseError("transit days cannot be negative")
    if day.weekday() not in TRANSIT_BUSINESS_DAYS:
        # Shipped on a weekend: the next business day is the first day in transit.
        while day.weekday() not in TRANSIT_BUSINESS_DAYS:
            day += timedelta(days=1)
        days = max(days - 1, 0)
    # Whole weeks at once, then the rest day by day.
    weeks, rest = divmod(days, 5)
    day += timedelta(weeks=weeks)
    for _ in range(rest):
        day += timedelta(days=1)
        while day.weekday() not in TRANSIT_BUSINESS_DAYS:
            day += timedelta(days=1)
    return day


def delivery_window(
    *,
    ship_by: datetime | None,
    shipped_at: datetime | None,
    transit: TransitTime,
    timezone: str,
    carrier_estimate: datetime | None = None,
    delivered_at: datetime | None = None,
) -> DeliveryWindow | None:
    """When one parcel should arrive: THE function every reader of promised dates calls (the
    order's API response, the confirmation e-mail, the status page, the store write-back).

    ``timezone`` is the shipping warehouse's: the ship day is a date there. ``shipped_at`` wins over
    ``ship_by``; a ``carrier_estimate`` over the transit table; ``delivered_at`` over everything.
    None when there is no ship day yet (a backorder, an order on hold)."""
    start = shipped_at or ship_by
    if start is None:
        return None
    if start.tzinfo is None:
        raise PromiseError("ship times must be timezone-aware")
    ship_day = start.astimezone(zone(timezone)).date()
    if delivered_at is not None:
        day = max(delivered_at.astimezone(UTC).date(), ship_day)
        return DeliveryWindow(earliest=day, latest=day, basis=WindowBasis.DELIVERED)
    if carrier_estimate is not None:
        # An estimate before the parcel left is a carrier's slip: it arrives on the ship day at best.
        day = max(carrier_estimate.astimezone(UTC).date(), ship_day)
        return DeliveryWindow(earliest=day, latest=day, basis=WindowBasis.CARRIER)
    return DeliveryWindow(
        earliest=add_business_days(ship_day, transit.min_days),
        latest=add_business_days(ship_day, transit.max_days),
        basis=WindowBasis.TRANSIT_TABLE,
    )


class FulfillmentPromise(Strict):
    fulfillment_id: str
    #: The promised ship-by: the stored one once released, else what releasing now would promise.
    promised_ship_by: Timestamp | None = None
    #: Its date in the warehouse's time zone (the instant is the end of that day there).
    promised_ship_date: date | None = None
    delivery_window: DeliveryWindow | None = None


class OrderPromise(Strict):
    """The promised dates of an order and of each of its (not cancelled) fulfillments.

    Order level: the latest ship-by and the window by which every parcel should have arrived
    (latest earliest, latest latest). Both are None unless every parcel still on its way has
    one: an order with a backorder or on hold promises nothing as a whole."""

    promised_ship_by: Timestamp | None = None
    promised_ship_date: date | None = None
    delivery_window: DeliveryWindow | None = None
    fulfillments: list[FulfillmentPromise]

    def of(self, fulfillment_id: str) -> FulfillmentPromise | None:
        return next((f for f in self.fulfillments if f.fulfillment_id == fulfillment_id), None)


def _fulfillment_promise(
    order: Order,
    fulfillment: Fulfillment,
    warehouse: Warehouse | None,
    transit: TransitTable,
    now: datetime,
) -> FulfillmentPromise:
    if warehouse is None:  # a backorder: no ship day until stock arrives
        return FulfillmentPromise(fulfillment_id=fulfillment.id, promised_ship_by=fulfillment.ship_by)
    promised = fulfillment.ship_by
    if promised is None and fulfillment.status == FulfillmentStatus.PENDING and not order.holds:
        # Not released yet (the receipt runs seconds after placement): what releasing now promises.
        promised = warehouse_ship_by(max(now, order.created_at), warehouse)
    shipment = fulfillment.shipment
    row = transit.for_parcel(
        shipment.carrier if shipment else None, shipment.service if shipment else None, order.shipping_method
    )
    window = (
        None
        if fulfillment.status in _NOT_ARRIVING
        else delivery_window(
            ship_by=promised,
            shipped_at=shipment.shipped_at if shipment else None,
            transit=row,
            timezone=warehouse.timezone,
            carrier_estimate=fulfillment.estimated_delivery if shipment else None,
            delivered_at=fulfillment.delivered_at,
        )
    )
    return FulfillmentPromise(
        fulfillment_id=fulfillment.id,
        promised_ship_by=promised,
        promised_ship_date=promised.astimezone(zone(warehouse.timezone)).date() if promised else None,
        delivery_window=window,
    )


def order_promise(
    order: Order,
    fulfillments: Sequence[Fulfillment],
    *,
    warehouses: Sequence[Warehouse],
    transit: TransitTable,
    now: datetime,
) -> OrderPromise:
    """The promised dates of an order, from its fulfillments, their warehouses' calendars and the
    transit table (pure: the caller reads both, cached)."""
    by_id = {w.id: w for w in warehouses}
    active = [f for f in fulfillments if f.status != FulfillmentStatus.CANCELLED]
    promises = [_fulfillment_promise(order, f, by_id.get(f.warehouse_id or ""), transit, now) for f in active]
    arriving = [p for p, f in zip(promises, active, strict=True) if f.status not in _NOT_ARRIVING]
    ship_bys = [
        (p.promised_ship_by, p.promised_ship_date) for p in arriving if p.promised_ship_by is not None
    ]
    windows = [p.delivery_window for p in arriving if p.delivery_window is not None]
    if not arriving or len(ship_bys) < len(arriving) or len(windows) < len(arriving):
        return OrderPromise(fulfillments=promises)
    last_ship_by, last_ship_date = max(ship_bys, key=lambda pair: pair[0])
    # The order's window is only as firm as its least firm parcel's.
    basis = next(b for b in WindowBasis if any(w.basis == b for w in windows))
    return OrderPromise(
        promised_ship_by=last_ship_by,
        promised_ship_date=last_ship_date,
        delivery_window=DeliveryWindow(
            earliest=max(w.earliest for w in windows), latest=max(w.latest for w in windows), basis=basis
        ),
        fulfillments=promises,
    )


def long_date(day: date) -> str:
    """A date as customer messages write it: "Monday 7 December 2026"."""
    return f"{day:%A} {day.day} {day:%B %Y}"
