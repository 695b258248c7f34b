"""Order edits before picking over the fakes: what an edit writes, refuses and leaves alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib.domain.edits import EditRefused, OrderEditRequest, order_totals
from chalicelib.domain.errors import IdempotencyKeyReused, InputInvalid, InsufficientStock
from chalicelib.domain.models import FulfillmentLine
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus
from chalicelib.service.edits import EditOptions, edit_order
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.receipt import place_hold
from tests.unit.builders import EAST, WEST, milestones, seed_catalogue
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import ADMIN, Road, allow, stock_boxes

F = FulfillmentStatus


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    for sku in ("MUG-1", "TEE-M"):
        store.set_stock(EAST, sku, 10)
    store.set_stock(WEST, "CAP-1", 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


def edit(road: Road, order_id: str, key: str | None = None, **body: Any) -> OrderAggregate:
    body.setdefault("reason", "customer asked")
    return edit_order(
        road.uow_factory,
        order_id,
        OrderEditRequest.model_validate(body),
        authorize=allow,
        actor=ADMIN,
        ids=road.ids,
        clock=road.clock,
        options=EditOptions(idempotency_key=key),
    )


def stock(store: FakeStore, warehouse_id: str, sku: str) -> tuple[int, int, int]:
    level = store.level(warehouse_id, sku)
    return level.on_hand, level.reserved, level.available


def snapshot(store: FakeStore) -> tuple[object, ...]:
    return (
        {oid: dict(doc) for oid, doc in store.orders.items()},
        {oid: dict(docs) for oid, docs in store.fulfillments.items()},
        dict(store.events),
        {key: (row.on_hand, row.reserved, row.available) for key, row in store.stock.items()},
    )


def test_an_edit_adding_a_line_and_removing_a_unit_moves_stock_totals_and_asks_for_the_difference(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 3))  # 30.00, released at EAST

    edit(
        road,
        order_id,
        add=[{"sku": "CAP-1", "quantity": 1, "unit_price": "4.50"}],
        change=[{"sku": "MUG-1", "quantity": 2}],
    )

    order = road.order(order_id)
    assert [(li.sku, li.quantity, li.line_total, li.backordered) for li in order.lines] == [
        ("MUG-1", 2, Decimal("20.00"), 0),
        ("CAP-1", 1, Decimal("4.50"), 0),
    ]
    assert (order.totals.subtotal, order.totals.total) == (Decimal("24.50"), Decimal("24.50"))
    assert order.status == OrderStatus.CONFIRMED
    assert stock(store, EAST, "MUG-1") == (10, 2, 8)
    assert stock(store, WEST, "CAP-1") == (10, 1, 9)
    assert [(f.warehouse_id, f.status, f.lines) for f in road.fulfillments(order_id)] == [
        (EAST, F.RELEASED, [FulfillmentLine(sku="MUG-1", quantity=2)]),
        (WEST, F.RELEASED, [FulfillmentLine(sku="CAP-1", quantity=1)]),
    ]
    edited, adjustment = road.events(order_id)[-2:]
    assert edited.type == "order.edited"
    assert edited.data["added"] == [{"sku": "CAP-1", "quantity": 1}]
    assert edited.data["removed"] == [{"sku": "MUG-1", "quantity": 1}]
    assert edited.data["stock_released"] == [{"warehouse_id": EAST, "sku": "MUG-1", "quantity": 1}]
    assert edited.data["stock_reserved"] == [{"warehouse_id": WEST, "sku": "CAP-1", "quantity": 1}]
    assert (edited.data["previous_total"], edited.data["total"]) == ("30.00", "24.50")
    assert [f["warehouse_id"] for f in edited.data["released"]] == [EAST, WEST]
    assert {k: edited.data[k] for k in milestones()} == milestones()
    assert (adjustment.type, adjustment.data) == (
        "payment.adjustment_requested",
        {
            "status": "confirmed",
            "edit_id": edited.data["edit_id"],
            "amount": "-5.50",
            "currency": "USD",
            "reason": "customer asked",
        },
    )


def test_added_units_join_the_unpicked_fulfillment_of_the_same_warehouse(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 1))

    edit(road, order_id, add=[{"sku": "TEE-M", "quantity": 2, "unit_price": "15.00"}])

    (fulfillment,) = road.fulfillments(order_id)
    assert (fulfillment.status, fulfillment.lines) == (
        F.RELEASED,
        [FulfillmentLine(sku="MUG-1", quantity=1), FulfillmentLine(sku="TEE-M", quantity=2)],
    )
    assert stock(store, EAST, "TEE-M") == (10, 2, 8)
    assert road.order(order_id).totals.total == Decimal("40.00")
    assert road.events(order_id)[-1].data["amount"] == "30.00"


def test_raising_a_quantity_adds_units_at_the_lines_price(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 1), price="12.50")

    edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 3}])

    (line,) = road.order(order_id).lines
    assert (line.quantity, line.unit_price, line.line_total) == (3, Decimal("12.50"), Decimal("37.50"))
    assert stock(store, EAST, "MUG-1") == (10, 3, 7)


def test_an_edit_after_picking_started_is_refused_naming_the_fulfillment_and_writes_nothing(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2))
    fulfillment_id = road.at(EAST, order_id).id
    road.pick(fulfillment_id)
    before = snapshot(store)

    with pytest.raises(EditRefused) as refused:
        edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 1}])

    assert (refused.value.reason, refused.value.fulfillment_ids) == ("picking-started", [fulfillment_id])
    assert snapshot(store) == before


def test_picked_work_held_afterwards_still_counts_as_picked(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 2))
    fulfillment_id = road.at(EAST, order_id).id
    road.pick(fulfillment_id)
    place_hold(
        road.uow_factory, order_id, HoldReason.MANUAL, None, actor=ADMIN, ids=road.ids, clock=road.clock
    )
    assert road.at(EAST, order_id).status == F.ON_HOLD

    with pytest.raises(EditRefused) as refused:
        edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 1}])
    edit(road, order_id, add=[{"sku": "MUG-1", "quantity": 1, "unit_price": "10.00"}])

    assert refused.value.fulfillment_ids == [fulfillment_id]
    assert [(f.status, f.lines) for f in road.fulfillments(order_id)] == [
        (F.ON_HOLD, [FulfillmentLine(sku="MUG-1", quantity=2)]),
        (F.ON_HOLD, [FulfillmentLine(sku="MUG-1", quantity=1)]),
    ]


def test_units_can_be_added_after_picking_started_elsewhere_as_a_new_fulfillment(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.pick(road.at(EAST, order_id).id)

    edit(road, order_id, add=[{"sku": "TEE-M", "quantity": 1, "unit_price": "9.00"}])

    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.PICKED),
        (EAST, F.RELEASED),
    ]
    assert stock(store, EAST, "TEE-M") == (10, 1, 9)


def test_units_added_after_a_parcel_shipped_are_released_as_new_work(road: Road, store: FakeStore) -> None:
    stock_boxes(store)
    order_id = road.released(("MUG-1", 1), ("CAP-1", 1))
    road.through(road.at(EAST, order_id).id)
    assert road.order(order_id).status == OrderStatus.PARTIALLY_SHIPPED

    edit(road, order_id, add=[{"sku": "MUG-1", "quantity": 1, "unit_price": "10.00"}])

    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.SHIPPED),
        (WEST, F.RELEASED),
        (EAST, F.RELEASED),
    ]
    assert road.order(order_id).status == OrderStatus.PARTIALLY_SHIPPED
    with pytest.raises(EditRefused) as refused:
        edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 0}])
    assert refused.value.reason == "already-shipped"


def test_added_units_no_warehouse_holds_become_a_backorder(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 1))

    edit(road, order_id, add=[{"sku": "TEE-M", "quantity": 12, "unit_price": "1.00"}])

    order = road.order(order_id)
    assert order.status == OrderStatus.BACKORDERED
    assert [(li.sku, li.quantity, li.backordered) for li in order.lines] == [
        ("MUG-1", 1, 0),
        ("TEE-M", 12, 2),
    ]
    assert [(f.warehouse_id, f.status, f.lines) for f in road.fulfillments(order_id)] == [
        (
            EAST,
            F.RELEASED,
            [FulfillmentLine(sku="MUG-1", quantity=1), FulfillmentLine(sku="TEE-M", quantity=10)],
        ),
        (None, F.PENDING, [FulfillmentLine(sku="TEE-M", quantity=2)]),
    ]
    assert stock(store, EAST, "TEE-M") == (10, 10, 0)
    assert road.backorder_queue("TEE-M") == [road.at(None, order_id).id]


def test_removing_units_takes_backordered_ones_first_and_confirms_the_order(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 12))
    assert road.order(order_id).status == OrderStatus.BACKORDERED

    edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 10}])

    order = road.order(order_id)
    assert (order.status, order.lines[0].quantity, order.lines[0].backordered) == (
        OrderStatus.CONFIRMED,
        10,
        0,
    )
    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.RELEASED),
        (None, F.CANCELLED),
    ]
    assert stock(store, EAST, "MUG-1") == (10, 10, 0)
    assert road.events(order_id)[-2].data["stock_released"] == []


def test_removing_a_sku_cancels_the_fulfillment_left_with_nothing(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 1), ("CAP-1", 2))

    edit(road, order_id, change=[{"sku": "CAP-1", "quantity": 0}], reason="no caps")

    assert [li.sku for li in road.order(order_id).lines] == ["MUG-1"]
    west = next(f for f in road.fulfillments(order_id) if f.warehouse_id == WEST)
    assert (west.status, west.cancel_reason) == (F.CANCELLED, "edited: no caps")
    assert stock(store, WEST, "CAP-1") == (10, 0, 10)
    assert road.events(order_id)[-2].data["cancelled_fulfillments"] == [west.id]


def test_a_held_order_gets_its_new_work_held_too(road: Road, store: FakeStore) -> None:
    order_id = road.place(("MUG-1", 1))
    road.receive(order_id)
    place_hold(
        road.uow_factory, order_id, HoldReason.MANUAL, None, actor=ADMIN, ids=road.ids, clock=road.clock
    )

    edit(road, order_id, add=[{"sku": "CAP-1", "quantity": 1, "unit_price": "3.00"}])

    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.ON_HOLD),
        (WEST, F.ON_HOLD),
    ]


def test_an_order_not_yet_received_keeps_its_new_work_pending(road: Road) -> None:
    order_id = road.place(("MUG-1", 1))

    edit(road, order_id, add=[{"sku": "CAP-1", "quantity": 1, "unit_price": "3.00"}])

    assert [(f.warehouse_id, f.status) for f in road.fulfillments(order_id)] == [
        (EAST, F.PENDING),
        (WEST, F.PENDING),
    ]
    assert road.order(order_id).status == OrderStatus.PLACED


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"add": [{"sku": "NOPE-1", "quantity": 1, "unit_price": "1.00"}]}, ["add", 0, "sku"]),
        ({"add": [{"sku": "CAP-1", "quantity": 1, "unit_price": "1.001"}]}, ["add", 0, "unit_price"]),
        ({"change": [{"sku": "TEE-M", "quantity": 1}]}, ["change", 0, "sku"]),
        ({"change": [{"sku": "MUG-1", "quantity": 0}]}, ["change"]),
        ({"change": [{"sku": "MUG-1", "quantity": 1}], "discount_total": "100.00"}, ["discount_total"]),
    ],
)
def test_an_edit_the_order_cannot_take_is_refused_field_by_field_and_writes_nothing(
    road: Road, store: FakeStore, body: dict[str, Any], loc: list[object]
) -> None:
    order_id = road.released(("MUG-1", 2))
    before = snapshot(store)

    with pytest.raises(InputInvalid) as invalid:
        edit(road, order_id, **body)

    assert [e.loc for e in invalid.value.errors] == [loc]
    assert snapshot(store) == before


def test_an_edit_request_names_each_sku_once_and_changes_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        OrderEditRequest.model_validate({"reason": "x"})
    with pytest.raises(ValueError, match="either added or changed"):
        OrderEditRequest.model_validate(
            {
                "reason": "x",
                "add": [{"sku": "A", "quantity": 1, "unit_price": "1"}],
                "change": [{"sku": "A", "quantity": 1}],
            }
        )


def test_a_cancelled_order_cannot_be_edited(road: Road) -> None:
    order_id = road.released(("MUG-1", 2))
    road.cancel(order_id)

    with pytest.raises(EditRefused) as refused:
        edit(road, order_id, change=[{"sku": "MUG-1", "quantity": 1}])

    assert refused.value.reason == "order-closed"


def test_a_shortage_on_a_channel_that_rejects_backorders_refuses_the_edit(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 1))
    store.orders[order_id]["channel_id"] = "ch_strict"

    with pytest.raises(InsufficientStock):
        edit(road, order_id, add=[{"sku": "TEE-M", "quantity": 11, "unit_price": "1.00"}])


def test_the_same_idempotency_key_edits_once_and_refuses_another_body(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 3))

    first = edit(road, order_id, key="k-1", change=[{"sku": "MUG-1", "quantity": 2}])
    again = edit(road, order_id, key="k-1", change=[{"sku": "MUG-1", "quantity": 2}])

    assert again.order == first.order
    assert road.order(order_id).lines[0].quantity == 2
    assert road.event_types(order_id).count("order.edited") == 1
    with pytest.raises(IdempotencyKeyReused):
        edit(road, order_id, key="k-1", change=[{"sku": "MUG-1", "quantity": 1}])


def test_an_edit_that_loses_a_stock_race_plans_again_from_fresh_levels(road: Road, store: FakeStore) -> None:
    order_id = road.released(("MUG-1", 1))
    store.set_stock(WEST, "TEE-M", 10)

    def someone_takes_easts_tees() -> None:
        row = store.stock[(EAST, "TEE-M")]
        row.reserved, row.available = 10, 0

    store.before_next_commit(someone_takes_easts_tees)

    edit(road, order_id, add=[{"sku": "TEE-M", "quantity": 2, "unit_price": "1.00"}])

    assert stock(store, WEST, "TEE-M") == (10, 2, 8)
    assert stock(store, EAST, "TEE-M") == (10, 10, 0)


# -- properties: money and stock after any sequence of edits ---------------------------------------

SKUS = ("MUG-1", "TEE-M", "CAP-1")
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
ADD = st.fixed_dictionaries(
    {"sku": st.sampled_from(SKUS), "quantity": st.integers(1, 8), "unit_price": PRICES.map(str)}
)
CHANGE = st.fixed_dictionaries({"sku": st.sampled_from(SKUS), "quantity": st.integers(0, 8)})
EDITS = st.lists(
    st.tuples(st.lists(ADD, max_size=2), st.lists(CHANGE, max_size=2, unique_by=lambda c: c["sku"])),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_after_any_sequence_of_edits_totals_are_a_fresh_computation_and_stock_is_never_oversold(
    edits: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]],
) -> None:
    store = FakeStore(clock=FakeClock())
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 5)
    store.set_stock(WEST, "TEE-M", 4)
    store.set_stock(WEST, "CAP-1", 3)
    road = Road(store, FakeUnitOfWorkFactory(store), SequentialIds(), FakeClock())
    order_id = road.released(("MUG-1", 2), price="3.30")
    adjustments = Decimal(0)
    for adds, changes in edits:
        changed = {c["sku"] for c in changes}
        body = {"add": [a for a in adds if a["sku"] not in changed], "change": changes}
        if not body["add"] and not body["change"]:
            continue
        total_before = road.order(order_id).totals.total
        try:
            edit(road, order_id, **body)
        except (InputInvalid, ValueError):
            event("an edit refused")
            assert road.order(order_id).totals.total == total_before
            continue
        event("an edit applied")
        events = road.events(order_id)
        if events[-1].type == "payment.adjustment_requested":
            adjustments += Decimal(events[-1].data["amount"])
        order = road.order(order_id)
        assert order.totals == order_totals(
            order.lines, [], currency="USD", shipping=Decimal(0), tax=Decimal(0), discount=Decimal(0)
        )
        assert order.totals.total == sum((li.unit_price * li.quantity for li in order.lines), Decimal(0))
        assert all(0 <= li.backordered <= li.quantity - li.cancelled for li in order.lines)
        fulfillments = road.fulfillments(order_id)
        for (warehouse_id, sku), row in store.stock.items():
            held = sum(
                f.quantity_of(sku)
                for f in fulfillments
                if f.warehouse_id == warehouse_id and f.holds_reservation
            )
            assert (row.reserved, row.available, row.on_hand - row.reserved) == (
                held,
                row.available,
                row.available,
            )
            assert row.available >= 0
        for sku in SKUS:
            wanted = sum(li.quantity - li.cancelled for li in order.lines if li.sku == sku)
            assert sum(f.quantity_of(sku) for f in fulfillments if f.is_active) == wanted
            waiting = sum(f.quantity_of(sku) for f in fulfillments if f.is_active and f.awaiting_stock)
            assert sum(li.backordered for li in order.lines if li.sku == sku) == waiting
    assert road.order(order_id).totals.total == Decimal("6.60") + adjustments
