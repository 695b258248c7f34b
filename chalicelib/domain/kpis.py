"""KPIs as counters: what one event adds to them, and the report computed from them.

The ``kpi`` worker keeps every KPI as a set of counters per day and channel, added to with
DynamoDB's atomic ADD in the same transaction as the event's dedup item, so each event counts
exactly once however often it is delivered. Nothing here reads or writes storage:

- ``increments_for(event, facts)`` says what one event adds. It is a pure function of the event
  (and, for the few events that need them, of ``OrderFacts`` the worker reads about the order),
  so a redelivered event, were it not deduplicated, would add exactly the same again.
- ``compute_report(counters, ...)`` turns the counters of a range of days into the figures.

Counters are kept, never recomputed: a day's counters are only ever added to by events that
occurred on that day (UTC), which is why every KPI is defined by the event that counts it and
why a later event never revises an earlier day (a return does not un-perfect a perfect order;
the return rate shows returns instead). Histograms are counters too, one per fixed bucket, so a
percentile over any range of days and channels is a sum of counters and an interpolation.
docs/kpis.md defines each KPI and lists the event data producers must include.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .event_payloads import (
    PAYLOADS,
    FeedbackReceived,
    FulfillmentShipped,
    InventoryCounted,
    OrderPlaced,
    ReturnReceived,
)
from .events import DomainEvent, EventPayload, EventType, OrderState
from .exception_payloads import FulfillmentResolved
from .kpi_histograms import HOUR_BUCKETS, histogram_percentile
from .kpi_histograms import quantize as _quantize
from .models import Fulfillment, Order
from .status import (
    FULFILLMENT_SHIPPED_STATES,
    FulfillmentStatus,
    OrderStatus,
    TrackingStatus,
)

#: The channel the storage files channel-less (inventory) events under. Every report counts it,
#: whatever channel is asked for: stock is shared by all channels.
INVENTORY_CHANNEL = "-"


class Metric(StrEnum):
    """Plain counters. The storage adds the day and the channel to the name."""

    ORDERS_PLACED = "orders_placed"
    ORDERS_CONFIRMED = "orders_confirmed"
    ORDERS_SHIPPED = "orders_shipped"
    ORDERS_DELIVERED = "orders_delivered"
    ORDERS_CANCELLED = "orders_cancelled"
    ORDERS_RETURNED = "orders_returned"
    BACKORDERED_ORDERS = "backordered_orders"
    SPLIT_ORDERS = "split_orders"
    #: Fulfillments shipped against a ship-by promise, and those of them shipped by it.
    SHIPPED_FULFILLMENTS = "shipped_fulfillments"
    ON_TIME_SHIP = "on_time_ship"
    PERFECT_ORDERS = "perfect_orders"
    SLA_BREACHES = "sla_breaches"
    CYCLE_COUNTS = "cycle_counts"
    ACCURATE_CYCLE_COUNTS = "accurate_cycle_counts"
    CSAT_SUM = "csat_sum"
    CSAT_RESPONSES = "csat_responses"
    #: Parcels whose journey ended without a delivery (returned, lost, damaged), and reships.
    DELIVERY_EXCEPTIONS = "delivery_exceptions"
    RESHIPMENTS = "reshipments"


class Histogram(StrEnum):
    """Histograms, each kept as one counter per bucket: ``<name>#<bucket upper bound>``."""

    ORDER_TO_SHIP_HOURS = "order_to_ship_hours"
    ORDER_TO_DELIVERY_HOURS = "order_to_delivery_hours"


#: Carrier states that mean the parcel did not simply arrive (DELIVERY_ATTEMPTED included: the
#: customer was not reached the first time).
PROBLEM_SCANS = frozenset(
    {
        TrackingStatus.EXCEPTION,
        TrackingStatus.FAILED,
        TrackingStatus.RETURNED_TO_SENDER,
        TrackingStatus.DELIVERY_ATTEMPTED,
    }
)
_PROBLEM_STATES = frozenset(
    {
        FulfillmentStatus.EXCEPTION,
        FulfillmentStatus.FAILED,
        FulfillmentStatus.RETURNED_TO_SENDER,
        FulfillmentStatus.DELIVERY_ATTEMPTED,
        FulfillmentStatus.LOST,
        FulfillmentStatus.DAMAGED,
        FulfillmentStatus.RESHIPPED,
        FulfillmentStatus.REFUNDED,
    }
)

P50 = Fraction(1, 2)
P90 = Fraction(9, 10)
_RATE_PLACES = Decimal("0.0001")
_CSAT_PLACES = Decimal("0.01")
_RETURNED_STATUSES = (OrderStatus.PARTIALLY_RETURNED.value, OrderStatus.RETURNED.value)


def bucket_label(upper: float) -> str:
    return "inf" if math.isinf(upper) else str(int(upper))


def bucket_metric(histogram: Histogram | str, upper: float) -> str:
    return f"{histogram}#{bucket_label(upper)}"


def all_metric_names() -> tuple[str, ...]:
    """Every counter name ``increments_for`` can produce, for readers that fetch counters by name."""
    plain = tuple(str(m) for m in Metric)
    buckets = tuple(bucket_metric(h, upper) for h in Histogram for upper in HOUR_BUCKETS)
    return plain + buckets


@dataclass(frozen=True)
class Increment:
    metric: str
    value: int


@dataclass(frozen=True)
class OrderFacts:
    """What the worker reads about an order for the events that need more than their own data
    (``needs_facts``); ``order_facts`` builds it from the order, its fulfillments and timeline."""

    created_at: datetime
    #: Any unit ever waited for stock: at placement, or after a short pick.
    had_backorder: bool
    #: Placed across warehouses, or sent in more than one fulfillment (no KPI uses it yet).
    split: bool
    #: Every shipped fulfillment shipped by its ship-by promise; None while nothing has shipped.
    all_shipped_on_time: bool | None
    cancelled_units: int
    #: Any exception / failed / returned-to-sender / delivery-attempted scan ever applied, or any
    #: delivery exception (lost, damaged, returned; resolved or not) or reship.
    delivery_problems: bool
    short_picked: bool
    returned: bool
    #: When the last active fulfillment shipped; None until every one has.
    fully_shipped_at: datetime | None
    #: The carrier's time of the last delivery; None until every active fulfillment is delivered.
    fully_delivered_at: datetime | None


class EventDataInvalid(ValueError):
    """An event lacks data a KPI needs (a producer that does not yet send it, or a bug in one).

    Counting it anyway would silently skew a KPI, and counters cannot be corrected later, so the
    worker should let the message fail (and reach the DLQ) rather than guess."""

    def __init__(self, event: DomainEvent, field: str, expected: str) -> None:
        self.event_id = event.id
        self.event_type = event.type
        self.field = field
        super().__init__(f"{event.type} event {event.id}: data.{field} must be {expected}")


class MissingFacts(ValueError):
    """``increments_for`` was called without the OrderFacts that ``needs_facts`` asked for."""


def kpi_day(event: DomainEvent) -> date:
    """The day an event counts on: its own time, in UTC (not when the worker saw it)."""
    return event.occurred_at.astimezone(UTC).date()


def kpi_channel(event: DomainEvent) -> str:
    return event.channel_id or INVENTORY_CHANNEL


def shipped_on_time(shipped_at: datetime, ship_by: datetime | None) -> bool | None:
    """On time means at or before the promise; None when nothing was promised. The worker's
    ``all_shipped_on_time`` and the on-time rate use this one rule so they cannot disagree."""
    return None if ship_by is None else shipped_at <= ship_by


def fully_shipped(fulfillments: Sequence[Fulfillment]) -> bool:
    """Every active fulfillment has left its warehouse. A backorder (no warehouse yet) is active
    and unshipped, so an order with units still waiting is not fully shipped."""
    active = [f for f in fulfillments if f.is_active]
    return bool(active) and all(f.status in FULFILLMENT_SHIPPED_STATES for f in active)


def fully_delivered(fulfillments: Sequence[Fulfillment]) -> bool:
    active = [f for f in fulfillments if f.is_active]
    return bool(active) and all(f.status == FulfillmentStatus.DELIVERED for f in active)


def milestone_flags(
    before: Order,
    before_fulfillments: Sequence[Fulfillment],
    after: Order,
    after_fulfillments: Sequence[Fulfillment],
) -> dict[str, bool]:
    """The flags every order change puts in its own event's data, never in its follow-up events,
    where they would count twice (see docs/kpis.md).

    Each is true on the one change that first reaches the milestone. Producers compute them
    because only the change sees the order before and after: the event's ``status`` alone cannot
    tell a first confirmation from one after a hold, or a delivery from a late scan on an order
    already delivered, and an order partly delivered before its last parcel ships never has the
    status ``shipped`` at all.
    """
    # A reship leaving completes the order's shipment a second time: counted once, the first time.
    shipped_before = any(f.resolution and f.resolution.order_was_fully_shipped for f in after_fulfillments)
    return {
        "first_confirmation": before.confirmed_at is None and after.status == OrderStatus.CONFIRMED,
        "order_fully_shipped": fully_shipped(after_fulfillments)
        and not fully_shipped(before_fulfillments)
        and not shipped_before,
        "order_fully_delivered": fully_delivered(after_fulfillments)
        and not fully_delivered(before_fulfillments),
    }


def order_facts(
    order: Order, fulfillments: Sequence[Fulfillment], timeline: Iterable[DomainEvent]
) -> OrderFacts:
    """The facts as the worker reads them: the order, all its fulfillments (cancelled ones too)
    and its timeline. The timeline is needed because an allocated backorder leaves no trace on
    the order or its fulfillments."""
    events = list(timeline)
    types = {e.type for e in events}
    placed = [_payload(e, OrderPlaced) for e in events if e.type == EventType.ORDER_PLACED]
    placed_backordered = any(line.backordered > 0 for p in placed for line in p.lines)
    placed_split = any(p.split for p in placed)
    active = [f for f in fulfillments if f.is_active]
    shipped = [f for f in active if f.shipment is not None]
    on_time = [shipped_on_time(f.shipment.shipped_at, f.ship_by) for f in shipped if f.shipment]
    return OrderFacts(
        created_at=order.created_at,
        had_backorder=placed_backordered
        or order.has_backorder
        or any(f.awaiting_stock for f in fulfillments)
        or bool(types & {EventType.ORDER_BACKORDERED, EventType.FULFILLMENT_SHORT_PICKED}),
        split=placed_split or len(active) > 1,
        # A shipment without a promise broke no promise.
        all_shipped_on_time=None if not shipped else all(o is not False for o in on_time),
        cancelled_units=sum(line.cancelled for line in order.lines),
        delivery_problems=any(
            f.status in _PROBLEM_STATES or f.delivery_exception or f.reship_of for f in fulfillments
        )
        or any(s.applied and s.status in PROBLEM_SCANS for f in fulfillments for s in f.tracking_history),
        short_picked=EventType.FULFILLMENT_SHORT_PICKED in types,
        returned=order.status.value in _RETURNED_STATUSES or EventType.RETURN_RECEIVED in types,
        fully_shipped_at=max(f.shipment.shipped_at if f.shipment else f.updated_at for f in active)
        if fully_shipped(fulfillments)
        else None,
        fully_delivered_at=max(f.delivered_at or f.updated_at for f in active)
        if fully_delivered(fulfillments)
        else None,
    )


def is_perfect_order(facts: OrderFacts) -> bool:
    """Delivered complete and without a hitch, judged when the order is fully delivered."""
    return (
        facts.all_shipped_on_time is True
        and not facts.had_backorder
        and facts.cancelled_units == 0
        and not facts.delivery_problems
        and not facts.short_picked
        and not facts.returned
    )


def needs_facts(event: DomainEvent) -> bool:
    """True for the events the worker must read the order for: the ones that complete its
    shipment or its delivery (the histograms need its creation time, perfect orders its history)."""
    if event.type not in _ORDER_CHANGES:
        return False
    state = _state(event)
    return state.order_fully_shipped is True or state.order_fully_delivered is True


#: Milestone flags an event type must carry; on other order events they count when present.
_REQUIRED_FLAGS: Mapping[str, tuple[str, ...]] = {
    EventType.ORDER_CONFIRMED: ("first_confirmation",),
    EventType.FULFILLMENT_SHIPPED: ("order_fully_shipped",),
    EventType.ORDER_LINES_CANCELLED: ("order_fully_shipped", "order_fully_delivered"),
    EventType.TRACKING_UPDATED: ("order_fully_delivered",),
}


# Temporary C901 exemption: the event data it reads is being replaced by typed event payloads.
def increments_for(event: DomainEvent, facts: OrderFacts | None) -> list[Increment]:  # noqa: C901
    """What one event adds to the counters of its day (``kpi_day``) and channel (``kpi_channel``).

    Every value is positive: counters only grow. Raises EventDataInvalid when the event lacks data
    a KPI needs, and MissingFacts when ``needs_facts(event)`` and ``facts`` is None.
    """
    out: list[Increment] = []
    kind = event.type
    if kind == EventType.ORDER_PLACED:
        out.append(_one(Metric.ORDERS_PLACED))
        placed = _payload(event, OrderPlaced)
        if any(line.backordered > 0 for line in placed.lines):
            out.append(_one(Metric.BACKORDERED_ORDERS))
        if placed.split:
            out.append(_one(Metric.SPLIT_ORDERS))
    elif kind == EventType.ORDER_CANCELLED:
        out.append(_one(Metric.ORDERS_CANCELLED))
    elif kind == EventType.FULFILLMENT_SHIPPED:
        ship_by = _timestamp_or_none(event, "ship_by", _payload(event, FulfillmentShipped).ship_by)
        on_time = shipped_on_time(event.occurred_at, ship_by)
        if on_time is not None:
            out.append(_one(Metric.SHIPPED_FULFILLMENTS))
            if on_time:
                out.append(_one(Metric.ON_TIME_SHIP))
    elif kind == EventType.SLA_BREACHED:
        out.append(_one(Metric.SLA_BREACHES))
    elif kind == EventType.FULFILLMENT_EXCEPTION_RECORDED:
        out.append(_one(Metric.DELIVERY_EXCEPTIONS))
    elif kind == EventType.FULFILLMENT_RESOLVED and _payload(event, FulfillmentResolved).action == "reship":
        out.append(_one(Metric.RESHIPMENTS))
    elif kind == EventType.FEEDBACK_RECEIVED:
        rating = _payload(event, FeedbackReceived).rating
        if not 1 <= rating <= 5:
            raise EventDataInvalid(event, "rating", "an integer from 1 to 5")
        out += [_one(Metric.CSAT_RESPONSES), Increment(str(Metric.CSAT_SUM), rating)]
    elif kind == EventType.RETURN_RECEIVED:
        status = _state(event).status
        if _payload(event, ReturnReceived).first_return and status in _RETURNED_STATUSES:
            out.append(_one(Metric.ORDERS_RETURNED))
    elif kind == EventType.INVENTORY_COUNTED:
        count = _payload(event, InventoryCounted)
        expected, counted = count.expected, count.counted
        out.append(_one(Metric.CYCLE_COUNTS))
        if expected == counted:
            out.append(_one(Metric.ACCURATE_CYCLE_COUNTS))
    out += _milestones(event, facts)
    return out


def _milestones(event: DomainEvent, facts: OrderFacts | None) -> list[Increment]:
    if event.type not in _ORDER_CHANGES:
        return []  # only an order change's own event carries milestone flags
    state = _state(event)
    for name in _REQUIRED_FLAGS.get(event.type, ()):
        if getattr(state, name) is None:
            raise EventDataInvalid(event, name, "true or false")

    def flag(name: str) -> bool:
        return getattr(state, name) is True

    out: list[Increment] = []
    if flag("first_confirmation"):
        out.append(_one(Metric.ORDERS_CONFIRMED))
    if not (flag("order_fully_shipped") or flag("order_fully_delivered")):
        return out
    if facts is None:
        raise MissingFacts(f"{event.type} event {event.id} completes a milestone: read the OrderFacts")
    if flag("order_fully_shipped"):
        # The last shipment's time, not the event's: an order completed by cancelling its last
        # waiting units shipped when its last parcel left, not when the rest was cancelled.
        shipped_at = facts.fully_shipped_at or event.occurred_at
        out += [
            _one(Metric.ORDERS_SHIPPED),
            _one(_hours_bucket(Histogram.ORDER_TO_SHIP_HOURS, shipped_at - facts.created_at)),
        ]
    if flag("order_fully_delivered"):
        # The carrier's delivery time: tracking webhooks can arrive hours after the doorstep.
        delivered_at = facts.fully_delivered_at or event.occurred_at
        out += [
            _one(Metric.ORDERS_DELIVERED),
            _one(_hours_bucket(Histogram.ORDER_TO_DELIVERY_HOURS, delivered_at - facts.created_at)),
        ]
        if is_perfect_order(facts):
            out.append(_one(Metric.PERFECT_ORDERS))
    return out


def _one(metric: str) -> Increment:
    return Increment(str(metric), 1)


def _hours_bucket(histogram: Histogram, elapsed: timedelta) -> str:
    # Compared as timedeltas, so a duration of exactly 4 h lands in the 4 h bucket without any
    # float rounding; a negative duration (clock skew between writers) counts as the first bucket.
    for upper in HOUR_BUCKETS:
        if math.isinf(upper) or elapsed <= timedelta(hours=upper):
            return bucket_metric(histogram, upper)
    raise AssertionError("the last bucket is open")  # pragma: no cover


#: Event types an order change records: their data carries the OrderState (status, flags).
_ORDER_CHANGES = frozenset(t for t, model in PAYLOADS.items() if model.recorded_with_order_state)
P = TypeVar("P", bound=EventPayload)


def _payload(event: DomainEvent, model: type[P]) -> P:
    """The event's typed payload; data that does not fit is EventDataInvalid, naming the field."""
    try:
        return event.payload(model)
    except ValidationError as exc:
        raise _invalid(event, exc) from exc


def _state(event: DomainEvent) -> OrderState:
    try:
        return event.order_state()
    except ValidationError as exc:
        raise _invalid(event, exc) from exc


def _invalid(event: DomainEvent, exc: ValidationError) -> EventDataInvalid:
    error = exc.errors(include_url=False, include_input=False)[0]
    field = str(error["loc"][0]) if error["loc"] else "data"
    return EventDataInvalid(event, field, f"valid ({error['msg']})")


def _timestamp_or_none(event: DomainEvent, key: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise EventDataInvalid(event, key, "an ISO 8601 time with a zone, or null")
    return value


# --- the report --------------------------------------------------------------------------------


class DailyKpis(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: date
    orders_placed: int
    #: The chart of orders per day by channel (only the asked channel when one is asked).
    orders_placed_by_channel: dict[str, int]
    orders_shipped: int
    orders_delivered: int
    orders_cancelled: int
    order_to_ship_hours_p50: Decimal | None
    order_to_ship_hours_p90: Decimal | None


class KpiReport(BaseModel):
    """The figures of a range of days. Rates are fractions 0..1 to 4 places, None when there is
    nothing to divide by; hours are to 2 places, None when nothing was measured."""

    model_config = ConfigDict(frozen=True)

    from_date: date
    to_date: date
    channel: str | None
    orders_placed: int
    orders_confirmed: int
    orders_shipped: int
    orders_delivered: int
    orders_cancelled: int
    orders_returned: int
    order_to_ship_hours_p50: Decimal | None
    order_to_ship_hours_p90: Decimal | None
    order_to_delivery_hours_p50: Decimal | None
    order_to_delivery_hours_p90: Decimal | None
    on_time_ship_rate: Decimal | None
    perfect_order_rate: Decimal | None
    backorder_rate: Decimal | None
    split_shipment_rate: Decimal | None
    inventory_accuracy: Decimal | None
    csat_average: Decimal | None
    csat_response_rate: Decimal | None
    return_rate: Decimal | None
    sla_breaches: int
    delivery_exceptions: int
    reshipments: int
    daily: list[DailyKpis]


def compute_report(
    counters: Mapping[tuple[date, str, str], int],
    *,
    from_date: date,
    to_date: date,
    channel: str | None,
) -> KpiReport:
    """The report of ``from_date``..``to_date`` (inclusive) from counters keyed by (day, channel,
    metric). ``channel`` None sums every channel; either way the inventory channel counts.
    Counters outside the range or of unknown metrics are ignored, so a reader may pass more."""
    if from_date > to_date:
        raise ValueError("from_date is after to_date")
    days = [from_date + timedelta(days=i) for i in range((to_date - from_date).days + 1)]
    per_day: dict[date, dict[str, int]] = {d: {} for d in days}
    placed_by_channel: dict[date, dict[str, int]] = {d: {} for d in days}
    for (day, ch, metric), value in counters.items():
        if day not in per_day or (channel is not None and ch not in (channel, INVENTORY_CHANNEL)):
            continue
        per_day[day][metric] = per_day[day].get(metric, 0) + value
        if metric == Metric.ORDERS_PLACED and ch != INVENTORY_CHANNEL and value:
            placed_by_channel[day][ch] = placed_by_channel[day].get(ch, 0) + value
    total = _sum_days(per_day.values())

    def n(metric: Metric) -> int:
        return total.get(metric, 0)

    ship_hours = histogram_counts(total, Histogram.ORDER_TO_SHIP_HOURS)
    delivery_hours = histogram_counts(total, Histogram.ORDER_TO_DELIVERY_HOURS)
    return KpiReport(
        from_date=from_date,
        to_date=to_date,
        channel=channel,
        orders_placed=n(Metric.ORDERS_PLACED),
        orders_confirmed=n(Metric.ORDERS_CONFIRMED),
        orders_shipped=n(Metric.ORDERS_SHIPPED),
        orders_delivered=n(Metric.ORDERS_DELIVERED),
        orders_cancelled=n(Metric.ORDERS_CANCELLED),
        orders_returned=n(Metric.ORDERS_RETURNED),
        order_to_ship_hours_p50=histogram_percentile(ship_hours, P50),
        order_to_ship_hours_p90=histogram_percentile(ship_hours, P90),
        order_to_delivery_hours_p50=histogram_percentile(delivery_hours, P50),
        order_to_delivery_hours_p90=histogram_percentile(delivery_hours, P90),
        on_time_ship_rate=rate(n(Metric.ON_TIME_SHIP), n(Metric.SHIPPED_FULFILLMENTS)),
        perfect_order_rate=rate(n(Metric.PERFECT_ORDERS), n(Metric.ORDERS_DELIVERED)),
        backorder_rate=rate(n(Metric.BACKORDERED_ORDERS), n(Metric.ORDERS_PLACED)),
        split_shipment_rate=rate(n(Metric.SPLIT_ORDERS), n(Metric.ORDERS_PLACED)),
        inventory_accuracy=rate(n(Metric.ACCURATE_CYCLE_COUNTS), n(Metric.CYCLE_COUNTS)),
        csat_average=_quantize(Fraction(n(Metric.CSAT_SUM), n(Metric.CSAT_RESPONSES)), _CSAT_PLACES)
        if n(Metric.CSAT_RESPONSES) > 0
        else None,
        # Responses and returns count on their own day, deliveries on theirs: over a short range
        # the numerator can include orders delivered before it, hence the cap.
        csat_response_rate=rate(n(Metric.CSAT_RESPONSES), n(Metric.ORDERS_DELIVERED), cap=True),
        return_rate=rate(n(Metric.ORDERS_RETURNED), n(Metric.ORDERS_DELIVERED), cap=True),
        sla_breaches=n(Metric.SLA_BREACHES),
        delivery_exceptions=n(Metric.DELIVERY_EXCEPTIONS),
        reshipments=n(Metric.RESHIPMENTS),
        daily=[_daily(d, per_day[d], placed_by_channel[d]) for d in days],
    )


def _sum_days(days: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for metrics in days:
        for metric, value in metrics.items():
            total[metric] = total.get(metric, 0) + value
    return total


def _daily(day: date, metrics: Mapping[str, int], placed_by_channel: dict[str, int]) -> DailyKpis:
    ship_hours = histogram_counts(metrics, Histogram.ORDER_TO_SHIP_HOURS)
    return DailyKpis(
        day=day,
        orders_placed=metrics.get(Metric.ORDERS_PLACED, 0),
        orders_placed_by_channel=placed_by_channel,
        orders_shipped=metrics.get(Metric.ORDERS_SHIPPED, 0),
        orders_delivered=metrics.get(Metric.ORDERS_DELIVERED, 0),
        orders_cancelled=metrics.get(Metric.ORDERS_CANCELLED, 0),
        order_to_ship_hours_p50=histogram_percentile(ship_hours, P50),
        order_to_ship_hours_p90=histogram_percentile(ship_hours, P90),
    )


def histogram_counts(metrics: Mapping[str, int], histogram: Histogram) -> list[int]:
    """The histogram's bucket counts in ``HOUR_BUCKETS`` order."""
    return [metrics.get(bucket_metric(histogram, upper), 0) for upper in HOUR_BUCKETS]


def rate(numerator: int, denominator: int, *, cap: bool = False) -> Decimal | None:
    if denominator <= 0:
        return None
    value = Fraction(numerator, denominator)
    return _quantize(min(value, Fraction(1)) if cap else value, _RATE_PLACES)
