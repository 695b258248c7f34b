"""The kpi worker's use cases over the fakes (``chalicelib.service.kpis``): each event counted once
into the daily counters, whatever the redeliveries, and the report read back from them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chalicelib.domain.errors import FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.kpis import INVENTORY_CHANNEL, EventDataInvalid
from chalicelib.service.inventory import count_stock
from chalicelib.service.kpis import CONSUMER_SCOPE, MAX_REPORT_DAYS, counter_name, kpi_report, record_kpis
from tests.unit.builders import EAST, MISSING, STRICT, WEB, event_data, milestones, seed_catalogue
from tests.unit.fakes import (
    START,
    FakeClock,
    FakeCounterReader,
    FakeQueries,
    FakeStore,
    FakeUnitOfWorkFactory,
    SequentialIds,
)
from tests.unit.road import ADMIN, Road, stock_boxes

DAY = START.date().isoformat()


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    stock_boxes(store, EAST)
    for sku in ("MUG-1", "TEE-M", "CAP-1"):
        store.set_stock(EAST, sku, 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


@pytest.fixture
def queries(store: FakeStore) -> FakeQueries:
    return FakeQueries(store)


@pytest.fixture
def counters(store: FakeStore) -> FakeCounterReader:
    return FakeCounterReader(store)


def placed(
    event_id: str = "evt_0001", *, channel_id: str = WEB, occurred_at: datetime = START, **data: object
) -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="order.placed",
        order_id="ord_0001",
        channel_id=channel_id,
        version=1,
        occurred_at=occurred_at,
        actor=f"channel:{channel_id}",
        data=event_data(
            "order.placed",
            **{"lines": [{"sku": "MUG-1", "quantity": 1, "backordered": 0}], "split": False, **data},
        ),
    )


def count(
    uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock, event: DomainEvent
) -> bool:
    return record_kpis(uow_factory, queries, event, clock=clock)


# -- counting --------------------------------------------------------------------------------------


def test_counters_are_named_by_channel_and_metric() -> None:
    assert counter_name("ch_web", "orders_placed") == "m#ch_web#orders_placed"


def test_an_event_is_counted_under_its_day_and_channel_with_its_dedup_item(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    clock.advance(days=2)  # the worker runs late: the event still counts on its own day

    assert count(uow_factory, queries, clock, placed()) is True

    assert store.counters == {(DAY, f"m#{WEB}#orders_placed"): 1}
    record = store.dedup_record(CONSUMER_SCOPE, "evt_0001")
    assert record is not None and (record.ref, record.created_at) == ("order.placed", clock.now())
    assert store.committed_sizes == [2]  # the counter and the dedup item, together


def test_the_same_event_again_counts_nothing_and_writes_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    count(uow_factory, queries, clock, placed())
    before = store.snapshot()

    assert count(uow_factory, queries, clock, placed()) is False

    assert store.snapshot() == before


def test_two_workers_counting_one_event_at_once_count_it_once(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    other: list[bool] = []
    store.before_next_commit(lambda: other.append(count(uow_factory, queries, clock, placed())))

    assert count(uow_factory, queries, clock, placed()) is False

    assert other == [True]
    assert store.counter(f"m#{WEB}#orders_placed", DAY) == 1


def test_an_event_counts_on_its_own_utc_day(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    evening_in_new_york = datetime(2026, 11, 26, 23, 30, tzinfo=timezone(timedelta(hours=-5)))

    count(uow_factory, queries, clock, placed(occurred_at=evening_in_new_york))

    assert store.counter(f"m#{WEB}#orders_placed", "2026-11-27") == 1
    assert store.counter(f"m#{WEB}#orders_placed", "2026-11-26") == 0


def test_an_event_that_adds_nothing_is_still_marked_counted(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    packed = placed().model_copy(
        update={"type": "fulfillment.packed", "data": event_data("fulfillment.packed", **milestones())}
    )

    assert count(uow_factory, queries, clock, packed) is True

    assert store.counters == {}
    assert store.dedup_record(CONSUMER_SCOPE, "evt_0001") is not None


def test_an_event_missing_data_a_kpi_needs_is_refused_and_left_to_be_retried(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    before = store.snapshot()

    with pytest.raises(EventDataInvalid):
        count(uow_factory, queries, clock, placed(lines=MISSING))

    assert store.snapshot() == before  # no dedup item: a fixed producer's redelivery still counts


def test_an_event_completing_an_order_whose_order_is_missing_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    shipped = placed().model_copy(
        update={
            "type": "fulfillment.shipped",
            "data": event_data("fulfillment.shipped", ship_by=None, **milestones(order_fully_shipped=True)),
        }
    )

    with pytest.raises(NotFound):
        count(uow_factory, queries, clock, shipped)


def test_the_last_shipment_reads_the_order_and_its_timeline_for_the_ship_time_histogram(
    road: Road, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 1))
    road.clock.advance(hours=3)
    road.through(road.at(EAST, order_id).id)
    (shipped,) = [e for e in store.events_of(order_id) if e.type == "fulfillment.shipped"]
    assert shipped.data["order_fully_shipped"] is True

    count(uow_factory, queries, clock, shipped)

    day = shipped.occurred_at.date().isoformat()
    assert {
        name: value for (d, name), value in store.counters.items() if d == day and name.startswith("m#")
    } == {
        f"m#{WEB}#orders_shipped": 1,
        f"m#{WEB}#order_to_ship_hours#4": 1,  # placed 09:30, shipped 12:30: the (2, 4] hour bucket
        f"m#{WEB}#shipped_fulfillments": 1,
        f"m#{WEB}#on_time_ship": 1,
    }


def test_a_cycle_count_counts_for_the_inventory_channel(
    road: Road, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, queries: FakeQueries, clock: FakeClock
) -> None:
    event = count_stock(uow_factory, EAST, "MUG-1", 9, actor=ADMIN, ids=road.ids, clock=clock)

    count(uow_factory, queries, clock, event)

    assert store.counter(f"m#{INVENTORY_CHANNEL}#cycle_counts", DAY) == 1
    assert store.counter(f"m#{INVENTORY_CHANNEL}#accurate_cycle_counts", DAY) == 0


# -- the report ------------------------------------------------------------------------------------


def report(counters: FakeCounterReader, first: date, last: date, channel: str | None = None):
    return kpi_report(counters, from_date=first, to_date=last, channel=channel)


def test_a_range_that_ends_before_it_starts_is_refused_on_to(counters: FakeCounterReader) -> None:
    with pytest.raises(InputInvalid) as raised:
        report(counters, date(2026, 11, 26), date(2026, 11, 25))

    assert raised.value.errors == [FieldError(["query", "to"], "must not be before from")]
    assert counters.days_asked == []


def test_a_range_longer_than_a_leap_year_is_refused(counters: FakeCounterReader) -> None:
    first = date(2026, 1, 1)

    report(counters, first, first + timedelta(days=MAX_REPORT_DAYS - 1))
    with pytest.raises(InputInvalid) as raised:
        report(counters, first, first + timedelta(days=MAX_REPORT_DAYS))

    assert raised.value.errors[0].loc == ["query", "to"]
    assert len(counters.days_asked) == 1


def test_the_report_reads_exactly_the_days_of_its_range(counters: FakeCounterReader) -> None:
    report(counters, date(2026, 2, 27), date(2026, 3, 2))

    assert counters.days_asked == [["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]]


def test_a_day_with_nothing_counted_reports_zeros_and_no_rates(counters: FakeCounterReader) -> None:
    figures = report(counters, date(2026, 11, 26), date(2026, 11, 26))

    assert (figures.orders_placed, figures.backorder_rate, figures.order_to_ship_hours_p50) == (0, None, None)
    assert [d.day for d in figures.daily] == [date(2026, 11, 26)]


def test_a_channel_s_report_counts_its_own_orders_and_the_shared_stock_counts(
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    queries: FakeQueries,
    clock: FakeClock,
    counters: FakeCounterReader,
    ids: SequentialIds,
) -> None:
    count(uow_factory, queries, clock, placed("evt_a"))
    count(uow_factory, queries, clock, placed("evt_b", channel_id=STRICT))
    count(uow_factory, queries, clock, placed("evt_c", occurred_at=START + timedelta(days=1)))
    for counted in (10, 9):
        event = count_stock(uow_factory, EAST, "TEE-M", counted, actor=ADMIN, ids=ids, clock=clock)
        count(uow_factory, queries, clock, event)

    today, tomorrow = START.date(), START.date() + timedelta(days=1)
    web = report(counters, today, today, WEB)
    everyone = report(counters, today, tomorrow)

    assert (web.orders_placed, web.inventory_accuracy) == (1, Decimal("0.5000"))
    assert (everyone.orders_placed, everyone.inventory_accuracy) == (3, Decimal("0.5000"))
    assert [(d.day, d.orders_placed_by_channel) for d in everyone.daily] == [
        (today, {WEB: 1, STRICT: 1}),
        (tomorrow, {WEB: 1}),
    ]


def test_redelivering_every_event_of_a_day_leaves_every_kpi_unchanged(
    road: Road,
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    queries: FakeQueries,
    clock: FakeClock,
    counters: FakeCounterReader,
) -> None:
    shipped = road.released(("MUG-1", 2))
    cancelled = road.released(("TEE-M", 1))
    clock.advance(hours=3)
    road.through(road.at(EAST, shipped).id)
    road.cancel(cancelled)
    for counted in (10, 7):
        count_stock(uow_factory, EAST, "CAP-1", counted, actor=ADMIN, ids=road.ids, clock=clock)
    events = store.all_events() + store.inventory_events_of("CAP-1", EAST)

    assert all(count(uow_factory, queries, clock, event) for event in events)
    first = report(counters, START.date(), START.date())
    assert not any(count(uow_factory, queries, clock, event) for event in events)
    again = report(counters, START.date(), START.date())

    assert again == first
    assert (
        first.orders_placed,
        first.orders_confirmed,
        first.orders_shipped,
        first.orders_cancelled,
        first.on_time_ship_rate,
        first.inventory_accuracy,
        first.order_to_ship_hours_p50,
        first.backorder_rate,
    ) == (2, 2, 1, 1, Decimal("1.0000"), Decimal("0.5000"), Decimal("3.00"), Decimal("0.0000"))
