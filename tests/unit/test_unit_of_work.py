"""The two write shapes of the use cases: "read, decide, commit once, retry on conflict" and
"consume this message once" (``chalicelib.service.unit_of_work``), over the in-memory store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import ConcurrencyConflict, Conflict, NotFound
from chalicelib.service.changes import BACKOFF_CAP_SECONDS, MAX_ATTEMPTS, load_order
from chalicelib.service.placement import place_order
from chalicelib.service.ports import DedupExists, StockConflict, TransactionConflict, UnitOfWork
from chalicelib.service.unit_of_work import (
    Message,
    Retry,
    Unchanged,
    commit_once,
    consume_once,
    consume_order_event,
)
from tests.unit.builders import WEB, order_request, seed_catalogue
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds

DAY = "2026-01-05"
EFFECT = "effect"


def counting_stage(calls: list[int], answer: str = "done") -> Callable[[UnitOfWork], str]:
    """A stage whose effect is one counter increment, noting each time it is run."""

    def stage(uow: UnitOfWork) -> str:
        calls.append(len(calls))
        uow.count(EFFECT, DAY)
        return answer

    return stage


def raising(error: Exception) -> Callable[[], None]:
    """What the store answers when a condition of the transaction fails (run as a commit hook)."""

    def hook() -> None:
        raise error

    return hook


# --- commit once, retry on conflict ---------------------------------------------------------------


def test_a_stage_is_committed_once_and_its_answer_returned(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []

    assert commit_once(uow_factory, counting_stage(calls), clock=clock) == "done"
    assert (len(calls), store.commits, store.counter(EFFECT, DAY)) == (1, 1, 1)


def test_an_unchanged_decision_commits_nothing_and_answers_as_it_stands(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    before = store.snapshot()

    def stage(uow: UnitOfWork) -> str | Unchanged[str]:
        uow.get_dedup("any", "key")
        return Unchanged("as it was")

    assert commit_once(uow_factory, stage, clock=clock) == "as it was"
    assert store.snapshot() == before


def test_a_transaction_conflict_decides_again_after_a_pause_and_commits_once(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.conflict_next_commits(2)

    assert commit_once(uow_factory, counting_stage(calls), clock=clock) == "done"
    assert (len(calls), len(clock.slept), store.counter(EFFECT, DAY)) == (3, 2, 1)
    assert uow_factory.created == 3  # every attempt reads afresh


def test_a_failed_version_condition_decides_again_at_once(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []

    def stage(uow: UnitOfWork) -> str:
        if not calls:
            store.before_next_commit(raising(ConcurrencyConflict("order moved")))
        return counting_stage(calls)(uow)

    assert commit_once(uow_factory, stage, clock=clock) == "done"
    assert (len(calls), clock.slept, store.counter(EFFECT, DAY)) == (2, [], 1)


def test_conflicts_that_never_stop_give_up_with_the_given_retryable_conflict(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.conflict_next_commits(MAX_ATTEMPTS)

    with pytest.raises(ConcurrencyConflict, match="could not record it; retry"):
        commit_once(uow_factory, counting_stage(calls), clock=clock, gave_up="could not record it; retry")

    assert (len(calls), len(clock.slept), store.counter(EFFECT, DAY)) == (MAX_ATTEMPTS, MAX_ATTEMPTS - 1, 0)


@pytest.mark.parametrize(
    "error",
    [NotFound("order", "ord_1"), Conflict("no"), ValueError("bad payload"), DedupExists("scope", "key")],
    ids=["not found", "conflict", "a bug", "dedup exists"],
)
def test_errors_other_than_conflicts_leave_at_once_without_a_retry(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock, error: Exception
) -> None:
    calls: list[int] = []

    def stage(uow: UnitOfWork) -> str:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        commit_once(uow_factory, stage, clock=clock)

    assert (len(calls), clock.slept, store.commit_attempts) == (1, [], 0)


def test_a_version_conflict_named_by_the_caller_decides_again_at_once(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []

    def stage(uow: UnitOfWork) -> str:
        if not calls:
            store.before_next_commit(raising(StockConflict("WH-1", "MUG-1")))
        return counting_stage(calls)(uow)

    assert commit_once(uow_factory, stage, clock=clock, version_conflicts=(StockConflict,)) == "done"
    assert (len(calls), clock.slept) == (2, [])


def test_without_being_named_a_stock_conflict_is_the_callers_to_handle(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.before_next_commit(raising(StockConflict("WH-1", "MUG-1")))

    with pytest.raises(StockConflict):
        commit_once(uow_factory, counting_stage(calls), clock=clock)
    assert len(calls) == 1


def test_riding_out_transaction_conflicts_leaves_a_failed_condition_to_the_caller(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.before_next_commit(raising(ConcurrencyConflict("order moved")))

    with pytest.raises(ConcurrencyConflict, match="order moved"):
        commit_once(uow_factory, counting_stage(calls), clock=clock, retry=Retry.ON_TRANSACTION_CONFLICT)
    assert len(calls) == 1


def test_riding_out_transaction_conflicts_gives_up_with_the_last_one(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.conflict_next_commits(MAX_ATTEMPTS)

    with pytest.raises(TransactionConflict):
        commit_once(uow_factory, counting_stage(calls), clock=clock, retry=Retry.ON_TRANSACTION_CONFLICT)
    assert (len(calls), len(clock.slept)) == (MAX_ATTEMPTS, MAX_ATTEMPTS - 1)


def test_a_command_that_is_never_retried_meets_its_first_conflict(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    store.conflict_next_commits(1)

    with pytest.raises(TransactionConflict):
        commit_once(uow_factory, counting_stage(calls), clock=clock, retry=Retry.NEVER)
    assert (len(calls), clock.slept) == (1, [])


@settings(max_examples=40, deadline=None)
@given(conflicts=st.integers(min_value=0, max_value=2 * MAX_ATTEMPTS))
def test_any_run_of_transaction_conflicts_commits_once_or_gives_up_after_a_bounded_wait(
    conflicts: int,
) -> None:
    clock = FakeClock()
    store = FakeStore(clock=clock)
    calls: list[int] = []
    store.conflict_next_commits(conflicts)

    try:
        commit_once(FakeUnitOfWorkFactory(store), counting_stage(calls), clock=clock)
        committed = True
    except ConcurrencyConflict:
        committed = False

    assert committed == (conflicts < MAX_ATTEMPTS)
    assert len(calls) == min(conflicts + 1, MAX_ATTEMPTS)
    assert store.counter(EFFECT, DAY) == (1 if committed else 0)
    assert len(clock.slept) == min(conflicts, MAX_ATTEMPTS - 1)
    assert sum(clock.slept) <= (MAX_ATTEMPTS - 1) * BACKOFF_CAP_SECONDS


# --- consume a message once -----------------------------------------------------------------------

MESSAGE = Message(scope="consumer#test", key="evt_0001", ref="ord_0001", data={"n": 1}, ttl_seconds=3600)


def test_a_message_is_consumed_with_its_record_in_the_same_transaction(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []

    answer = consume_once(uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock)

    record = uow_factory().get_dedup(MESSAGE.scope, MESSAGE.key)
    assert answer == "done"
    assert (store.commits, store.counter(EFFECT, DAY)) == (1, 1)
    assert record is not None and (record.ref, record.data) == ("ord_0001", {"n": 1})


def test_a_replayed_message_is_answered_by_replay_and_writes_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    calls: list[int] = []
    consume_once(uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock)
    before = store.snapshot()

    again = consume_once(uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock)

    assert (again, len(calls)) == ("replayed", 1)
    assert store.snapshot() == before


def test_a_concurrent_delivery_met_at_commit_is_answered_by_replay_with_one_effect(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    twin: list[int] = []
    store.before_next_commit(
        lambda: consume_once(uow_factory, MESSAGE, counting_stage(twin), replay=lambda: "x", clock=clock)
    )
    calls: list[int] = []

    answer = consume_once(uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock)

    assert (answer, len(calls), len(twin)) == ("replayed", 1, 1)
    assert store.counter(EFFECT, DAY) == 1


def test_a_replay_may_refuse(uow_factory: FakeUnitOfWorkFactory, clock: FakeClock) -> None:
    def refuse() -> str:
        raise Conflict("rated already")

    consume_once(uow_factory, MESSAGE, counting_stage([]), replay=refuse, clock=clock)

    with pytest.raises(Conflict, match="rated already"):
        consume_once(uow_factory, MESSAGE, counting_stage([]), replay=refuse, clock=clock)


def test_an_unchanged_decision_records_nothing_so_a_later_delivery_still_counts(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    before = store.snapshot()

    answer = consume_once(
        uow_factory, MESSAGE, lambda uow: Unchanged("not yet"), replay=lambda: "replayed", clock=clock
    )

    assert answer == "not yet"
    assert store.snapshot() == before


def test_without_looking_first_a_consumed_message_is_still_met_at_commit(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    consume_once(uow_factory, MESSAGE, counting_stage([]), replay=lambda: "replayed", clock=clock)
    calls: list[int] = []

    answer = consume_once(
        uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock, look_first=False
    )

    assert (answer, len(calls), store.counter(EFFECT, DAY)) == ("replayed", 1, 1)


def test_a_message_whose_transaction_conflicts_is_consumed_once_after_the_pause(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    store.conflict_next_commits(2)
    calls: list[int] = []

    answer = consume_once(uow_factory, MESSAGE, counting_stage(calls), replay=lambda: "replayed", clock=clock)

    assert (answer, len(calls), len(clock.slept), store.counter(EFFECT, DAY)) == ("done", 3, 2, 1)


def test_a_consumer_whose_decision_finds_nothing_to_change_answers_none_and_records_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    seed_catalogue(store)
    ids = SequentialIds()
    placed = place_order(
        uow_factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ids, clock=clock
    )
    before = store.snapshot()

    answer = consume_order_event(
        uow_factory,
        MESSAGE,
        lambda uow: load_order(uow, placed.order.id),
        lambda aggregate, uow: None,
        actor="system:test",
        ids=ids,
        clock=clock,
    )

    assert answer is None
    assert store.snapshot() == before


@settings(max_examples=40, deadline=None)
@given(deliveries=st.lists(st.sampled_from(["evt_a", "evt_b", "evt_c"]), max_size=12))
def test_however_often_messages_are_delivered_each_takes_effect_exactly_once(deliveries: list[str]) -> None:
    clock = FakeClock()
    store = FakeStore(clock=clock)
    factory = FakeUnitOfWorkFactory(store)
    answers = [
        consume_once(
            factory,
            Message(scope="consumer#test", key=key, ref=key),
            counting_stage([], answer="done"),
            replay=lambda: "replayed",
            clock=clock,
        )
        for key in deliveries
    ]

    assert store.counter(EFFECT, DAY) == len(set(deliveries))
    assert answers.count("done") == len(set(deliveries))
