"""DynamoDB Streams event source mappings: the stream relay's shards, batches and retries.

Shard iterators start from ``starting_position``; parents are drained before their children;
records reach the handler in Lambda's shape and in per-shard order; a ``batchItemFailures``
answer checkpoints the records before the first failure, and a batch that keeps failing is
dropped after ``max_retries`` retries (Lambda's MaximumRetryAttempts).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from chalice.app import DynamoDBEventConfig

from infra.local.pump.invoker import Invoker
from infra.local.pump.shapes import (
    AwsClient,
    JsonDict,
    lambda_stream_record,
    order_id_of_stream_record,
    order_suffix,
    present,
    table_from_stream_arn,
)

logger = logging.getLogger("oms.pump")

_STREAM_READ_LIMIT = 1000  # GetRecords' own maximum


@dataclass
class Shard:
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
class StreamSource:
    name: str
    stream_arn: str
    batch_size: int
    window: float
    starting_position: str
    shards: dict[str, Shard] = field(default_factory=dict)
    needs_discovery: bool = False


class StreamDelivery:
    """Every stream the pump drives.

    ``idle_poll``: how often an idle shard is read again (moto keeps every iterator it ever
    issued, so reading an idle shard 20 times a second would grow its memory for nothing).
    """

    def __init__(
        self,
        streams_client: AwsClient,
        dynamodb_client: AwsClient,
        invoker: Invoker,
        *,
        max_retries: int,
        idle_poll: float,
    ) -> None:
        self._streams = streams_client
        self._dynamodb = dynamodb_client
        self._invoker = invoker
        self._max_retries = max_retries
        self._idle_poll = idle_poll
        self.streams: list[StreamSource] = []

    def add(self, source: DynamoDBEventConfig, table: str | None) -> None:
        """Resolve a handler's stream (the live stream of ``table``, else of the table in its ARN)."""
        table = table or table_from_stream_arn(source.stream_arn)
        stream_arn = source.stream_arn
        if table:
            described = self._dynamodb.describe_table(TableName=table)["Table"]
            if "LatestStreamArn" not in described:
                raise ValueError(f"table {table!r} has no stream enabled")
            stream_arn = described["LatestStreamArn"]
        stream = StreamSource(
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
        self.streams.append(stream)

    # -- what the pump asks between passes ------------------------------------------------------

    def due_times(self, now: float) -> list[float]:
        """Moments (``time.monotonic``) at which a pass has work here that no write will signal."""
        due: list[float] = []
        for stream in self.streams:
            if stream.needs_discovery:
                due.append(now)
            for shard in stream.shards.values():
                if shard.buffer:  # a batching window, or a failed batch to retry
                    due.append((shard.first_buffered_at or now) + stream.window)
        return due

    def holds_anything(self) -> bool:
        return any(
            stream.needs_discovery or any(shard.buffer for shard in stream.shards.values())
            for stream in self.streams
        )

    def describe_backlog(self) -> list[str]:
        parts: list[str] = []
        for stream in self.streams:
            buffered = sum(len(shard.buffer) for shard in stream.shards.values())
            if buffered:
                parts.append(f"{stream.name}: {buffered} stream record(s) awaiting delivery or retry")
        return parts

    # -- reading -------------------------------------------------------------------------------

    def poll(self, stream: StreamSource, honour_idle_backoff: bool) -> int:
        """Read and deliver what every readable shard holds. Returns records delivered."""
        if stream.needs_discovery:
            self._discover_shards(stream, initial=False)
        delivered = 0
        for shard in list(stream.shards.values()):
            parent = stream.shards.get(shard.parent_id or "")
            if shard.finished or (parent is not None and not parent.finished):
                continue  # a child shard waits until its parent is drained, as in Lambda
            delivered += self._poll_shard(stream, shard, honour_idle_backoff)
        return delivered

    def _discover_shards(self, stream: StreamSource, *, initial: bool) -> None:
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
            state = Shard(
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

    def _shard_iterator(self, stream: StreamSource, shard: Shard) -> str:
        kwargs: JsonDict = {"StreamArn": stream.stream_arn, "ShardId": shard.shard_id}
        if shard.last_sequence is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        else:
            kwargs["ShardIteratorType"] = shard.iterator_type
        iterator: str = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return iterator

    def _poll_shard(self, stream: StreamSource, shard: Shard, honour_idle_backoff: bool) -> int:
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
        self._deliver(stream, shard, batch)
        shard.first_buffered_at = now if shard.buffer else None
        return len(batch)

    def _read_shard(self, stream: StreamSource, shard: Shard, now: float) -> None:
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
            shard.next_poll_at = now + self._idle_poll
            return
        shard.buffer.extend(lambda_stream_record(record, stream.stream_arn) for record in records)
        shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        if shard.first_buffered_at is None:
            shard.first_buffered_at = now

    # -- delivering, checkpoints and retries -----------------------------------------------------

    def _deliver(self, stream: StreamSource, shard: Shard, batch: list[JsonDict]) -> None:
        order_ids = [order_id_of_stream_record(record) for record in batch]
        outcome = self._invoker.invoke(stream.name, {"Records": batch}, order_ids)
        self._invoker.deliver_duplicates(stream.name, batch, order_id_of_stream_record)
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        if outcome.raised:
            failed_at: int | None = 0
        else:
            positions = self._invoker.failed_positions(stream.name, outcome.result, sequence_numbers)
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
        if shard.failures <= self._max_retries:
            if not outcome.raised:  # an exception was logged with its traceback already
                failing = order_ids[failed_at : failed_at + 1]
                logger.warning(
                    "handler %s failed stream record %s%s; retrying from it",
                    stream.name,
                    sequence_numbers[failed_at],
                    order_suffix(failing),
                    extra={"handler": stream.name, "order_ids": present(failing)},
                )
            return
        self._drop(stream, shard, failed_at, sequence_numbers, order_ids)

    def _drop(
        self,
        stream: StreamSource,
        shard: Shard,
        failed_at: int,
        sequence_numbers: list[str],
        order_ids: list[str | None],
    ) -> None:
        """Lambda's MaximumRetryAttempts: give up on the failing batch and move on."""
        dropped = len(sequence_numbers) - failed_at
        del shard.buffer[:dropped]
        shard.failures = 0
        logger.error(
            "handler %s: dropping %d stream record(s) %s..%s after %d retries%s",
            stream.name,
            dropped,
            sequence_numbers[failed_at],
            sequence_numbers[-1],
            self._max_retries,
            order_suffix(order_ids[failed_at:]),
            extra={"handler": stream.name, "order_ids": present(order_ids[failed_at:])},
        )
