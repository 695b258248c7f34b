"""KPIs: what each event adds to the counters, and the figures computed back from them.

The centre is a scripted week of nine orders on two channels, fed event by event through a
small worker that does what the real one does (dedup by event id, facts read only when asked,
counters keyed by the event's UTC day and channel); every KPI is compared with an answer
computed by hand in the comments. Around it: percentiles of known histograms, empty ranges,
the data contract with producers, the milestone flags and facts the producers and the worker
compute, and two properties (counters only grow; disjoint ranges add up).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.event_payloads import PAYLOADS
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.kpis import (
    HOUR_BUCKETS,
    INVENTORY_CHANNEL,
    P50,
    P90,
    EventDataInvalid,
    Histogram,
    Increment,
    KpiReport,
    Metric,
    MissingFacts,
    OrderFacts,
    all_metric_names,
    bucket_label,
    bucket_metric,
    compute_report,
    histogram_percentile,
    increments_for,
    kpi_channel,
    kpi_day,
    milestone_flags,
    needs_facts,
    order_facts,
)
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Shipment, TrackedScan
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from tests.unit.builders import MISSING, event_data, make_order

WEB, SHOP = "web", "shop"
Counters = dict[tuple[date, str, str], int]

# --- the scripted week: Monday 2 March 2026 (D1) to Sunday 8 March (D7), all times UTC ---------


def day(n: int) -> date:
    return date(2026, 3, 1) + timedelta(days=n)


def at(n: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC) + timedelta(days=n)


def end_of(n: int) -> datetime:
    """A ship-by promise: the end of day ``n``."""
    return at(n, 23, 59) + timedelta(seconds=59)


_ids = itertools.count(1)


def event(
    kind: str, when: datetime, order: str | None = None, channel: str | None = None, **data: Any
) -> DomainEvent:
    return DomainEvent(
        id=f"evt_{next(_ids):04d}",
        type=kind,
        order_id=order,
        channel_id=channel,
        occurred_at=when,
        actor="system:test",
        data=event_data(kind, **data),
    )


def placed(
    order: str, channel: str, when: datetime, *, backordered: int = 0, split: bool = False
) -> DomainEvent:
    lines = [{"sku": "MUG-1", "quantity": 2, "backordered": backordered}]
    return event(EventType.ORDER_PLACED, when, order, channel, status="placed", lines=lines, split=split)


def confirmed(order: str, channel: str, when: datetime, *, first: bool = True) -> DomainEvent:
    return event(
        EventType.ORDER_CONFIRMED, when, order, channel, status="confirmed", first_confirmation=first
    )


def shipped(
    order: str,
    channel: str,
    when: datetime,
    *,
    ship_by: datetime | None,
    fully: bool,
    status: str = "shipped",
) -> DomainEvent:
    return event(
        EventType.FULFILLMENT_SHIPPED,
        when,
        order,
        channel,
        status=status,
        ship_by=ship_by.isoformat() if ship_by else None,
        order_fully_shipped=fully,
    )


def tracked(order: str, channel: str, when: datetime, *, fully_delivered: bool) -> DomainEvent:
    return event(
        EventType.TRACKING_UPDATED,
        when,
        order,
        channel,
        status="delivered",
        order_fully_delivered=fully_delivered,
    )


def feedback(order: str, channel: str, when: datetime, rating: int) -> DomainEvent:
    return event(EventType.FEEDBACK_RECEIVED, when, order, channel, status="delivered", rating=rating)


def cycle_count(when: datetime, expected: int, counted: int) -> DomainEvent:
    return DomainEvent(
        id=f"evt_{next(_ids):04d}",
        type=EventType.INVENTORY_COUNTED,
        sku="MUG-1",
        warehouse_id="wh_east",
        occurred_at=when,
        actor="warehouse:wh_east",
        data={"expected": expected, "counted": counted, "delta": counted - expected, "reserved": 0},
    )


def facts(created_at: datetime, **overrides: Any) -> OrderFacts:
    """Facts of an order that went without a hitch, unless told otherwise."""
    clean = OrderFacts(
        created_at=created_at,
        had_backorder=False,
        split=False,
        all_shipped_on_time=True,
        cancelled_units=0,
        delivery_problems=False,
        short_picked=False,
        returned=False,
        fully_shipped_at=None,
        fully_delivered_at=None,
    )
    return replace(clean, **overrides)


def week() -> list[tuple[DomainEvent, OrderFacts | None]]:
    """Each event with the facts the worker would read when it processes it."""
    return [
        # O1 (web): the perfect order. Ships 3 h after placing, delivered 48.5 h after.
        (placed("O1", WEB, at(1, 9)), None),
        (confirmed("O1", WEB, at(1, 9, 5)), None),
        (
            shipped("O1", WEB, at(1, 12), ship_by=end_of(1), fully=True),
            facts(at(1, 9), fully_shipped_at=at(1, 12)),
        ),
        (
            tracked("O1", WEB, at(3, 10), fully_delivered=True),
            facts(at(1, 9), fully_shipped_at=at(1, 12), fully_delivered_at=at(3, 9, 30)),
        ),
        (feedback("O1", WEB, at(4, 10), 5), None),
        # O2 (web): split over two warehouses; the second parcel ships a day late (after an SLA
        # alert). Fully shipped 30 h after placing, delivered 73 h after: not perfect.
        (placed("O2", WEB, at(1, 10), split=True), None),
        (confirmed("O2", WEB, at(1, 10, 1)), None),
        (shipped("O2", WEB, at(1, 14), ship_by=end_of(1), fully=False, status="partially_shipped"), None),
        (event(EventType.SLA_BREACHED, at(2, 0, 15), "O2", WEB, status="partially_shipped"), None),
        (
            shipped("O2", WEB, at(2, 16), ship_by=end_of(1), fully=True),
            facts(at(1, 10), split=True, all_shipped_on_time=False, fully_shipped_at=at(2, 16)),
        ),
        (
            tracked("O2", WEB, at(4, 12), fully_delivered=True),
            facts(at(1, 10), split=True, all_shipped_on_time=False, fully_delivered_at=at(4, 11)),
        ),
        (feedback("O2", WEB, at(5, 10), 3), None),
        # O3 (shop): placed with a unit on backorder, confirmed when the backorder is allocated.
        # Fully shipped 31 h after placing, delivered 74 h after (carrier time): not perfect.
        (placed("O3", SHOP, at(2, 8), backordered=1), None),
        (event(EventType.ORDER_BACKORDERED, at(2, 8, 1), "O3", SHOP, status="backordered"), None),
        (
            event(
                EventType.ORDER_BACKORDER_ALLOCATED,
                at(3, 9),
                "O3",
                SHOP,
                status="confirmed",
                first_confirmation=True,
            ),
            None,
        ),
        (
            shipped("O3", SHOP, at(3, 15), ship_by=end_of(3), fully=True),
            facts(at(2, 8), had_backorder=True, fully_shipped_at=at(3, 15)),
        ),
        (
            tracked("O3", SHOP, at(5, 11), fully_delivered=True),
            facts(at(2, 8), had_backorder=True, fully_delivered_at=at(5, 10)),
        ),
        # O4 (shop): confirmed, then cancelled the same day.
        (placed("O4", SHOP, at(2, 11)), None),
        (confirmed("O4", SHOP, at(2, 11, 10)), None),
        (event(EventType.ORDER_CANCELLED, at(2, 13), "O4", SHOP, status="cancelled"), None),
        # O5 (web): held and confirmed again (not a second confirmation); ships late exactly 24 h
        # after placing; a carrier exception on the way; delivered 75 h after placing; a late
        # scan after delivery; then two returns, only the first of which counts.
        (placed("O5", WEB, at(3, 9)), None),
        (confirmed("O5", WEB, at(3, 9, 10)), None),
        (
            event(
                EventType.ORDER_ON_HOLD, at(3, 9, 30), "O5", WEB, status="on_hold", first_confirmation=False
            ),
            None,
        ),
        (confirmed("O5", WEB, at(3, 10), first=False), None),
        (
            shipped("O5", WEB, at(4, 9), ship_by=end_of(3), fully=True),
            facts(at(3, 9), all_shipped_on_time=False, fully_shipped_at=at(4, 9)),
        ),
        (
            tracked("O5", WEB, at(6, 13), fully_delivered=True),
            facts(at(3, 9), all_shipped_on_time=False, delivery_problems=True, fully_delivered_at=at(6, 12)),
        ),
        (tracked("O5", WEB, at(7, 8), fully_delivered=False), None),
        (
            event(
                EventType.RETURN_RECEIVED,
                at(7, 15),
                "O5",
                WEB,
                status="partially_returned",
                first_return=True,
            ),
            None,
        ),
        (event(EventType.RETURN_RECEIVED, at(7, 16), "O5", WEB, status="returned", first_return=False), None),
        # O6 (shop): the other perfect order: ships 7 h after placing, delivered 45 h after.
        (placed("O6", SHOP, at(4, 10)), None),
        (confirmed("O6", SHOP, at(4, 10, 5)), None),
        (
            shipped("O6", SHOP, at(4, 17), ship_by=end_of(4), fully=True),
            facts(at(4, 10), fully_shipped_at=at(4, 17)),
        ),
        (
            tracked("O6", SHOP, at(6, 8, 30), fully_delivered=True),
            facts(at(4, 10), fully_delivered_at=at(6, 7)),
        ),
        (feedback("O6", SHOP, at(7, 9), 4), None),
        # O7 (shop): shipped exactly 12 h after placing, with no ship-by promise; not delivered yet.
        (placed("O7", SHOP, at(5, 22)), None),
        (confirmed("O7", SHOP, at(5, 22, 5)), None),
        (
            shipped("O7", SHOP, at(6, 10), ship_by=None, fully=True),
            facts(at(5, 22), fully_shipped_at=at(6, 10)),
        ),
        # O8 (web): placed late on Sunday, nothing else yet.
        (placed("O8", WEB, at(7, 23, 30)), None),
        # O9 (shop): placed with a backorder; the in-stock part ships on time 24 h later; the
        # waiting unit is cancelled the next day, which completes the shipment (counted at its
        # last parcel's time: 24 h). Never confirmed.
        (placed("O9", SHOP, at(5, 12), backordered=1), None),
        (
            shipped("O9", SHOP, at(6, 12), ship_by=end_of(6), fully=False, status="partially_shipped"),
            None,
        ),
        (
            event(
                EventType.ORDER_LINES_CANCELLED,
                at(7, 10),
                "O9",
                SHOP,
                status="shipped",
                order_fully_shipped=True,
                order_fully_delivered=False,
            ),
            facts(at(5, 12), had_backorder=True, cancelled_units=1, fully_shipped_at=at(6, 12)),
        ),
        # Cycle counts (no channel): right, wrong by one, right.
        (cycle_count(at(2, 7), 10, 10), None),
        (cycle_count(at(5, 7), 5, 4), None),
        (cycle_count(at(6, 7), 0, 0), None),
    ]


def run(script: Iterable[tuple[DomainEvent, OrderFacts | None]]) -> Counters:
    """The kpi worker, minus DynamoDB: each event id once, facts only when asked for."""
    counters: Counter[tuple[date, str, str]] = Counter()
    seen: set[str] = set()
    for e, known in script:
        if e.id in seen:
            continue
        seen.add(e.id)
        for inc in increments_for(e, known if needs_facts(e) else None):
            counters[(kpi_day(e), kpi_channel(e), inc.metric)] += inc.value
    return dict(counters)


def report(counters: Counters, channel: str | None = None, first: int = 1, last: int = 7) -> KpiReport:
    return compute_report(counters, from_date=day(first), to_date=day(last), channel=channel)


D = Decimal


def test_every_kpi_of_the_scripted_week_equals_the_hand_computed_answer() -> None:
    r = report(run(week()))
    # Placed: O1..O9. Confirmed: O1 O2 O3 (at allocation) O4 O5 (once) O6 O7 - not O8, O9.
    assert (r.orders_placed, r.orders_confirmed) == (9, 7)
    # Shipped: O1 O2 O3 O5 O6 O7 O9. Delivered: O1 O2 O3 O5 O6. Cancelled: O4. Returned: O5.
    assert (r.orders_shipped, r.orders_delivered, r.orders_cancelled, r.orders_returned) == (7, 5, 1, 1)
    # Hours to ship: O1 3, O7 12, O5 24, O9 24, O2 30, O3 31, O6 7 -> buckets
    # (2,4]:1 (4,8]:1 (8,12]:1 (12,24]:2 (24,36]:2, n = 7.
    # p50: rank 3.5 falls in (12,24] after 3 below: 12 + (0.5 / 2) * 12 = 15.
    # p90: rank 6.3 falls in (24,36] after 5 below: 24 + (1.3 / 2) * 12 = 31.8.
    assert (r.order_to_ship_hours_p50, r.order_to_ship_hours_p90) == (D("15.00"), D("31.80"))
    # Hours to delivery (carrier time): O6 45, O1 48.5, O2 73, O3 74, O5 75 -> buckets
    # (36,48]:1 (48,72]:1 (72,96]:3, n = 5.
    # p50: rank 2.5 in (72,96] after 2 below: 72 + (0.5 / 3) * 24 = 76.
    # p90: rank 4.5 in (72,96] after 2 below: 72 + (2.5 / 3) * 24 = 92.
    assert (r.order_to_delivery_hours_p50, r.order_to_delivery_hours_p90) == (D("76.00"), D("92.00"))
    # Shipments with a promise: O1 O2a O2b O3 O5 O6 O9a (O7 had none); late: O2b, O5 -> 5/7.
    assert r.on_time_ship_rate == D("0.7143")
    # Delivered 5; perfect: O1, O6 (O2 late, O3 backordered, O5 carrier exception) -> 2/5.
    assert r.perfect_order_rate == D("0.4000")
    # Placed with a backorder: O3, O9 -> 2/9. Placed split: O2 -> 1/9.
    assert (r.backorder_rate, r.split_shipment_rate) == (D("0.2222"), D("0.1111"))
    # Cycle counts 10/10, 5/4, 0/0 -> 2 accurate of 3.
    assert r.inventory_accuracy == D("0.6667")
    # Ratings 5 (O1), 3 (O2), 4 (O6): average 12/3; 3 responses per 5 deliveries.
    assert (r.csat_average, r.csat_response_rate) == (D("4.00"), D("0.6000"))
    # One order returned per 5 delivered; one SLA alert (O2's second parcel).
    assert (r.return_rate, r.sla_breaches) == (D("0.2000"), 1)


def test_the_scripted_week_day_by_day_draws_orders_per_channel() -> None:
    r = report(run(week()))
    assert [d.day for d in r.daily] == [day(n) for n in range(1, 8)]
    assert [d.orders_placed_by_channel for d in r.daily] == [
        {WEB: 2},  # O1 O2
        {SHOP: 2},  # O3 O4
        {WEB: 1},  # O5
        {SHOP: 1},  # O6
        {SHOP: 2},  # O9 at noon, O7 at 22:00
        {},
        {WEB: 1},  # O8 at 23:30, still Sunday in UTC
    ]
    assert [d.orders_placed for d in r.daily] == [2, 2, 1, 1, 2, 0, 1]
    # Shipped on the day the shipment completed: O1 | O2 | O3 | O5 O6 | - | O7 | O9 (by cancelling).
    assert [d.orders_shipped for d in r.daily] == [1, 1, 1, 2, 0, 1, 1]
    # Delivered on the day the tracking update said so: O1 | O2 | O3 | O5 O6.
    assert [d.orders_delivered for d in r.daily] == [0, 0, 1, 1, 1, 2, 0]
    assert [d.orders_cancelled for d in r.daily] == [0, 1, 0, 0, 0, 0, 0]
    # Thursday shipped O6 after 7 h (4,8] and O5 after 24 h (12,24]:
    # p50 rank 1 in (4,8]: 4 + (1/1) * 4 = 8; p90 rank 1.8 in (12,24]: 12 + (0.8/1) * 12 = 21.6.
    thursday = r.daily[3]
    assert (thursday.order_to_ship_hours_p50, thursday.order_to_ship_hours_p90) == (D("8.00"), D("21.60"))
    assert r.daily[4].order_to_ship_hours_p50 is None  # nothing shipped on Friday


def test_one_channel_counts_only_its_own_orders_but_shares_the_inventory_counts() -> None:
    r = report(run(week()), channel=WEB)
    # Web orders: O1 O2 O5 O8; confirmed O1 O2 O5; shipped and delivered O1 O2 O5; O5 returned.
    assert (r.orders_placed, r.orders_confirmed, r.orders_shipped, r.orders_delivered) == (4, 3, 3, 3)
    assert (r.orders_cancelled, r.orders_returned, r.sla_breaches) == (0, 1, 1)
    # Hours to ship 3 (2,4], 24 (12,24], 30 (24,36]: p50 rank 1.5 in (12,24]: 12 + 0.5 * 12 = 18;
    # p90 rank 2.7 in (24,36]: 24 + 0.7 * 12 = 32.4.
    assert (r.order_to_ship_hours_p50, r.order_to_ship_hours_p90) == (D("18.00"), D("32.40"))
    # Delivery 48.5 (48,72], 73 and 75 (72,96]: p50 rank 1.5 in (72,96]: 72 + (0.5/2) * 24 = 78.
    assert r.order_to_delivery_hours_p50 == D("78.00")
    # On time: O1, O2a of O1 O2a O2b O5 -> 2/4. Perfect: O1 of 3. No backorders, O2 split of 4.
    assert (r.on_time_ship_rate, r.perfect_order_rate) == (D("0.5000"), D("0.3333"))
    assert (r.backorder_rate, r.split_shipment_rate) == (D("0.0000"), D("0.2500"))
    # The warehouse's cycle counts belong to no channel and count in every report.
    assert r.inventory_accuracy == D("0.6667")
    # Ratings 5 and 3; 2 responses per 3 deliveries; 1 return per 3 deliveries.
    assert (r.csat_average, r.csat_response_rate, r.return_rate) == (D("4.00"), D("0.6667"), D("0.3333"))
    assert [d.orders_placed_by_channel for d in r.daily][:3] == [{WEB: 2}, {}, {WEB: 1}]


def test_the_two_channels_add_up_to_all_channels() -> None:
    counters = run(week())
    web, shop, both = report(counters, WEB), report(counters, SHOP), report(counters)
    for field in (
        "orders_placed",
        "orders_confirmed",
        "orders_shipped",
        "orders_delivered",
        "orders_cancelled",
    ):
        assert getattr(web, field) + getattr(shop, field) == getattr(both, field), field


def test_a_redelivered_event_leaves_every_kpi_unchanged_when_the_worker_dedups_by_event_id() -> None:
    script = week()
    twice = [item for item in script for _ in range(2)]
    assert run(twice) == run(script)
    # ... because the increments of an event are a function of the event (and its facts) alone.
    for e, known in script:
        given_facts = known if needs_facts(e) else None
        assert increments_for(e, given_facts) == increments_for(e, given_facts)


def test_inventory_events_are_filed_under_the_no_channel_channel_on_their_utc_day() -> None:
    late_evening_in_new_york = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)  # 22:30 on the 2nd in New York
    e = cycle_count(late_evening_in_new_york, 3, 3)
    assert (kpi_day(e), kpi_channel(e)) == (date(2026, 3, 3), INVENTORY_CHANNEL)


# --- percentiles --------------------------------------------------------------------------------


def counts(**by_bound: int) -> list[int]:
    """Bucket counts by upper bound: ``counts(b4=1, inf=2)`` is one in (2,4] and two above 336."""
    names = ["inf" if bucket_label(upper) == "inf" else f"b{bucket_label(upper)}" for upper in HOUR_BUCKETS]
    assert set(by_bound) <= set(names), set(by_bound) - set(names)
    return [by_bound.get(name, 0) for name in names]


def test_a_single_value_in_a_bucket_reads_as_the_middle_of_it_at_p50() -> None:
    assert histogram_percentile(counts(b4=1), P50) == D("3.00")


def test_the_percentile_interpolates_linearly_across_the_bucket_it_falls_in() -> None:
    # 10 values: 2 in (0,1], 8 in (24,36]. p90 rank 9: 7th of 8 in (24,36] -> 24 + (7/8) * 12 = 34.5.
    assert histogram_percentile(counts(b1=2, b36=8), P90) == D("34.50")
    # p50 rank 5: 3rd of 8 -> 24 + (3/8) * 12 = 28.5 (the empty buckets between do not matter).
    assert histogram_percentile(counts(b1=2, b36=8), P50) == D("28.50")
    assert histogram_percentile(counts(b1=2, b36=8), Fraction(1)) == D("36.00")


def test_in_the_open_last_bucket_the_percentile_is_its_lower_bound() -> None:
    assert histogram_percentile(counts(b8=1, inf=3), P90) == D("336.00")


def test_an_empty_histogram_has_no_percentile() -> None:
    assert histogram_percentile(counts(), P50) is None


def test_a_duration_on_a_bucket_bound_belongs_to_the_bucket_it_closes() -> None:
    e = shipped("O", WEB, at(1, 13), ship_by=None, fully=True)
    exactly_four_hours = increments_for(e, facts(at(1, 9), fully_shipped_at=at(1, 13)))
    assert Increment(bucket_metric(Histogram.ORDER_TO_SHIP_HOURS, 4), 1) in exactly_four_hours
    a_second_more = increments_for(e, facts(at(1, 9), fully_shipped_at=at(1, 13) + timedelta(seconds=1)))
    assert Increment(bucket_metric(Histogram.ORDER_TO_SHIP_HOURS, 8), 1) in a_second_more


# --- empty ranges -------------------------------------------------------------------------------


def test_an_empty_range_counts_zero_and_has_no_rates_or_percentiles() -> None:
    r = report(run(week()), first=20, last=26)
    assert (r.orders_placed, r.orders_shipped, r.orders_delivered, r.sla_breaches) == (0, 0, 0, 0)
    rates = (r.on_time_ship_rate, r.perfect_order_rate, r.backorder_rate, r.split_shipment_rate)
    assert rates == (None, None, None, None)
    assert (r.inventory_accuracy, r.csat_average, r.csat_response_rate, r.return_rate) == (None,) * 4
    assert (r.order_to_ship_hours_p50, r.order_to_ship_hours_p90, r.order_to_delivery_hours_p50) == (
        None,
    ) * 3
    assert len(r.daily) == 7 and all(d.orders_placed == 0 for d in r.daily)


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        report({}, first=3, last=2)


def test_responses_to_deliveries_before_the_range_do_not_push_the_response_rate_past_one() -> None:
    # Saturday and Sunday: 2 deliveries (O5 O6), 1 rating (O6) -> 0.5.
    assert report(run(week()), first=6, last=7).csat_response_rate == D("0.5000")
    # Sunday alone: O6's rating but no delivery -> nothing to divide by.
    assert report(run(week()), first=7, last=7).csat_response_rate is None
    # More ratings than deliveries in a range reads 1, not more.
    counters = {(day(1), WEB, "csat_responses"): 3, (day(1), WEB, "orders_delivered"): 1}
    assert report(counters, first=1, last=1).csat_response_rate == D("1.0000")


def test_the_report_is_json_with_rates_as_decimal_strings() -> None:
    body = report(run(week())).model_dump(mode="json")
    assert body["on_time_ship_rate"] == "0.7143"
    assert body["from_date"] == "2026-03-02" and body["daily"][0]["day"] == "2026-03-02"


# --- the data contract --------------------------------------------------------------------------


def test_only_events_that_complete_a_shipment_or_a_delivery_need_the_order_facts() -> None:
    needing = [e for e, _ in week() if needs_facts(e)]
    assert {e.type for e in needing} == {
        EventType.FULFILLMENT_SHIPPED,
        EventType.TRACKING_UPDATED,
        EventType.ORDER_LINES_CANCELLED,
    }
    assert len(needing) == 12  # 7 orders fully shipped + 5 fully delivered


def test_a_completing_event_without_its_facts_is_refused_rather_than_counted_half() -> None:
    with pytest.raises(MissingFacts):
        increments_for(shipped("O", WEB, at(1, 12), ship_by=None, fully=True), None)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        (EventType.ORDER_PLACED, {"lines": [{"sku": "MUG-1"}], "split": False}, "lines"),
        (EventType.ORDER_PLACED, {"lines": [], "split": MISSING}, "split"),
        (EventType.ORDER_CONFIRMED, {"status": "confirmed"}, "first_confirmation"),
        (EventType.FULFILLMENT_SHIPPED, {"ship_by": MISSING, "order_fully_shipped": False}, "ship_by"),
        (EventType.FULFILLMENT_SHIPPED, {"ship_by": "2026-03-02", "order_fully_shipped": False}, "ship_by"),
        (EventType.FULFILLMENT_SHIPPED, {"ship_by": None}, "order_fully_shipped"),
        (EventType.TRACKING_UPDATED, {"status": "delivered"}, "order_fully_delivered"),
        (EventType.ORDER_LINES_CANCELLED, {"order_fully_shipped": False}, "order_fully_delivered"),
        (EventType.FEEDBACK_RECEIVED, {"rating": 0}, "rating"),
        (EventType.RETURN_RECEIVED, {"status": "returned", "first_return": MISSING}, "first_return"),
        (EventType.INVENTORY_COUNTED, {"counted": 3, "expected": MISSING}, "expected"),
    ],
)
def test_an_event_missing_the_data_its_kpi_needs_is_refused_naming_the_field(
    kind: str, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventDataInvalid) as raised:
        increments_for(event(kind, at(1, 9), "O", WEB, **data), facts(at(1, 8)))
    assert raised.value.field == field


def test_events_no_kpi_reads_add_nothing() -> None:
    for kind in (EventType.NOTIFICATION_SENT, EventType.FULFILLMENT_PICKED, EventType.ORDER_HOLD_RELEASED):
        assert increments_for(event(kind, at(1, 9), "O", WEB, status="confirmed"), None) == []


def test_a_return_that_leaves_the_order_delivered_is_not_a_returned_order() -> None:
    e = event(EventType.RETURN_RECEIVED, at(1, 9), "O", WEB, status="delivered", first_return=True)
    assert increments_for(e, None) == []


# --- what producers and the worker compute ------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ful(
    fid: str,
    status: FulfillmentStatus,
    *,
    warehouse: str | None = "wh_east",
    ship_by: datetime | None = None,
    shipped_at: datetime | None = None,
    delivered_at: datetime | None = None,
    scans: tuple[tuple[TrackingStatus, bool], ...] = (),
) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id="ord_0001",
        channel_id=WEB,
        warehouse_id=warehouse,
        status=status,
        version=1,
        lines=[FulfillmentLine(sku="MUG-1", quantity=1)],
        created_at=T0,
        updated_at=T0,
        ship_by=ship_by,
        shipment=Shipment(carrier="usps", service="ground", tracking_numbers=["9400"], shipped_at=shipped_at)
        if shipped_at
        else None,
        delivered_at=delivered_at,
        tracking_history=[
            TrackedScan(status=s, raw_status=s.value, occurred_at=T0, provider="easypost", applied=applied)
            for s, applied in scans
        ],
    )


F = FulfillmentStatus
ORDER = make_order(status=OrderStatus.IN_FULFILLMENT, created_at=T0, confirmed_at=T0)


def test_shipping_the_first_of_two_parcels_does_not_complete_the_shipment_but_the_second_does() -> None:
    a, b = ful("a", F.PACKED), ful("b", F.PACKED)
    first = milestone_flags(ORDER, [a, b], ORDER, [ful("a", F.SHIPPED), b])
    second = milestone_flags(
        ORDER, [ful("a", F.SHIPPED), b], ORDER, [ful("a", F.SHIPPED), ful("b", F.SHIPPED)]
    )
    assert (first["order_fully_shipped"], second["order_fully_shipped"]) == (False, True)


def test_units_waiting_for_stock_keep_the_order_from_being_fully_shipped() -> None:
    backorder = ful("bo", F.PENDING, warehouse=None)
    flags = milestone_flags(ORDER, [ful("a", F.PACKED), backorder], ORDER, [ful("a", F.SHIPPED), backorder])
    assert flags["order_fully_shipped"] is False


def test_the_last_parcel_of_an_order_partly_delivered_already_completes_its_shipment() -> None:
    # The order's status stays partially_delivered: only the flag can tell.
    delivered = ful("a", F.DELIVERED)
    flags = milestone_flags(ORDER, [delivered, ful("b", F.PACKED)], ORDER, [delivered, ful("b", F.SHIPPED)])
    assert flags["order_fully_shipped"] is True


def test_a_late_scan_on_an_order_delivered_already_is_not_another_delivery() -> None:
    both = [ful("a", F.DELIVERED), ful("b", F.DELIVERED)]
    assert milestone_flags(ORDER, both, ORDER, both)["order_fully_delivered"] is False
    last = milestone_flags(ORDER, [both[0], ful("b", F.IN_TRANSIT)], ORDER, both)
    assert last["order_fully_delivered"] is True


def test_only_the_change_that_first_confirms_the_order_is_its_first_confirmation() -> None:
    placed_order = make_order(status=OrderStatus.PLACED, created_at=T0)
    confirmed_order = placed_order.model_copy(update={"status": OrderStatus.CONFIRMED, "confirmed_at": T0})
    assert milestone_flags(placed_order, [], confirmed_order, [])["first_confirmation"] is True
    held_before = confirmed_order.model_copy(update={"status": OrderStatus.ON_HOLD})
    assert milestone_flags(held_before, [], confirmed_order, [])["first_confirmation"] is False


def placed_event(backordered: int) -> DomainEvent:
    return placed("ord_0001", WEB, T0, backordered=backordered)


def test_an_order_placed_with_a_backorder_had_one_even_after_the_backorder_was_allocated() -> None:
    allocated = [ful("a", F.SHIPPED, shipped_at=T0)]
    assert order_facts(ORDER, allocated, [placed_event(1)]).had_backorder is True
    assert order_facts(ORDER, allocated, [placed_event(0)]).had_backorder is False


def test_a_short_pick_is_both_a_short_pick_and_a_backorder() -> None:
    short = event(EventType.FULFILLMENT_SHORT_PICKED, T0, "ord_0001", WEB, status="in_fulfillment")
    got = order_facts(ORDER, [ful("a", F.PICKED)], [placed_event(0), short])
    assert (got.short_picked, got.had_backorder) == (True, True)


def test_only_a_problem_scan_that_was_applied_is_a_delivery_problem() -> None:
    ignored = ful(
        "a", F.DELIVERED, scans=((TrackingStatus.EXCEPTION, False), (TrackingStatus.DELIVERED, True))
    )
    applied = ful(
        "a", F.DELIVERED, scans=((TrackingStatus.EXCEPTION, True), (TrackingStatus.DELIVERED, True))
    )
    assert order_facts(ORDER, [ignored], []).delivery_problems is False
    assert order_facts(ORDER, [applied], []).delivery_problems is True


def test_on_time_means_every_shipment_by_its_promise_and_is_unknown_before_anything_ships() -> None:
    promise = T0 + timedelta(hours=10)
    on_time = ful("a", F.SHIPPED, ship_by=promise, shipped_at=promise)
    late = ful("b", F.SHIPPED, ship_by=promise, shipped_at=promise + timedelta(seconds=1))
    assert order_facts(ORDER, [on_time], []).all_shipped_on_time is True
    assert order_facts(ORDER, [on_time, late], []).all_shipped_on_time is False
    assert order_facts(ORDER, [ful("a", F.PACKED)], []).all_shipped_on_time is None


def test_fully_shipped_and_delivered_times_are_those_of_the_last_parcel_ignoring_cancelled_work() -> None:
    first, last = T0 + timedelta(hours=3), T0 + timedelta(hours=30)
    cancelled = ful("x", F.CANCELLED)
    got = order_facts(
        ORDER,
        [
            ful("a", F.DELIVERED, shipped_at=first, delivered_at=last),
            ful("b", F.DELIVERED, shipped_at=last, delivered_at=first),
            cancelled,
        ],
        [],
    )
    assert (got.fully_shipped_at, got.fully_delivered_at) == (last, last)
    partly = order_facts(ORDER, [ful("a", F.SHIPPED, shipped_at=first), ful("b", F.PACKED)], [])
    assert (partly.fully_shipped_at, partly.fully_delivered_at) == (None, None)


def test_perfect_orders_are_counted_once_at_full_delivery_and_only_without_any_blemish() -> None:
    delivered = tracked("O", WEB, at(3, 10), fully_delivered=True)
    clean = facts(at(1, 9))
    perfect = Increment(Metric.PERFECT_ORDERS.value, 1)
    assert perfect in increments_for(delivered, clean)
    for blemish in (
        {"all_shipped_on_time": False},
        {"all_shipped_on_time": None},
        {"had_backorder": True},
        {"cancelled_units": 1},
        {"delivery_problems": True},
        {"short_picked": True},
        {"returned": True},
    ):
        assert perfect not in increments_for(delivered, replace(clean, **blemish)), blemish
    # Splitting an order is no blemish.
    assert perfect in increments_for(delivered, replace(clean, split=True))


# --- properties ---------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
flag = st.booleans()


@st.composite
def order_facts_strategy(draw: st.DrawFn) -> OrderFacts:
    created = draw(moments)
    later = st.one_of(st.none(), st.builds(lambda h: created + timedelta(hours=h), st.floats(-2, 2000)))
    return OrderFacts(
        created_at=created,
        had_backorder=draw(flag),
        split=draw(flag),
        all_shipped_on_time=draw(st.one_of(st.none(), flag)),
        cancelled_units=draw(st.integers(0, 50)),
        delivery_problems=draw(flag),
        short_picked=draw(flag),
        returned=draw(flag),
        fully_shipped_at=draw(later),
        fully_delivered_at=draw(later),
    )


@st.composite
def any_event(draw: st.DrawFn) -> DomainEvent:
    kind = draw(
        st.sampled_from(
            [
                EventType.ORDER_PLACED,
                EventType.ORDER_CONFIRMED,
                EventType.ORDER_CANCELLED,
                EventType.ORDER_LINES_CANCELLED,
                EventType.FULFILLMENT_SHIPPED,
                EventType.TRACKING_UPDATED,
                EventType.SLA_BREACHED,
                EventType.FEEDBACK_RECEIVED,
                EventType.ORDER_BACKORDER_ALLOCATED,
                EventType.RETURN_RECEIVED,
                EventType.INVENTORY_COUNTED,
            ]
        )
    )
    status = draw(st.sampled_from([s.value for s in OrderStatus]))
    data: dict[str, Any] = {"status": status}
    if PAYLOADS[kind].recorded_with_order_state:
        data |= {
            "first_confirmation": draw(flag),
            "order_fully_shipped": draw(flag),
            "order_fully_delivered": draw(flag),
        }
    if kind == EventType.ORDER_PLACED:
        data |= {
            "lines": [
                {"sku": "MUG-1", "quantity": 5, "backordered": b} for b in draw(st.lists(st.integers(0, 5)))
            ],
            "split": draw(flag),
        }
    elif kind == EventType.FULFILLMENT_SHIPPED:
        data["ship_by"] = draw(st.one_of(st.none(), moments.map(datetime.isoformat)))
    elif kind == EventType.FEEDBACK_RECEIVED:
        data["rating"] = draw(st.integers(1, 5))
    elif kind == EventType.RETURN_RECEIVED:
        data["first_return"] = draw(flag)
    elif kind == EventType.INVENTORY_COUNTED:
        expected, counted = draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))
        data = {"expected": expected, "counted": counted, "delta": counted - expected, "reserved": 0}
    channel = None if kind == EventType.INVENTORY_COUNTED else draw(st.sampled_from([WEB, SHOP]))
    return event(kind, draw(moments), "O", channel, **data)


@PROPERTY
@given(any_event(), order_facts_strategy())
def test_counters_only_ever_grow_and_only_by_known_metrics(e: DomainEvent, known: OrderFacts) -> None:
    # No KPI needs a negative increment: every correction is a KPI of its own (e.g. the return
    # rate) rather than a subtraction from a past day.
    names = set(all_metric_names())
    added = increments_for(e, known)
    assert len(added) <= 9  # one transaction with the dedup item, far below DynamoDB's 100
    for inc in added:
        assert inc.value > 0
        assert inc.metric in names


metric_names = st.sampled_from(sorted(set(all_metric_names())))
some_counters = st.dictionaries(
    st.tuples(st.integers(1, 14).map(day), st.sampled_from([WEB, SHOP, INVENTORY_CHANNEL]), metric_names),
    st.integers(0, 50),
    max_size=60,
)
COUNTS = ("orders_placed", "orders_confirmed", "orders_shipped", "orders_delivered", "orders_cancelled")


@PROPERTY
@given(some_counters, st.integers(1, 13), st.sampled_from([None, WEB, SHOP]))
def test_two_adjacent_ranges_add_up_to_the_range_they_cover(
    counters: Counters, split: int, channel: str | None
) -> None:
    whole = report(counters, channel, 1, 14)
    before = report({k: v for k, v in counters.items() if k[0] <= day(split)}, channel, 1, split)
    after = report({k: v for k, v in counters.items() if k[0] > day(split)}, channel, split + 1, 14)
    for field in (*COUNTS, "orders_returned", "sla_breaches"):
        assert getattr(before, field) + getattr(after, field) == getattr(whole, field), field
    assert before.daily + after.daily == whole.daily
