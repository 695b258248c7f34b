"""Delivery exceptions over the fakes: a parcel declared lost or returned by the carrier, then
reshipped, refunded or restocked; what each writes, refuses and repeats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.errors import Conflict, InputInvalid
from chalicelib.domain.event_payloads import RefundRequested
from chalicelib.domain.exception_payloads import FulfillmentResolved
from chalicelib.domain.exceptions import RestockedItem
from chalicelib.domain.status import FulfillmentStatus, InvalidTransition, OrderStatus, TrackingStatus
from chalicelib.service.exceptions import Action, record_exception, resolve_exception
from chalicelib.service.ports import OrderAggregate
from tests.unit.builders import EAST, WEST, scan, seed_catalogue, tracking_update
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import ADMIN, Road, allow, stock_boxes

F = FulfillmentStatus
S = TrackingStatus


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


def declare(road: Road, fulfillment_id: str, kind: F, note: str | None = None) -> OrderAggregate:
    return record_exception(
        road.uow_factory,
        fulfillment_id,
        kind,
        note=note,
        authorize=allow,
        actor=ADMIN,
        ids=road.ids,
        clock=road.clock,
    )


def resolve(road: Road, fulfillment_id: str, action: Action, *items: RestockedItem) -> OrderAggregate:
    return resolve_exception(
        road.uow_factory,
        fulfillment_id,
        action,
        items=items,
        authorize=allow,
        actor=ADMIN,
        ids=road.ids,
        clock=road.clock,
    )


def shipped_order(road: Road, *items: tuple[str, int]) -> tuple[str, str]:
    order_id = road.released(*items)
    (f,) = road.fulfillments(order_id)
    road.through(f.id)
    return order_id, f.id


def stock(store: FakeStore, warehouse_id: str, sku: str) -> tuple[int, int, int]:
    level = store.level(warehouse_id, sku)
    return level.on_hand, level.reserved, level.available


def test_a_lost_parcel_reshipped_and_delivered_leaves_the_order_delivered(
    road: Road, store: FakeStore
) -> None:
    order_id, lost_id = shipped_order(road, ("MUG-1", 2))
    declared = declare(road, lost_id, F.LOST, "carrier confirmed the loss")

    assert declared.order.status == OrderStatus.SHIPPED
    assert road.event_types(order_id)[-1] == "fulfillment.exception_recorded"
    assert stock(store, EAST, "MUG-1") == (8, 0, 8)

    reshipped = resolve(road, lost_id, "reship")

    original = store.fulfillment(lost_id)
    (reship,) = [f for f in reshipped.fulfillments if f.reship_of == lost_id]
    assert original.status == F.RESHIPPED and not original.is_active
    assert original.resolution is not None and original.resolution.reship_fulfillment_ids == [reship.id]
    assert (reship.status, reship.warehouse_id, reship.ship_by is not None) == (F.RELEASED, EAST, True)
    assert [(line.sku, line.quantity) for line in reship.lines] == [("MUG-1", 2)]
    assert reshipped.order.status == OrderStatus.IN_FULFILLMENT
    assert stock(store, EAST, "MUG-1") == (8, 2, 6)  # reserved as at placement
    resolved = road.events(order_id)[-1].payload(FulfillmentResolved)
    assert (resolved.action, resolved.kind, [r.id for r in resolved.reship_fulfillments]) == (
        "reship",
        F.LOST,
        [reship.id],
    )

    road.through(reship.id)
    assert road.order(order_id).status == OrderStatus.SHIPPED
    road.track(tracking_update(f"TRK-{reship.id}", scan(S.DELIVERED, 10), event_id="evt-delivered"))

    assert road.order(order_id).status == OrderStatus.DELIVERED
    assert stock(store, EAST, "MUG-1") == (6, 0, 6)


def test_a_repeated_reship_changes_nothing_and_a_refund_after_it_is_refused(
    road: Road, store: FakeStore
) -> None:
    order_id, lost_id = shipped_order(road, ("MUG-1", 1))
    declare(road, lost_id, F.LOST)
    first = resolve(road, lost_id, "reship")
    events = len(road.events(order_id))

    again = resolve(road, lost_id, "reship")

    assert again.order == first.order and len(road.events(order_id)) == events
    assert len(road.fulfillments(order_id)) == 2
    with pytest.raises(Conflict, match="resolved already \\(reship\\)"):
        resolve(road, lost_id, "refund")


def test_a_reship_without_stock_backorders_the_units(road: Road, store: FakeStore) -> None:
    _, lost_id = shipped_order(road, ("MUG-1", 3))
    store.set_stock(EAST, "MUG-1", 0)
    declare(road, lost_id, F.DAMAGED)

    result = resolve(road, lost_id, "reship")

    (backorder,) = [f for f in result.fulfillments if f.reship_of == lost_id]
    assert (backorder.warehouse_id, backorder.status) == (None, F.PENDING)
    assert result.order.status == OrderStatus.IN_FULFILLMENT
    assert sum(line.backordered for line in result.order.lines) == 3


def test_a_parcel_returned_by_the_carrier_is_restocked_and_refunded(road: Road, store: FakeStore) -> None:
    order_id, rts_id = shipped_order(road, ("MUG-1", 2), ("TEE-M", 1))
    road.track(
        tracking_update(
            f"TRK-{rts_id}", scan(S.IN_TRANSIT, 1), scan(S.RETURNED_TO_SENDER, 50), event_id="evt-rts"
        )
    )
    returned = store.fulfillment(rts_id)
    assert returned.status == F.RETURNED_TO_SENDER
    assert returned.delivery_exception is not None and returned.delivery_exception.source == "carrier"
    assert "fulfillment.exception_recorded" in road.event_types(order_id)

    resolve(
        road,
        rts_id,
        "restock",
        RestockedItem("MUG-1", 2, resellable=True),
        RestockedItem("TEE-M", 1, resellable=False),
    )
    assert stock(store, EAST, "MUG-1") == (10, 0, 10)
    assert stock(store, EAST, "TEE-M") == (9, 0, 9)  # the torn tee is written off
    assert road.order(order_id).status == OrderStatus.SHIPPED  # restocked, not yet resolved

    refunded = resolve(road, rts_id, "refund")

    refund = road.events(order_id)[-1].payload(RefundRequested)
    assert (refund.rma_id, refund.fulfillment_id) == (None, rts_id)
    assert refund.refund.total == refunded.order.totals.total == Decimal("30.00")
    assert refunded.order.status == OrderStatus.CANCELLED  # nothing reached the customer
    assert store.fulfillment(rts_id).status == F.REFUNDED


def test_a_restock_is_refused_for_a_lost_parcel_for_too_many_units_and_a_second_time(
    road: Road, store: FakeStore
) -> None:
    _, lost_id = shipped_order(road, ("MUG-1", 1))
    declare(road, lost_id, F.LOST)
    with pytest.raises(Conflict, match="only a parcel returned to sender or damaged"):
        resolve(road, lost_id, "restock", RestockedItem("MUG-1", 1, resellable=True))

    _, damaged_id = shipped_order(road, ("MUG-1", 1))
    declare(road, damaged_id, F.DAMAGED)
    with pytest.raises(InputInvalid):
        resolve(road, damaged_id, "restock", RestockedItem("MUG-1", 2, resellable=True))
    resolve(road, damaged_id, "restock", RestockedItem("MUG-1", 1, resellable=False))
    resolve(road, damaged_id, "restock", RestockedItem("MUG-1", 1, resellable=False))  # a repeat
    with pytest.raises(Conflict, match="restocked already"):
        resolve(road, damaged_id, "restock", RestockedItem("MUG-1", 1, resellable=True))


def test_only_a_parcel_on_its_way_can_be_declared_and_only_an_exception_resolved(road: Road) -> None:
    order_id = road.released(("MUG-1", 1))
    (f,) = road.fulfillments(order_id)
    road.through(f.id, until="pack")

    with pytest.raises(InvalidTransition):
        declare(road, f.id, F.LOST)
    with pytest.raises(Conflict, match="only a parcel returned to sender, lost or damaged"):
        resolve(road, f.id, "refund")


def test_declaring_the_same_exception_twice_is_a_repeat_and_a_different_one_a_conflict(road: Road) -> None:
    order_id, f_id = shipped_order(road, ("MUG-1", 1))
    declare(road, f_id, F.LOST, "no scan for ten days")
    events = len(road.events(order_id))

    declare(road, f_id, F.LOST, "no scan for ten days")

    assert len(road.events(order_id)) == events
    with pytest.raises(InvalidTransition):
        declare(road, f_id, F.DAMAGED)


def test_a_lost_parcel_among_two_reshipped_makes_the_order_partially_shipped(road: Road) -> None:
    order_id = road.released(("MUG-1", 1), ("CAP-1", 1))
    east, west = road.at(EAST, order_id), road.at(WEST, order_id)
    road.through(east.id)
    road.through(west.id)
    declare(road, west.id, F.LOST)

    result = resolve(road, west.id, "reship")

    assert result.order.status == OrderStatus.PARTIALLY_SHIPPED
