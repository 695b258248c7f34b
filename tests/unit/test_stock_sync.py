"""Stock push coalescing (``chalicelib.domain.stock_sync``): bursts become a handful of pushes, and
the last value pushed is the final ``available``."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.stock_sync import SyncMarker, on_change, on_due

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=30)


def simulate(
    changes: list[tuple[float, int]], *, start: int, lags: list[float], duplicate: bool
) -> tuple[list[tuple[datetime, int]], int, int]:
    """Run changes (seconds after T0, delta of ``available``) and the due messages they cause,
    each arriving ``lag`` seconds after its time (cycling through ``lags``), optionally twice.
    Returns the pushes (time, value), the final ``available`` and how many due messages were sent."""
    available = start
    marker = SyncMarker()
    pushes: list[tuple[datetime, int]] = []
    queue: list[tuple[datetime, int, str]] = []  # (time, seq, kind)
    seq = 0
    scheduled = 0

    def enqueue(at: datetime, kind: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (at, seq, kind))

    for offset, delta in sorted(changes):
        enqueue(T0 + timedelta(seconds=offset), f"change:{delta}")
    while queue:
        now, _, kind = heapq.heappop(queue)
        if kind.startswith("change:"):
            available += int(kind.removeprefix("change:"))
            schedule = on_change(marker, now=now, window=WINDOW)
            marker = schedule.marker
            if schedule.send_at is not None:
                scheduled += 1
                lag = timedelta(seconds=lags[seq % len(lags)])
                enqueue(schedule.send_at + lag, "due")
                if duplicate:
                    enqueue(schedule.send_at + lag * 2, "due")
        else:
            push = on_due(marker, now=now, available=available)
            marker = push.marker
            if push.value is not None:
                pushes.append((now, push.value))
            if push.retry_at is not None:
                enqueue(push.retry_at, "due")
    return pushes, available, scheduled


deltas = st.integers(-3, 3).filter(bool)
lag_lists = st.lists(st.floats(0, 20), min_size=1, max_size=5)


@settings(max_examples=200)
@given(
    offsets=st.lists(st.floats(0, 29.9), min_size=100, max_size=100),
    changes=st.lists(deltas, min_size=100, max_size=100),
    lags=lag_lists,
    duplicate=st.booleans(),
)
def test_a_hundred_reservations_within_the_window_cost_at_most_two_pushes_ending_on_the_final_value(
    offsets: list[float], changes: list[int], lags: list[float], duplicate: bool
) -> None:
    pushes, final, scheduled = simulate(
        list(zip(offsets, changes, strict=True)), start=500, lags=lags, duplicate=duplicate
    )

    assert 1 <= len(pushes) <= 2
    assert scheduled <= 2, "every change sent its own due message"
    assert pushes[-1][1] == final


@settings(max_examples=200)
@given(
    changes=st.lists(st.tuples(st.floats(0, 600), deltas), min_size=1, max_size=60),
    lags=lag_lists,
    duplicate=st.booleans(),
)
def test_pushes_are_a_window_apart_at_least_and_the_last_one_carries_the_final_value(
    changes: list[tuple[float, int]], lags: list[float], duplicate: bool
) -> None:
    pushes, final, _ = simulate(changes, start=50, lags=lags, duplicate=duplicate)

    assert pushes[-1][1] == final
    times = [at for at, _ in pushes]
    assert all(later - earlier >= WINDOW for earlier, later in pairwise(times))
    span = max(offset for offset, _ in changes)
    assert len(pushes) <= span / WINDOW.total_seconds() + 2


def test_a_change_while_a_push_is_pending_schedules_nothing_more() -> None:
    first = on_change(SyncMarker(), now=T0, window=WINDOW)
    second = on_change(first.marker, now=T0 + timedelta(seconds=5), window=WINDOW)

    assert first.send_at == T0 + WINDOW
    assert second.send_at is None and second.marker == first.marker


def test_an_early_due_message_waits_for_the_rest_of_the_window() -> None:
    pending = on_change(SyncMarker(), now=T0, window=WINDOW).marker

    push = on_due(pending, now=T0 + timedelta(seconds=10), available=7)

    assert push.value is None and push.retry_at == T0 + WINDOW and push.marker == pending


def test_a_due_push_of_the_value_the_store_has_already_sends_nothing() -> None:
    pending = SyncMarker(not_before=T0, last_pushed=7, last_pushed_at=T0 - WINDOW)

    push = on_due(pending, now=T0, available=7)

    assert push.value is None and not push.marker.pending


def test_the_change_after_a_push_schedules_the_next_one_a_window_after_that_push() -> None:
    pushed = on_due(
        on_change(SyncMarker(), now=T0, window=WINDOW).marker, now=T0 + WINDOW, available=3
    ).marker

    schedule = on_change(pushed, now=T0 + WINDOW + timedelta(seconds=1), window=WINDOW)

    assert schedule.send_at == T0 + WINDOW * 2 + timedelta(seconds=1)
