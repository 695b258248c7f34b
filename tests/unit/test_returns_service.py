"""Returns over the fakes: an RMA kept with its order, and its receipt's restock and refund request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.returns import ReceivedItem, ReturnCondition, ReturnLine, ReturnRequest
from chalicelib.domain.status import OrderStatus, ReturnStatus, TrackingStatus
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.returns import receive_return, request_return
from tests.unit.builders import EAST, SCANS_FROM, milestones, scan, seed_catalogue, tracking_update
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import ADMIN, STAFF, Road, allow, stock_boxes

RETURNED_AT = SCANS_FROM + timedelta(days=3)


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


def delivered(road: Road, quantity: int = 2) -> str:
    """An order of ``quantity`` MUG-1 at 10.00, shipped from EAST and delivered."""
    order_id = road.released(("MUG-1", quantity))
    (fulfillment,) = road.fulfillments(order_id)
    road.through(fulfillment.id, until="pack")
    road.ship(fulfillment.id, "9400-0001")
    road.track(tracking_update("9400-0001", scan(TrackingStatus.DELIVERED, 30), event_id="trk_1"))
    road.clock.set(RETURNED_AT)
    return order_id


def ask(road: Road, order_id: str, quantity: int = 1) -> tuple[OrderAggregate, ReturnRequest]:
    return request_return(
        road.uow_factory,
        order_id,
        [ReturnLine(sku="MUG-1", quantity=quantity, reason="too small")],
        window_days=30,
        authorize=allow,
        actor=ADMIN,
        ids=road.ids,
        clock=road.clock,
    )


def receive(road: Road, rma_id: str, *items: ReceivedItem) -> tuple[OrderAggregate, ReturnRequest]:
    return receive_return(
        road.uow_factory,
        rma_id,
        list(items),
        warehouse_id=EAST,
        authorize=allow,
        actor=STAFF,
        ids=road.ids,
        clock=road.clock,
    )


def test_an_approved_return_is_kept_with_its_order(road: Road, store: FakeStore) -> None:
    order_id = delivered(road)

    result, rma = ask(road, order_id)

    assert (rma.id, rma.status, rma.version, rma.requested_at) == (
        "rma_0001",
        ReturnStatus.APPROVED,
        1,
        RETURNED_AT,
    )
    assert store.returns_of(order_id) == [rma] == result.returns
    event = road.events(order_id)[-1]
    assert (event.type, event.data) == (
        "return.requested",
        {
            "status": "delivered",
            **milestones(),
            "rma_id": "rma_0001",
            "return_status": "approved",
            "rejection_reason": None,
            "lines": [{"sku": "MUG-1", "quantity": 1, "reason": "too small"}],
        },
    )


def test_receiving_a_return_restocks_it_and_the_refund_request_that_follows_carries_no_milestones(
    road: Road, store: FakeStore
) -> None:
    order_id = delivered(road)
    _, rma = ask(road, order_id)
    on_hand = store.level(EAST, "MUG-1").on_hand

    result, _ = receive(
        road, rma.id, ReceivedItem(sku="MUG-1", quantity=1, condition=ReturnCondition.RESELLABLE)
    )

    done = store.rma(rma.id)
    assert (done.status, done.version, done.received_at, done.warehouse_id) == (
        ReturnStatus.RECEIVED,
        2,
        RETURNED_AT,
        EAST,
    )
    assert result.returns == [done]
    assert store.level(EAST, "MUG-1").on_hand == on_hand + 1
    assert road.order(order_id).status == OrderStatus.PARTIALLY_RETURNED
    received, refund = road.events(order_id)[-2:]
    refund_data = {
        "currency": "USD",
        "items": "10.00",
        "discount": "0.00",
        "tax": "0.00",
        "shipping": "0.00",
        "total": "10.00",
    }
    assert done.refund is not None and done.refund.model_dump(mode="json") == refund_data
    assert (received.type, received.data) == (
        "return.received",
        {
            "status": "partially_returned",
            **milestones(),
            "rma_id": rma.id,
            "warehouse_id": EAST,
            "restocked": {"MUG-1": 1},
            "written_off": {},
            "items": [{"sku": "MUG-1", "quantity": 1, "condition": "resellable"}],
            "first_return": True,
            "refund": refund_data,
        },
    )
    # The follow-up event of the same change: the flags there would count the order twice.
    version = road.order(order_id).version
    assert (received.version, refund.type, refund.version, refund.data) == (
        version - 1,
        "refund.requested",
        version,
        {"status": "partially_returned", "rma_id": rma.id, "refund": refund_data},
    )


def test_receiving_a_received_return_again_writes_nothing(road: Road, store: FakeStore) -> None:
    order_id = delivered(road)
    _, rma = ask(road, order_id)
    item = ReceivedItem(sku="MUG-1", quantity=1, condition=ReturnCondition.DAMAGED)
    receive(road, rma.id, item)
    before = store.snapshot()

    _, again = receive(road, rma.id, item)

    assert again == store.rma(rma.id)
    assert store.snapshot() == before


def test_the_received_return_handed_back_is_the_one_stored(road: Road, store: FakeStore) -> None:
    order_id = delivered(road)
    _, rma = ask(road, order_id)

    _, done = receive(road, rma.id, ReceivedItem(sku="MUG-1", quantity=1, condition=ReturnCondition.DAMAGED))

    assert done == store.rma(rma.id)
