"""How commands that commit through the unit of work ride out transient conflicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.status import FulfillmentStatus, HoldReason
from chalicelib.service.changes import BACKOFF_CAP_SECONDS, MAX_ATTEMPTS, retrying
from chalicelib.service.inventory import receive_stock
from chalicelib.service.placement import place_order
from chalicelib.service.ports import TransactionConflict
from chalicelib.service.receipt import place_hold
from tests.unit.builders import EAST, WEB, order_request, seed_catalogue
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes


def failing(errors: list[Exception]) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(len(calls))
        if errors:
            raise errors.pop(0)
        return "done"

    return calls, operation


def test_a_version_conflict_is_retried_at_once_from_a_fresh_read(clock: FakeClock) -> None:
    calls, operation = failing([ConcurrencyConflict("order changed")])

    assert retrying(operation, clock=clock) == "done"
    assert (len(calls), clock.slept) == (2, [])


def test_a_transaction_conflict_is_retried_after_a_growing_jittered_pause(clock: FakeClock) -> None:
    calls, operation = failing([TransactionConflict("busy") for _ in range(3)])

    assert retrying(operation, clock=clock) == "done"
    assert len(calls) == 4
    steps = [0.02, 0.04, 0.08]
    assert all(step / 2 <= slept <= step for slept, step in zip(clock.slept, steps, strict=True))


def test_conflicts_that_never_stop_give_up_with_a_retryable_conflict_after_a_bounded_wait(
    clock: FakeClock,
) -> None:
    calls, operation = failing([TransactionConflict("busy") for _ in range(MAX_ATTEMPTS)])

    with pytest.raises(ConcurrencyConflict, match="retry"):
        retrying(operation, clock=clock)

    assert len(calls) == MAX_ATTEMPTS
    assert len(clock.slept) == MAX_ATTEMPTS - 1  # no pause after the last attempt
    assert sum(clock.slept) <= (MAX_ATTEMPTS - 1) * BACKOFF_CAP_SECONDS


def test_a_hold_whose_transaction_conflicts_is_placed_once_after_the_pause(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)
    placed = place_order(
        uow_factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ids, clock=clock
    )
    store.conflict_next_commits(2)

    held = place_hold(
        uow_factory, placed.order.id, HoldReason.MANUAL, None, actor="admin", ids=ids, clock=clock
    )

    assert [h.reason for h in held.order.holds] == [HoldReason.MANUAL]
    assert [e.type for e in store.events_of(placed.order.id)] == ["order.placed", "order.on_hold"]
    assert len(clock.slept) == 2


def test_a_hold_whose_answer_was_lost_answers_with_the_held_order_instead_of_a_conflict(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)
    placed = place_order(
        uow_factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ids, clock=clock
    )
    store.lose_next_answer()  # the re-sent copy fails its version condition: the hold is there

    held = place_hold(
        uow_factory, placed.order.id, HoldReason.MANUAL, None, actor="admin", ids=ids, clock=clock
    )

    assert held.order == store.order(placed.order.id)
    assert [e.type for e in store.events_of(placed.order.id)] == ["order.placed", "order.on_hold"]


def test_a_goods_receipt_whose_transaction_conflicts_is_booked_once_after_the_pause(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 3)
    store.conflict_next_commits(2)

    event = receive_stock(
        uow_factory,
        EAST,
        "MUG-1",
        5,
        reference="PO-1",
        idempotency_key=None,
        actor="admin",
        ids=ids,
        clock=clock,
    )

    assert [e.id for e in store.inventory_events_of("MUG-1", EAST)] == [event.id]
    assert store.level(EAST, "MUG-1").on_hand == 8
    assert len(clock.slept) == 2


def test_a_goods_receipt_that_keeps_conflicting_gives_up_with_the_conflict_and_books_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 3)
    store.conflict_next_commits(MAX_ATTEMPTS)

    with pytest.raises(TransactionConflict):
        receive_stock(
            uow_factory,
            EAST,
            "MUG-1",
            5,
            reference="PO-1",
            idempotency_key="po-1",
            actor="admin",
            ids=ids,
            clock=clock,
        )

    assert store.level(EAST, "MUG-1").on_hand == 3
    assert store.inventory_events_of("MUG-1", EAST) == []


def test_pick_pack_and_ship_whose_answers_were_lost_answer_as_their_repeats(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)
    road = Road(store, uow_factory, ids, clock)
    order_id = road.released(("MUG-1", 2))

    for step in (
        lambda: road.pick("ful_0001"),
        lambda: road.pack("ful_0001"),
        lambda: road.ship("ful_0001", "9400100000000000000001"),
    ):
        store.lose_next_answer()  # applied; the re-sent copy fails on the versions it changed
        result = step()
        assert result.fulfillments == store.fulfillments_of(order_id)

    assert store.fulfillment("ful_0001").status == FulfillmentStatus.SHIPPED
    assert [e.type for e in store.events_of(order_id)][-3:] == [
        "fulfillment.picked",
        "fulfillment.packed",
        "fulfillment.shipped",
    ]
