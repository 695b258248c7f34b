"""Staff notes and tags: each one change of the order, in one transaction with its event.

A note is ``order.note_added`` (the store write-back sends the customer-visible ones to the
store); a tag change is ``order.tags_changed`` together with the order's entries in the tag
listings (``UnitOfWork.add_order_tag``/``remove_order_tag``), so the listing of a tag and the
order's own ``tags`` move together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chalicelib.domain.models import NoteVisibility, Order, OrderNote
from chalicelib.domain.note_payloads import OrderNoteAdded, OrderTagsChanged
from chalicelib.domain.notes import with_note, with_tags
from chalicelib.service.changes import Change, load_order
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.unit_of_work import change_order


def add_note(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    text: str,
    visibility: NoteVisibility,
    *,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Append a note written by ``actor``. The note's id is chosen once, before any retry, so a
    lost race re-applies the same note rather than a second one."""
    note_id = ids.new("note")

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        order = aggregate.order
        authorize(order)
        if any(n.id == note_id for n in order.notes):
            return None  # a re-sent transaction that had been applied: already there
        note = OrderNote(id=note_id, text=text, visibility=visibility, author=actor, created_at=clock.now())
        return Change(
            order=with_note(order, note),
            fulfillments=aggregate.fulfillments,
            payload=OrderNoteAdded(note_id=note_id, text=text, visibility=visibility, author=actor),
        )

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def change_tags(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Put normalised tags on and take them off; a change that changes nothing (a tag added
    twice, a missing one removed) writes nothing and records no event."""
    adding, removing = list(add), list(remove)

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        order = aggregate.order
        authorize(order)
        change = with_tags(order, adding, removing)
        if change is None:
            return None
        for tag in change.added:
            uow.add_order_tag(order, tag)
        for tag in change.removed:
            uow.remove_order_tag(order.id, tag)
        return Change(
            order=change.order,
            fulfillments=aggregate.fulfillments,
            payload=OrderTagsChanged(added=change.added, removed=change.removed, tags=change.order.tags),
        )

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )
