"""Bounded per-process caches (reference data, secrets, API keys) for warm Lambda containers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cachetools

#: Reference data (channels, warehouses) changes rarely; a warm Lambda keeps it this long.
REFERENCE_CACHE_SECONDS = 30.0
#: Entries one per-process cache holds at most (see TtlCache).
DEFAULT_CACHE_ENTRIES = 1000


class TtlCache:
    """A small per-process cache for reference data, secrets and API keys (Lambda containers
    are reused, so it lives as long as a warm container).

    Bounded in both ways: an entry is kept ``seconds`` at most, and the cache holds at most
    ``max_entries``; when full, the least recently used entry goes. Without the bound, a warm
    container that sees ever new keys (random API keys from a scanner) would grow until it
    died. ``cachetools.TTLCache`` does the bookkeeping; the lock makes it safe to share between
    threads, which it is not by itself.
    """

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = DEFAULT_CACHE_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.seconds = seconds
        self.max_entries = max_entries
        self._values: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(
            maxsize=max_entries, ttl=seconds, timer=timer
        )
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value, or None when absent or expired (a hit makes the entry the most recent)."""
        with self._lock:
            return self._values.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._values[key] = value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        """Entries held now, expired ones dropped first."""
        with self._lock:
            self._values.expire()
            return len(self._values)


reference_cache = TtlCache(REFERENCE_CACHE_SECONDS)
