"""The fake unit of work keeps the adapter's contract; the service tests rely on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.service.ports import DedupExists, DedupRecord, StockConflict, UnitOfWork
from tests.unit.builders import EAST, make_order
from tests.unit.fakes import (
    START,
    FakeClaims,
    FakeClock,
    FakeNotifier,
    FakeStore,
    FakeUnitOfWork,
    InvalidTransaction,
    SequentialIds,
)


def event(version: int, order_id: str = "ord_0001") -> DomainEvent:
    return DomainEvent(
        id=f"evt_{version}",
        type="order.placed",
        order_id=order_id,
        channel_id="ch_web",
        version=version,
        occurred_at=START,
        actor="test",
    )


def record(key: str = "k") -> DedupRecord:
    return DedupRecord(scope="s", key=key, request_hash="h", ref="ord_0001", created_at=START)


def test_the_fake_is_a_unit_of_work(store: FakeStore) -> None:
    uow: UnitOfWork = FakeUnitOfWork(store)

    assert uow.staged_count() == 0


def test_nothing_is_visible_before_commit_and_everything_after(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 3)
    uow = FakeUnitOfWork(store)
    uow.add_order(make_order())
    uow.reserve_stock(EAST, "MUG-1", 2)
    uow.add_event(event(1))

    assert (uow.staged_count(), store.orders, store.level(EAST, "MUG-1").available) == (3, {}, 3)
    uow.commit()

    assert store.order("ord_0001") == make_order()
    assert (store.level(EAST, "MUG-1").reserved, store.level(EAST, "MUG-1").available) == (2, 1)
    assert (store.commits, store.committed_sizes, uow.staged_count()) == (1, [3], 0)


def test_a_failed_condition_applies_nothing_and_raises_the_matching_error(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 1)
    uow = FakeUnitOfWork(store)
    uow.add_order(make_order())
    uow.reserve_stock(EAST, "MUG-1", 2)
    uow.add_event(event(1))

    with pytest.raises(StockConflict) as excinfo:
        uow.commit()

    assert (excinfo.value.warehouse_id, excinfo.value.sku) == (EAST, "MUG-1")
    assert (store.orders, store.events, store.commits) == ({}, {}, 0)
    assert store.level(EAST, "MUG-1").available == 1
    assert uow.staged_count() == 0


def test_reserving_stock_that_does_not_exist_is_a_stock_conflict(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(EAST, "GHOST", 1)

    with pytest.raises(StockConflict):
        uow.commit()


def test_releasing_more_than_is_reserved_is_a_stock_conflict(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(EAST, "MUG-1", 2)
    uow.commit()

    uow.release_stock(EAST, "MUG-1", 3)
    with pytest.raises(StockConflict):
        uow.commit()
    uow.release_stock(EAST, "MUG-1", 2)
    uow.commit()

    assert store.level(EAST, "MUG-1").model_dump() == {
        "sku": "MUG-1",
        "warehouse_id": EAST,
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
    }


def test_versions_and_events_guard_against_lost_updates(store: FakeStore) -> None:
    store.put_order(make_order())
    stale = FakeUnitOfWork(store)
    stale.update_order(make_order(version=2), expected_version=1)
    stale.add_event(event(2))
    winner = FakeUnitOfWork(store)
    winner.update_order(make_order(version=2), expected_version=1)
    winner.add_event(event(2))
    winner.commit()

    with pytest.raises(ConcurrencyConflict):
        stale.commit()

    again = FakeUnitOfWork(store)
    again.add_order(make_order())
    with pytest.raises(ConcurrencyConflict):
        again.commit()
    assert store.commits == 1


def test_an_event_version_can_be_written_only_once(store: FakeStore) -> None:
    first, second = FakeUnitOfWork(store), FakeUnitOfWork(store)
    first.add_event(event(1))
    second.add_event(event(1))
    first.commit()

    with pytest.raises(ConcurrencyConflict):
        second.commit()


def test_a_dedup_record_must_be_new_or_expired(store: FakeStore, clock: FakeClock) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_dedup(record(), ttl_seconds=60)
    uow.commit()

    uow.add_dedup(record())
    with pytest.raises(DedupExists) as excinfo:
        uow.commit()
    assert (excinfo.value.scope, excinfo.value.key) == ("s", "k")

    clock.advance(seconds=61)
    assert uow.get_dedup("s", "k") is None
    uow.add_dedup(record())
    uow.commit()
    clock.advance(days=3650)
    assert uow.get_dedup("s", "k") == record()


def test_a_dedup_record_is_live_until_the_second_its_ttl_passes(store: FakeStore, clock: FakeClock) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_dedup(record(), ttl_seconds=60)
    uow.commit()
    clock.advance(seconds=60)

    assert uow.get_dedup("s", "k") == record()
    clock.advance(microseconds=1)
    assert uow.get_dedup("s", "k") is None


def test_like_dynamodb_a_transaction_may_not_touch_one_item_twice(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(EAST, "MUG-1", 1)
    uow.reserve_stock(EAST, "MUG-1", 1)

    with pytest.raises(InvalidTransaction, match="writes these items twice"):
        uow.commit()
    assert store.level(EAST, "MUG-1").reserved == 0


def test_like_dynamodb_a_transaction_holds_at_most_100_items(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)
    for n in range(101):
        uow.add_dedup(record(f"k{n}"))

    with pytest.raises(InvalidTransaction, match="101 items"):
        uow.commit()
    assert store.dedup == {}


def test_reads_return_copies_that_cannot_change_the_store(store: FakeStore) -> None:
    store.put_order(make_order())
    aggregate = FakeUnitOfWork(store).get_order("ord_0001")
    assert aggregate is not None

    aggregate.order.lines.clear()

    assert len(store.order("ord_0001").lines) == 1


def test_a_hook_runs_once_before_the_next_commit_checks_its_conditions(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 2)
    calls: list[int] = []

    def thief() -> None:
        calls.append(1)
        other = FakeUnitOfWork(store)
        other.reserve_stock(EAST, "MUG-1", 2)
        other.commit()

    store.before_next_commit(thief)
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(EAST, "MUG-1", 1)

    with pytest.raises(StockConflict):
        uow.commit()
    uow.add_dedup(record())
    uow.commit()
    assert calls == [1]


def test_sequential_ids_count_per_prefix() -> None:
    ids = SequentialIds()

    assert [ids.new("ord"), ids.new("ful"), ids.new("ful"), ids.new("ord")] == [
        "ord_0001",
        "ful_0001",
        "ful_0002",
        "ord_0002",
    ]


def test_the_clock_moves_only_when_told() -> None:
    clock = FakeClock()

    assert clock.now() == START
    assert clock.advance(minutes=2) == START + timedelta(minutes=2)
    with pytest.raises(ValueError, match="aware"):
        clock.set(START.replace(tzinfo=None))


def test_the_notifier_answers_sequential_message_ids() -> None:
    notifier = FakeNotifier()

    assert notifier.send_sms(phone="+14155550123", text="hi") == "msg-0001"
    assert notifier.publish_operations(subject="s", message={}) == "msg-0002"
    assert [m.kind for m in notifier.sent] == ["sms", "operations"]


def test_a_claim_is_exclusive_until_it_expires(clock: FakeClock) -> None:
    claims = FakeClaims(clock)

    assert claims.claim("k", seconds=10) is True
    assert claims.claim("k", seconds=10) is False
    clock.advance(seconds=11)
    assert claims.claim("k", seconds=10) is True
