"""Coalescing stock pushes to a store: a burst of changes to one SKU becomes a handful of calls.

Every reservation, release, receipt and count changes a SKU's ``available``; pushing each one to
the store would spend its API budget (Shopify's cost-based throttling, WooCommerce's rate limits)
on values that are stale a moment later. Instead each (channel, SKU) has a **sync marker**:

- the first change while no push is pending schedules one, ``window`` later (``not_before``);
- changes before that time only find the push pending, and do nothing more;
- when the push is due it sends the ``available`` of *that moment* (read then, not carried in
  the message), unless the store already has that value, and clears the marker;
- a change after the push schedules the next one, no earlier than ``window`` after the push, so
  a steady stream of changes costs one call per window at most.

A burst of any size within one window therefore costs one push (two when the push falls inside
the burst), and the last push carries the final value: what the store shows converges on
``available``, whatever the order and number of the messages. A due message that finds no push
pending (a duplicate, or one whose push another delivery made) does nothing; one that arrives
early (a queue's delay is an upper bound on nothing) is told to wait for the rest of the window.

Pure: the caller stores the marker (conditionally on the one it read, so two deliveries racing
cannot both push) and sends the delayed message. After a push it stores the new marker only once
the store took the value: a failed push leaves the marker due, and the message's retry pushes
again (a set of a quantity, so a push repeated after a lost answer does no harm).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

#: The default coalescing window. SQS delays a message by at most 15 minutes.
DEFAULT_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class SyncMarker:
    """The push state of one SKU on one channel."""

    #: When the pending push is due; None when no push is pending.
    not_before: datetime | None = None
    #: The value the store was last sent, and when (None before the first push).
    last_pushed: int | None = None
    last_pushed_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.not_before is not None


@dataclass(frozen=True)
class Schedule:
    """Store ``marker``; when ``send_at`` is set, send the due message to arrive then."""

    marker: SyncMarker
    send_at: datetime | None


def on_change(marker: SyncMarker, *, now: datetime, window: timedelta = DEFAULT_WINDOW) -> Schedule:
    """``available`` changed: schedule a push unless one is pending already."""
    if marker.pending:
        return Schedule(marker=marker, send_at=None)
    due = now + window
    if marker.last_pushed_at is not None:
        due = max(due, marker.last_pushed_at + window)
    return Schedule(marker=SyncMarker(due, marker.last_pushed, marker.last_pushed_at), send_at=due)


@dataclass(frozen=True)
class Push:
    """What a due message does: push ``value`` (None: push nothing), or wait until ``retry_at``."""

    marker: SyncMarker
    value: int | None
    retry_at: datetime | None = None


def on_due(marker: SyncMarker, *, now: datetime, available: int) -> Push:
    """A due message arrived; ``available`` is the SKU's value now (summed over the warehouses
    mapped to the store's location)."""
    if marker.not_before is None:
        return Push(marker=marker, value=None)  # a duplicate: the push it asked for was made
    if now < marker.not_before:
        return Push(marker=marker, value=None, retry_at=marker.not_before)
    cleared = SyncMarker(None, marker.last_pushed, marker.last_pushed_at)
    if available == marker.last_pushed:
        return Push(marker=cleared, value=None)  # the store has this value already
    return Push(marker=SyncMarker(None, available, now), value=available)
