"""Stock levels over the fakes: levels set, cycle counts, the inventory listing and the stock report
(``chalicelib.service.inventory``: set_stock, count_stock, stock_lines, stock_report)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import StockLevel
from chalicelib.service.inventory import count_stock, set_stock, stock_lines, stock_report
from tests.unit.builders import EAST, WEST, seed_catalogue
from tests.unit.fakes import (
    START,
    FakeClock,
    FakeStockQueries,
    FakeStore,
    FakeUnitOfWorkFactory,
    SequentialIds,
)
from tests.unit.road import ADMIN, Road, stock_boxes


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


@pytest.fixture
def queries(store: FakeStore) -> FakeStockQueries:
    return FakeStockQueries(store)


def put(
    store: FakeStore, warehouse_id: str, sku: str, on_hand: int, reserved: int = 0, **settings: Any
) -> None:
    """A level as it stands: ``reserved`` of ``on_hand`` promised to orders."""
    store.set_stock(warehouse_id, sku, on_hand)
    row = store.stock[(warehouse_id, sku)]
    row.reserved, row.available = reserved, on_hand - reserved
    for name, value in settings.items():
        setattr(row, name, value)


def figures(store: FakeStore, warehouse_id: str, sku: str) -> tuple[int, int, int]:
    level = store.level(warehouse_id, sku)
    return level.on_hand, level.reserved, level.available


def set_level(road: Road, sku: str, warehouse_id: str = EAST, **fields: Any) -> StockLevel:
    args: dict[str, Any] = {
        "on_hand": None,
        "reorder_point": None,
        "overstock_level": None,
        "bin_location": None,
    }
    args.update(fields)
    return set_stock(road.uow_factory, warehouse_id, sku, actor=ADMIN, ids=road.ids, clock=road.clock, **args)


def count(road: Road, sku: str, counted: int, warehouse_id: str = EAST) -> DomainEvent:
    return count_stock(
        road.uow_factory, warehouse_id, sku, counted, actor=ADMIN, ids=road.ids, clock=road.clock
    )


# -- levels set ------------------------------------------------------------------------------------


def test_a_lower_on_hand_is_booked_as_a_negative_adjustment(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10, reserved=2)

    result = set_level(road, "MUG-1", on_hand=4)

    assert (result.on_hand, result.reserved, result.available) == figures(store, EAST, "MUG-1") == (4, 2, 2)
    (adjusted,) = store.inventory_events_of("MUG-1", EAST)
    assert (adjusted.type, adjusted.actor, adjusted.data) == (
        "inventory.adjusted",
        ADMIN,
        {"delta": -6, "reason": "level_set", "on_hand": 4},
    )


def test_on_hand_may_come_down_to_what_is_reserved(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10, reserved=3)

    set_level(road, "MUG-1", on_hand=3)

    assert figures(store, EAST, "MUG-1") == (3, 3, 0)


def test_on_hand_below_what_is_reserved_is_a_conflict_and_changes_nothing(
    road: Road, store: FakeStore
) -> None:
    put(store, EAST, "MUG-1", 10, reserved=3)
    before = store.snapshot()

    with pytest.raises(Conflict) as raised:
        set_level(road, "MUG-1", on_hand=2, reorder_point=5)

    assert raised.value.current == "10"
    assert "3 units of MUG-1 are reserved" in str(raised.value)
    assert "cycle count" in str(raised.value)  # says what to do instead
    assert store.snapshot() == before


def test_setting_the_on_hand_it_already_has_books_no_adjustment(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10, reserved=3)

    result = set_level(road, "MUG-1", on_hand=10, bin_location="A-01-1")

    assert (result.on_hand, result.available, result.bin) == (10, 7, "A-01-1")
    assert store.inventory_events == {}


def test_settings_left_out_keep_their_values(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10, reorder_point=3, overstock_level=40, bin="A-01-1")

    result = set_level(road, "MUG-1", overstock_level=60)

    assert (result.reorder_point, result.overstock_level, result.bin, result.on_hand) == (3, 60, "A-01-1", 10)
    assert store.inventory_events == {}


def test_a_level_set_with_nothing_to_change_writes_nothing(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10)
    before = store.snapshot()

    result = set_level(road, "MUG-1")

    assert result == store.level(EAST, "MUG-1")
    assert store.snapshot() == before


def test_a_new_level_with_stock_on_hand_is_created_by_its_adjustment(road: Road, store: FakeStore) -> None:
    result = set_level(road, "TEE-M", WEST, on_hand=7, reorder_point=2)

    assert (result.on_hand, result.reserved, result.available, result.reorder_point) == (7, 0, 7, 2)
    (adjusted,) = store.inventory_events_of("TEE-M", WEST)
    assert adjusted.data == {"delta": 7, "reason": "level_set", "on_hand": 7}
    assert store.committed_sizes == [2]  # the new level with its settings, and its event


def test_a_level_set_while_stock_moves_is_computed_again_from_the_new_on_hand(
    road: Road, store: FakeStore
) -> None:
    put(store, EAST, "MUG-1", 5)

    def goods_arrive() -> None:
        store.stock[(EAST, "MUG-1")].on_hand += 3
        store.stock[(EAST, "MUG-1")].available += 3

    store.before_next_commit(goods_arrive)

    result = set_level(road, "MUG-1", on_hand=10)

    assert (result.on_hand, result.available) == (10, 10)
    (adjusted,) = store.inventory_events_of("MUG-1", EAST)
    assert adjusted.data["delta"] == 2  # from the 8 now on the shelf, not the 5 first read
    assert store.commit_attempts == 2


def test_a_level_for_an_unknown_warehouse_is_not_found(road: Road, store: FakeStore) -> None:
    with pytest.raises(NotFound) as raised:
        set_level(road, "MUG-1", "wh_nowhere", on_hand=1)

    assert (raised.value.what, raised.value.ident) == ("warehouse", "wh_nowhere")


def test_a_level_for_a_sku_not_in_the_catalogue_is_refused_on_the_sku(road: Road, store: FakeStore) -> None:
    with pytest.raises(InputInvalid) as raised:
        set_level(road, "NOPE-1", on_hand=1)

    assert raised.value.errors == [FieldError(["sku"], "unknown SKU NOPE-1", "unknown_sku")]
    assert store.stock == {}


# -- cycle counts ------------------------------------------------------------------------------------


def test_a_cycle_count_books_the_difference_and_records_what_was_expected_and_found(
    road: Road, store: FakeStore
) -> None:
    put(store, EAST, "MUG-1", 10, reserved=3)

    event = count(road, "MUG-1", 8)

    assert figures(store, EAST, "MUG-1") == (8, 3, 5)
    assert event == DomainEvent(
        id="evt_0001",
        type="inventory.counted",
        sku="MUG-1",
        warehouse_id=EAST,
        occurred_at=road.clock.now(),
        actor=ADMIN,
        data={"expected": 10, "counted": 8, "delta": -2, "reserved": 3},
    )
    assert store.inventory_events_of("MUG-1", EAST) == [event]
    assert store.committed_sizes == [2]


def test_a_count_that_finds_more_than_the_books_raises_on_hand_and_available(
    road: Road, store: FakeStore
) -> None:
    put(store, EAST, "MUG-1", 10, reserved=3)

    event = count(road, "MUG-1", 13)

    assert figures(store, EAST, "MUG-1") == (13, 3, 10)
    assert event.data["delta"] == 3


def test_a_count_that_agrees_with_the_books_is_still_recorded(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10)

    event = count(road, "MUG-1", 10)

    assert figures(store, EAST, "MUG-1") == (10, 0, 10)
    assert event.data == {"expected": 10, "counted": 10, "delta": 0, "reserved": 0}
    assert store.inventory_events_of("MUG-1", EAST) == [event]  # an accurate count feeds accuracy too


def test_a_count_below_what_is_reserved_leaves_available_negative_rather_than_refusing(
    road: Road, store: FakeStore
) -> None:
    put(store, EAST, "MUG-1", 5, reserved=4)

    event = count(road, "MUG-1", 2)

    assert figures(store, EAST, "MUG-1") == (2, 4, -2)
    assert event.data == {"expected": 5, "counted": 2, "delta": -3, "reserved": 4}


def test_a_count_of_a_level_the_warehouse_never_had_creates_it(road: Road, store: FakeStore) -> None:
    event = count(road, "CAP-1", 6, WEST)

    assert figures(store, WEST, "CAP-1") == (6, 0, 6)
    assert event.data == {"expected": 0, "counted": 6, "delta": 6, "reserved": 0}


def test_a_count_while_stock_moves_is_taken_against_the_new_books(road: Road, store: FakeStore) -> None:
    put(store, EAST, "MUG-1", 10)

    def someone_adjusts() -> None:
        store.stock[(EAST, "MUG-1")].on_hand -= 1
        store.stock[(EAST, "MUG-1")].available -= 1

    store.before_next_commit(someone_adjusts)

    event = count(road, "MUG-1", 7)

    assert figures(store, EAST, "MUG-1") == (7, 0, 7)
    assert (event.data["expected"], event.data["delta"]) == (9, -2)
    assert store.inventory_events_of("MUG-1", EAST) == [event]


def test_a_count_for_an_unknown_warehouse_or_sku_is_refused(road: Road, store: FakeStore) -> None:
    with pytest.raises(NotFound):
        count(road, "MUG-1", 1, "wh_nowhere")
    with pytest.raises(InputInvalid):
        count(road, "NOPE-1", 1)

    assert store.commit_attempts == 0


# -- the listing -------------------------------------------------------------------------------------


def lines_of(road: Road, queries: FakeStockQueries, **filters: Any) -> list[tuple[str, str]]:
    args: dict[str, Any] = {"warehouse_id": None, "below_reorder_point": False, "overstock": False}
    args.update(filters)
    found = stock_lines(road.uow_factory, queries, clock=road.clock, **args)
    return [(line.warehouse_id, line.sku) for line in found]


@pytest.fixture
def shelves(store: FakeStore) -> None:
    put(store, WEST, "MUG-1", 50, overstock_level=40)  # overstock
    put(store, EAST, "TEE-M", 3, reorder_point=5)  # low
    put(store, EAST, "MUG-1", 20, reserved=2, reorder_point=5, overstock_level=100)  # fine
    put(store, EAST, "CAP-1", 4, reserved=4)  # stock-out, no reorder point set
    put(store, WEST, "TEE-M", 6, reorder_point=5)  # fine


@pytest.mark.usefixtures("shelves")
def test_the_listing_shows_every_level_by_warehouse_then_sku(road: Road, queries: FakeStockQueries) -> None:
    assert lines_of(road, queries) == [
        (EAST, "CAP-1"),
        (EAST, "MUG-1"),
        (EAST, "TEE-M"),
        (WEST, "MUG-1"),
        (WEST, "TEE-M"),
    ]


@pytest.mark.usefixtures("shelves")
def test_the_listing_of_one_warehouse_reads_only_that_warehouse(
    road: Road, queries: FakeStockQueries
) -> None:
    assert lines_of(road, queries, warehouse_id=WEST) == [(WEST, "MUG-1"), (WEST, "TEE-M")]
    assert [wh for wh, _ in queries.days_asked] == [WEST]


@pytest.mark.usefixtures("shelves")
def test_below_reorder_point_lists_low_stock_and_stock_outs(road: Road, queries: FakeStockQueries) -> None:
    assert lines_of(road, queries, below_reorder_point=True) == [(EAST, "CAP-1"), (EAST, "TEE-M")]


@pytest.mark.usefixtures("shelves")
def test_overstock_lists_levels_above_their_overstock_level(road: Road, queries: FakeStockQueries) -> None:
    assert lines_of(road, queries, overstock=True) == [(WEST, "MUG-1")]


@pytest.mark.usefixtures("shelves")
def test_both_filters_list_what_either_one_would(road: Road, queries: FakeStockQueries) -> None:
    assert lines_of(road, queries, below_reorder_point=True, overstock=True) == [
        (EAST, "CAP-1"),
        (EAST, "TEE-M"),
        (WEST, "MUG-1"),
    ]


def test_the_listing_of_an_unknown_warehouse_is_not_found(road: Road, queries: FakeStockQueries) -> None:
    with pytest.raises(NotFound):
        lines_of(road, queries, warehouse_id="wh_nowhere")


# -- demand: units shipped over the last 28 days, counted by the real shipments ------------------

TODAY = START + timedelta(days=40)


def ship_on(road: Road, day: int, quantity: int, sku: str = "MUG-1") -> None:
    """Place, release, pick, pack and ship an order of ``quantity`` on day ``day`` (0 is today)."""
    road.clock.set(TODAY + timedelta(days=day))
    order_id = road.released((sku, quantity))
    road.through(road.at(EAST, order_id).id)


@pytest.fixture
def shipped_around_the_window(road: Road, store: FakeStore) -> None:
    stock_boxes(store, EAST)
    put(store, EAST, "MUG-1", 100)
    put(store, EAST, "TEE-M", 9)
    ship_on(road, -29, 2)  # a day too old
    ship_on(road, -28, 3)  # the first day of the window
    ship_on(road, -1, 4)  # yesterday, the last day of the window
    ship_on(road, 0, 5)  # today: not a whole day yet, not counted
    road.clock.set(TODAY + timedelta(hours=5))


@pytest.mark.usefixtures("shipped_around_the_window")
def test_shipping_counts_units_per_warehouse_sku_and_day(store: FakeStore) -> None:
    assert store.counter(f"shipped#{EAST}#MUG-1", (TODAY - timedelta(days=28)).date().isoformat()) == 3
    assert store.counter(f"shipped#{EAST}#MUG-1", TODAY.date().isoformat()) == 5


@pytest.mark.usefixtures("shipped_around_the_window")
def test_days_of_cover_come_from_the_units_shipped_over_the_28_days_before_today(
    road: Road, store: FakeStore, queries: FakeStockQueries
) -> None:
    found = stock_lines(
        road.uow_factory,
        queries,
        warehouse_id=EAST,
        below_reorder_point=False,
        overstock=False,
        clock=road.clock,
    )

    mug, tee = found
    assert (mug.sku, mug.on_hand, mug.available) == ("MUG-1", 86, 86)
    assert mug.shipped_last_28_days == 7  # 3 + 4: neither the day before the window nor today
    assert mug.days_of_cover == Decimal("344.0")  # 86 / (7 / 28)
    assert (tee.shipped_last_28_days, tee.days_of_cover) == (0, None)  # nobody bought it: no figure
    ((_, days),) = queries.days_asked
    assert days[0] == (TODAY - timedelta(days=1)).date().isoformat()
    assert days[-1] == (TODAY - timedelta(days=28)).date().isoformat()
    assert len(set(days)) == 28


@pytest.mark.usefixtures("shipped_around_the_window")
def test_the_stock_report_covers_every_warehouse_with_its_own_demand(
    road: Road, store: FakeStore, queries: FakeStockQueries
) -> None:
    put(store, WEST, "MUG-1", 14, reserved=14)  # a stock-out in the other warehouse, no demand there

    report = stock_report(road.uow_factory, queries, clock=road.clock)

    assert report.generated_at == road.clock.now()
    assert [(line.warehouse_id, line.sku) for line in report.stock_outs] == [(WEST, "MUG-1")]
    assert [(line.warehouse_id, line.sku, line.days_of_cover) for line in report.cover] == [
        (EAST, "MUG-1", Decimal("344.0"))
    ]
    assert sorted(wh for wh, _ in queries.days_asked) == [EAST, WEST]
