"""Payloads of the staff-note and tag events (kept beside ``event_payloads``, which registers them
in ``PAYLOADS``: that module is at the size limit of a module)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .events import EventPayload, EventType
from .models import NoteVisibility


class OrderNoteAdded(EventPayload):
    """A person added a note to the order. ``private`` notes stay with operations (console, admin
    keys); ``customer`` notes are shown on the customer's status page and written back to the
    store. Never offered to store webhooks: a private note's words must not leave the service."""

    event_type = EventType.ORDER_NOTE_ADDED
    emitted_by = "a staff note (service/notes.add_note)"
    recorded_with_order_state: ClassVar[bool] = True

    note_id: str = Field(description="The note's id (stable: consumers deduplicate on it).")
    text: str = Field(description="What the note says (trimmed, at most 1000 characters).")
    visibility: NoteVisibility = Field(description="`private` (operations only) or `customer`.")
    author: str = Field(description="Who wrote it: the actor of the API key or console session.")


class OrderTagsChanged(EventPayload):
    """Tags were put on or taken off the order (adding a tag it carries, or removing one it does
    not, records nothing)."""

    event_type = EventType.ORDER_TAGS_CHANGED
    emitted_by = "tagging an order (service/notes.change_tags)"
    recorded_with_order_state: ClassVar[bool] = True

    added: list[str] = Field(description="Tags put on, sorted.")
    removed: list[str] = Field(description="Tags taken off, sorted.")
    tags: list[str] = Field(description="Every tag the order carries after the change, sorted.")


#: The note and tag payload models, for ``event_payloads.PAYLOADS``.
NOTE_PAYLOADS: tuple[type[EventPayload], ...] = (OrderNoteAdded, OrderTagsChanged)
