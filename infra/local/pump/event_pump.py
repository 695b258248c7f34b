"""The event pump itself: builds the sources, runs passes, and sleeps between them until woken."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import Chalice, DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

from infra.local.activity import Activity
from infra.local.faults import FaultInjector
from infra.local.pump.invoker import Invoker
from infra.local.pump.queues import SQS_VISIBILITY_MAX, QueueDelivery
from infra.local.pump.schedules import Schedules
from infra.local.pump.shapes import DEFAULT_ACCOUNT, AwsClient, as_utc, log_unsupported, utc
from infra.local.pump.streams import StreamDelivery

logger = logging.getLogger("oms.pump")

_ERROR_LOG_INTERVAL = 30.0  # seconds between tracebacks for a source that keeps failing


class EventSourceError(RuntimeError):
    """A handler's queue, stream or schedule cannot be resolved when the pump is built."""


class EventPump:
    """Drives a Chalice app's queue, stream and schedule handlers the way Lambda would.

    The clients may point at moto in-process (``mock_aws``) or at a moto server.
    With recent boto3 the DynamoDB and Streams clients need
    ``Config(account_id_endpoint_mode="disabled")`` against moto;
    :meth:`for_endpoint` builds all three clients that way.

    Queue names come from the decorators (``queue=`` or ``queue_arn=``) unless
    ``queue_names`` maps a handler to another name. A stream handler reads the
    live stream of the table named in ``stream_tables`` (or, failing that, the
    table named in the decorator's ARN), so a placeholder ARN in the decorator
    still works. Sources are resolved when the pump is built, which is also the
    moment a ``LATEST`` stream handler starts reading from, as when Lambda
    creates an event source mapping.

    Options beyond the clients:

    * ``clock_speed``: how much faster than real time the schedule clock runs;
      ``clock_start`` (UTC) is where it starts, ``wall_clock`` what it counts
      real time with (tests pass a fake).
    * ``visibility_timeout_override``: seconds a failed message stays invisible
      (fractions allowed) instead of the queue's VisibilityTimeout.
    * ``stream_max_retries``: retries of a failing stream batch before it is
      dropped (Lambda's MaximumRetryAttempts).
    * ``report_batch_item_failures``: False reads handler results the way Lambda
      does without ``FunctionResponseTypes: [ReportBatchItemFailures]``.
    * ``poll_interval``: the background thread's pause after an idle pass;
      ``stream_idle_poll_interval``: how often it polls an idle shard.
    * ``activity``: a signal the endpoint raises after each write; the thread
      then sleeps until it (or something due) instead of polling, and polls
      only every ``idle_poll_interval`` as a fallback. ``wake_counts`` says what
      woke it.
    * ``stage``, ``account_id``, ``memory_size``, ``timeout_seconds``: what the
      Lambda context and the ARNs in events say (function ``<app>-<stage>-<handler>``).
    * ``exclude``: handler names to leave alone.
    * ``faults``: a :class:`~infra.local.faults.FaultInjector` that fails some invocations and
      delivers some records twice (none by default; settable later as :attr:`faults`).
    """

    def __init__(
        self,
        app: Chalice,
        *,
        sqs_client: AwsClient,
        streams_client: AwsClient,
        dynamodb_client: AwsClient,
        clock_speed: float = 1.0,
        stream_tables: Mapping[str, str] | None = None,
        queue_names: Mapping[str, str] | None = None,
        visibility_timeout_override: float | None = None,
        stream_max_retries: int = 3,
        report_batch_item_failures: bool = True,
        poll_interval: float = 0.05,
        stream_idle_poll_interval: float = 0.5,
        clock_start: datetime | None = None,
        wall_clock: Callable[[], float] = time.time,
        stage: str = "dev",
        account_id: str = DEFAULT_ACCOUNT,
        memory_size: int = 128,
        timeout_seconds: int = 60,
        exclude: Collection[str] = (),
        activity: Activity | None = None,
        idle_poll_interval: float = 5.0,
        faults: FaultInjector | None = None,
    ) -> None:
        _check_options(
            clock_speed=clock_speed,
            intervals=(poll_interval, stream_idle_poll_interval, idle_poll_interval),
            stream_max_retries=stream_max_retries,
            visibility_timeout_override=visibility_timeout_override,
        )
        self._poll_interval = poll_interval
        self._activity = activity
        self._idle_poll = idle_poll_interval
        self._wakes: dict[str, int] = {"signal": 0, "timer": 0}
        self._clock_speed = clock_speed
        self._wall_clock = wall_clock
        self._real_start = wall_clock()
        self._virtual_start = as_utc(clock_start) if clock_start else utc(self._real_start)

        self._error_logged_until: dict[str, float] = {}
        self._pass_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self._invoker = Invoker(
            app=app,
            region=sqs_client.meta.region_name,
            account_id=account_id,
            stage=stage,
            memory_size=memory_size,
            timeout_seconds=timeout_seconds,
            report_failures=report_batch_item_failures,
            faults=faults,
        )
        self._queues = QueueDelivery(sqs_client, self._invoker, visibility_timeout_override)
        self._streams = StreamDelivery(
            streams_client,
            dynamodb_client,
            self._invoker,
            max_retries=stream_max_retries,
            idle_poll=stream_idle_poll_interval,
        )
        self._schedules = Schedules(
            self._invoker,
            virtual_start=self._virtual_start,
            virtual_now=self.virtual_now,
            clock_speed=clock_speed,
        )
        self._add_sources(app, dict(stream_tables or {}), dict(queue_names or {}), exclude)

    def _add_sources(
        self,
        app: Chalice,
        stream_tables: dict[str, str],
        queue_names: dict[str, str],
        exclude: Collection[str],
    ) -> None:
        for source in app.event_sources:
            if source.name in exclude:
                continue
            try:
                if isinstance(source, SQSEventConfig):
                    self._queues.add(source, queue_names.get(source.name))
                elif isinstance(source, DynamoDBEventConfig):
                    self._streams.add(source, stream_tables.get(source.name))
                elif isinstance(source, ScheduledEventConfig):
                    self._schedules.add(source)
                else:
                    log_unsupported(source)
            except (ClientError, ValueError) as error:
                # Like creating an event source mapping: a missing queue or stream is an error
                # now, named after its handler, not a silent source of nothing later.
                raise EventSourceError(f"handler {source.name!r}: {error}") from error

    @classmethod
    def for_endpoint(
        cls, app: Chalice, *, endpoint_url: str | None, region_name: str, **options: Any
    ) -> EventPump:
        """Build the pump with its three clients for one endpoint (a moto server's URL, or None)."""
        import boto3

        # Recent boto3 resolves account-based DynamoDB endpoints, which moto does not serve.
        dynamo_config = Config(account_id_endpoint_mode="disabled")
        return cls(
            app,
            sqs_client=boto3.client("sqs", endpoint_url=endpoint_url, region_name=region_name),
            streams_client=boto3.client(
                "dynamodbstreams", endpoint_url=endpoint_url, region_name=region_name, config=dynamo_config
            ),
            dynamodb_client=boto3.client(
                "dynamodb", endpoint_url=endpoint_url, region_name=region_name, config=dynamo_config
            ),
            **options,
        )

    # -- public API ------------------------------------------------------------

    def virtual_now(self) -> datetime:
        """The schedule clock: real time since the pump was built, sped up ``clock_speed`` times."""
        elapsed = (self._wall_clock() - self._real_start) * self._clock_speed
        return self._virtual_start + timedelta(seconds=elapsed)

    @property
    def faults(self) -> FaultInjector | None:
        """The fault injector in use (None: no faults); set it to change what later passes inject."""
        return self._invoker.faults

    @faults.setter
    def faults(self, faults: FaultInjector | None) -> None:
        self._invoker.faults = faults

    def run_once(self) -> int:
        """One pass over every source; returns how many records and scheduled events were delivered."""
        records, scheduled = self._run_pass(honour_idle_backoff=False)
        return records + scheduled

    def run_until_idle(self, timeout: float = 10) -> None:
        """Pass until a pass delivers nothing and nothing is waiting to come back; else TimeoutError.

        "Waiting" covers failed messages still invisible, delayed messages, a
        batching window still open and stream records kept for a retry.
        Schedules keep firing meanwhile but never count as work left.
        """
        deadline = time.monotonic() + timeout
        while True:
            delivered, _ = self._run_pass(honour_idle_backoff=False)
            if delivered == 0 and self._is_idle():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"event pump still busy after {timeout}s: {self._describe_backlog()}")
            if delivered == 0:
                time.sleep(min(self._poll_interval, remaining))

    def fire_schedule(self, name: str, *, at: datetime | None = None) -> Any:
        """Invoke one scheduled handler now with its scheduled event; returns what it returns.

        Unlike a firing by the pump's clock, an exception propagates to the caller.
        """
        return self._schedules.fire(name, at or self.virtual_now())

    def start(self) -> None:
        """Run passes in a background daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the event pump is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="oms-event-pump", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the background thread to finish its current pass and wait for it."""
        self._stop.set()
        if self._activity is not None:
            self._activity.signal()  # end its wait now (other waiters just look once more)
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            # Keep the reference: start() must not run a second thread beside this one.
            raise TimeoutError(f"the event pump did not stop within {timeout}s: a handler is still running")
        self._thread = None

    @property
    def wake_counts(self) -> dict[str, int]:
        """How often the background thread woke from its wait on the ``activity`` signal
        (``signal``) and how often because its timeout ran out (``timer``)."""
        return dict(self._wakes)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def handler_names(self) -> list[str]:
        """The handlers this pump drives, in registration order per kind."""
        return (
            [q.name for q in self._queues.queues]
            + [s.name for s in self._streams.streams]
            + list(self._schedules.sources)
        )

    def __enter__(self) -> EventPump:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the background thread: a pass, then sleep until woken -------------------------------

    def _loop(self) -> None:
        signalled = False
        while not self._stop.is_set():
            seen = self._activity.count if self._activity is not None else 0
            try:
                # After a signal every shard is read now, idle or not: the write is there.
                delivered, _ = self._run_pass(honour_idle_backoff=not signalled)
            except Exception:
                # The thread must outlive a bad pass (endpoint restarting, a bug in a
                # conversion): log it and try again after the poll interval.
                logger.exception("event pump pass failed")
                delivered = 0
            if delivered:
                # Handlers write too: look again at once, at every shard if they did.
                signalled = self._activity is not None and self._activity.count != seen
            else:
                signalled = self._wait(seen)

    def _wait(self, seen: int) -> bool:
        """Sleep after an idle pass; True when the activity signal ended the sleep."""
        if self._activity is None:
            self._stop.wait(self._poll_interval)
            return False
        timeout = min(self._idle_poll, self._seconds_until_due())
        if timeout <= 0:
            # Due already, yet the pass just made did nothing about it: the endpoint is failing
            # (the pass logged it). Poll at the usual pace rather than spin.
            timeout = self._poll_interval
        woken = self._activity.wait(seen, timeout)
        self._wakes["signal" if woken else "timer"] += 1
        return woken

    def _seconds_until_due(self) -> float:
        """Until the next thing a pass has to do that no write will signal."""
        now = time.monotonic()
        due = self._queues.due_times() + self._streams.due_times(now) + self._schedules.due_times(now)
        return max(0.0, min(due) - now) if due else math.inf

    def _run_pass(self, *, honour_idle_backoff: bool) -> tuple[int, int]:
        """One pass; returns (SQS and stream records delivered, scheduled events fired)."""
        records = 0
        with self._pass_lock:
            self._queues.start_pass()
            # Streams first: the outbox relay feeds the queues read next in the same pass.
            for stream in self._streams.streams:
                poll = functools.partial(self._streams.poll, stream, honour_idle_backoff)
                records += self._guarded(stream.name, poll)
            for queue in self._queues.queues:
                records += self._guarded(queue.name, functools.partial(self._queues.poll, queue))
            scheduled = self._schedules.fire_due()
        return records, scheduled

    def _guarded(self, name: str, poll: Callable[[], int]) -> int:
        try:
            result = poll()
        except (ClientError, BotoCoreError):
            # An endpoint error on one source must not starve the others. A stopped
            # endpoint fails every pass, so the traceback is logged once per
            # _ERROR_LOG_INTERVAL rather than twenty times a second.
            now = time.monotonic()
            if now >= self._error_logged_until.get(name, 0.0):
                self._error_logged_until[name] = now + _ERROR_LOG_INTERVAL
                logger.exception("polling the source of handler %s failed", name, extra={"handler": name})
            return 0
        self._error_logged_until.pop(name, None)
        return result

    def _is_idle(self) -> bool:
        with self._pass_lock:
            if self._queues.holds_anything() or self._streams.holds_anything():
                return False
            return all(sum(self._queues.counts(q).values()) == 0 for q in self._queues.queues)

    def _describe_backlog(self) -> str:
        parts = (
            self._queues.describe_backlog() + self._streams.describe_backlog() + self._queues.describe_held()
        )
        return "; ".join(parts) or "nothing pending (work kept arriving)"


def _check_options(
    *,
    clock_speed: float,
    intervals: tuple[float, float, float],
    stream_max_retries: int,
    visibility_timeout_override: float | None,
) -> None:
    poll_interval, stream_idle_poll_interval, idle_poll_interval = intervals
    if clock_speed <= 0:
        raise ValueError("clock_speed must be positive")
    if poll_interval <= 0 or stream_idle_poll_interval < 0 or idle_poll_interval <= 0:
        raise ValueError("poll intervals must be positive")
    if stream_max_retries < 0:
        raise ValueError("stream_max_retries must be 0 or more")
    override = visibility_timeout_override
    if override is not None and not 0 <= override <= SQS_VISIBILITY_MAX:
        raise ValueError(f"visibility_timeout_override must be within 0-{SQS_VISIBILITY_MAX} seconds")
