"""Pick, pack, ship and cancel over the fakes: what each step writes, refuses and leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.auth import Forbidden
from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Order, Package, Shipment
from chalicelib.domain.packing import MAX_PACKING_UNITS
from chalicelib.domain.status import FulfillmentStatus, InvalidTransition, OrderStatus
from chalicelib.service.picking import pick_list
from chalicelib.service.ports import TrackingNumberInUse
from tests.unit.builders import EAST, WEST, milestones, seed_catalogue
from tests.unit.fakes import FakeClock, FakeQueries, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import STAFF, Road, stock_boxes

F = FulfillmentStatus
LATER = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    for sku in ("MUG-1", "TEE-M"):
        store.set_stock(EAST, sku, 10)
    store.set_stock(WEST, "CAP-1", 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


def refuse(_: object) -> None:
    raise Forbidden("this key may not access another warehouse's work")


def stock(store: FakeStore, warehouse_id: str, sku: str) -> tuple[int, int, int]:
    level = store.level(warehouse_id, sku)
    return level.on_hand, level.reserved, level.available


def snapshot(store: FakeStore) -> tuple[object, ...]:
    """Everything a step may write, to show that a refused step wrote nothing."""
    return (
        {oid: dict(doc) for oid, doc in store.orders.items()},
        {oid: dict(docs) for oid, docs in store.fulfillments.items()},
        dict(store.events),
        dict(store.inventory_events),
        {key: (row.on_hand, row.reserved, row.available) for key, row in store.stock.items()},
        dict(store.tracking),
        store.commit_attempts,
    )


# -- pick -------------------------------------------------------------------------------------


def test_picking_everything_moves_the_fulfillment_to_picked_and_the_order_into_fulfillment(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 2), ("TEE-M", 1))
    clock.set(LATER)

    result = road.pick("ful_0001", {"MUG-1": 2, "TEE-M": 1})

    fulfillment = store.fulfillment("ful_0001")
    assert result.fulfillments == [fulfillment]
    assert (fulfillment.status, fulfillment.version, fulfillment.picked_at) == (F.PICKED, 3, LATER)
    assert fulfillment.lines == [
        FulfillmentLine(sku="MUG-1", quantity=2),
        FulfillmentLine(sku="TEE-M", quantity=1),
    ]
    order = road.order(order_id)
    assert result.order == order
    assert (order.status, order.version) == (OrderStatus.IN_FULFILLMENT, 3)
    assert road.events(order_id)[-1] == DomainEvent(
        id="evt_0003",
        type="fulfillment.picked",
        order_id=order_id,
        channel_id="ch_web",
        version=3,
        occurred_at=LATER,
        actor=STAFF,
        data={
            "status": "in_fulfillment",
            **milestones(),
            "fulfillment_id": "ful_0001",
            "warehouse_id": EAST,
            "picked": [{"sku": "MUG-1", "quantity": 2}, {"sku": "TEE-M", "quantity": 1}],
            "shortfalls": {},
            "backorders": [],
        },
    )
    assert stock(store, EAST, "MUG-1") == (10, 2, 8)  # still reserved: the goods are in a tote
    assert store.inventory_events == {}


def test_repeating_an_identical_pick_changes_nothing_and_records_no_event(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2))
    first = road.pick("ful_0001", {"MUG-1": 2})
    before = snapshot(store)

    again = road.pick("ful_0001", {"MUG-1": 2})

    assert again == first
    assert snapshot(store) == before
    assert road.event_types(order_id) == ["order.placed", "order.confirmed", "fulfillment.picked"]


def test_another_pick_of_picked_work_is_refused_naming_its_state_and_the_allowed_actions(
    road: Road, store: FakeStore
) -> None:
    road.released(("MUG-1", 2))
    road.pick("ful_0001", {"MUG-1": 2})
    before = snapshot(store)

    with pytest.raises(InvalidTransition) as excinfo:
        road.pick("ful_0001", {"MUG-1": 1})

    assert (excinfo.value.entity, excinfo.value.current, excinfo.value.trigger) == (
        "fulfillment",
        "picked",
        "pick",
    )
    assert excinfo.value.allowed == ["hold", "pack", "cancel"]
    assert snapshot(store) == before


def test_held_work_cannot_be_picked(road: Road, store: FakeStore) -> None:
    road.released(("MUG-1", 2), paid=False)
    before = snapshot(store)

    with pytest.raises(InvalidTransition) as excinfo:
        road.pick("ful_0001")

    assert (excinfo.value.current, excinfo.value.allowed) == (
        "on_hold",
        ["hold", "unhold", "release", "cancel"],
    )
    assert snapshot(store) == before


def test_a_short_pick_ships_what_was_found_and_backorders_the_shortfall(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 3), ("TEE-M", 2))
    clock.set(LATER)
    commits = store.commits

    road.pick("ful_0001", {"MUG-1": 1, "TEE-M": 2})

    assert store.commits == commits + 1  # one transaction: order, both fulfillments, stock, events
    picked, backorder = road.fulfillments(order_id)
    assert (picked.status, picked.lines) == (
        F.PICKED,
        [FulfillmentLine(sku="MUG-1", quantity=1), FulfillmentLine(sku="TEE-M", quantity=2)],
    )
    assert backorder == Fulfillment(
        id="ful_0002",
        order_id=order_id,
        channel_id="ch_web",
        warehouse_id=None,
        status=F.PENDING,
        version=1,
        lines=[FulfillmentLine(sku="MUG-1", quantity=2)],
        created_at=LATER,
        updated_at=LATER,
    )
    order = road.order(order_id)
    assert [(li.sku, li.quantity, li.backordered) for li in order.lines] == [("MUG-1", 3, 2), ("TEE-M", 2, 0)]
    assert order.status == OrderStatus.IN_FULFILLMENT
    # The shelf never held the two missing mugs: on hand and reserved drop, available does not.
    assert stock(store, EAST, "MUG-1") == (8, 1, 7)
    assert stock(store, EAST, "TEE-M") == (10, 2, 8)
    assert store.inventory_events_of("MUG-1", EAST) == [
        DomainEvent(
            id="evt_0003",
            type="inventory.adjusted",
            sku="MUG-1",
            warehouse_id=EAST,
            occurred_at=LATER,
            actor=STAFF,
            data={"delta": -2, "reason": "short_pick", "fulfillment_id": "ful_0001", "order_id": order_id},
        )
    ]
    event = road.events(order_id)[-1]
    assert (event.type, event.data["shortfalls"], event.data["backorders"]) == (
        "fulfillment.short_picked",
        {"MUG-1": 2},
        ["ful_0002"],
    )
    assert road.backorder_queue("MUG-1") == ["ful_0002"]


def test_when_nothing_is_found_the_fulfillment_is_cancelled_and_all_of_it_backordered(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2))

    road.pick("ful_0001", {"MUG-1": 0})

    cancelled, backorder = road.fulfillments(order_id)
    assert (cancelled.status, cancelled.cancel_reason, cancelled.lines) == (
        F.CANCELLED,
        "short pick: nothing found",
        [FulfillmentLine(sku="MUG-1", quantity=2)],
    )
    assert (backorder.warehouse_id, backorder.status, backorder.lines) == (
        None,
        F.PENDING,
        [FulfillmentLine(sku="MUG-1", quantity=2)],
    )
    assert road.order(order_id).lines[0].backordered == 2
    assert stock(store, EAST, "MUG-1") == (8, 0, 8)
    assert [e.data["delta"] for e in store.inventory_events_of("MUG-1", EAST)] == [-2]


def test_a_pick_report_must_name_every_sku_of_the_work_and_no_more_than_wanted(
    road: Road, store: FakeStore
) -> None:
    road.released(("MUG-1", 2), ("TEE-M", 1))
    before = snapshot(store)

    with pytest.raises(InputInvalid) as excinfo:
        road.pick("ful_0001", {"MUG-1": 3, "CAP-1": 1})

    assert excinfo.value.errors == [
        FieldError(["lines"], "CAP-1 is not in this fulfillment"),
        FieldError(["lines"], "TEE-M was not reported (report 0 when none was found)"),
        FieldError(["lines"], "MUG-1: 3 picked but only 2 wanted"),
    ]
    assert snapshot(store) == before


def test_picking_a_fulfillment_that_does_not_exist_is_not_found(road: Road) -> None:
    with pytest.raises(NotFound, match="fulfillment ful_nope does not exist"):
        road.pick("ful_nope", {"MUG-1": 1})


# -- pack -------------------------------------------------------------------------------------


def test_packing_in_a_box_the_warehouse_does_not_stock_is_refused(road: Road, store: FakeStore) -> None:
    road.released(("MUG-1", 2))
    road.pick("ful_0001")
    before = snapshot(store)

    with pytest.raises(InputInvalid) as excinfo:
        road.pack("ful_0001", "M", "XXL")

    assert excinfo.value.errors == [FieldError(["packages", 1, "box"], f"no box XXL in {EAST}'s catalogue")]
    assert snapshot(store) == before


def test_packing_records_the_recommended_box_and_a_box_other_than_it(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.pick("ful_0001")
    clock.set(LATER)

    road.pack("ful_0001", "L", weight_grams=650)

    packed = store.fulfillment("ful_0001")
    assert (packed.status, packed.packed_at, packed.recommended_boxes) == (F.PACKED, LATER, ["M"])
    assert packed.packages == [Package(box="L", weight_grams=650)]
    event = road.events(order_id)[-1]
    assert (event.type, event.data) == (
        "fulfillment.packed",
        {
            "status": "in_fulfillment",
            **milestones(),
            "fulfillment_id": "ful_0001",
            "warehouse_id": EAST,
            "packages": [{"box": "L", "weight_grams": 650, "tracking_number": None}],
            "recommended_boxes": ["M"],
            "boxes_other_than_recommended": ["L"],
        },
    )


def test_packing_as_recommended_records_no_other_box(road: Road) -> None:
    order_id = road.released(("MUG-1", 2))
    road.pick("ful_0001")

    road.pack("ful_0001", "M")

    assert road.events(order_id)[-1].data["boxes_other_than_recommended"] == []


def test_work_too_big_for_one_box_is_recommended_several(road: Road, store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 40)
    order_id = road.released(("MUG-1", 30))
    road.pick("ful_0001")

    road.pack("ful_0001", "L", "M", weight_grams=4500)

    assert store.fulfillment("ful_0001").recommended_boxes == ["L", "L"]
    assert road.events(order_id)[-1].data["boxes_other_than_recommended"] == ["M"]


def test_work_of_hundreds_of_units_gets_a_recommendation(road: Road, store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 250)
    order_id = road.released(("MUG-1", 250), price="1.00")
    road.pick("ful_0001")

    road.pack("ful_0001", *["L"] * 11, weight_grams=7_500)

    # L holds 24 of the catalogue's cubes: ten full, and one for the last 10 (M holds only 4).
    assert store.fulfillment("ful_0001").recommended_boxes == ["L"] * 11
    assert road.events(order_id)[-1].data["boxes_other_than_recommended"] == []


def test_work_too_large_to_plan_is_packed_without_a_recommendation(road: Road, store: FakeStore) -> None:
    half = MAX_PACKING_UNITS // 2
    store.set_stock(EAST, "MUG-1", half)
    store.set_stock(EAST, "TEE-M", half + 1)
    order_id = road.released(("MUG-1", half), ("TEE-M", half + 1), price="0.01")
    road.pick("ful_0001")

    road.pack("ful_0001", "L", weight_grams=60_000)

    assert store.fulfillment("ful_0001").status == F.PACKED
    event = road.events(order_id)[-1]
    assert (event.data["recommended_boxes"], event.data["boxes_other_than_recommended"]) == ([], ["L"])


def test_work_that_is_not_picked_cannot_be_packed(road: Road) -> None:
    road.released(("MUG-1", 2))

    with pytest.raises(InvalidTransition) as excinfo:
        road.pack("ful_0001", "M")

    assert (excinfo.value.current, excinfo.value.allowed) == (
        "released",
        ["hold", "start_picking", "pick", "cancel"],
    )


# -- ship -------------------------------------------------------------------------------------


def test_shipping_needs_one_tracking_number_per_package(road: Road, store: FakeStore) -> None:
    road.released(("MUG-1", 2))
    road.pick("ful_0001")
    road.pack("ful_0001", "S", "S")
    before = snapshot(store)

    with pytest.raises(InputInvalid) as excinfo:
        road.ship("ful_0001", "9400-0001")

    assert excinfo.value.errors == [
        FieldError(["tracking_numbers"], "one tracking number per package: 2 packed, 1 given")
    ]
    assert snapshot(store) == before


def test_shipping_consumes_the_reservation_and_indexes_the_tracking_numbers(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.pick("ful_0001")
    road.pack("ful_0001", "S", "S")
    clock.set(LATER)

    road.ship("ful_0001", "9400-0001", "9400-0002", carrier="USPS")

    shipped = store.fulfillment("ful_0001")
    assert shipped.status == F.SHIPPED
    assert shipped.shipment == Shipment(
        carrier="usps",
        service="ground",
        tracking_numbers=["9400-0001", "9400-0002"],
        tracking_url="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400-0001",
        shipped_at=LATER,
    )
    assert [p.tracking_number for p in shipped.packages] == ["9400-0001", "9400-0002"]
    assert stock(store, EAST, "MUG-1") == (8, 0, 8)  # the goods left: on hand and reserved drop
    assert {key: entry.fulfillment_id for key, entry in store.tracking.items()} == {
        "9400-0001": "ful_0001",
        "9400-0002": "ful_0001",
    }
    assert road.order(order_id).status == OrderStatus.SHIPPED
    event = road.events(order_id)[-1]
    assert (event.type, event.data["tracking_urls"], event.data["lines"]) == (
        "fulfillment.shipped",
        [
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400-0001",
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400-0002",
        ],
        [{"sku": "MUG-1", "quantity": 2}],
    )


def test_a_tracking_number_of_another_shipment_is_refused_and_nothing_is_written(
    road: Road, store: FakeStore
) -> None:
    first = road.released(("MUG-1", 1))
    second = road.released(("TEE-M", 1))
    road.through(road.at(EAST, first).id, until="pack")
    road.through(road.at(EAST, second).id, until="pack")
    road.ship(road.at(EAST, first).id, "9400-0001")
    before = snapshot(store)

    with pytest.raises(TrackingNumberInUse) as excinfo:
        road.ship(road.at(EAST, second).id, "9400-0001")

    assert (excinfo.value.carrier, excinfo.value.number) == ("usps", "9400-0001")
    assert snapshot(store)[:-1] == before[:-1]  # one attempt more, nothing written
    assert road.at(EAST, second).status == F.PACKED
    assert stock(store, EAST, "TEE-M") == (10, 1, 9)


def test_repeating_an_identical_shipment_is_idempotent(road: Road, store: FakeStore) -> None:
    road.released(("MUG-1", 1))
    road.through("ful_0001", until="pack")
    road.ship("ful_0001", "9400-0001")
    before = snapshot(store)

    road.ship("ful_0001", "9400-0001")

    assert snapshot(store) == before
    assert stock(store, EAST, "MUG-1") == (9, 0, 9)


def test_an_order_split_across_two_warehouses_is_partially_shipped_then_shipped(road: Road) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east, west = road.at(EAST, order_id).id, road.at(WEST, order_id).id
    statuses: list[OrderStatus] = []

    for step in (
        lambda: road.pick(east),
        lambda: road.pick(west),
        lambda: road.pack(east),
        lambda: road.ship(east),
        lambda: road.pack(west),
        lambda: road.ship(west),
    ):
        step()
        statuses.append(road.order(order_id).status)

    assert statuses == [
        OrderStatus.IN_FULFILLMENT,
        OrderStatus.IN_FULFILLMENT,
        OrderStatus.IN_FULFILLMENT,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
    ]
    assert [e.data["status"] for e in road.events(order_id) if e.type == "fulfillment.shipped"] == [
        "partially_shipped",
        "shipped",
    ]


def test_each_shipment_carries_its_promise_and_only_the_last_one_completes_the_order(
    road: Road, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east, west = road.at(EAST, order_id).id, road.at(WEST, order_id).id
    road.through(east, until="pack")
    road.through(west, until="pack")
    clock.set(LATER)

    road.ship(east, "EAST-1")
    first = road.events(order_id)[-1]
    road.ship(west, "WEST-1")
    last = road.events(order_id)[-1]

    assert (first.type, first.data["ship_by"], first.data["order_fully_shipped"]) == (
        "fulfillment.shipped",
        "2026-11-27T04:59:59.999000+00:00",
        False,
    )
    assert (last.type, last.data) == (
        "fulfillment.shipped",
        {
            "status": "shipped",
            **milestones(order_fully_shipped=True),
            "fulfillment_id": west,
            "warehouse_id": WEST,
            "carrier": "usps",
            "service": "ground",
            "ship_by": "2026-11-27T07:59:59.999000+00:00",
            "tracking_numbers": ["WEST-1"],
            "tracking_urls": ["https://tools.usps.com/go/TrackConfirmAction?tLabels=WEST-1"],
            "lines": [{"sku": "CAP-1", "quantity": 1}],
        },
    )


def test_a_shipment_without_a_promise_says_so_with_a_null_ship_by(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 1))
    (released,) = road.fulfillments(order_id)
    store.put_order(road.order(order_id), [released.model_copy(update={"ship_by": None})])
    road.through(released.id, until="pack")

    road.ship(released.id, "9400-0001")

    data = road.events(order_id)[-1].data
    assert ("ship_by" in data, data["ship_by"], data["order_fully_shipped"]) == (True, None, True)


def test_a_backorder_waiting_keeps_an_order_from_being_fully_shipped(road: Road) -> None:
    order_id = road.released(("MUG-1", 12))  # ten at EAST, two waiting for stock
    road.through(road.at(EAST, order_id).id, until="ship")

    shipped = road.events(order_id)[-1]
    assert (shipped.type, shipped.data["status"], shipped.data["order_fully_shipped"]) == (
        "fulfillment.shipped",
        "partially_shipped",
        False,
    )


# -- cancel -----------------------------------------------------------------------------------


def test_cancelling_a_whole_order_before_packing_releases_every_reservation(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    store.set_stock(WEST, "CAP-1", 1)
    order_id = road.released(("MUG-1", 2), ("CAP-1", 3))  # one cap at WEST, two backordered
    road.pick(road.at(EAST, order_id).id)
    clock.set(LATER)

    road.cancel(order_id, reason="customer changed their mind")

    order = road.order(order_id)
    assert order.status == OrderStatus.CANCELLED
    assert [(li.sku, li.quantity, li.cancelled, li.backordered) for li in order.lines] == [
        ("MUG-1", 2, 2, 0),
        ("CAP-1", 3, 3, 0),
    ]
    assert [(f.warehouse_id, f.status, f.cancel_reason) for f in road.fulfillments(order_id)] == [
        (EAST, F.CANCELLED, "customer changed their mind"),
        (WEST, F.CANCELLED, "customer changed their mind"),
        (None, F.CANCELLED, "customer changed their mind"),
    ]
    assert stock(store, EAST, "MUG-1") == (10, 0, 10)
    assert stock(store, WEST, "CAP-1") == (1, 0, 1)
    assert road.backorder_queue("CAP-1") == []
    event = road.events(order_id)[-1]
    assert (event.type, event.actor, event.occurred_at) == ("order.cancelled", "admin:key_ops", LATER)
    assert event.data == {
        "status": "cancelled",
        **milestones(),
        "reason": "customer changed their mind",
        "cancelled": {"MUG-1": 2, "CAP-1": 3},
        "stock_released": [
            {"warehouse_id": EAST, "sku": "MUG-1", "quantity": 2},
            {"warehouse_id": WEST, "sku": "CAP-1", "quantity": 1},
        ],
    }


def test_cancelling_an_order_placed_but_not_yet_received_releases_its_reservation(
    road: Road, store: FakeStore
) -> None:
    order_id = road.place(("MUG-1", 2))

    road.cancel(order_id)

    assert road.order(order_id).status == OrderStatus.CANCELLED
    assert stock(store, EAST, "MUG-1") == (10, 0, 10)


def test_cancelling_after_packing_is_a_conflict_naming_the_packed_fulfillment(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    road.through(road.at(EAST, order_id).id, until="pack")
    before = snapshot(store)

    with pytest.raises(Conflict) as excinfo:
        road.cancel(order_id)

    assert str(excinfo.value) == "too late to cancel: fulfillments ful_0001 (packed) are packed or shipped"
    assert (excinfo.value.current, excinfo.value.allowed) == ("in_fulfillment", [])
    assert snapshot(store) == before


def test_cancelling_some_units_keeps_the_order_and_releases_only_those(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 3), ("TEE-M", 1))

    road.cancel(order_id, {"MUG-1": 2}, reason="too many mugs")

    order = road.order(order_id)
    assert order.status == OrderStatus.CONFIRMED
    assert [(li.sku, li.cancelled) for li in order.lines] == [("MUG-1", 2), ("TEE-M", 0)]
    (fulfillment,) = road.fulfillments(order_id)
    assert (fulfillment.status, fulfillment.lines) == (
        F.RELEASED,
        [FulfillmentLine(sku="MUG-1", quantity=1), FulfillmentLine(sku="TEE-M", quantity=1)],
    )
    assert stock(store, EAST, "MUG-1") == (10, 1, 9)
    event = road.events(order_id)[-1]
    assert (event.type, event.data) == (
        "order.lines_cancelled",
        {
            "status": "confirmed",
            **milestones(),
            "reason": "too many mugs",
            "cancelled": {"MUG-1": 2},
            "stock_released": [{"warehouse_id": EAST, "sku": "MUG-1", "quantity": 2}],
        },
    )


def test_cancelling_the_backordered_units_confirms_an_order_that_waited_only_for_them(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 12))
    assert road.order(order_id).status == OrderStatus.BACKORDERED

    road.cancel(order_id, {"MUG-1": 2})

    order = road.order(order_id)
    assert (order.status, order.lines[0].backordered, order.lines[0].cancelled) == (
        OrderStatus.CONFIRMED,
        0,
        2,
    )
    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.RELEASED),
        (None, F.CANCELLED),
    ]
    assert stock(store, EAST, "MUG-1") == (10, 10, 0)  # the backorder held no stock
    assert road.events(order_id)[-1].data["stock_released"] == []
    # Never confirmed before (received straight into backordered): this is its first confirmation.
    assert road.events(order_id)[-1].data == {
        "status": "confirmed",
        **milestones(first_confirmation=True),
        "reason": "customer changed their mind",
        "cancelled": {"MUG-1": 2},
        "stock_released": [],
    }


def test_cancelling_the_units_still_waiting_after_the_rest_shipped_completes_the_shipment(
    road: Road,
) -> None:
    order_id = road.released(("MUG-1", 12))
    road.through(road.at(EAST, order_id).id, until="ship")

    road.cancel(order_id, {"MUG-1": 2}, reason="not waiting any longer")

    event = road.events(order_id)[-1]
    assert (event.type, event.data) == (
        "order.lines_cancelled",
        {
            "status": "shipped",
            **milestones(order_fully_shipped=True),
            "reason": "not waiting any longer",
            "cancelled": {"MUG-1": 2},
            "stock_released": [],
        },
    )


def test_cancelling_more_units_than_the_order_has_open_is_refused(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 2))
    before = snapshot(store)

    with pytest.raises(InputInvalid) as excinfo:
        road.cancel(order_id, {"MUG-1": 3})

    assert excinfo.value.errors == [
        FieldError(["lines"], "1 more units of MUG-1 than the order has open to cancel")
    ]
    assert snapshot(store) == before


def test_cancelling_a_cancelled_order_again_changes_nothing(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 2))
    road.cancel(order_id)
    before = snapshot(store)

    road.cancel(order_id)

    assert snapshot(store) == before
    with pytest.raises(Conflict, match="the order is cancelled"):
        road.cancel(order_id, {"MUG-1": 1})


def test_cancelling_an_order_that_has_shipped_entirely_is_a_conflict(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 2))
    road.through("ful_0001")
    before = snapshot(store)

    with pytest.raises(Conflict):
        road.cancel(order_id)

    assert snapshot(store) == before


# -- who may act ------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["pick", "pack", "ship", "cancel"])
def test_an_authorize_hook_that_refuses_stops_the_step_with_nothing_written(
    road: Road, store: FakeStore, step: str
) -> None:
    order_id = road.released(("MUG-1", 1))
    if step in ("pack", "ship"):
        road.through("ful_0001", until="pick" if step == "pack" else "pack")
    before = snapshot(store)

    with pytest.raises(Forbidden):
        if step == "pick":
            road.pick("ful_0001", authorize=refuse)
        elif step == "pack":
            road.pack("ful_0001", authorize=refuse)
        elif step == "ship":
            road.ship("ful_0001", authorize=refuse)
        else:
            road.cancel(order_id, authorize=refuse)

    assert snapshot(store) == before


def test_the_hook_is_asked_about_the_fulfillment_and_the_order_concerned(road: Road) -> None:
    order_id = road.released(("MUG-1", 1))
    seen: list[object] = []

    road.pick("ful_0001", authorize=seen.append)
    road.cancel(order_id, authorize=seen.append)

    assert isinstance(seen[0], Fulfillment) and seen[0].id == "ful_0001"
    assert isinstance(seen[1], Order) and seen[1].id == order_id


# -- pick lists -------------------------------------------------------------------------------


def test_a_pick_list_walks_the_bins_of_released_work_earliest_promise_first(
    road: Road, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10, bin_location="B-10")
    store.set_stock(EAST, "TEE-M", 10, bin_location="B-2")
    first = road.released(("MUG-1", 1))
    clock.set(datetime(2026, 11, 26, 21, 0, tzinfo=UTC))  # after New York's cut-off: ships Friday
    second = road.released(("TEE-M", 2), ("MUG-1", 2))
    road.pick(road.at(EAST, first).id)  # picked work is no longer on the list

    listed = pick_list(uow_factory, FakeQueries(store), EAST, 20, clock=clock)

    assert [w.order_id for w in listed.fulfillments] == [second]
    assert [(s.bin, s.sku, s.quantity) for s in listed.stops] == [("B-2", "TEE-M", 2), ("B-10", "MUG-1", 2)]
    assert listed.generated_at == clock.now()


def test_a_pick_list_of_an_unknown_warehouse_is_not_found(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    with pytest.raises(NotFound, match="warehouse wh_nope does not exist"):
        pick_list(uow_factory, FakeQueries(store), "wh_nope", 20, clock=clock)
