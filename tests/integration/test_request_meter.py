"""The local stack's request meter (infra/local/meter.py): calls per caller and DynamoDB units.

The meter sizes items in moto's own backend; here the wrapped app is a stand-in that answers
200 without doing anything, so the items it sizes are the ones the test put there."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.meter import METER_PATH, RequestMeter, wrap_if_enabled

TABLE = "meter-test"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
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
        )
        yield client


def _ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [environ.get("test.response", b"{}")]


def _request(meter: RequestMeter, target: str, body: dict[str, Any], caller: str | None = "api") -> bytes:
    raw = json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "HTTP_X_AMZ_TARGET": target,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, ...",
    }
    if caller:
        environ["HTTP_X_OMS_CALLER"] = caller
    return b"".join(meter(environ, lambda *args: None))


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "A"}}


def test_reads_cost_half_a_unit_per_started_4_kib_unless_strongly_consistent(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("small"), "doc": {"S": "x" * 100}})
    dynamodb.put_item(TableName=TABLE, Item={**_key("big"), "doc": {"S": "x" * 5000}})
    meter = RequestMeter(_ok)
    _request(meter, "DynamoDB_20120810.GetItem", {"TableName": TABLE, "Key": _key("small")})
    _request(
        meter, "DynamoDB_20120810.GetItem", {"TableName": TABLE, "Key": _key("big"), "ConsistentRead": True}
    )
    _request(meter, "DynamoDB_20120810.GetItem", {"TableName": TABLE, "Key": _key("absent")}, caller=None)
    counts = meter.snapshot()
    assert counts["calls"] == {"api|dynamodb.GetItem": 2, "-|dynamodb.GetItem": 1}
    assert counts["read_units"] == {"api|dynamodb.GetItem": 0.5 + 2.0, "-|dynamodb.GetItem": 0.5}


def test_a_transaction_costs_two_write_units_per_started_kib_of_each_item(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("order"), "doc": {"S": "x" * 2500}})  # 3 KiB started
    meter = RequestMeter(_ok)
    _request(
        meter,
        "DynamoDB_20120810.TransactWriteItems",
        {
            "TransactItems": [
                {"Update": {"TableName": TABLE, "Key": _key("order"), "UpdateExpression": "SET a = :a"}},
                {"Put": {"TableName": TABLE, "Item": {**_key("event"), "doc": {"S": "y"}}}},
            ]
        },
        caller="receipt_worker",
    )
    _request(
        meter, "DynamoDB_20120810.PutItem", {"TableName": TABLE, "Item": {**_key("order"), "x": {"S": "1"}}}
    )
    units = meter.snapshot(reset=True)["write_units"]
    assert units == {"receipt_worker|dynamodb.TransactWriteItems": 2 * 3 + 2 * 1, "api|dynamodb.PutItem": 3}
    assert meter.snapshot()["write_units"] == {}


def test_empty_receives_and_stream_reads_are_counted_apart_and_received_messages_are_counted() -> None:
    meter = RequestMeter(_ok)

    def receive(response: dict[str, Any]) -> None:
        raw = b"{}"
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage",
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sqs/aws4_request, ...",
            "CONTENT_LENGTH": "2",
            "wsgi.input": io.BytesIO(raw),
            "test.response": json.dumps(response).encode(),
        }
        b"".join(meter(environ, lambda *args: None))

    receive({})
    receive({"Messages": [{"MessageId": "1"}, {"MessageId": "2"}]})
    counts = meter.snapshot()
    assert counts["calls"] == {"-|sqs.ReceiveMessage": 1}
    assert counts["entries"] == {"-|sqs.ReceiveMessage": 2}
    assert counts["idle"] == {"-|sqs.ReceiveMessage": 1}


def test_the_meter_answers_on_its_own_path_and_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    meter = RequestMeter(_ok)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": METER_PATH}
    assert json.loads(b"".join(meter(environ, lambda *args: None)))["calls"] == {}
    monkeypatch.delenv("OMS_METER", raising=False)
    assert wrap_if_enabled(_ok) is _ok
    monkeypatch.setenv("OMS_METER", "1")
    assert isinstance(wrap_if_enabled(_ok), RequestMeter)
