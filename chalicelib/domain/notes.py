"""Staff notes and tags on an order: what may be written, and who may read it.

A note is appended to the order, never edited nor deleted: it is a record of what someone told
the next shift (or the customer) at that moment, and a customer-visible one has already gone
to the store and the status page with the ``order.note_added`` event. A correction is a new note.

A tag is a short label (``vip``, ``gift``, ``fragile``) that people put on orders to find them
again: ``GET /v1/orders?tag=`` and the console's filter list the orders that carry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import Conflict
from .events import DomainEvent, EventType
from .models import NoteVisibility, Order, OrderNote

#: Characters a note holds at most (after trimming): several lines for the next shift, while
#: the notes of an order stay a small part of its item (DynamoDB items hold 400 KB).
MAX_NOTE_LENGTH = 1000
#: Notes an order holds at most; then the order answers 409 (a correction is one more note,
#: so this bounds the order's size, not anyone's work).
MAX_NOTES_PER_ORDER = 100
#: Tags an order carries at most: each one is an index entry written with the order's change.
MAX_TAGS_PER_ORDER = 20
MAX_TAG_LENGTH = 32
TAG_PATTERN = re.compile(r"^[a-z0-9-]{1,32}$")
#: What people type between words ("Gift wrap", "gift_wrap") becomes one hyphen.
_SEPARATORS = re.compile(r"[\s_]+")


class InvalidTag(ValueError):
    """A tag that stays outside ``[a-z0-9-]{1,32}`` after normalising (422)."""


def normalise_tag(raw: str) -> str:
    """The tag as stored: trimmed, lower case, runs of spaces or underscores as one hyphen.

    ``" Gift Wrap "`` -> ``"gift-wrap"``; anything still outside ``[a-z0-9-]{1,32}`` is refused
    (``InvalidTag``) rather than silently changed into another tag."""
    tag = _SEPARATORS.sub("-", raw.strip().lower())
    if not TAG_PATTERN.match(tag):
        raise InvalidTag(
            f"a tag is 1 to {MAX_TAG_LENGTH} letters a-z, digits and hyphens (spaces and "
            "underscores become hyphens, capitals lower case)"
        )
    return tag


def with_note(order: Order, note: OrderNote) -> Order:
    """``order`` with ``note`` appended; 409 once it holds ``MAX_NOTES_PER_ORDER``."""
    if len(order.notes) >= MAX_NOTES_PER_ORDER:
        raise Conflict(
            f"an order holds at most {MAX_NOTES_PER_ORDER} notes; this one has them all",
            current=order.status.value,
            allowed=[],
        )
    return order.model_copy(update={"notes": [*order.notes, note]})


@dataclass(frozen=True)
class TagChange:
    """The order with its new tags, and what actually changed (both sorted)."""

    order: Order
    added: list[str]
    removed: list[str]


def with_tags(order: Order, add: Iterable[str] = (), remove: Iterable[str] = ()) -> TagChange | None:
    """``order`` with normalised tags ``add`` put on and ``remove`` taken off; None when that
    changes nothing (a tag added twice, or removed when absent, is a no-op). A tag in both is
    removed. 409 when the order would carry more than ``MAX_TAGS_PER_ORDER``."""
    current = set(order.tags)
    removing = set(remove)
    adding = set(add) - removing
    after = (current | adding) - removing
    added, removed = sorted(after - current), sorted(current - after)
    if not added and not removed:
        return None
    if len(after) > MAX_TAGS_PER_ORDER:
        raise Conflict(
            f"an order carries at most {MAX_TAGS_PER_ORDER} tags; remove one first",
            current=order.status.value,
            allowed=[],
        )
    return TagChange(order=order.model_copy(update={"tags": sorted(after)}), added=added, removed=removed)


@dataclass(frozen=True)
class CustomerNote:
    """A note the customer may read (the status page): its words and when it was written."""

    text: str
    created_at: datetime


def customer_notes(order: Order) -> list[CustomerNote]:
    """The order's customer-visible notes, oldest first; private notes never appear here."""
    return [
        CustomerNote(text=note.text, created_at=note.created_at)
        for note in order.notes
        if note.visibility is NoteVisibility.CUSTOMER
    ]


def without_private_notes(order: Order) -> Order:
    """The order as a store's key, a warehouse or a customer may see it: customer notes only."""
    if all(note.visibility is NoteVisibility.CUSTOMER for note in order.notes):
        return order
    return order.model_copy(
        update={"notes": [n for n in order.notes if n.visibility is NoteVisibility.CUSTOMER]}
    )


def is_private_note_event(event: DomainEvent) -> bool:
    """True for the ``order.note_added`` event of a private note: left out of every timeline a
    store's or a warehouse's key reads (the console and admin keys see it)."""
    return (
        event.type == EventType.ORDER_NOTE_ADDED and event.data.get("visibility") != NoteVisibility.CUSTOMER
    )
