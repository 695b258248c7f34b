"""Fault injection for the local event pump: failed invocations and duplicate deliveries.

The service promises at-least-once processing with idempotent consumers. Lambda and SQS keep
that promise honest in AWS by failing now and then; the local stack, on one quiet machine, almost
never does. This module makes it fail on purpose, off by default:

* ``OMS_FAULT_RATE`` (0-1): that share of handler invocations (queue batches, stream batches,
  schedule firings) fails. Half of the failures happen **before** the handler runs (nothing was
  done: a crashed container, a throttled invocation), half **after** it ran but before its
  messages are acknowledged (everything was done, and it will all be delivered again: a timeout
  just before returning). Either way the pump treats the invocation as one that raised: SQS
  messages come back after the visibility timeout (and reach the DLQ after maxReceiveCount),
  stream batches are retried.
* ``OMS_DUPLICATE_RATE`` (0-1): that share of SQS messages and stream records is delivered one
  extra time, in a second invocation right after the first (SQS's at-least-once delivery, a
  stream batch replayed after a retry). Duplicate invocations are never failed themselves, so
  that the counts below say exactly what the handlers saw.
* ``OMS_FAULT_SEED``: seeds the choices (an integer) for reproducible runs.

While either rate is above 0, the ``oms.local.faults`` logger says
``fault injection: N failures injected, M duplicate deliveries`` every ``log_interval`` seconds
(10) and once more when the stack stops.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "ENV_DUPLICATE_RATE",
    "ENV_FAULT_RATE",
    "ENV_FAULT_SEED",
    "FaultInjector",
    "FaultSettings",
    "InjectedFault",
]

logger = logging.getLogger("oms.local.faults")

ENV_FAULT_RATE = "OMS_FAULT_RATE"
ENV_DUPLICATE_RATE = "OMS_DUPLICATE_RATE"
ENV_FAULT_SEED = "OMS_FAULT_SEED"
LOG_INTERVAL = 10.0  # seconds between summary lines while injection is on

T = TypeVar("T")


class InjectedFault(enum.Enum):
    """Where an injected failure strikes an invocation."""

    BEFORE = "before"  # the handler never runs
    AFTER = "after"  # the handler ran; its messages are not acknowledged


def _rate(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={raw!r} must be between 0 and 1")
    return value


@dataclass(frozen=True)
class FaultSettings:
    """What to inject; all zero (the default) injects nothing."""

    fault_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("fault_rate", self.fault_rate), ("duplicate_rate", self.duplicate_rate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")

    @property
    def enabled(self) -> bool:
        return self.fault_rate > 0 or self.duplicate_rate > 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultSettings:
        """Read ``OMS_FAULT_RATE``, ``OMS_DUPLICATE_RATE`` and ``OMS_FAULT_SEED``; ValueError if invalid."""
        raw_seed = env.get(ENV_FAULT_SEED, "").strip()
        try:
            seed = int(raw_seed) if raw_seed else None
        except ValueError:
            raise ValueError(f"{ENV_FAULT_SEED}={raw_seed!r} is not an integer") from None
        return cls(
            fault_rate=_rate(env, ENV_FAULT_RATE),
            duplicate_rate=_rate(env, ENV_DUPLICATE_RATE),
            seed=seed,
        )


class FaultInjector:
    """Decides, per invocation and per record, what goes wrong; counts it; reports it.

    Thread-safe: one lock guards the random generator and the counters, so a seeded run makes the
    same choices in the same order of calls.
    """

    def __init__(self, settings: FaultSettings, *, log_interval: float = LOG_INTERVAL) -> None:
        if log_interval <= 0:
            raise ValueError("log_interval must be positive")
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._lock = threading.Lock()
        self._log_interval = log_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures_before = 0
        self.failures_after = 0
        self.duplicates = 0

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def failures(self) -> int:
        return self.failures_before + self.failures_after

    def failure_for(self, handler: str) -> InjectedFault | None:
        """Whether this invocation of ``handler`` fails, and where; None (most often) if it does not."""
        if self.settings.fault_rate <= 0:
            return None
        with self._lock:
            if self._random.random() >= self.settings.fault_rate:
                return None
            if self._random.random() < 0.5:
                self.failures_before += 1
                return InjectedFault.BEFORE
            self.failures_after += 1
            return InjectedFault.AFTER

    def duplicates_of(self, records: Sequence[T]) -> list[T]:
        """The records (in order) to deliver once more; counted as delivered duplicates."""
        if self.settings.duplicate_rate <= 0 or not records:
            return []
        with self._lock:
            chosen = [record for record in records if self._random.random() < self.settings.duplicate_rate]
            self.duplicates += len(chosen)
        return chosen

    def summary(self) -> str:
        with self._lock:
            failures, duplicates = self.failures_before + self.failures_after, self.duplicates
        return f"fault injection: {failures} failures injected, {duplicates} duplicate deliveries"

    # -- the periodic report ---------------------------------------------------------------------

    def start(self) -> None:
        """Log the summary every ``log_interval`` seconds until :meth:`stop` (only when enabled)."""
        if not self.enabled or (self._thread is not None and self._thread.is_alive()):
            return
        settings = self.settings
        logger.info(
            "fault injection on: %g of invocations fail (half before, half after the handler), "
            "%g of records delivered twice, seed %s",
            settings.fault_rate,
            settings.duplicate_rate,
            "random" if settings.seed is None else settings.seed,
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._report, name="oms-local-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the periodic report and log the final figures (only when enabled)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.enabled:
            logger.info("%s (final)", self.summary())

    def _report(self) -> None:
        while not self._stop.wait(self._log_interval):
            logger.info(self.summary())
