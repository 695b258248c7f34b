"""Queries on an index in the local stack's moto (infra/local/moto_server.py) read the matching items only.

The patch keeps, per table, a map from each index's partition-key value to the items carrying it,
marked by every write and refreshed at the next index query. A stale entry is harmless (moto checks
every candidate); a missing one would lose an item. So a state machine runs random writes of every
kind on a table shaped like the service's (gsi1..gsi6, string keys) and checks that every index
query answers exactly what unpatched moto answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from infra.local import moto_server
from infra.local.moto_server import apply_moto_patches

REGION = "us-east-1"
TABLE = "indexed"
#: The service table's indexes (infra/template.yaml): gsi1..gsi5 with a sort key, gsi6 without.
INDEXES = {f"gsi{number}": (f"gsi{number}pk", f"gsi{number}sk") for number in range(1, 6)} | {
    "gsi6": ("gsi6pk", None)
}
KEY_ATTRIBUTES = [attribute for keys in INDEXES.values() for attribute in keys if attribute is not None]
PARTITIONS = ["a", "b", "c"]  # few values: items keep moving between an index's partitions
SORT_VALUES = ["1", "2", "3"]
ITEM_HASHES = [f"item-{number}" for number in range(6)]
ITEM_RANGES = ["A", "B"]


def client() -> Any:
    # Recent boto3 sends DynamoDB calls to account-based endpoints moto does not serve.
    return boto3.client("dynamodb", region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))


def create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ["pk", "sk", *KEY_ATTRIBUTES]
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": hash_attribute, "KeyType": "HASH"}]
                + ([{"AttributeName": range_attribute, "KeyType": "RANGE"}] if range_attribute else []),
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, (hash_attribute, range_attribute) in INDEXES.items()
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def table() -> Table:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLE)


def key(item_hash: str, item_range: str) -> dict[str, Any]:
    return {"pk": {"S": item_hash}, "sk": {"S": item_range}}


def index_query(query: Any, index: str, partition: str, *, limit: int | None, forward: bool) -> Any:
    """One ``Table.query`` on ``index`` as moto's backend makes it, through ``query``."""
    hash_attribute = INDEXES[index][0]
    results, scanned, last_key = query(
        table(),
        None,
        None,
        [],
        limit,
        None,
        forward,
        None,
        index,
        hash_key_conditions=[(hash_attribute, DynamoType({"S": partition}))],
    )
    return [item.to_json() for item in results], scanned, last_key


keys = st.tuples(st.sampled_from(ITEM_HASHES), st.sampled_from(ITEM_RANGES))
#: For each index key attribute: a value, or None (left out of a put, removed by an update).
index_attributes = st.fixed_dictionaries(
    {
        attribute: st.one_of(
            st.none(), st.sampled_from(PARTITIONS if attribute.endswith("pk") else SORT_VALUES)
        )
        for attribute in KEY_ATTRIBUTES
    }
)


def put_request(item_key: tuple[str, str], attributes: dict[str, str | None], note: int) -> dict[str, Any]:
    item = {**key(*item_key), "note": {"N": str(note)}}
    item.update({name: {"S": value} for name, value in attributes.items() if value is not None})
    return {"TableName": TABLE, "Item": item}


def update_request(item_key: tuple[str, str], attributes: dict[str, str | None]) -> dict[str, Any]:
    """SET the attributes with a value, REMOVE the others: moves the item between partitions."""
    names = {f"#a{number}": name for number, name in enumerate(attributes)}
    values = {f":v{number}": {"S": value} for number, value in enumerate(attributes.values()) if value}
    sets = [f"#a{number} = :v{number}" for number, value in enumerate(attributes.values()) if value]
    removes = [f"#a{number}" for number, value in enumerate(attributes.values()) if not value]
    expression = " ".join(
        part
        for part in (
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        )
        if part
    )
    request: dict[str, Any] = {
        "TableName": TABLE,
        "Key": key(*item_key),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    return request


write = st.one_of(
    st.builds(lambda k, a: ("Put", put_request(k, a, 0)), keys, index_attributes),
    st.builds(lambda k, a: ("Update", update_request(k, a)), keys, index_attributes),
    st.builds(lambda k: ("Delete", {"TableName": TABLE, "Key": key(*k)}), keys),
)


class IndexQueriesMatchMoto(RuleBasedStateMachine):
    """Random writes of every kind; every index query answers what moto's own walk answers."""

    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        apply_moto_patches()
        self.dynamodb = client()
        create_table(self.dynamodb)
        self.queried = False

    def teardown(self) -> None:
        self.mock.stop()

    @initialize()
    def some_items_before_the_first_query(self) -> None:
        self.dynamodb.put_item(**put_request(("item-0", "A"), dict.fromkeys(KEY_ATTRIBUTES, "a"), 0))

    @rule(item_key=keys, attributes=index_attributes, note=st.integers(0, 9))
    def put(self, item_key: tuple[str, str], attributes: dict[str, str | None], note: int) -> None:
        self.dynamodb.put_item(**put_request(item_key, attributes, note))

    @rule(item_key=keys, attributes=index_attributes)
    def update(self, item_key: tuple[str, str], attributes: dict[str, str | None]) -> None:
        self.dynamodb.update_item(**update_request(item_key, attributes))

    @rule(item_key=keys, attributes=index_attributes, holds=st.booleans())
    def conditional_update(
        self, item_key: tuple[str, str], attributes: dict[str, str | None], holds: bool
    ) -> None:
        request = update_request(item_key, attributes)
        request["ConditionExpression"] = (
            "attribute_exists(pk)" if holds else "attribute_not_exists(nothing) AND pk = :never"
        )
        request.setdefault("ExpressionAttributeValues", {})
        if not holds:
            request["ExpressionAttributeValues"][":never"] = {"S": "never"}
        try:
            self.dynamodb.update_item(**request)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

    @rule(item_key=keys)
    def delete(self, item_key: tuple[str, str]) -> None:
        self.dynamodb.delete_item(TableName=TABLE, Key=key(*item_key))

    @rule(writes=st.lists(write, min_size=1, max_size=5), cancelled=st.booleans())
    def transaction(self, writes: list[tuple[str, dict[str, Any]]], cancelled: bool) -> None:
        by_key: dict[str, dict[str, Any]] = {}
        for operation, request in writes:  # one write per item in a transaction
            item_key = request.get("Key") or {name: request["Item"][name] for name in ("pk", "sk")}
            by_key[repr(item_key)] = {operation: request}
        items = list(by_key.values())
        if cancelled:  # a condition on a key nobody writes that never holds: all of it undone
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("no-such-item", "A"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        try:
            self.dynamodb.transact_write_items(TransactItems=items)
        except ClientError as error:
            assert cancelled
            assert error.response["Error"]["Code"] == "TransactionCanceledException"
        else:
            assert not cancelled

    @rule(
        puts=st.lists(st.tuples(keys, index_attributes), max_size=4, unique_by=lambda put: put[0]),
        deletes=st.lists(keys, max_size=3, unique=True),
    )
    def batch_write(
        self, puts: list[tuple[tuple[str, str], dict[str, str | None]]], deletes: list[tuple[str, str]]
    ) -> None:
        requests = [{"PutRequest": {"Item": put_request(k, a, 1)["Item"]}} for k, a in puts]
        requests += [{"DeleteRequest": {"Key": key(*k)}} for k in deletes if k not in {k for k, _ in puts}]
        if requests:
            self.dynamodb.batch_write_item(RequestItems={TABLE: requests})

    @rule(item_key=keys, partition=st.sampled_from(PARTITIONS))
    def partiql_insert(self, item_key: tuple[str, str], partition: str) -> None:
        # moto's PartiQL parser takes no parameters in an INSERT; the values are plain words here
        values = (
            f"'pk': '{item_key[0]}', 'sk': '{item_key[1]}', 'gsi1pk': '{partition}', 'gsi6pk': '{partition}'"
        )
        try:
            self.dynamodb.execute_statement(Statement=f'INSERT INTO "{TABLE}" VALUE {{{values}}}')
        except ClientError as error:  # the item is there already
            assert error.response["Error"]["Code"] == "DuplicateItemException"

    @rule(item_key=keys)
    def partiql_delete(self, item_key: tuple[str, str]) -> None:
        # moto's PartiQL parser takes no parameters in a DELETE; the keys are plain words here
        self.dynamodb.execute_statement(
            Statement=f"DELETE FROM \"{TABLE}\" WHERE pk = '{item_key[0]}' AND sk = '{item_key[1]}'"
        )

    @rule(limit=st.sampled_from([None, 1, 2]), forward=st.booleans())
    def every_index_query_answers_as_moto_does(self, limit: int | None, forward: bool) -> None:
        self.queried = True
        unpatched = moto_server._ORIGINALS["Table.query"]
        for index in INDEXES:
            for partition in PARTITIONS:
                patched_answer = index_query(Table.query, index, partition, limit=limit, forward=forward)
                moto_answer = index_query(unpatched, index, partition, limit=limit, forward=forward)
                assert patched_answer == moto_answer, (index, partition)

    @precondition(lambda self: self.queried)
    @rule()
    def the_map_holds_every_item_carrying_an_index_key(self) -> None:
        keys_map = moto_server.index_keys(table())
        for item in table().all_items():
            for index, (hash_attribute, _) in INDEXES.items():
                value = item.attrs.get(hash_attribute)
                if value is not None:
                    assert (item.hash_key, item.range_key) in keys_map.candidates(index, value)


IndexQueriesMatchMoto.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_index_queries_answer_what_moto_answers_after_any_writes = IndexQueriesMatchMoto.TestCase


# -- what an index query touches -----------------------------------------------------------------


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        apply_moto_patches()
        dynamodb = client()
        create_table(dynamodb)
        yield dynamodb


def test_an_index_query_at_10000_items_touches_only_the_matching_items(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(10_000):
        table().put_item(
            {
                **key(f"order-{number}", "A"),
                "gsi1pk": {"S": f"STATUS#placed#{number % 10}"},
                "gsi1sk": {"S": f"{number:05d}"},
                "gsi6pk": {"S": f"fulfillment-{number}"},
            }
        )

    def query(index: str, attribute: str, value: str) -> list[str]:
        response = dynamodb.query(
            TableName=TABLE,
            IndexName=index,
            KeyConditionExpression=f"{attribute} = :value",
            ExpressionAttributeValues={":value": {"S": value}},
        )
        return [item["pk"]["S"] for item in response["Items"]]

    query("gsi6", "gsi6pk", "fulfillment-1")  # the first index query builds the table's map
    dynamodb.put_item(TableName=TABLE, Item={**key("order-new", "A"), "gsi6pk": {"S": "fulfillment-7"}})
    whole_table_walks: list[str] = []
    items_read: list[Any] = []
    handed_to_moto: list[int] = []
    real_all_items = moto_server._ORIGINALS["Table.all_items"]
    real_item_at = moto_server._item_at
    real_every_item = moto_server._every_item

    def counting_all_items(self: Table) -> Any:
        whole_table_walks.append("all_items")
        return real_all_items(self)

    def counting_item_at(table: Table, primary_key: Any) -> Any:
        items_read.append(primary_key)
        return real_item_at(table, primary_key)

    def counting_every_item(table: Table) -> Any:
        whole_table_walks.append("rebuild")
        return real_every_item(table)

    def counting_scope(table: Table, items: list[Any], *args: Any) -> Any:
        handed_to_moto.append(len(items))
        return real_scope(table, items, *args)

    real_scope = moto_server._query_scoped
    monkeypatch.setitem(moto_server._ORIGINALS, "Table.all_items", counting_all_items)
    monkeypatch.setattr(moto_server, "_item_at", counting_item_at)
    monkeypatch.setattr(moto_server, "_every_item", counting_every_item)
    monkeypatch.setattr(moto_server, "_query_scoped", counting_scope)

    assert query("gsi6", "gsi6pk", "fulfillment-7") == ["order-7", "order-new"]
    assert len(items_read) == 1 + 2  # the key written since (refreshed), then the two matches
    assert handed_to_moto == [2]
    items_read.clear()
    answer = query("gsi1", "gsi1pk", "STATUS#placed#3")
    assert len(answer) == 1000
    assert len(items_read) == 1000
    assert handed_to_moto == [2, 1000]
    assert whole_table_walks == []


def test_an_index_query_naming_no_partition_key_value_is_left_to_moto_whole(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(3):
        dynamodb.put_item(
            TableName=TABLE, Item={**key(f"order-{number}", "A"), "gsi6pk": {"S": f"f-{number}"}}
        )
    whole_table_walks: list[str] = []
    real_all_items = moto_server._ORIGINALS["Table.all_items"]

    def counting_all_items(self: Table) -> Any:
        whole_table_walks.append(self.name)
        return real_all_items(self)

    monkeypatch.setitem(moto_server._ORIGINALS, "Table.all_items", counting_all_items)
    arguments = (None, None, [], None, None, True, None, "gsi6")

    patched = table().query(*arguments, hash_key_conditions=[])
    unpatched = moto_server._ORIGINALS["Table.query"](table(), *arguments, hash_key_conditions=[])

    assert [item.to_json() for item in patched[0]] == [item.to_json() for item in unpatched[0]]
    assert len(patched[0]) == 3
    assert whole_table_walks == [TABLE, TABLE]  # no value to look up: moto walks the table


def test_a_table_whose_indexes_change_is_mapped_again(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE, Item={**key("order-1", "A"), "gsi6pk": {"S": "f-1"}, "extra": {"S": "x"}}
    )
    dynamodb.query(
        TableName=TABLE,
        IndexName="gsi6",
        KeyConditionExpression="gsi6pk = :value",
        ExpressionAttributeValues={":value": {"S": "f-1"}},
    )

    dynamodb.update_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "extra", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-extra",
                    "KeySchema": [{"AttributeName": "extra", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    response = dynamodb.query(
        TableName=TABLE,
        IndexName="by-extra",
        KeyConditionExpression="extra = :value",
        ExpressionAttributeValues={":value": {"S": "x"}},
    )

    assert [item["pk"]["S"] for item in response["Items"]] == ["order-1"]
