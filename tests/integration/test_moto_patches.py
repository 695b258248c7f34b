"""The local stack's moto patches (infra/local/moto_server.py), checked against moto itself.

The integration conftest applies them to this process, so ``mock_aws`` here serves the same
DynamoDB as the local stack. Each test builds its own small table with a stream.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import inspect
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID, common_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.ses.models import ses_backends
from moto.sqs.models import Message as SqsMessage
from moto.sqs.models import Queue

from infra.local import moto_server
from infra.local.moto_server import SesTextTap, apply_moto_patches
from infra.local.observers import BackendObserver

REGION = "us-east-1"
TABLE = "patched"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        apply_moto_patches()  # already applied by the conftest: applying again changes nothing
        aws_client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield


def aws_client(service: str) -> Any:
    # Recent boto3 sends DynamoDB calls to account-based endpoints moto does not serve.
    return boto3.client(service, region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return aws_client("dynamodb")


@pytest.fixture
def streams(aws: None) -> Any:
    return aws_client("dynamodbstreams")


def backend() -> DynamoDBBackend:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]


def table() -> Table:
    return backend().get_table(TABLE)


def shard() -> StreamShard:
    stream_shard = table().stream_shard
    assert stream_shard is not None
    return stream_shard


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(pk: str, sk: str = "A", **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(pk, sk), **attrs}}}


def update(pk: str, sk: str = "A", by: int = 1) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(pk, sk),
            "UpdateExpression": "ADD #n :by SET note = :note",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":by": {"N": str(by)}, ":note": {"S": "updated"}},
        }
    }


def delete(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"Delete": {"TableName": TABLE, "Key": key(pk, sk)}}


def check_missing(pk: str, sk: str = "A") -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": key(pk, sk),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def seed(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}, "tags": {"L": [{"S": "x"}]}})
    dynamodb.put_item(TableName=TABLE, Item={**key("b"), "n": {"N": "2"}})
    dynamodb.put_item(TableName=TABLE, Item={**key("c"), "n": {"N": "3"}})
    dynamodb.put_item(TableName=TABLE, Item={**key("c", "B"), "n": {"N": "4"}})
    dynamodb.put_item(TableName=TABLE, Item={**key("d"), "n": {"N": "5"}})


def world(dynamodb: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Every item of the table as clients see it, and its stream as moto holds it.

    The stream is read from moto, not through GetRecords: reading moves the reader on, and
    records every reader is past are dropped (see the stream tests below).
    """
    items = sorted(
        dynamodb.scan(TableName=TABLE)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"])
    )
    records = [copy.deepcopy(record.to_json()) for record in shard().items]
    return items, records, shard().starting_sequence_number


def transact_cancelled(dynamodb: Any, items: list[dict[str, Any]], **kwargs: Any) -> list[str]:
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=items, **kwargs)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [reason["Code"] for reason in raised.value.response["CancellationReasons"]]


# -- the undo log ------------------------------------------------------------------------------


@pytest.mark.parametrize("failing_at", [0, 2, 5])
def test_a_cancelled_transaction_that_puts_updates_and_deletes_leaves_items_and_stream_as_before(
    dynamodb: Any, streams: Any, failing_at: int
) -> None:
    seed(dynamodb)
    before = world(dynamodb)
    writes = [
        put("new"),
        update("a"),
        delete("b"),
        put("c", note={"S": "replaced"}),
        update("fresh"),
        delete("c", "B"),
    ]
    writes.insert(failing_at, check_missing("d"))  # d exists: this condition fails

    codes = transact_cancelled(dynamodb, writes)

    assert codes[failing_at] == "ConditionalCheckFailed"
    assert world(dynamodb) == before


def test_a_failed_condition_on_a_write_cancels_the_writes_before_and_after_it(
    dynamodb: Any, streams: Any
) -> None:
    seed(dynamodb)
    before = world(dynamodb)
    conditional_delete = delete("b")
    conditional_delete["Delete"]["ConditionExpression"] = "n = :three"
    conditional_delete["Delete"]["ExpressionAttributeValues"] = {":three": {"N": "3"}}

    codes = transact_cancelled(dynamodb, [update("a"), conditional_delete, put("new")])

    assert codes == ["None", "ConditionalCheckFailed", "None"]
    assert world(dynamodb) == before


def test_an_error_thrown_midway_leaves_items_and_stream_as_before(
    dynamodb: Any, streams: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(dynamodb)
    before = world(dynamodb)
    real_delete = DynamoDBBackend.delete_item

    def delete_then_crash(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        real_delete(self, *args, **kwargs)
        raise KeyboardInterrupt  # not an Exception: moto's own loop does not catch it

    monkeypatch.setattr(DynamoDBBackend, "delete_item", delete_then_crash)

    with pytest.raises(KeyboardInterrupt):
        backend().transact_write_items([put("new"), update("a"), delete("b"), update("c")])

    monkeypatch.undo()
    assert world(dynamodb) == before


def test_a_validation_error_midway_leaves_items_and_stream_as_before(dynamodb: Any, streams: Any) -> None:
    seed(dynamodb)
    before = world(dynamodb)
    missing_range_key = {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "a"}}}}

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[put("new"), update("b"), missing_range_key])

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert world(dynamodb) == before


def test_a_reader_holding_an_iterator_sees_none_of_a_cancelled_transaction(
    dynamodb: Any, streams: Any
) -> None:
    seed(dynamodb)
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]

    transact_cancelled(dynamodb, [put("phantom"), check_missing("a")])
    dynamodb.transact_write_items(TransactItems=[put("real")])

    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in records] == ["real"]


def test_a_successful_transaction_applies_every_write(dynamodb: Any, streams: Any) -> None:
    seed(dynamodb)
    records_before = len(shard().items)

    dynamodb.transact_write_items(
        TransactItems=[put("new"), update("a", by=5), delete("b"), check_missing("zzz")]
    )

    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in dynamodb.scan(TableName=TABLE)["Items"]}
    assert ("new", "A") in items and ("b", "A") not in items
    assert items[("a", "A")]["n"] == {"N": "6"}
    assert len(shard().items) == records_before + 3


class DeepCopySpy:
    """Counts what ``copy.deepcopy`` copies, by type (it calls itself for every nested object)."""

    def __init__(self) -> None:
        self.copied: dict[str, int] = {}
        self._real = copy.deepcopy

    def __call__(self, value: Any, memo: Any = None, _nil: Any = None) -> Any:
        name = type(value).__name__
        self.copied[name] = self.copied.get(name, 0) + 1
        return self._real(value, memo)


def copies_made_by_one_transaction(items_in_table: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    with mock_aws():
        dynamodb = aws_client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        moto_table = table()
        for number in range(items_in_table):  # straight into moto: 10,000 API calls would be slow
            moto_table.put_item({**key(f"filler-{number}"), "n": {"N": str(number)}})
        dynamodb.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
        dynamodb.put_item(TableName=TABLE, Item={**key("b"), "n": {"N": "1"}})
        spy = DeepCopySpy()
        with monkeypatch.context() as patched:
            patched.setattr(copy, "deepcopy", spy)
            dynamodb.transact_write_items(TransactItems=[put("new"), update("a"), delete("b")])
        return spy.copied


def test_a_successful_transaction_copies_the_same_at_10_and_at_10000_items_and_never_a_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = copies_made_by_one_transaction(10, monkeypatch)
    large = copies_made_by_one_transaction(10_000, monkeypatch)

    assert small == large
    assert "Table" not in large and "StreamShard" not in large
    assert large.get("Item", 0) <= 3  # at most the touched items (put, update, delete)


# -- ClientRequestToken --------------------------------------------------------------------------


def counter(dynamodb: Any) -> int:
    item = dynamodb.get_item(TableName=TABLE, Key=key("counter"))["Item"]
    return int(item["n"]["N"])


def test_the_same_token_and_request_twice_succeeds_and_applies_once(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")
    after_first = world(dynamodb)

    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")

    assert counter(dynamodb) == 1
    assert world(dynamodb) == after_first  # nothing written, to the table or its stream


def test_the_same_token_with_another_request_is_an_idempotent_parameter_mismatch(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[update("counter", by=2)], ClientRequestToken="token-1")

    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert counter(dynamodb) == 1


def test_another_token_applies_the_same_request_again(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-2")

    assert counter(dynamodb) == 2


def test_a_token_is_forgotten_ten_minutes_after_its_request(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(moto_server, "_now", lambda: clock[0])
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")

    clock[0] += moto_server.CLIENT_TOKEN_WINDOW_SECONDS - 1
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")
    assert counter(dynamodb) == 1

    clock[0] += 2
    dynamodb.transact_write_items(TransactItems=[update("counter")], ClientRequestToken="token-1")
    assert counter(dynamodb) == 2
    assert len(backend().__dict__["_oms_client_tokens"]) == 1  # expired tokens are dropped


def test_a_cancelled_transaction_leaves_no_token_behind(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item=key("blocker"))
    writes = [update("counter"), check_missing("blocker")]
    transact_cancelled(dynamodb, writes, ClientRequestToken="token-1")
    dynamodb.delete_item(TableName=TABLE, Key=key("blocker"))

    dynamodb.transact_write_items(TransactItems=writes, ClientRequestToken="token-1")

    assert counter(dynamodb) == 1


# -- the stream: trimmed once read, 24-hour retention, iterators that expire ---------------------


def test_records_every_reader_is_past_are_dropped_and_sequence_numbers_carry_on(
    dynamodb: Any, streams: Any
) -> None:
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    iterator = iterator["ShardIterator"]
    seen: list[int] = []
    for batch in range(3):
        for number in range(5):
            dynamodb.put_item(TableName=TABLE, Item=key(f"order-{batch}-{number}"))
        response = streams.get_records(ShardIterator=iterator)
        seen += [int(record["dynamodb"]["SequenceNumber"]) for record in response["Records"]]
        iterator = response["NextShardIterator"]
        assert shard().items == []  # the only reader has read them all

    assert len(seen) == 15 and seen == list(range(seen[0], seen[0] + 15))
    dynamodb.put_item(TableName=TABLE, Item=key("late"))
    late = streams.get_records(ShardIterator=iterator)["Records"]
    assert [int(record["dynamodb"]["SequenceNumber"]) for record in late] == [seen[-1] + 1]


def test_records_a_slower_reader_still_needs_are_kept(dynamodb: Any, streams: Any) -> None:
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def horizon() -> str:
        response = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )
        return str(response["ShardIterator"])

    fast, slow = horizon(), horizon()
    for number in range(4):
        dynamodb.put_item(TableName=TABLE, Item=key(f"order-{number}"))

    assert len(streams.get_records(ShardIterator=fast)["Records"]) == 4
    assert len(streams.get_records(ShardIterator=slow)["Records"]) == 4
    assert shard().items == []


def test_a_used_iterator_is_expired_and_a_new_one_after_the_last_record_carries_on(
    dynamodb: Any, streams: Any
) -> None:
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    dynamodb.put_item(TableName=TABLE, Item=key("one"))
    first = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    with pytest.raises(ClientError) as raised:
        streams.get_records(ShardIterator=iterator["ShardIterator"])
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"

    dynamodb.put_item(TableName=TABLE, Item=key("two"))
    after = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard_id,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first[-1]["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]
    assert [
        r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=after)["Records"]
    ] == ["two"]


def test_an_unused_iterator_expires_after_fifteen_minutes(
    dynamodb: Any, streams: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(moto_server, "_now", lambda: clock[0])
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    stale = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    fresh = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    streams.get_records(ShardIterator=fresh)  # stamps both iterators with the clock's time

    clock[0] += moto_server.SHARD_ITERATOR_LIFETIME_SECONDS + 1
    with pytest.raises(ClientError) as raised:
        streams.get_records(ShardIterator=stale)

    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"
    streams_backend: DynamoDBStreamsBackend = moto.dynamodbstreams.models.dynamodbstreams_backends[
        DEFAULT_ACCOUNT_ID
    ][REGION]
    assert streams_backend.shard_iterators == {}


def test_records_older_than_24_hours_are_dropped_when_no_one_reads_them(dynamodb: Any) -> None:
    for number in range(3):
        dynamodb.put_item(TableName=TABLE, Item=key(f"old-{number}"))
    for record in shard().items:
        record.record["dynamodb"]["ApproximateCreationDateTime"] -= timedelta(hours=24, seconds=1)
    first_kept = shard().starting_sequence_number + 3

    dynamodb.put_item(TableName=TABLE, Item=key("new"))

    assert [record.record["dynamodb"]["Keys"]["pk"]["S"] for record in shard().items] == ["new"]
    assert shard().items[0].record["dynamodb"]["SequenceNumber"] == str(first_kept)


def test_a_cancelled_transaction_after_a_trim_cuts_only_its_own_records(dynamodb: Any, streams: Any) -> None:
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    dynamodb.put_item(TableName=TABLE, Item=key("read"))
    iterator = streams.get_records(ShardIterator=iterator["ShardIterator"])["NextShardIterator"]
    dynamodb.put_item(TableName=TABLE, Item=key("unread"))

    transact_cancelled(dynamodb, [put("phantom"), check_missing("read")])

    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for record in records] == ["unread"]


# -- queries on the table read one partition ------------------------------------------------------


def test_a_query_on_the_table_reads_its_partition_only_and_answers_as_before(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for sort_key in ("C", "A", "B"):
        dynamodb.put_item(TableName=TABLE, Item={**key("order-1", sort_key), "n": {"N": "1"}})
    for number in range(50):
        dynamodb.put_item(TableName=TABLE, Item=key(f"other-{number}"))
    whole_table_reads: list[str] = []
    real_all_items = moto_server._ORIGINALS["Table.all_items"]

    def counting(self: Table) -> Any:
        whole_table_reads.append(self.name)
        return real_all_items(self)

    monkeypatch.setitem(moto_server._ORIGINALS, "Table.all_items", counting)

    def query(**kwargs: Any) -> list[str]:
        response = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "order-1"}},
            **kwargs,
        )
        return [item["sk"]["S"] for item in response["Items"]]

    assert query() == ["A", "B", "C"]
    assert query(ScanIndexForward=False, Limit=2) == ["C", "B"]
    assert (
        dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "nobody"}},
        )["Items"]
        == []
    )
    assert whole_table_reads == []
    assert "nobody" not in {hash_key.value for hash_key in table().items}  # no empty partition added

    dynamodb.scan(TableName=TABLE)
    assert whole_table_reads == [TABLE]  # anything else still reads the whole table


# -- nothing kept per request beyond what is still needed -----------------------------------------


def alive(kind: type) -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, kind))


def test_stream_records_read_by_every_reader_are_freed(dynamodb: Any, streams: Any) -> None:
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    iterator = iterator["ShardIterator"]
    for number in range(20):
        dynamodb.transact_write_items(TransactItems=[put(f"order-{number}"), update(f"counter-{number}")])
        iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]

    assert alive(StreamRecord) == 0
    assert alive(ShardIterator) == 1  # the one the reader holds


def test_deleted_queue_messages_are_freed_and_their_receipts_bounded(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    for number in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {number}")
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # again: still fine

    assert alive(SqsMessage) == 0
    receipts = moto.sqs.models.sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["work"].deleted_messages
    assert isinstance(receipts, moto_server.RecentReceiptHandles)


def test_recent_receipt_handles_keep_the_newest_ones() -> None:
    receipts = moto_server.RecentReceiptHandles(limit=3)

    receipts.update(["a", "b"])
    receipts.update(["c", "d"])

    assert [handle in receipts for handle in "abcd"] == [False, True, True, True]
    assert len(receipts) == 3


# -- the patches' ground: fails when moto changes under them ------------------------------------

#: sha256 of the source of every moto function a patch replaces, wraps, mirrors or relies on, in moto 5.2.5.
#: If this fails after a moto upgrade: re-read each function, port the change into
#: infra/local/moto_server.py (or drop the patch if moto fixed it), then update the digest.
PINNED_MOTO_VERSION = "5.2.5"
PINNED_SOURCES_SHA256 = "f552fcbfb761bfc7e3c115b0e19f6d20ef69766a113a88a894fb6a6141f9fd4e"


def moto_sources_relied_on() -> str:
    from moto.dynamodb.models import table as table_module

    functions: list[Any] = [
        moto_server._ORIGINALS["DynamoDBBackend.transact_write_items"],
        moto_server._ORIGINALS["DynamoHandler.transact_write_items"],
        moto_server._ORIGINALS["StreamShard.add"],
        moto_server._ORIGINALS["DynamoDBStreamsBackend.get_records"],
        moto_server._ORIGINALS["Queue.__init__"],
        moto_server._ORIGINALS["Table.query"],
        moto_server._ORIGINALS["Table.all_items"],
        DynamoDBBackend.query,
        Queue.delete_message,
        moto_server._ORIGINALS["BaseModel.__new__"],
        StreamShard.__init__,
        StreamShard.get,
        table_module.StreamRecord.__init__,
        ShardIterator.__init__,
        ShardIterator.get,
        DynamoDBStreamsBackend.get_shard_iterator,
        DynamoDBBackend.get_keys_value,
        DynamoDBBackend.get_item,
        DynamoDBBackend.put_item,
        moto_server._ORIGINALS["DynamoDBBackend.update_item"],
        DynamoDBBackend.delete_item,
        Table.get_item,
        moto_server._ORIGINALS["Table.put_item"],
        moto_server._ORIGINALS["Table.delete_item"],
        # index queries: what marks the map, what checks and orders the candidates
        moto_server._ORIGINALS["DynamoDBBackend.execute_statement"],
        DynamoDBBackend.execute_transaction,
        DynamoDBBackend.batch_execute_statement,
        DynamoHandler.batch_write_item,
        DynamoHandler.query,
        Table.all_indexes,
        Table.get_index,
        Table.sorted_items,
        Table._generate_attr_to_sort_by,
        DynamoType.__hash__,
        DynamoType.__eq__,
    ]
    return "\n".join(inspect.getsource(function) for function in functions)


def test_moto_still_has_the_internals_the_patches_rely_on() -> None:
    assert moto.__version__ == PINNED_MOTO_VERSION
    digest = hashlib.sha256(moto_sources_relied_on().encode()).hexdigest()
    assert digest == PINNED_SOURCES_SHA256, (
        "moto changed under infra/local/moto_server.py: re-check its patches"
    )
    assert DynamoDBBackend.transact_write_items is moto_server._transact_write_items
    assert DynamoHandler.transact_write_items is moto_server._transact_write_items_response
    assert StreamShard.add is moto_server._add_stream_record
    assert DynamoDBStreamsBackend.get_records is moto_server._get_records
    assert common_models.BaseModel.__new__ is moto_server._new_model
    assert Table.query is moto_server._query
    assert Table.put_item is moto_server._table_put_item
    assert Table.delete_item is moto_server._table_delete_item
    assert DynamoDBBackend.update_item is moto_server._update_item
    assert DynamoDBBackend.execute_statement is moto_server._execute_statement


def test_the_local_mailbox_takes_each_e_mail_out_of_moto_once_written(aws: None, tmp_path: Path) -> None:
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress="orders@shop.example")
    observer = BackendObserver(
        SimpleNamespace(lock=threading.RLock(), ses_text=SesTextTap()),  # type: ignore[arg-type]
        account_id=DEFAULT_ACCOUNT_ID,
        region=REGION,
        outbox=tmp_path,
        topic_arns=[],
    )
    for number in range(3):
        ses.send_email(
            Source="orders@shop.example",
            Destination={"ToAddresses": [f"customer-{number}@example.com"]},
            Message={"Subject": {"Data": f"Order {number}"}, "Body": {"Text": {"Data": "Thanks"}}},
        )

    observer.poll()
    observer.poll()

    assert len(list(tmp_path.glob("*.eml"))) == 3
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


# -- CloudFormation change sets (make deploy-check) ---------------------------------------------

#: sha256 of the moto CloudFormation code the change-set patch wraps or relies on, in moto 5.2.5.
PINNED_CHANGE_SET_SOURCES_SHA256 = "5018536ef4cc697f88ef85bc26c781f4442b59cd87d2c61de08dba6ff28afbcf"


def test_moto_change_sets_still_work_the_way_the_patch_relies_on() -> None:
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack

    sources = "\n".join(
        inspect.getsource(function)
        for function in (
            moto_server._ORIGINALS["ChangeSet.apply"],
            ChangeSet.__init__,
            ChangeSet._parse_template,
            Stack._create_output_map,
            CloudFormationBackend.execute_change_set,
        )
    )
    assert hashlib.sha256(sources.encode()).hexdigest() == PINNED_CHANGE_SET_SOURCES_SHA256, (
        "moto's change sets changed under infra/local/moto_server.py: re-check _apply_change_set"
    )
    assert ChangeSet.apply is moto_server._apply_change_set


def test_a_stack_created_through_a_change_set_has_its_outputs(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "cs-topic"}}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    }
    cloudformation.create_change_set(
        StackName="cs", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=json.dumps(template)
    )
    cloudformation.execute_change_set(StackName="cs", ChangeSetName="one")

    [stack] = cloudformation.describe_stacks(StackName="cs")["Stacks"]
    assert [o["OutputKey"] for o in stack["Outputs"]] == ["TopicArn"]
    assert stack["Outputs"][0]["OutputValue"].endswith(":cs-topic")
