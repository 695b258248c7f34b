"""Staff notes and tags: the domain rules, the use cases over the fakes, and the tag listing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.auth import Forbidden
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.models import NoteVisibility, Order, OrderNote
from chalicelib.domain.note_payloads import OrderNoteAdded, OrderTagsChanged
from chalicelib.domain.notes import (
    MAX_NOTES_PER_ORDER,
    MAX_TAGS_PER_ORDER,
    TAG_PATTERN,
    InvalidTag,
    customer_notes,
    is_private_note_event,
    normalise_tag,
    with_note,
    with_tags,
    without_private_notes,
)
from chalicelib.domain.outbound import SUBSCRIBABLE_EVENTS
from chalicelib.domain.status import OrderStatus
from chalicelib.service.notes import add_note, change_tags
from tests.unit.builders import STRICT, WEB, make_order
from tests.unit.fakes import START, FakeClock, FakeQueries, FakeStore, FakeUnitOfWorkFactory, SequentialIds

STAFF = "admin:key_ops"


def note(text: str, visibility: NoteVisibility, n: int = 1) -> OrderNote:
    return OrderNote(id=f"note_{n}", text=text, visibility=visibility, author=STAFF, created_at=START)


def anyone(order: Order) -> None:
    """The authorisation of an admin key: every channel."""


# --- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("vip", "vip"),
        (" VIP ", "vip"),
        ("Gift Wrap", "gift-wrap"),
        ("gift_wrap", "gift-wrap"),
        ("a" * 32, "a" * 32),
    ],
)
def test_a_tag_is_trimmed_lower_cased_and_its_spaces_become_hyphens(raw: str, tag: str) -> None:
    assert normalise_tag(raw) == tag


@pytest.mark.parametrize("raw", ["", "   ", "a" * 33, "vip!", "naïve", "a/b", "x#y", "tag\u202e"])
def test_a_tag_outside_the_alphabet_is_refused_not_changed_into_another(raw: str) -> None:
    with pytest.raises(InvalidTag):
        normalise_tag(raw)


@given(st.text(max_size=40))
def test_a_normalised_tag_always_fits_the_syntax_and_normalises_to_itself(raw: str) -> None:
    try:
        tag = normalise_tag(raw)
    except InvalidTag:
        return
    assert TAG_PATTERN.match(tag)
    assert normalise_tag(tag) == tag


def test_adding_a_tag_the_order_carries_changes_nothing() -> None:
    order = make_order(tags=["vip"])

    assert with_tags(order, add=["vip"]) is None
    assert with_tags(order, remove=["gift"]) is None


def test_tags_are_kept_sorted_and_the_change_says_what_moved() -> None:
    change = with_tags(make_order(tags=["vip"]), add=["gift", "fragile"], remove=["vip"])

    assert change is not None
    assert change.order.tags == ["fragile", "gift"]
    assert (change.added, change.removed) == (["fragile", "gift"], ["vip"])


def test_an_order_carries_a_limited_number_of_tags() -> None:
    order = make_order(tags=[f"t{n}" for n in range(MAX_TAGS_PER_ORDER)])

    with pytest.raises(Conflict, match="at most"):
        with_tags(order, add=["one-more"])
    swapped = with_tags(order, add=["one-more"], remove=["t0"])
    assert swapped is not None and len(swapped.order.tags) == MAX_TAGS_PER_ORDER


# --- notes -----------------------------------------------------------------------------------


def test_notes_are_appended_in_order_up_to_the_cap() -> None:
    order = make_order()
    for n in range(MAX_NOTES_PER_ORDER):
        order = with_note(order, note(f"note {n}", NoteVisibility.PRIVATE, n))

    assert [n.text for n in order.notes][:2] == ["note 0", "note 1"]
    with pytest.raises(Conflict, match="at most"):
        with_note(order, note("one too many", NoteVisibility.PRIVATE, 999))


def test_the_customer_reads_only_the_customer_notes_with_their_time() -> None:
    order = make_order(
        notes=[
            note("fraud check passed", NoteVisibility.PRIVATE, 1),
            note("Your gift message was added", NoteVisibility.CUSTOMER, 2),
        ]
    )

    notes = customer_notes(order)

    assert [(n.text, n.created_at) for n in notes] == [("Your gift message was added", START)]
    assert [n.text for n in without_private_notes(order).notes] == ["Your gift message was added"]
    assert len(order.notes) == 2  # the order itself keeps both


# --- the use cases -----------------------------------------------------------------------------


@pytest.fixture
def order(store: FakeStore) -> Order:
    placed = make_order(id="ord_0001", channel_id=WEB, status=OrderStatus.CONFIRMED)
    store.put_order(placed)
    return placed


def test_a_note_is_one_transaction_with_its_event(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock, order: Order
) -> None:
    commits = store.commits

    result = add_note(
        uow_factory,
        order.id,
        "Call before delivery",
        NoteVisibility.CUSTOMER,
        authorize=anyone,
        actor=STAFF,
        ids=ids,
        clock=clock,
    )

    assert store.commits == commits + 1
    written = store.order(order.id)
    assert written.version == order.version + 1
    assert [(n.text, n.visibility, n.author) for n in written.notes] == [
        ("Call before delivery", NoteVisibility.CUSTOMER, STAFF)
    ]
    event = store.events_of(order.id)[-1]
    payload = event.payload(OrderNoteAdded)
    assert (event.version, event.actor) == (written.version, STAFF)
    assert payload.note_id == written.notes[0].id
    assert (payload.text, payload.visibility, payload.author) == (
        "Call before delivery",
        NoteVisibility.CUSTOMER,
        STAFF,
    )
    assert result.order == written


def test_a_note_is_refused_to_a_key_that_does_not_see_the_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock, order: Order
) -> None:
    def other_channel(o: Order) -> None:
        raise Forbidden("another channel's order")

    with pytest.raises(Forbidden):
        add_note(
            uow_factory,
            order.id,
            "x",
            NoteVisibility.PRIVATE,
            authorize=other_channel,
            actor=STAFF,
            ids=ids,
            clock=clock,
        )
    with pytest.raises(NotFound):
        add_note(
            uow_factory,
            "ord_nope",
            "x",
            NoteVisibility.PRIVATE,
            authorize=anyone,
            actor=STAFF,
            ids=ids,
            clock=clock,
        )
    assert store.order(order.id).notes == []


def test_a_note_that_lost_a_race_is_written_once_on_the_fresh_read(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock, order: Order
) -> None:
    store.conflict_next_commits(1)

    add_note(
        uow_factory,
        order.id,
        "once",
        NoteVisibility.PRIVATE,
        authorize=anyone,
        actor=STAFF,
        ids=ids,
        clock=clock,
    )

    assert [n.text for n in store.order(order.id).notes] == ["once"]
    assert [e.type for e in store.events_of(order.id)].count("order.note_added") == 1


def _tag(
    uow_factory: FakeUnitOfWorkFactory,
    ids: SequentialIds,
    clock: FakeClock,
    order_id: str,
    **change: list[str],
) -> Order:
    return change_tags(
        uow_factory, order_id, authorize=anyone, actor=STAFF, ids=ids, clock=clock, **change
    ).order


def test_tagging_twice_records_one_event_and_one_listing_entry(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock, order: Order
) -> None:
    _tag(uow_factory, ids, clock, order.id, add=["vip"])
    commits = store.commits
    again = _tag(uow_factory, ids, clock, order.id, add=["vip"])

    assert store.commits == commits
    assert again.tags == ["vip"] and again.version == order.version + 1
    changes = [
        e.payload(OrderTagsChanged) for e in store.events_of(order.id) if e.type == "order.tags_changed"
    ]
    assert changes == [OrderTagsChanged(added=["vip"], removed=[], tags=["vip"])]
    assert list(store.order_tags) == [("vip", order.id)]


def test_taking_a_tag_off_removes_the_order_from_its_listing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock, order: Order
) -> None:
    _tag(uow_factory, ids, clock, order.id, add=["vip", "gift"])
    after = _tag(uow_factory, ids, clock, order.id, remove=["vip"])

    assert after.tags == ["gift"]
    assert list(store.order_tags) == [("gift", order.id)]
    last = store.events_of(order.id)[-1].payload(OrderTagsChanged)
    assert (last.added, last.removed, last.tags) == ([], ["vip"], ["gift"])


def test_the_tag_listing_finds_the_tagged_orders_newest_first_within_the_other_filters(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    for n, channel in enumerate([WEB, STRICT, WEB, WEB]):
        store.put_order(
            make_order(
                id=f"ord_{n}", channel_id=channel, external_id=f"E{n}", created_at=START + timedelta(hours=n)
            )
        )
    for order_id in ("ord_0", "ord_1", "ord_3"):
        _tag(uow_factory, ids, clock, order_id, add=["vip"])
    queries = FakeQueries(store)

    every, _ = queries.list_orders(
        status=None, channel_id=None, created_from=None, created_to=None, limit=10, cursor=None, tag="vip"
    )
    web, _ = queries.list_orders(
        status=None, channel_id=WEB, created_from=None, created_to=None, limit=10, cursor=None, tag="vip"
    )
    first, cursor = queries.list_orders(
        status=None, channel_id=None, created_from=None, created_to=None, limit=2, cursor=None, tag="vip"
    )
    rest, end = queries.list_orders(
        status=None, channel_id=None, created_from=None, created_to=None, limit=2, cursor=cursor, tag="vip"
    )

    assert [o.id for o in every] == ["ord_3", "ord_1", "ord_0"]
    assert [o.id for o in web] == ["ord_3", "ord_0"]
    assert [o.id for o in first + rest] == ["ord_3", "ord_1", "ord_0"] and end is None


def test_a_private_note_event_is_told_apart_from_a_customer_one() -> None:
    def event(visibility: NoteVisibility) -> DomainEvent:
        payload = OrderNoteAdded(note_id="note_1", text="t", visibility=visibility, author=STAFF)
        return DomainEvent(
            id="evt_1", type=payload.event_type, occurred_at=START, actor=STAFF, data=payload.to_data()
        )

    assert is_private_note_event(event(NoteVisibility.PRIVATE))
    assert not is_private_note_event(event(NoteVisibility.CUSTOMER))


def test_stores_cannot_subscribe_to_notes_or_tags() -> None:
    """A private note's words would go out in the webhook's data: the events are not offered."""
    assert EventType.ORDER_NOTE_ADDED not in SUBSCRIBABLE_EVENTS
    assert EventType.ORDER_TAGS_CHANGED not in SUBSCRIBABLE_EVENTS
