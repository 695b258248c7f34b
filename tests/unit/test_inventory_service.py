"""Goods received and backorders allocated first come, first served, over the fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import (
    FieldError,
    IdempotencyKeyReused,
    InputInvalid,
    NotFound,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import FulfillmentLine, StockLevel
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus
from chalicelib.service.inventory import set_stock
from chalicelib.service.receipt import place_hold, release_hold
from tests.unit.builders import EAST, WEST, milestones, seed_catalogue
from tests.unit.fakes import START, FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import ADMIN, Road

F = FulfillmentStatus
ARRIVED = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 09:00 in New York, before the cut-off
FRIDAY_EAST = datetime(2026, 11, 28, 4, 59, 59, 999000, tzinfo=UTC)  # the end of that Friday there


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


def waiting_order(road: Road, quantity: int, sku: str = "MUG-1", **body: object) -> str:
    """A received order whose ``quantity`` units of ``sku`` all wait for stock; a minute after the last."""
    order_id = road.released((sku, quantity), **body)
    road.clock.advance(minutes=1)
    return order_id


def level(store: FakeStore, warehouse_id: str, sku: str) -> tuple[int, int, int]:
    row = store.level(warehouse_id, sku)
    return row.on_hand, row.reserved, row.available


# -- goods received ---------------------------------------------------------------------------


def test_receiving_goods_raises_the_stock_and_records_an_inventory_event(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 3)
    store.stock[(EAST, "MUG-1")].reserved, store.stock[(EAST, "MUG-1")].available = 1, 2

    event = road.receive_stock(EAST, "MUG-1", 5, reference="PO-77")

    assert event == DomainEvent(
        id="evt_0001",
        type="inventory.received",
        sku="MUG-1",
        warehouse_id=EAST,
        occurred_at=clock.now(),
        actor=ADMIN,
        data={"quantity": 5, "reference": "PO-77"},
    )
    assert store.inventory_events_of("MUG-1", EAST) == [event]
    assert level(store, EAST, "MUG-1") == (8, 1, 7)
    assert store.events == {}  # no order is concerned


def test_receiving_a_sku_the_warehouse_never_held_creates_its_stock_level(
    road: Road, store: FakeStore
) -> None:
    road.receive_stock(WEST, "TEE-M", 4)

    assert level(store, WEST, "TEE-M") == (4, 0, 4)


def test_the_same_idempotency_key_returns_the_same_event_and_raises_the_stock_once(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    first = road.receive_stock(EAST, "MUG-1", 5, key="delivery-1")
    clock.advance(minutes=5)

    again = road.receive_stock(EAST, "MUG-1", 5, key="delivery-1")

    assert again == first
    assert level(store, EAST, "MUG-1") == (5, 0, 5)
    assert len(store.inventory_events_of("MUG-1", EAST)) == 1
    assert store.commits == 1


def test_the_same_idempotency_key_in_another_warehouse_is_another_receipt(
    road: Road, store: FakeStore
) -> None:
    road.receive_stock(EAST, "MUG-1", 5, key="delivery-1")

    road.receive_stock(WEST, "MUG-1", 2, key="delivery-1")

    assert (level(store, EAST, "MUG-1"), level(store, WEST, "MUG-1")) == ((5, 0, 5), (2, 0, 2))


def test_an_idempotency_key_reused_for_another_sku_is_refused_not_swallowed(
    road: Road, store: FakeStore
) -> None:
    road.receive_stock(EAST, "MUG-1", 5, key="delivery-1")

    with pytest.raises(IdempotencyKeyReused):
        road.receive_stock(EAST, "TEE-M", 3, key="delivery-1")


def test_receiving_goods_for_an_unknown_warehouse_is_not_found(road: Road, store: FakeStore) -> None:
    with pytest.raises(NotFound) as excinfo:
        road.receive_stock("wh_nope", "MUG-1", 5)

    assert (excinfo.value.what, excinfo.value.ident) == ("warehouse", "wh_nope")
    assert store.commit_attempts == 0


def test_receiving_an_unknown_sku_is_refused(road: Road, store: FakeStore) -> None:
    with pytest.raises(InputInvalid) as excinfo:
        road.receive_stock(EAST, "NOPE-1", 5)

    assert excinfo.value.errors == [FieldError(["sku"], "unknown SKU NOPE-1", "unknown_sku")]
    assert (store.stock, store.commit_attempts) == ({}, 0)


# -- allocation -------------------------------------------------------------------------------


def test_stock_goes_to_the_oldest_backorder_first_and_confirms_an_order_that_waited_only_for_it(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    older = waiting_order(road, 2)
    newer = waiting_order(road, 2)
    clock.set(ARRIVED)
    road.receive_stock(EAST, "MUG-1", 2)

    allocated = road.allocate("MUG-1", EAST)

    assert allocated == [road.at(EAST, older).id]
    order = road.order(older)
    assert (order.status, order.confirmed_at, order.lines[0].backordered) == (
        OrderStatus.CONFIRMED,
        ARRIVED,
        0,
    )
    (fulfillment,) = road.fulfillments(older)
    assert (fulfillment.warehouse_id, fulfillment.status, fulfillment.ship_by, fulfillment.lines) == (
        EAST,
        F.RELEASED,
        FRIDAY_EAST,
        [FulfillmentLine(sku="MUG-1", quantity=2)],
    )
    event = road.events(older)[-1]
    assert (event.type, event.actor) == ("order.backorder_allocated", "system:allocation")
    assert event.data == {
        "status": "confirmed",
        **milestones(first_confirmation=True),
        "fulfillment_id": fulfillment.id,
        "sku": "MUG-1",
        "warehouse_id": EAST,
        "quantity": 2,
        "still_waiting": 0,
        "released": [
            {
                "id": fulfillment.id,
                "warehouse_id": EAST,
                "status": "released",
                "ship_by": "2026-11-28T04:59:59.999000+00:00",
                "lines": [{"sku": "MUG-1", "quantity": 2}],
            }
        ],
    }
    assert road.order(newer).status == OrderStatus.BACKORDERED
    assert road.backorder_queue("MUG-1") == [road.at(None, newer).id]
    assert level(store, EAST, "MUG-1") == (2, 2, 0)


def test_a_partial_allocation_splits_the_backorder_and_the_rest_keeps_its_place_in_the_queue(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    first = waiting_order(road, 3)
    second = waiting_order(road, 1)
    (waiting,) = road.fulfillments(first)
    clock.set(ARRIVED)
    road.receive_stock(EAST, "MUG-1", 2)

    road.allocate("MUG-1", EAST)

    allocated, rest = road.fulfillments(first)
    assert (allocated.id, allocated.warehouse_id, allocated.status, allocated.lines) == (
        waiting.id,
        EAST,
        F.RELEASED,
        [FulfillmentLine(sku="MUG-1", quantity=2)],
    )
    assert (rest.warehouse_id, rest.status, rest.lines, rest.created_at) == (
        None,
        F.PENDING,
        [FulfillmentLine(sku="MUG-1", quantity=1)],
        waiting.created_at,
    )
    assert road.backorder_queue("MUG-1") == [rest.id, road.at(None, second).id]
    order = road.order(first)
    assert (order.status, order.lines[0].backordered) == (OrderStatus.BACKORDERED, 1)
    assert road.events(first)[-1].data["still_waiting"] == 1
    assert level(store, EAST, "MUG-1") == (2, 2, 0)


def test_allocation_serves_the_queue_until_the_stock_runs_out(road: Road, store: FakeStore) -> None:
    orders = [waiting_order(road, n) for n in (1, 2, 1, 4)]
    road.receive_stock(WEST, "MUG-1", 5)

    allocated = road.allocate("MUG-1", WEST)

    assert len(allocated) == 4
    assert [road.order(o).status for o in orders] == [OrderStatus.CONFIRMED] * 3 + [OrderStatus.BACKORDERED]
    assert [(f.warehouse_id, f.quantity_of("MUG-1")) for f in road.fulfillments(orders[3])] == [
        (WEST, 1),
        (None, 3),
    ]
    assert level(store, WEST, "MUG-1") == (5, 5, 0)


def test_an_order_on_hold_gets_its_allocation_but_stays_held(
    road: Road, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    order_id = waiting_order(road, 2)
    place_hold(uow_factory, order_id, HoldReason.FRAUD_REVIEW, None, actor=ADMIN, ids=ids, clock=clock)
    road.receive_stock(EAST, "MUG-1", 5)

    allocated = road.allocate("MUG-1", EAST)

    assert allocated == [road.at(EAST, order_id).id]
    order = road.order(order_id)
    assert (order.status, order.lines[0].backordered) == (OrderStatus.ON_HOLD, 0)
    (fulfillment,) = road.fulfillments(order_id)
    assert (fulfillment.warehouse_id, fulfillment.status, fulfillment.ship_by) == (EAST, F.ON_HOLD, None)
    assert road.events(order_id)[-1].data["released"] == []
    assert level(store, EAST, "MUG-1") == (5, 2, 3)

    clock.set(ARRIVED)
    release_hold(uow_factory, order_id, HoldReason.FRAUD_REVIEW, actor=ADMIN, ids=ids, clock=clock)

    assert road.order(order_id).status == OrderStatus.CONFIRMED
    assert [(f.status, f.ship_by) for f in road.fulfillments(order_id)] == [(F.RELEASED, FRIDAY_EAST)]


def test_running_allocation_again_allocates_nothing_more(road: Road, store: FakeStore) -> None:
    waiting_order(road, 2)
    waiting_order(road, 9)
    road.receive_stock(EAST, "MUG-1", 4)
    road.allocate("MUG-1", EAST)
    commits, stock = store.commits, level(store, EAST, "MUG-1")

    assert road.allocate("MUG-1", EAST) == []
    assert (store.commits, level(store, EAST, "MUG-1")) == (commits, stock)


def test_allocation_without_stock_or_without_backorders_does_nothing(road: Road, store: FakeStore) -> None:
    waiting_order(road, 2)
    road.receive_stock(EAST, "TEE-M", 4)

    assert road.allocate("MUG-1", EAST) == []  # no MUG-1 stock at all
    assert road.allocate("TEE-M", EAST) == []  # nobody waits for TEE-M
    assert level(store, EAST, "TEE-M") == (4, 0, 4)


def test_stock_reserved_by_others_is_not_allocated(road: Road, store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 3)
    road.released(("MUG-1", 3))  # takes all three
    waiting = waiting_order(road, 2)
    road.receive_stock(EAST, "MUG-1", 1)

    road.allocate("MUG-1", EAST)

    assert [(f.warehouse_id, f.quantity_of("MUG-1")) for f in road.fulfillments(waiting)] == [
        (EAST, 1),
        (None, 1),
    ]
    assert level(store, EAST, "MUG-1") == (4, 4, 0)


def test_an_order_backordered_at_placement_still_gets_the_receipts_hold_checks(
    road: Road, store: FakeStore
) -> None:
    order_id = road.place(("MUG-1", 2), paid=False)  # backordered at placement: no stock at all
    road.receive_stock(EAST, "MUG-1", 5)
    road.allocate("MUG-1", EAST)  # the allocation worker is faster than the receipt worker

    road.receive(order_id)

    order = road.order(order_id)
    assert ([h.reason for h in order.holds], order.status) == (
        [HoldReason.PAYMENT_PENDING],
        OrderStatus.ON_HOLD,
    )
    assert [f.status for f in road.fulfillments(order_id)] == [F.ON_HOLD]


# -- stock levels -----------------------------------------------------------------------------


def set_level(road: Road, sku: str, *, on_hand: int | None = None, **settings: object) -> StockLevel:
    fields: dict[str, Any] = {"reorder_point": None, "overstock_level": None, "bin_location": None}
    fields.update(settings)
    return set_stock(
        road.uow_factory, EAST, sku, on_hand=on_hand, actor=ADMIN, ids=road.ids, clock=road.clock, **fields
    )


def test_setting_a_level_books_the_new_on_hand_and_sets_its_thresholds_in_one_write(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5, bin_location="A-01-1")
    store.stock[(EAST, "MUG-1")].reserved, store.stock[(EAST, "MUG-1")].available = 2, 3

    result = set_level(road, "MUG-1", on_hand=8, reorder_point=3, overstock_level=20, bin_location="B-02-2")

    assert (
        result
        == store.level(EAST, "MUG-1")
        == StockLevel(
            sku="MUG-1",
            warehouse_id=EAST,
            on_hand=8,
            reserved=2,
            available=6,
            bin="B-02-2",
            reorder_point=3,
            overstock_level=20,
        )
    )
    (adjusted,) = store.inventory_events_of("MUG-1", EAST)
    assert (adjusted.type, adjusted.occurred_at, adjusted.data) == (
        "inventory.adjusted",
        clock.now(),
        {"delta": 3, "reason": "level_set", "on_hand": 8},
    )
    assert store.committed_sizes == [2]  # the level (its move and its settings) and the event


def test_thresholds_alone_change_only_themselves(road: Road, store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 5, bin_location="A-01-1")

    result = set_level(road, "MUG-1", reorder_point=6)

    assert (result.on_hand, result.bin, result.reorder_point, result.overstock_level) == (
        5,
        "A-01-1",
        6,
        None,
    )
    assert result.below_reorder_point is True
    assert store.inventory_events == {}


def test_thresholds_for_a_level_the_warehouse_never_held_create_it(road: Road, store: FakeStore) -> None:
    result = set_level(road, "TEE-M", reorder_point=2, bin_location="C-3")

    assert (result.on_hand, result.available, result.bin, result.reorder_point) == (0, 0, "C-3", 2)


def test_a_level_of_nothing_on_hand_with_a_bin_for_a_sku_the_warehouse_never_held_is_created(
    road: Road, store: FakeStore
) -> None:
    result = set_level(road, "TEE-M", on_hand=0, bin_location="C-3")

    assert (result.on_hand, result.bin) == (0, "C-3")


# -- property ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wanted=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=5),
    already=st.integers(min_value=0, max_value=3),
    received=st.integers(min_value=1, max_value=12),
)
def test_allocation_never_hands_out_more_than_is_available_and_serves_the_queue_in_order(
    wanted: list[int], already: int, received: int
) -> None:
    store = FakeStore(clock=FakeClock(START))
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", already)
    road = Road(store, FakeUnitOfWorkFactory(store), SequentialIds(), store.clock)
    if already:
        road.released(("MUG-1", already))  # reserves what was there: only the receipt is free
    orders = [waiting_order(road, n) for n in wanted]
    road.receive_stock(EAST, "MUG-1", received)

    road.allocate("MUG-1", EAST)

    on_hand, reserved, available = level(store, EAST, "MUG-1")
    given_out = [sum(f.quantity_of("MUG-1") for f in road.fulfillments(o) if f.warehouse_id) for o in orders]
    assert available >= 0 and on_hand == already + received
    assert reserved == already + sum(given_out)
    assert sum(given_out) == min(received, sum(wanted))
    # First come, first served: every order is served in full before a later one gets anything.
    for i, got in enumerate(given_out):
        if got < wanted[i]:
            assert given_out[i + 1 :] == [0] * (len(wanted) - i - 1)
    for order_id, got, n in zip(orders, given_out, wanted, strict=True):
        order = road.order(order_id)
        assert order.lines[0].backordered == n - got
        assert order.status == (OrderStatus.CONFIRMED if got == n else OrderStatus.BACKORDERED)
