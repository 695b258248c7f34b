"""The SLA sweeper: ``sla.breached`` once for each unshipped fulfillment past its ship-by promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.models import Fulfillment, FulfillmentLine
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus
from chalicelib.service.receipt import place_hold
from chalicelib.service.sweepers import MAX_PAGES, PAGE, sweep_sla
from tests.unit.builders import EAST, WEB, WEST, make_order, milestones, seed_catalogue
from tests.unit.fakes import START, FakeClock, FakeQueries, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import ADMIN, Road, stock_boxes

F = FulfillmentStatus
#: Work released on Thursday morning: New York promises the end of Thursday there, Los Angeles too.
EAST_PROMISE = datetime(2026, 11, 27, 4, 59, 59, 999000, tzinfo=UTC)
WEST_PROMISE = datetime(2026, 11, 27, 7, 59, 59, 999000, tzinfo=UTC)
SWEPT_AT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # East is late, West is not yet


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 50)
    store.set_stock(WEST, "CAP-1", 50)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


@pytest.fixture
def queries(store: FakeStore) -> FakeQueries:
    return FakeQueries(store)


def sweep(road: Road, queries: FakeQueries) -> list[str]:
    return sweep_sla(road.uow_factory, queries, road.ids, road.clock)


def test_late_work_is_recorded_as_breached_once(road: Road, store: FakeStore, queries: FakeQueries) -> None:
    split = road.released(("MUG-1", 1), ("CAP-1", 1))
    east, west = road.at(EAST, split).id, road.at(WEST, split).id
    assert (road.at(EAST, split).ship_by, road.at(WEST, split).ship_by) == (EAST_PROMISE, WEST_PROMISE)
    road.clock.set(SWEPT_AT)

    assert sweep(road, queries) == [east]

    breached = store.fulfillment(east)
    assert (breached.sla_breached_at, breached.status) == (SWEPT_AT, F.RELEASED)
    assert store.fulfillment(west).sla_breached_at is None
    event = road.events(split)[-1]
    assert (event.type, event.actor, event.occurred_at) == ("sla.breached", "system:sla", SWEPT_AT)
    assert event.data == {
        "status": "confirmed",
        **milestones(),
        "fulfillment_id": east,
        "warehouse_id": EAST,
        "ship_by": "2026-11-27T04:59:59.999Z",
        "fulfillment_status": "released",
    }
    commits = store.commits

    road.clock.advance(minutes=15)
    assert sweep(road, queries) == []
    assert store.commits == commits


def test_work_due_this_very_instant_is_not_late_yet(road: Road, queries: FakeQueries) -> None:
    road.released(("MUG-1", 1))
    road.clock.set(EAST_PROMISE)

    assert sweep(road, queries) == []
    road.clock.advance(milliseconds=1)
    assert sweep(road, queries) == ["ful_0001"]


def test_picked_and_packed_work_can_be_late_too(road: Road, queries: FakeQueries) -> None:
    picked = road.at(EAST, road.released(("MUG-1", 1))).id
    packed = road.at(EAST, road.released(("MUG-1", 1))).id
    road.pick(picked)
    road.through(packed, until="pack")
    road.clock.set(SWEPT_AT)

    assert sorted(sweep(road, queries)) == sorted([picked, packed])


def test_held_and_shipped_work_is_not_swept(
    road: Road, store: FakeStore, queries: FakeQueries, uow_factory: FakeUnitOfWorkFactory
) -> None:
    held = road.released(("MUG-1", 1))
    shipped = road.released(("MUG-1", 1))
    place_hold(uow_factory, held, HoldReason.MANUAL, None, actor=ADMIN, ids=road.ids, clock=road.clock)
    road.through(road.at(EAST, shipped).id)
    road.clock.set(SWEPT_AT + timedelta(days=3))
    commits = store.commits

    assert sweep(road, queries) == []
    assert store.commits == commits
    assert road.order(held).status == OrderStatus.ON_HOLD


def test_the_sweeper_reads_each_warehouses_unshipped_work_queues_up_to_now(
    road: Road, queries: FakeQueries
) -> None:
    road.clock.set(SWEPT_AT)

    sweep(road, queries)

    now = "2026-11-27T06:00:00.000Z"
    assert queries.work_calls == [
        (warehouse, status, now, PAGE * MAX_PAGES)
        for warehouse in (EAST, WEST)
        for status in ("released", "picking", "picked", "packed")
    ]


def late_fulfillment(n: int, *, breached: bool) -> Fulfillment:
    ship_by = START + timedelta(minutes=n)
    return Fulfillment(
        id=f"ful_{n:04d}",
        order_id="ord_late",
        channel_id=WEB,
        warehouse_id=EAST,
        status=F.RELEASED,
        version=1,
        lines=[FulfillmentLine(sku="MUG-1", quantity=1)],
        created_at=START,
        updated_at=START,
        ship_by=ship_by,
        sla_breached_at=ship_by + timedelta(seconds=1) if breached else None,
    )


def test_work_that_becomes_late_behind_a_page_of_known_breaches_is_still_recorded(
    road: Road, store: FakeStore, queries: FakeQueries
) -> None:
    backlog = [late_fulfillment(n, breached=True) for n in range(PAGE)]
    newly_late = late_fulfillment(PAGE, breached=False)
    store.put_order(
        make_order(id="ord_late", status=OrderStatus.CONFIRMED, version=5), [*backlog, newly_late]
    )
    road.clock.set(START + timedelta(days=1))

    assert sweep(road, queries) == [newly_late.id]
