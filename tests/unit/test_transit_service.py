"""The transit table's use cases (service/transit.py) on an in-memory repository, and the promised
dates in the confirmation e-mail (service/notifications.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.templates import JinjaRenderer
from chalicelib.domain.errors import ConcurrencyConflict, InputInvalid, NotFound
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.reference import PreconditionFailed, PreconditionRequired, Versioned
from chalicelib.domain.transit import TransitTable, TransitTime, TransitTimeSpec
from chalicelib.service.notifications import NotificationContext, notify
from chalicelib.service.placement import place_order
from chalicelib.service.receipt import receive_order
from chalicelib.service.reference import Actor
from chalicelib.service.transit import (
    TransitChange,
    TransitTimeChange,
    get_transit_time,
    list_transit_times,
    put_transit_time,
    remove_transit_time,
)
from tests.unit.builders import EAST, WEB, order_request, seed_catalogue
from tests.unit.fakes import (
    FakeClaims,
    FakeClock,
    FakeNotifier,
    FakeStore,
    FakeUnitOfWorkFactory,
    SequentialIds,
)


class FakeTransitRepository:
    """The adapter's contract: a change applies only at the version it was decided on."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Versioned[TransitTime]] = {}
        self.events: list[Any] = []

    def list_transit_times(self) -> list[Versioned[TransitTime]]:
        return list(self.rows.values())

    def commit_transit(self, change: TransitChange) -> None:
        key = change.row.key if isinstance(change, TransitTimeChange) else (change.carrier, change.service)
        current = self.rows.get(key)
        if (current.version if current else None) != change.expected:
            raise ConcurrencyConflict("moved")
        if isinstance(change, TransitTimeChange):
            self.rows[key] = Versioned(change.row, change.version)
        else:
            del self.rows[key]
        self.events.append(change.event)

    def table(self) -> TransitTable:
        return TransitTable.of(r.value for r in self.rows.values())


@pytest.fixture
def repo() -> FakeTransitRepository:
    return FakeTransitRepository()


@pytest.fixture
def actor(clock: FakeClock, ids: SequentialIds) -> Actor:
    return Actor("admin:key_1", clock, ids)


def spec(min_days: int, max_days: int, *methods: str) -> TransitTimeSpec:
    return TransitTimeSpec(min_days=min_days, max_days=max_days, shipping_methods=list(methods))


def test_a_new_row_is_written_at_version_one_with_its_event(
    repo: FakeTransitRepository, actor: Actor
) -> None:
    saved = put_transit_time(repo, "ups", "ground", spec(1, 5, "Standard"), if_match=None, actor=actor)

    assert (saved.version, saved.created, saved.changed) == (1, True, True)
    assert get_transit_time(repo, "ups", "ground").value.shipping_methods == ["Standard"]
    (event,) = repo.events
    assert event.type == "transit_time.changed"
    assert event.data["id"] == "ups/ground" and event.data["before"] is None
    assert event.actor == "admin:key_1"


def test_the_same_row_again_writes_nothing(repo: FakeTransitRepository, actor: Actor) -> None:
    put_transit_time(repo, "ups", "ground", spec(1, 5), if_match=None, actor=actor)

    again = put_transit_time(repo, "ups", "ground", spec(1, 5), if_match=1, actor=actor)

    assert (again.version, again.changed) == (1, False)
    assert len(repo.events) == 1


def test_a_replacement_names_the_version_it_was_decided_on(repo: FakeTransitRepository, actor: Actor) -> None:
    put_transit_time(repo, "ups", "ground", spec(1, 5), if_match=None, actor=actor)

    with pytest.raises(PreconditionRequired):
        put_transit_time(repo, "ups", "ground", spec(2, 5), if_match=None, actor=actor)
    with pytest.raises(PreconditionFailed):
        put_transit_time(repo, "ups", "ground", spec(2, 5), if_match=2, actor=actor)
    replaced = put_transit_time(repo, "ups", "ground", spec(2, 5), if_match=1, actor=actor)

    assert replaced.version == 2 and repo.events[-1].data["before"]["min_days"] == 1


def test_a_shipping_method_is_served_by_one_row_at_most(repo: FakeTransitRepository, actor: Actor) -> None:
    put_transit_time(repo, "ups", "ground", spec(1, 5, "Standard"), if_match=None, actor=actor)

    with pytest.raises(InputInvalid) as refused:
        put_transit_time(
            repo, "usps", "ground_advantage", spec(2, 5, "Cheap", "STANDARD"), if_match=None, actor=actor
        )

    assert [e.loc for e in refused.value.errors] == [["shipping_methods", 1]]
    assert "ups/ground" in refused.value.errors[0].msg
    assert len(repo.rows) == 1


@pytest.mark.parametrize(
    ("carrier", "service"), [("UPS", "ground"), ("ups", "Ground Saver"), ("*", "ground"), ("", "x")]
)
def test_keys_that_are_not_lowercase_slugs_or_the_default_are_refused(
    repo: FakeTransitRepository, actor: Actor, carrier: str, service: str
) -> None:
    with pytest.raises(InputInvalid):
        put_transit_time(repo, carrier, service, spec(1, 2), if_match=None, actor=actor)
    assert repo.events == []


def test_the_default_and_carrier_rows_are_keyed_by_a_star(repo: FakeTransitRepository, actor: Actor) -> None:
    put_transit_time(repo, "*", "*", spec(2, 6), if_match=None, actor=actor)
    put_transit_time(repo, "ups", "*", spec(1, 4), if_match=None, actor=actor)

    assert [r.value.key for r in list_transit_times(repo)] == [("*", "*"), ("ups", "*")]
    assert repo.table().for_parcel("ups", "express", None).max_days == 4
    assert repo.table().for_parcel("dhl", "express", None).max_days == 6


def test_removing_a_row_keeps_it_in_its_event(repo: FakeTransitRepository, actor: Actor) -> None:
    put_transit_time(repo, "ups", "ground", spec(1, 5), if_match=None, actor=actor)

    removed = remove_transit_time(repo, "ups", "ground", if_match=1, actor=actor)

    assert removed.version == 1 and repo.rows == {}
    assert repo.events[-1].type == "transit_time.removed"
    assert repo.events[-1].data["before"]["max_days"] == 5
    with pytest.raises(NotFound):
        remove_transit_time(repo, "ups", "ground", if_match=None, actor=actor)


# -- the confirmation e-mail ---------------------------------------------------------------------


def test_the_confirmation_email_says_by_when_it_ships_and_when_it_should_arrive(
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    ids: SequentialIds,
    clock: FakeClock,
    repo: FakeTransitRepository,
    actor: Actor,
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)
    put_transit_time(repo, "usps", "priority", spec(1, 3, "Priority"), if_match=None, actor=actor)
    notifier = FakeNotifier()
    ctx = NotificationContext(
        uow_factory=uow_factory,
        notifier=notifier,
        claims=FakeClaims(clock),
        renderer=JinjaRenderer(),
        ids=ids,
        clock=clock,
        public_base_url="https://oms.example.com",
        transit_table=repo.table,
    )
    placed = place_order(
        uow_factory,
        order_request(shipping_method="Priority"),
        channel_id=WEB,
        idempotency_key=None,
        ids=ids,
        clock=clock,
    )
    receive_order(
        uow_factory,
        store.events_of(placed.order.id)[0],
        policy=HoldPolicy.parse("1000"),
        ids=ids,
        clock=clock,
    )
    confirmed = store.events_of(placed.order.id)[-1]

    notify(confirmed, ctx)

    (email,) = notifier.of_kind("email")
    # Released Thursday 26 November 2026, 04:30 in New York: ships that day, 1-3 business days.
    assert "We will ship it by Thursday 26 November 2026" in email.fields["text"]
    assert "between Friday 27 November 2026 and Tuesday 1 December 2026" in email.fields["text"]
    assert "<strong>Thursday 26 November 2026</strong>" in email.fields["html"]


def test_without_a_transit_table_the_email_counts_with_the_built_in_default(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)
    notifier = FakeNotifier()
    ctx = NotificationContext(
        uow_factory=uow_factory,
        notifier=notifier,
        claims=FakeClaims(clock),
        renderer=JinjaRenderer(),
        ids=ids,
        clock=clock,
        public_base_url="https://oms.example.com",
    )
    placed = place_order(
        uow_factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ids, clock=clock
    )
    receive_order(
        uow_factory,
        store.events_of(placed.order.id)[0],
        policy=HoldPolicy.parse("1000"),
        ids=ids,
        clock=clock,
    )

    notify(store.events_of(placed.order.id)[-1], ctx)

    (email,) = notifier.of_kind("email")
    assert "between Friday 27 November 2026 and Thursday 3 December 2026" in email.fields["text"]
