"""The two shapes every write of a use case takes.

**Read, decide, commit once, retry on conflict** (``commit_once``, and ``change_order`` for the
order's own changes): open a unit of work, read, decide, stage, commit. The decision is made again
from a fresh read when the commit loses a race (``retrying``): at once after a failed version
condition, after the jittered ``back_off`` when DynamoDB met another transaction mid-flight.
Every other exception leaves at once, unchanged. A decision may find that nothing needs writing
(``Unchanged``: a repeat, a no-op), and then nothing is committed.

**Consume this message once** (``consume_once``, and ``consume_order_event``): the message's dedup
record is staged in the same transaction as its effect, so the effect and the memory of it commit
together or not at all. A message seen before (its record read first, or met at commit by a
concurrent delivery as ``DedupExists``) is answered by ``replay`` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.service.changes import (
    GAVE_UP,
    Change,
    retrying,
    riding_out_conflicts,
    stage_change,
)
from chalicelib.service.ports import (
    Clock,
    DedupExists,
    DedupRecord,
    IdGenerator,
    OrderAggregate,
    UnitOfWork,
    UnitOfWorkFactory,
)

T = TypeVar("T")


class Retry(Enum):
    """Which lost races run the command again."""

    #: Any ``ConcurrencyConflict``: a failed version condition re-reads and re-decides at once, a
    #: ``TransactionConflict`` after ``back_off`` (``retrying``).
    ON_ANY_CONFLICT = "any"
    #: Only ``TransactionConflict`` (nothing was written), after ``back_off``; a failed condition
    #: is the command's own to handle (``riding_out_conflicts``).
    ON_TRANSACTION_CONFLICT = "transaction"
    #: Never: the caller's caller retries (a webhook's sender).
    NEVER = "never"


@dataclass(frozen=True)
class Unchanged(Generic[T]):
    """A decision that nothing needs writing, and the answer as it stands."""

    answer: T


def commit_once(
    uow_factory: UnitOfWorkFactory,
    stage: Callable[[UnitOfWork], T | Unchanged[T]],
    *,
    clock: Clock,
    retry: Retry = Retry.ON_ANY_CONFLICT,
    version_conflicts: tuple[type[Exception], ...] = (),
    gave_up: str = GAVE_UP,
) -> T:
    """Run ``stage`` on a new unit of work and commit what it staged, as one transaction.

    ``version_conflicts`` are further exceptions of the commit that mean "what was read has
    changed" (e.g. a stock level's ``StockConflict``): they re-read and re-decide like a failed
    version condition. ``gave_up`` is the message of the retryable conflict raised when the
    races never stop.
    """

    def attempt() -> T:
        uow = uow_factory()
        outcome = stage(uow)
        if isinstance(outcome, Unchanged):
            return outcome.answer
        try:
            uow.commit()
        except version_conflicts as exc:
            raise ConcurrencyConflict(f"{exc}; retry") from exc
        return outcome

    if retry is Retry.ON_ANY_CONFLICT:
        return retrying(attempt, clock=clock, gave_up=gave_up)
    if retry is Retry.ON_TRANSACTION_CONFLICT:
        return riding_out_conflicts(attempt, clock=clock)
    return attempt()


@dataclass(frozen=True)
class Message:
    """A message to consume once: its dedup record's scope and key, what the record points to
    (``ref``), what it keeps (``data``) and for how long (``ttl_seconds``; None: for ever)."""

    scope: str
    key: str
    ref: str
    data: dict[str, Any] | None = None
    ttl_seconds: int | None = None


def consume_once(
    uow_factory: UnitOfWorkFactory,
    message: Message,
    stage: Callable[[UnitOfWork], T | Unchanged[T]],
    *,
    replay: Callable[[], T],
    clock: Clock,
    retry: Retry = Retry.ON_ANY_CONFLICT,
    look_first: bool = True,
    gave_up: str = GAVE_UP,
) -> T:
    """``commit_once`` with the message's dedup record in the same transaction as its effect.

    A message already consumed is answered by ``replay()`` (which may raise, e.g. a 409 for a
    second rating) and writes nothing: found before deciding (unless ``look_first`` is False, for
    callers that looked already), or met at commit (``DedupExists``: a concurrent delivery won).
    A stage that decides ``Unchanged`` records nothing either: the message may still matter later.
    """

    def stage_with_record(uow: UnitOfWork) -> T | Unchanged[T]:
        if look_first and uow.get_dedup(message.scope, message.key) is not None:
            return Unchanged(replay())
        outcome = stage(uow)
        if isinstance(outcome, Unchanged):
            return outcome
        record = DedupRecord(
            scope=message.scope,
            key=message.key,
            request_hash="",
            ref=message.ref,
            created_at=clock.now(),
            data=message.data,
        )
        uow.add_dedup(record, ttl_seconds=message.ttl_seconds)
        return outcome

    try:
        return commit_once(uow_factory, stage_with_record, clock=clock, retry=retry, gave_up=gave_up)
    except DedupExists:
        return replay()


#: Reads the order a change is about (raising ``NotFound`` when it is not there).
LoadOrder = Callable[[UnitOfWork], OrderAggregate]
#: Decides the change from the order as read (and the unit of work's reference data: warehouses,
#: boxes); None when there is nothing to change. Raises to refuse.
DecideChange = Callable[[OrderAggregate, UnitOfWork], "Change | None"]


def _order_stage(
    load: LoadOrder,
    decide: DecideChange,
    unchanged: Callable[[OrderAggregate], T],
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> Callable[[UnitOfWork], OrderAggregate | Unchanged[T]]:
    def stage(uow: UnitOfWork) -> OrderAggregate | Unchanged[T]:
        before = load(uow)
        change = decide(before, uow)
        if change is None:
            return Unchanged(unchanged(before))
        return stage_change(uow, before, change, actor=actor, ids=ids, clock=clock)

    return stage


def change_order(
    uow_factory: UnitOfWorkFactory,
    load: LoadOrder,
    decide: DecideChange,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
    version_conflicts: tuple[type[Exception], ...] = (),
) -> OrderAggregate:
    """One command on one order: load, decide, stage the ``Change`` (``stage_change``), commit,
    retrying lost races. Returns the order as written, or as read when ``decide`` found nothing
    to change (a repeat answers with the current state). ``version_conflicts``: as ``commit_once``'s
    (a change that reserves stock passes ``StockConflict``)."""
    stage: Callable[[UnitOfWork], OrderAggregate | Unchanged[OrderAggregate]] = _order_stage(
        load, decide, lambda before: before, actor=actor, ids=ids, clock=clock
    )
    return commit_once(uow_factory, stage, clock=clock, version_conflicts=version_conflicts)


def consume_order_event(
    uow_factory: UnitOfWorkFactory,
    message: Message,
    load: LoadOrder,
    decide: DecideChange,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate | None:
    """``change_order`` for a queue consumer: the message is consumed once. None when it was
    consumed before, or when ``decide`` found nothing to change (the order moved on without it)."""
    stage: Callable[[UnitOfWork], OrderAggregate | Unchanged[OrderAggregate | None] | None] = _order_stage(
        load, decide, lambda _: None, actor=actor, ids=ids, clock=clock
    )
    return consume_once(uow_factory, message, stage, replay=lambda: None, clock=clock)
