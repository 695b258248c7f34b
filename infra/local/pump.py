"""The local event pump: Lambda's event-source semantics for a Chalice app, without AWS.

``chalice local`` serves only HTTP routes (aws/chalice#899), so on a laptop
nothing would call the app's ``@app.on_sqs_message``, ``@app.on_dynamodb_record``
and ``@app.schedule`` handlers. The pump plays the part of Lambda's event source
mappings and EventBridge schedules against any SQS / DynamoDB Streams endpoint
(moto in-process or in server mode):

* SQS: batches of up to ``batch_size`` honouring the batching window, events in
  Lambda's exact shape with the real SQS ``MessageId``, and
  ``ReportBatchItemFailures`` result handling; failed messages stay invisible
  for the queue's visibility timeout (or ``visibility_timeout_override``) and the
  queue's own RedrivePolicy moves poison messages to the DLQ (moto does this on
  receive, like SQS).
* DynamoDB Streams: shard iterators from ``starting_position``, parents before
  children, records in Lambda's shape, per-shard order, checkpointing on
  ``batchItemFailures`` and at most ``stream_max_retries`` retries of a failing
  batch before it is dropped (Lambda's MaximumRetryAttempts).
* Schedules: ``rate(...)`` and AWS ``cron(...)`` on a clock running
  ``clock_speed`` times faster than real time.

Between passes the background thread sleeps. Given an ``activity`` signal (the
local stack's moto server raises it after every write that can make work: a
message sent, an item written, an event put), it sleeps until that signal or
until the next thing it knows is due (a schedule, a held message's release, a
batching window closing, a failed message's visibility timeout, a stream batch
to retry), with a slow fallback poll for what no signal announces: an idle
stack costs next to nothing, and a message reaches its handler at once. Without
one it polls every ``poll_interval``.

Handlers are called exactly as ``chalice.test.Client`` calls them:
``app.handler_map[name](event_dict, context)``. A handler's exception is
logged on the ``oms.pump`` logger and never stops the pump.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import (
    BaseEventSourceConfig,
    Chalice,
    DynamoDBEventConfig,
    ScheduledEventConfig,
    SQSEventConfig,
)
from chalice.local import LambdaContext

from infra.local.activity import Activity
from infra.local.faults import FaultInjector, InjectedFault
from infra.local.schedule import Schedule, parse_schedule

__all__ = ["EventPump", "EventSourceError", "PumpContext"]

logger = logging.getLogger("oms.pump")

JsonDict = dict[str, Any]
#: boto3 builds its clients at run time and the project ships no stubs for them.
AwsClient = Any

_SQS_RECEIVE_MAX = 10  # SQS hands out at most 10 messages per ReceiveMessage
_SQS_DELETE_MAX = 10  # and deletes at most 10 per DeleteMessageBatch
_STREAM_READ_LIMIT = 1000  # GetRecords' own maximum
_SQS_VISIBILITY_MAX = 43200  # 12 hours, SQS's ceiling
_DEFAULT_ACCOUNT = "123456789012"  # moto's default account
_ERROR_LOG_INTERVAL = 30.0  # seconds between tracebacks for a source that keeps failing
_VISIBLE_AGAIN_MARGIN = 0.05  # seconds past a visibility timeout before looking for the message


class EventSourceError(RuntimeError):
    """A handler's queue, stream or schedule cannot be resolved when the pump is built."""


class PumpContext(LambdaContext):
    """Chalice's own local Lambda context, plus the function ARN real Lambda fills in."""

    def __init__(
        self, function_name: str, *, memory_size: int, timeout_seconds: int, function_arn: str
    ) -> None:
        super().__init__(function_name, memory_size=memory_size, max_runtime_ms=timeout_seconds * 1000)
        self.invoked_function_arn = function_arn
        self.log_group_name = f"/aws/lambda/{function_name}"


@dataclass
class _Outcome:
    result: Any
    raised: bool


@dataclass
class _SqsSource:
    name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    window: float
    # Received but not yet delivered messages, by MessageId (a message seen
    # again while the window is open replaces its older receipt handle).
    pending: dict[str, JsonDict] = field(default_factory=dict)
    window_closes_at: float | None = None
    # The queue's VisibilityTimeout, and when a message that failed here shows up again
    # (nothing signals that moment: the pump looks then).
    visibility_timeout: float = 30.0
    look_again_at: list[float] = field(default_factory=list)


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None
    iterator_type: str
    buffer: list[JsonDict] = field(default_factory=list)
    first_buffered_at: float | None = None
    last_sequence: str | None = None
    failures: int = 0
    finished: bool = False
    next_poll_at: float = 0.0


@dataclass
class _StreamSource:
    name: str
    stream_arn: str
    batch_size: int
    window: float
    starting_position: str
    shards: dict[str, _Shard] = field(default_factory=dict)
    needs_discovery: bool = False


@dataclass
class _ScheduleSource:
    name: str
    expression: str
    schedule: Schedule
    rule_arn: str
    next_fire: datetime | None


@dataclass
class _HeldMessage:
    """A failed message the pump will make visible again after a sub-second override."""

    queue_url: str
    receipt_handle: str
    release_at: float


@dataclass
class _PassResult:
    records: int = 0  # SQS and stream records delivered
    scheduled: int = 0  # scheduled events fired


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
      delivers some records twice (none by default).
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
        account_id: str = _DEFAULT_ACCOUNT,
        memory_size: int = 128,
        timeout_seconds: int = 60,
        exclude: Collection[str] = (),
        activity: Activity | None = None,
        idle_poll_interval: float = 5.0,
        faults: FaultInjector | None = None,
    ) -> None:
        if clock_speed <= 0:
            raise ValueError("clock_speed must be positive")
        if poll_interval <= 0 or stream_idle_poll_interval < 0 or idle_poll_interval <= 0:
            raise ValueError("poll intervals must be positive")
        if stream_max_retries < 0:
            raise ValueError("stream_max_retries must be 0 or more")
        override = visibility_timeout_override
        if override is not None and not 0 <= override <= _SQS_VISIBILITY_MAX:
            raise ValueError(f"visibility_timeout_override must be within 0-{_SQS_VISIBILITY_MAX} seconds")
        self._app = app
        self._sqs = sqs_client
        self._streams = streams_client
        self._dynamodb = dynamodb_client
        self._region: str = sqs_client.meta.region_name
        self._account_id = account_id
        self._stage = stage
        self._memory_size = memory_size
        self._timeout_seconds = timeout_seconds
        self._visibility_override = visibility_timeout_override
        self._stream_max_retries = stream_max_retries
        self._report_failures = report_batch_item_failures
        self._faults = faults
        self._poll_interval = poll_interval
        self._stream_idle_poll = stream_idle_poll_interval
        self._activity = activity
        self._idle_poll = idle_poll_interval
        self._wakes: dict[str, int] = {"signal": 0, "timer": 0}
        self._clock_speed = clock_speed
        self._wall_clock = wall_clock
        self._real_start = wall_clock()
        self._virtual_start = _as_utc(clock_start) if clock_start else _utc(self._real_start)

        self._held: list[_HeldMessage] = []
        self._error_logged_until: dict[str, float] = {}
        self._pass_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self._queues: list[_SqsSource] = []
        self._streams_sources: list[_StreamSource] = []
        self._schedules: dict[str, _ScheduleSource] = {}
        stream_tables = dict(stream_tables or {})
        queue_names = dict(queue_names or {})
        for source in app.event_sources:
            if source.name in exclude:
                continue
            try:
                if isinstance(source, SQSEventConfig):
                    self._queues.append(self._resolve_queue(source, queue_names.get(source.name)))
                elif isinstance(source, DynamoDBEventConfig):
                    self._streams_sources.append(self._resolve_stream(source, stream_tables.get(source.name)))
                elif isinstance(source, ScheduledEventConfig):
                    self._schedules[source.name] = self._resolve_schedule(source)
                else:
                    _log_unsupported(source)
            except (ClientError, ValueError) as error:
                # Like creating an event source mapping: a missing queue or stream is an error
                # now, named after its handler, not a silent source of nothing later.
                raise EventSourceError(f"handler {source.name!r}: {error}") from error

    # -- construction helpers ------------------------------------------------

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

    def _resolve_queue(self, source: SQSEventConfig, override: str | None) -> _SqsSource:
        if override:
            url = self._sqs.get_queue_url(QueueName=override)["QueueUrl"]
        elif source.queue:
            url = self._sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        else:
            # arn:aws:sqs:<region>:<account>:<name>
            assert source.queue_arn is not None  # Chalice insists on one of queue / queue_arn
            parts = source.queue_arn.split(":")
            url = self._sqs.get_queue_url(QueueName=parts[-1], QueueOwnerAWSAccountId=parts[-2])["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        logger.info("pumping queue %s to handler %s (batch size %d)", url, source.name, source.batch_size)
        return _SqsSource(
            name=source.name,
            queue_url=url,
            queue_arn=attributes["QueueArn"],
            batch_size=source.batch_size,
            window=float(source.maximum_batching_window_in_seconds or 0),
            visibility_timeout=float(attributes.get("VisibilityTimeout", 30)),
        )

    def _resolve_stream(self, source: DynamoDBEventConfig, table: str | None) -> _StreamSource:
        table = table or _table_from_stream_arn(source.stream_arn)
        stream_arn = source.stream_arn
        if table:
            described = self._dynamodb.describe_table(TableName=table)["Table"]
            if "LatestStreamArn" not in described:
                raise ValueError(f"table {table!r} has no stream enabled")
            stream_arn = described["LatestStreamArn"]
        stream = _StreamSource(
            name=source.name,
            stream_arn=stream_arn,
            batch_size=source.batch_size,
            window=float(source.maximum_batching_window_in_seconds or 0),
            starting_position=source.starting_position,
        )
        self._discover_shards(stream, initial=True)
        logger.info(
            "pumping stream %s to handler %s (batch size %d)", stream_arn, source.name, source.batch_size
        )
        return stream

    def _resolve_schedule(self, source: ScheduledEventConfig) -> _ScheduleSource:
        raw = source.schedule_expression
        expression = raw if isinstance(raw, str) else raw.to_string()
        schedule = parse_schedule(expression, anchor=self._virtual_start)
        rule_name = self._function_name(source.name)
        logger.info(
            "scheduling handler %s at %s (clock speed %g)", source.name, expression, self._clock_speed
        )
        return _ScheduleSource(
            name=source.name,
            expression=expression,
            schedule=schedule,
            rule_arn=f"arn:aws:events:{self._region}:{self._account_id}:rule/{rule_name}",
            next_fire=schedule.next_after(self._virtual_start),
        )

    # -- public API ------------------------------------------------------------

    def virtual_now(self) -> datetime:
        """The schedule clock: real time since the pump was built, sped up ``clock_speed`` times."""
        elapsed = (self._wall_clock() - self._real_start) * self._clock_speed
        return self._virtual_start + timedelta(seconds=elapsed)

    def run_once(self) -> int:
        """One pass over every source; returns how many records and scheduled events were delivered."""
        result = self._run_pass(honour_idle_backoff=False)
        return result.records + result.scheduled

    def run_until_idle(self, timeout: float = 10) -> None:
        """Pass until a pass delivers nothing and nothing is waiting to come back; else TimeoutError.

        "Waiting" covers failed messages still invisible, delayed messages, a
        batching window still open and stream records kept for a retry.
        Schedules keep firing meanwhile but never count as work left.
        """
        deadline = time.monotonic() + timeout
        while True:
            delivered = self._run_pass(honour_idle_backoff=False).records
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
        source = self._schedules.get(name)
        if source is None:
            raise KeyError(f"no scheduled handler named {name!r}")
        event = self._scheduled_event(source, at or self.virtual_now())
        return self._app.handler_map[name](event, self._context(name))

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
            [q.name for q in self._queues] + [s.name for s in self._streams_sources] + list(self._schedules)
        )

    def __enter__(self) -> EventPump:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- passes ----------------------------------------------------------------

    def _loop(self) -> None:
        signalled = False
        while not self._stop.is_set():
            seen = self._activity.count if self._activity is not None else 0
            try:
                # After a signal every shard is read now, idle or not: the write is there.
                delivered = self._run_pass(honour_idle_backoff=not signalled).records
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
        due = [held.release_at for held in self._held]
        for queue in self._queues:
            if queue.pending and queue.window_closes_at is not None:
                due.append(queue.window_closes_at)
            due.extend(queue.look_again_at)
        for stream in self._streams_sources:
            if stream.needs_discovery:
                due.append(now)
            for shard in stream.shards.values():
                if shard.buffer:  # a batching window, or a failed batch to retry
                    due.append((shard.first_buffered_at or now) + stream.window)
        virtual_now = self.virtual_now()
        for source in self._schedules.values():
            if source.next_fire is not None:
                due.append(now + (source.next_fire - virtual_now).total_seconds() / self._clock_speed)
        return max(0.0, min(due) - now) if due else math.inf

    def _run_pass(self, *, honour_idle_backoff: bool) -> _PassResult:
        result = _PassResult()
        with self._pass_lock:
            self._release_held_messages()
            now = time.monotonic()
            for queue in self._queues:
                queue.look_again_at = [at for at in queue.look_again_at if at > now]  # this pass looks
            # Streams first: the outbox relay feeds the queues read next in the same pass.
            for stream in self._streams_sources:
                result.records += self._guarded(
                    stream.name, functools.partial(self._poll_stream, stream, honour_idle_backoff)
                )
            for queue in self._queues:
                result.records += self._guarded(queue.name, functools.partial(self._poll_queue, queue))
            result.scheduled = self._fire_due_schedules()
        return result

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
            if self._held or any(q.pending for q in self._queues):
                return False
            for stream in self._streams_sources:
                if stream.needs_discovery or any(shard.buffer for shard in stream.shards.values()):
                    return False
            return all(sum(self._queue_counts(q).values()) == 0 for q in self._queues)

    def _queue_counts(self, queue: _SqsSource) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        response = self._sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=names)
        attributes = response["Attributes"]
        return {name: int(attributes.get(name, 0)) for name in names}

    def _describe_backlog(self) -> str:
        parts: list[str] = []
        for queue in self._queues:
            counts = {k: v for k, v in self._queue_counts(queue).items() if v}
            if counts or queue.pending:
                parts.append(f"{queue.name}: {counts}, {len(queue.pending)} in an open batching window")
        for stream in self._streams_sources:
            buffered = sum(len(shard.buffer) for shard in stream.shards.values())
            if buffered:
                parts.append(f"{stream.name}: {buffered} stream record(s) awaiting delivery or retry")
        if self._held:
            parts.append(f"{len(self._held)} failed message(s) held for visibility_timeout_override")
        return "; ".join(parts) or "nothing pending (work kept arriving)"

    # -- SQS -------------------------------------------------------------------

    def _poll_queue(self, queue: _SqsSource) -> int:
        now = time.monotonic()
        while len(queue.pending) < queue.batch_size:
            wanted = min(_SQS_RECEIVE_MAX, queue.batch_size - len(queue.pending))
            messages = self._sqs.receive_message(
                QueueUrl=queue.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                queue.pending[message["MessageId"]] = message
            if queue.pending and queue.window_closes_at is None:
                # Lambda's batching window opens with the first record it holds.
                queue.window_closes_at = now + queue.window
            if len(messages) < wanted:
                break
        if not queue.pending:
            return 0
        assert queue.window_closes_at is not None
        if len(queue.pending) < queue.batch_size and now < queue.window_closes_at:
            return 0
        batch = list(queue.pending.values())
        queue.pending.clear()
        queue.window_closes_at = None
        self._deliver_sqs_batch(queue, batch)
        return len(batch)

    def _deliver_sqs_batch(self, queue: _SqsSource, batch: list[JsonDict]) -> None:
        records = [self._sqs_record(queue, message) for message in batch]
        order_ids = [_order_id_of_sqs_record(record) for record in records]
        outcome = self._invoke(queue.name, {"Records": records}, order_ids)
        ids = [record["messageId"] for record in records]
        if outcome.raised:
            failed = set(ids)
        else:
            failed = {ids[i] for i in self._failed_positions(queue.name, outcome.result, ids)}
        done = [m for m in batch if m["MessageId"] not in failed]
        self._delete_messages(queue, done)
        retried = [m for m in batch if m["MessageId"] in failed]
        if retried and not outcome.raised:
            failed_orders = [o for o, r in zip(order_ids, records, strict=True) if r["messageId"] in failed]
            logger.warning(
                "handler %s reported %d failed message(s) for retry%s",
                queue.name,
                len(retried),
                _order_suffix(failed_orders),
                extra={"handler": queue.name, "order_ids": _present(failed_orders)},
            )
        self._apply_visibility_override(queue, retried)
        self._deliver_duplicates(queue.name, records, _order_id_of_sqs_record)

    def _sqs_record(self, queue: _SqsSource, message: JsonDict) -> JsonDict:
        record: JsonDict = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(
            md5OfBody=message["MD5OfBody"],
            eventSource="aws:sqs",
            eventSourceARN=queue.queue_arn,
            awsRegion=self._region,
        )
        return record

    def _delete_messages(self, queue: _SqsSource, messages: Sequence[JsonDict]) -> None:
        for start in range(0, len(messages), _SQS_DELETE_MAX):
            chunk = messages[start : start + _SQS_DELETE_MAX]
            response = self._sqs.delete_message_batch(
                QueueUrl=queue.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                # Usually a receipt handle gone stale because the handler outran the
                # visibility timeout: the message will be delivered again.
                logger.warning(
                    "could not delete a message of handler %s: %s",
                    queue.name,
                    failure.get("Message", failure.get("Code")),
                    extra={"handler": queue.name},
                )

    def _apply_visibility_override(self, queue: _SqsSource, messages: Sequence[JsonDict]) -> None:
        if messages:
            self._look_again_when_visible(queue)
        if self._visibility_override is None or not messages:
            return
        # ChangeMessageVisibility takes whole seconds: hide for the rounded-up time
        # and let _release_held_messages reveal the message at the exact moment.
        whole_seconds = math.ceil(self._visibility_override)
        release_at = time.monotonic() + self._visibility_override
        for message in messages:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=queue.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=whole_seconds,
                )
            except ClientError:
                logger.warning("could not change the visibility of a message of handler %s", queue.name)
                continue
            if whole_seconds > self._visibility_override:
                self._held.append(_HeldMessage(queue.queue_url, message["ReceiptHandle"], release_at))

    def _look_again_when_visible(self, queue: _SqsSource) -> None:
        """Failed messages come back when their visibility timeout ends: a moment no write
        signals, so the background thread wakes for it."""
        hidden = math.ceil(self._visibility_override) if self._visibility_override is not None else None
        seconds = queue.visibility_timeout if hidden is None else hidden
        queue.look_again_at.append(time.monotonic() + seconds + _VISIBLE_AGAIN_MARGIN)

    def _release_held_messages(self) -> None:
        now = time.monotonic()
        due = [held for held in self._held if held.release_at <= now]
        self._held = [held for held in self._held if held.release_at > now]
        for held in due:
            # Already back in the queue, moved to the DLQ or deleted: nothing to release.
            with contextlib.suppress(ClientError):
                self._sqs.change_message_visibility(
                    QueueUrl=held.queue_url, ReceiptHandle=held.receipt_handle, VisibilityTimeout=0
                )

    # -- DynamoDB Streams ---------------------------------------------------------

    def _discover_shards(self, stream: _StreamSource, *, initial: bool) -> None:
        shards: list[JsonDict] = []
        kwargs: JsonDict = {"StreamArn": stream.stream_arn}
        while True:
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in stream.shards:
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            latest = initial and stream.starting_position == "LATEST"
            state = _Shard(
                shard_id=shard_id,
                parent_id=shard.get("ParentShardId"),
                iterator=None,
                # Shards born after the pump started hold only new records: read them whole.
                iterator_type="LATEST" if latest else "TRIM_HORIZON",
                finished=latest and closed,  # LATEST never reads a shard that is already closed
            )
            if not state.finished:
                state.iterator = self._shard_iterator(stream, state)
            stream.shards[shard_id] = state
        stream.needs_discovery = False

    def _shard_iterator(self, stream: _StreamSource, shard: _Shard) -> str:
        kwargs: JsonDict = {"StreamArn": stream.stream_arn, "ShardId": shard.shard_id}
        if shard.last_sequence is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        else:
            kwargs["ShardIteratorType"] = shard.iterator_type
        iterator: str = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return iterator

    def _poll_stream(self, stream: _StreamSource, honour_idle_backoff: bool) -> int:
        if stream.needs_discovery:
            self._discover_shards(stream, initial=False)
        delivered = 0
        for shard in list(stream.shards.values()):
            parent = stream.shards.get(shard.parent_id or "")
            if shard.finished or (parent is not None and not parent.finished):
                continue  # a child shard waits until its parent is drained, as in Lambda
            delivered += self._poll_shard(stream, shard, honour_idle_backoff)
        return delivered

    def _poll_shard(self, stream: _StreamSource, shard: _Shard, honour_idle_backoff: bool) -> int:
        now = time.monotonic()
        wants_records = len(shard.buffer) < stream.batch_size and shard.iterator is not None
        if wants_records and not (honour_idle_backoff and now < shard.next_poll_at):
            self._read_shard(stream, shard, now)
        if not shard.buffer:
            if shard.iterator is None:
                # The shard is closed and drained: its children (if any) take over.
                shard.finished = True
                stream.needs_discovery = True
            return 0
        assert shard.first_buffered_at is not None
        window_open = now < shard.first_buffered_at + stream.window
        if len(shard.buffer) < stream.batch_size and shard.iterator is not None and window_open:
            return 0
        batch = shard.buffer[: stream.batch_size]
        self._deliver_stream_batch(stream, shard, batch)
        shard.first_buffered_at = now if shard.buffer else None
        return len(batch)

    def _read_shard(self, stream: _StreamSource, shard: _Shard, now: float) -> None:
        assert shard.iterator is not None
        try:
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=_STREAM_READ_LIMIT)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            # Iterators live 15 minutes in AWS: pick up after the last record read.
            shard.iterator = self._shard_iterator(stream, shard)
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=_STREAM_READ_LIMIT)
        shard.iterator = response.get("NextShardIterator")
        records = response.get("Records", [])
        if not records:
            # moto keeps every iterator it ever issued, so the background thread polls an
            # idle shard only every stream_idle_poll_interval (Lambda polls 4 times a second).
            shard.next_poll_at = now + self._stream_idle_poll
            return
        shard.buffer.extend(_lambda_stream_record(record, stream.stream_arn) for record in records)
        shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        if shard.first_buffered_at is None:
            shard.first_buffered_at = now

    def _deliver_stream_batch(self, stream: _StreamSource, shard: _Shard, batch: list[JsonDict]) -> None:
        order_ids = [_order_id_of_stream_record(record) for record in batch]
        outcome = self._invoke(stream.name, {"Records": batch}, order_ids)
        self._deliver_duplicates(stream.name, batch, _order_id_of_stream_record)
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        if outcome.raised:
            failed_at: int | None = 0
        else:
            positions = self._failed_positions(stream.name, outcome.result, sequence_numbers)
            failed_at = min(positions) if positions else None
        if failed_at is None:
            del shard.buffer[: len(batch)]
            shard.failures = 0
            return
        if failed_at > 0:
            # Checkpoint the records before the first failure; the retry starts at it.
            del shard.buffer[:failed_at]
            shard.failures = 1
        else:
            shard.failures += 1
        if shard.failures <= self._stream_max_retries:
            if not outcome.raised:  # an exception was logged with its traceback already
                logger.warning(
                    "handler %s failed stream record %s%s; retrying from it",
                    stream.name,
                    sequence_numbers[failed_at],
                    _order_suffix(order_ids[failed_at : failed_at + 1]),
                    extra={
                        "handler": stream.name,
                        "order_ids": _present(order_ids[failed_at : failed_at + 1]),
                    },
                )
            return
        # Lambda's MaximumRetryAttempts: give up on the failing batch and move on.
        dropped = len(batch) - failed_at
        del shard.buffer[:dropped]
        shard.failures = 0
        logger.error(
            "handler %s: dropping %d stream record(s) %s..%s after %d retries%s",
            stream.name,
            dropped,
            sequence_numbers[failed_at],
            sequence_numbers[-1],
            self._stream_max_retries,
            _order_suffix(order_ids[failed_at:]),
            extra={"handler": stream.name, "order_ids": _present(order_ids[failed_at:])},
        )

    # -- schedules ---------------------------------------------------------------

    def _fire_due_schedules(self) -> int:
        fired = 0
        now = self.virtual_now()
        for source in self._schedules.values():
            if source.next_fire is None or source.next_fire > now:
                continue
            self._invoke(source.name, self._scheduled_event(source, source.next_fire), [])
            fired += 1
            # A clock too fast for the poll interval coalesces missed firings into this one
            # rather than replaying a backlog that would only grow.
            source.next_fire = source.schedule.next_after(now)
        return fired

    def _scheduled_event(self, source: _ScheduleSource, moment: datetime) -> JsonDict:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [source.rule_arn],
            "detail": {},
        }

    # -- invoking ----------------------------------------------------------------

    def _function_name(self, handler: str) -> str:
        # The name `chalice deploy` gives the handler's Lambda function.
        return f"{self._app.app_name}-{self._stage}-{handler}"

    def _context(self, handler: str) -> PumpContext:
        function_name = self._function_name(handler)
        return PumpContext(
            function_name,
            memory_size=self._memory_size,
            timeout_seconds=self._timeout_seconds,
            function_arn=f"arn:aws:lambda:{self._region}:{self._account_id}:function:{function_name}",
        )

    def _invoke(
        self, name: str, event: JsonDict, order_ids: Sequence[str | None], *, injectable: bool = True
    ) -> _Outcome:
        # A JSON round trip hands the handler plain JSON values, as Lambda does.
        payload = json.loads(json.dumps(event))
        fault = self._faults.failure_for(name) if self._faults is not None and injectable else None
        if fault is InjectedFault.BEFORE:
            logger.info(
                "fault injection: handler %s failed before it ran%s",
                name,
                _order_suffix(order_ids),
                extra={"handler": name, "order_ids": _present(order_ids)},
            )
            return _Outcome(result=None, raised=True)
        started = time.monotonic()
        try:
            result = self._app.handler_map[name](payload, self._context(name))
        except Exception:
            records = payload.get("Records")
            logger.exception(
                "handler %s raised on %s%s",
                name,
                f"a batch of {len(records)} record(s)" if isinstance(records, list) else "its event",
                _order_suffix(order_ids),
                extra={"handler": name, "order_ids": _present(order_ids)},
            )
            return _Outcome(result=None, raised=True)
        elapsed = time.monotonic() - started
        if elapsed > self._timeout_seconds:
            logger.warning(
                "handler %s ran %.1fs, past its %ds Lambda timeout (Lambda would have killed it)",
                name,
                elapsed,
                self._timeout_seconds,
                extra={"handler": name},
            )
        if fault is InjectedFault.AFTER:
            # The handler's work is done and stays done; its messages are not acknowledged.
            logger.info(
                "fault injection: handler %s ran, then failed before acknowledging%s",
                name,
                _order_suffix(order_ids),
                extra={"handler": name, "order_ids": _present(order_ids)},
            )
            return _Outcome(result=result, raised=True)
        return _Outcome(result=result, raised=False)

    def _deliver_duplicates(
        self, name: str, records: Sequence[JsonDict], order_id_of: Callable[[JsonDict], str | None]
    ) -> None:
        """Deliver the injector's share of ``records`` once more (at-least-once delivery).

        The extra invocation's outcome is ignored: the original delivery decides what is
        acknowledged, and the duplicate itself is never failed, so it really reaches the handler.
        """
        if self._faults is None:
            return
        duplicates = self._faults.duplicates_of(records)
        if duplicates:
            self._invoke(
                name, {"Records": duplicates}, [order_id_of(r) for r in duplicates], injectable=False
            )

    def _failed_positions(self, name: str, result: Any, identifiers: Sequence[str]) -> list[int]:
        """Positions of the records a ReportBatchItemFailures response names; all of them if it is invalid."""
        if not self._report_failures or not isinstance(result, dict):
            return []
        failures = result.get("batchItemFailures")
        if not failures:
            return []  # a missing, null or empty list means the whole batch succeeded
        position = {identifier: i for i, identifier in enumerate(identifiers)}
        positions: list[int] = []
        if isinstance(failures, list):
            for failure in failures:
                identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
                if not isinstance(identifier, str) or identifier not in position:
                    break
                positions.append(position[identifier])
            else:
                return sorted(set(positions))
        # Lambda's rule: an unparseable response or an unknown, empty or null
        # itemIdentifier fails the whole batch.
        logger.error(
            "handler %s returned an invalid batchItemFailures response %r; the whole batch failed",
            name,
            failures,
            extra={"handler": name},
        )
        return list(range(len(identifiers)))


# -- event shapes -------------------------------------------------------------


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime means UTC here, as everywhere in EventBridge schedules.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _lambda_message_attribute(value: JsonDict) -> JsonDict:
    # Lambda lower-cases the first letter of each key and carries binary values in base64.
    attribute: JsonDict = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _lambda_attribute_value(value: JsonDict) -> JsonDict:
    # boto3 decodes B / BS to bytes; Lambda's JSON event carries them in base64.
    converted: JsonDict = {}
    for kind, inner in value.items():
        if kind == "B":
            converted[kind] = _b64(inner)
        elif kind == "BS":
            converted[kind] = [_b64(item) for item in inner]
        elif kind == "M":
            converted[kind] = {k: _lambda_attribute_value(v) for k, v in inner.items()}
        elif kind == "L":
            converted[kind] = [_lambda_attribute_value(item) for item in inner]
        else:
            converted[kind] = inner
    return converted


def _lambda_stream_record(raw: JsonDict, stream_arn: str) -> JsonDict:
    record = {key: value for key, value in raw.items() if key != "dynamodb"}
    dynamodb: JsonDict = {}
    for key, value in raw["dynamodb"].items():
        if key == "ApproximateCreationDateTime" and isinstance(value, datetime):
            # boto3 parses the epoch number into a datetime; Lambda passes the number,
            # rounded down to the second as DynamoDB Streams documents it.
            dynamodb[key] = int(value.timestamp())
        elif key in ("Keys", "NewImage", "OldImage"):
            dynamodb[key] = {name: _lambda_attribute_value(v) for name, v in value.items()}
        else:
            dynamodb[key] = value
    record["dynamodb"] = dynamodb
    record["eventSourceARN"] = stream_arn  # GetRecords leaves it out; Lambda adds it
    return record


def _table_from_stream_arn(stream_arn: str) -> str | None:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) >= 2 and parts[0] == "table":
        return parts[1]
    return None


def _log_unsupported(source: BaseEventSourceConfig) -> None:
    logger.info(
        "handler %s (%s) is not driven by the event pump",
        source.name,
        type(source).__name__,
        extra={"handler": source.name},
    )


# -- order ids for the logs -----------------------------------------------------


def _order_id_in(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("order_id"), str):
        return str(document["order_id"])
    detail = document.get("detail")  # an EventBridge envelope delivered through a queue
    if isinstance(detail, dict) and isinstance(detail.get("order_id"), str):
        return str(detail["order_id"])
    return None


def _order_id_of_sqs_record(record: JsonDict) -> str | None:
    try:
        return _order_id_in(json.loads(record["body"]))
    except (TypeError, ValueError):
        return None


def _order_id_of_stream_record(record: JsonDict) -> str | None:
    dynamodb = record.get("dynamodb", {})
    pk = dynamodb.get("Keys", {}).get("pk", {}).get("S")
    if isinstance(pk, str) and pk.startswith("ORDER#"):
        return pk.removeprefix("ORDER#").split("#", 1)[0]
    for image in ("NewImage", "OldImage"):
        order_id = dynamodb.get(image, {}).get("order_id", {}).get("S")
        if isinstance(order_id, str):
            return order_id
    return None


def _present(order_ids: Sequence[str | None]) -> list[str]:
    return list(dict.fromkeys(order_id for order_id in order_ids if order_id))


def _order_suffix(order_ids: Sequence[str | None]) -> str:
    present = _present(order_ids)
    return f" (order {', '.join(present)})" if present else ""
