"""A signal from the AWS endpoint to the event pump: "something was written, look now".

The moto server's middleware calls :meth:`Activity.signal` after each request that can make
work for the pump (a message sent or made visible again, an item written, which adds a stream
record, an event put on a bus that routes to a queue). The pump waits on it between passes
instead of polling every queue twenty times a second, so an idle stack is idle, and a message
still reaches its handler at once.

A counter rather than a ``threading.Event``: any number of waiters may watch it, and none of
them can clear a signal another has not seen yet.
"""

from __future__ import annotations

import threading

__all__ = ["Activity"]


class Activity:
    """Counts writes; :meth:`wait` blocks until the count moves past what the caller has seen."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        """Signals so far: read it *before* looking for work, pass it to :meth:`wait` after."""
        with self._changed:
            return self._count

    def signal(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until a signal arrives after ``seen`` (True) or ``timeout`` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count != seen, timeout=max(timeout, 0.0))
