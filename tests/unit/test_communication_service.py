"""The customer's voice over the fakes: one rating per order, and per-order message preferences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.domain.auth import Forbidden
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.models import NotifyPreferences, Order
from chalicelib.domain.tokens import issue_token, verify_token
from chalicelib.service.communication import (
    FEEDBACK,
    FEEDBACK_LIFETIME,
    UNSUBSCRIBE,
    UNSUBSCRIBE_LIFETIME,
    change_preferences,
    link_token,
    record_feedback,
    unsubscribe,
)
from chalicelib.service.ports import DedupRecord, OrderAggregate
from tests.unit.builders import EAST, milestones, seed_catalogue
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road

NEW_KEY, OLD_KEY = "link-key-2026-11", "link-key-2026-10"
KEYS = [NEW_KEY, OLD_KEY]


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


@pytest.fixture
def order_id(road: Road) -> str:
    return road.released(("MUG-1", 1))


def link(purpose: str, order_id: str, clock: FakeClock, *, key: str = NEW_KEY) -> str:
    lifetime = FEEDBACK_LIFETIME if purpose == FEEDBACK else UNSUBSCRIBE_LIFETIME
    return issue_token(purpose, order_id, key=key, now=clock.now(), lifetime=lifetime)


def rate(road: Road, token: str, rating: int = 5, comment: str | None = "Arrived early") -> OrderAggregate:
    return record_feedback(
        road.uow_factory, token, rating, comment, keys=KEYS, ids=road.ids, clock=road.clock
    )


def allow(_: Order) -> None:
    """An authorize hook that lets everything through."""


def refuse(_: Order) -> None:
    raise Forbidden("this key may not change another channel's orders")


def prefer(
    road: Road,
    order_id: str,
    *,
    email: bool | None = None,
    sms: bool | None = None,
    authorize: Callable[[Order], None] = allow,
) -> OrderAggregate:
    return change_preferences(
        road.uow_factory,
        order_id,
        email=email,
        sms=sms,
        authorize=authorize,
        actor="channel:ch_web",
        ids=road.ids,
        clock=road.clock,
    )


# -- link tokens ------------------------------------------------------------------------------


def test_link_tokens_are_signed_with_the_newest_key_for_their_purpose_and_lifetime(clock: FakeClock) -> None:
    feedback = link_token(FEEDBACK, "ord_0001", keys=KEYS, clock=clock)
    optout = link_token(UNSUBSCRIBE, "ord_0001", keys=KEYS, clock=clock)
    assert feedback is not None and optout is not None

    claims = verify_token(feedback, FEEDBACK, keys=[NEW_KEY], now=clock.now())
    assert (claims.order_id, claims.expires_at) == (
        "ord_0001",
        int((clock.now() + timedelta(days=30)).timestamp()),
    )
    claims = verify_token(optout, UNSUBSCRIBE, keys=[NEW_KEY], now=clock.now())
    assert claims.expires_at == int((clock.now() + timedelta(days=365)).timestamp())


def test_without_a_key_there_is_no_link_token(clock: FakeClock) -> None:
    assert link_token(FEEDBACK, "ord_0001", keys=[], clock=clock) is None


# -- feedback ---------------------------------------------------------------------------------


def test_a_rating_is_recorded_once_as_a_feedback_event_in_the_order_timeline(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str
) -> None:
    before = road.order(order_id)
    clock.advance(days=3)

    result = rate(road, link(FEEDBACK, order_id, clock), 4, "Box was dented")

    event = road.events(order_id)[-1]
    assert (event.type, event.actor, event.version, event.occurred_at) == (
        "feedback.received",
        "customer",
        before.version + 1,
        clock.now(),
    )
    assert event.data == {"status": "confirmed", **milestones(), "rating": 4, "comment": "Box was dented"}
    assert result.order == road.order(order_id)
    assert road.order(order_id).model_dump(exclude={"version", "updated_at"}) == before.model_dump(
        exclude={"version", "updated_at"}
    )  # a rating changes nothing but the order's version
    dedup = store.dedup_record(FEEDBACK, order_id)
    assert dedup is not None and (dedup.ref, dedup.data) == (order_id, {"rating": 4})


def test_a_rating_without_a_comment_is_recorded(road: Road, clock: FakeClock, order_id: str) -> None:
    rate(road, link(FEEDBACK, order_id, clock), 1, None)

    assert road.events(order_id)[-1].data == {
        "status": "confirmed",
        **milestones(),
        "rating": 1,
        "comment": None,
    }


def test_a_second_rating_is_a_conflict_even_with_a_fresh_link_and_writes_nothing(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str
) -> None:
    rate(road, link(FEEDBACK, order_id, clock), 5)
    before = store.snapshot()
    clock.advance(days=1)

    for token in (link(FEEDBACK, order_id, clock), link(FEEDBACK, order_id, clock, key=OLD_KEY)):
        with pytest.raises(Conflict, match="rated already"):
            rate(road, token, 1)

    assert store.snapshot() == before


def test_a_rating_racing_another_for_the_same_order_is_a_conflict(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str, uow_factory: FakeUnitOfWorkFactory
) -> None:
    def the_other_rating_commits() -> None:
        uow = uow_factory()
        uow.add_dedup(
            DedupRecord(scope=FEEDBACK, key=order_id, request_hash="", ref=order_id, created_at=clock.now())
        )
        uow.commit()

    store.before_next_commit(the_other_rating_commits)

    with pytest.raises(Conflict):
        rate(road, link(FEEDBACK, order_id, clock))
    assert "feedback.received" not in road.event_types(order_id)


def test_ratings_of_two_orders_are_independent(road: Road, clock: FakeClock, order_id: str) -> None:
    other = road.released(("MUG-1", 1))

    rate(road, link(FEEDBACK, order_id, clock), 5)
    rate(road, link(FEEDBACK, other, clock), 2)

    assert [e.data["rating"] for e in road.events(other) if e.type == "feedback.received"] == [2]


def test_a_link_signed_with_the_previous_key_still_records_a_rating(
    road: Road, clock: FakeClock, order_id: str
) -> None:
    rate(road, link(FEEDBACK, order_id, clock, key=OLD_KEY), 3)

    assert road.event_types(order_id)[-1] == "feedback.received"


def test_a_feedback_link_works_until_its_thirtieth_day_ends(
    road: Road, clock: FakeClock, order_id: str
) -> None:
    token = link(FEEDBACK, order_id, clock)
    clock.advance(days=30)

    rate(road, token)

    assert road.event_types(order_id)[-1] == "feedback.received"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda o, c: link(FEEDBACK, o, c, key="someone-elses-key"), id="forged"),
        pytest.param(lambda o, c: link(FEEDBACK, o, c)[:-2] + "AA", id="tampered"),
        pytest.param(lambda o, c: link(UNSUBSCRIBE, o, c), id="wrong-purpose"),
        pytest.param(lambda o, c: "not-a-token", id="garbage"),
        pytest.param(
            lambda o, c: issue_token(
                FEEDBACK, o, key=NEW_KEY, now=c.now() - timedelta(days=31), lifetime=FEEDBACK_LIFETIME
            ),
            id="expired",
        ),
    ],
)
def test_a_bad_expired_or_other_purpose_link_is_not_found_and_writes_nothing(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str, make_token: Callable[[str, FakeClock], str]
) -> None:
    before = store.snapshot()

    with pytest.raises(NotFound) as excinfo:
        rate(road, make_token(order_id, clock))

    assert str(excinfo.value) == "link (invalid or expired) does not exist"  # says nothing of the order
    assert store.snapshot() == before


def test_a_valid_link_for_an_order_that_does_not_exist_is_not_found(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    with pytest.raises(NotFound, match="order ord_9999"):
        rate(road, link(FEEDBACK, "ord_9999", clock))
    assert store.dedup_record(FEEDBACK, "ord_9999") is None


# -- preferences ------------------------------------------------------------------------------


def test_changing_one_preference_leaves_the_other_as_it_was(
    road: Road, store: FakeStore, order_id: str
) -> None:
    assert road.order(order_id).notify == NotifyPreferences(email=True, sms=False)
    version = road.order(order_id).version

    result = prefer(road, order_id, sms=True)

    assert road.order(order_id).notify == NotifyPreferences(email=True, sms=True)
    assert result.order == road.order(order_id)
    event = road.events(order_id)[-1]
    assert (event.type, event.actor, event.version, event.data) == (
        "order.notification_preferences_changed",
        "channel:ch_web",
        version + 1,
        {"status": "confirmed", **milestones(), "email": True, "sms": True},
    )

    prefer(road, order_id, email=False)

    assert road.order(order_id).notify == NotifyPreferences(email=False, sms=True)


def test_the_same_preferences_again_change_nothing_and_record_no_event(
    road: Road, store: FakeStore, order_id: str
) -> None:
    prefer(road, order_id, email=False, sms=True)
    before = store.snapshot()

    for email, sms in ((False, True), (None, True), (False, None), (None, None)):
        result = prefer(road, order_id, email=email, sms=sms)
        assert result.order == road.order(order_id)

    assert store.snapshot() == before


def test_a_caller_the_authorize_hook_refuses_changes_nothing(
    road: Road, store: FakeStore, order_id: str
) -> None:
    before = store.snapshot()

    with pytest.raises(Forbidden):
        prefer(road, order_id, email=False, authorize=refuse)

    assert store.snapshot() == before


def test_the_authorize_hook_is_shown_the_order_it_guards(road: Road, order_id: str) -> None:
    seen: list[str] = []

    prefer(road, order_id, sms=True, authorize=lambda order: seen.append(order.id))

    assert seen == [order_id]


def test_preferences_of_an_unknown_order_are_not_found(road: Road) -> None:
    with pytest.raises(NotFound, match="order ord_9999 does not exist"):
        prefer(road, "ord_9999", email=False)


def test_a_preference_change_racing_another_write_of_the_order_is_retried(
    road: Road, store: FakeStore, order_id: str
) -> None:
    def someone_else_writes_the_order() -> None:
        current = store.order(order_id)
        store.put_order(
            current.model_copy(update={"version": current.version + 1}), road.fulfillments(order_id)
        )

    store.before_next_commit(someone_else_writes_the_order)

    prefer(road, order_id, sms=True)

    assert road.order(order_id).notify.sms is True
    assert road.event_types(order_id).count("order.notification_preferences_changed") == 1


# -- unsubscribe ------------------------------------------------------------------------------


def test_unsubscribing_turns_off_email_and_sms_for_that_order_only(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str
) -> None:
    other = road.released(("MUG-1", 1))
    prefer(road, order_id, sms=True)

    result = unsubscribe(
        road.uow_factory, link(UNSUBSCRIBE, order_id, clock), keys=KEYS, ids=road.ids, clock=clock
    )

    assert result.order.notify == NotifyPreferences(email=False, sms=False)
    assert road.order(order_id).notify == NotifyPreferences(email=False, sms=False)
    event = road.events(order_id)[-1]
    assert (event.type, event.actor, event.data) == (
        "order.notification_preferences_changed",
        "customer",
        {"status": "confirmed", **milestones(), "email": False, "sms": False},
    )
    assert road.order(other).notify == NotifyPreferences(email=True, sms=False)


def test_unsubscribing_twice_records_one_change(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str
) -> None:
    token = link(UNSUBSCRIBE, order_id, clock)
    unsubscribe(road.uow_factory, token, keys=KEYS, ids=road.ids, clock=clock)
    before = store.snapshot()

    unsubscribe(road.uow_factory, token, keys=KEYS, ids=road.ids, clock=clock)

    assert store.snapshot() == before


@pytest.mark.parametrize("purpose", [FEEDBACK, "unsubscribe-all"])
def test_an_unsubscribe_needs_an_unsubscribe_link(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str, purpose: str
) -> None:
    before = store.snapshot()

    with pytest.raises(NotFound):
        unsubscribe(road.uow_factory, link(purpose, order_id, clock), keys=KEYS, ids=road.ids, clock=clock)

    assert store.snapshot() == before


def test_an_unsubscribe_link_works_for_a_year_and_not_a_second_longer(
    road: Road, store: FakeStore, clock: FakeClock, order_id: str
) -> None:
    token = link(UNSUBSCRIBE, order_id, clock)
    clock.advance(days=365, seconds=1)

    with pytest.raises(NotFound):
        unsubscribe(road.uow_factory, token, keys=KEYS, ids=road.ids, clock=clock)
    assert road.order(order_id).notify.email is True
