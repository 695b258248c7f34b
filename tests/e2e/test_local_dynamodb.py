"""The local stack's DynamoDB over HTTP: a transaction whose reply is lost is retried with the
same ClientRequestToken and applied once (infra/local/moto_server.py)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LOST_REPLY_MARKER, RunningStack, order_body


def orders_with_external_id(stack: RunningStack, external_id: str) -> list[dict[str, Any]]:
    dynamodb = stack.client("dynamodb")
    (table,) = [name for name in dynamodb.list_tables()["TableNames"] if name.startswith("oms-local")]
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="entity = :order AND doc.external_id = :external_id",
        ExpressionAttributeValues={":order": {"S": "order"}, ":external_id": {"S": external_id}},
    )
    return [item for page in pages for item in page["Items"]]


def test_a_placement_whose_transaction_reply_is_lost_gets_one_order_and_a_201(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    key = stack.channel_key("web")
    mark = stack.mark()

    # The stack was started with OMS_LOCAL_LOSE_TRANSACT_REPLY=LOST_REPLY_MARKER: moto applies this
    # placement's transaction, then answers 500; botocore retries it with the same token.
    response = stack.post("/v1/orders", order_body("WEB-LOST-REPLY", LOST_REPLY_MARKER), key)

    assert response.status_code == 201, response.text
    assert any(
        "TransactWriteItems applied, its reply replaced by a 500" in line for line in stack.lines_since(mark)
    )
    order = response.json()
    assert [item["pk"]["S"] for item in orders_with_external_id(stack, "WEB-LOST-REPLY")] == [
        f"ORDER#{order['id']}"
    ]
    events = stack.get(f"/v1/orders/{order['id']}/events", key)
    assert events.status_code == 200, events.text
    assert [event["type"] for event in events.json()["items"]].count("order.placed") == 1
