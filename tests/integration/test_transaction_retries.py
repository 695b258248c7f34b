"""The DynamoDB adapter's reading of a cancelled transaction, and placement riding it out, on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWork
from chalicelib.bootstrap import services
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.service.placement import place_order
from chalicelib.service.ports import OrderExists, TransactionConflict
from tests.integration.conftest import Stack, order_body


def request() -> PlaceOrderRequest:
    return PlaceOrderRequest.model_validate(order_body("WEB-RETRY-1"))


def cancelled_for_a_conflict(model: Any, items: int, conflicting: int) -> tuple[AWSResponse, dict[str, Any]]:
    """What DynamoDB answers when another transaction was writing item ``conflicting``: the wire
    body, and what botocore's own parser makes of it."""
    reasons = [{"Code": "None"} for _ in range(items)]
    reasons[conflicting] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        }
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(body))}
    # As botocore's endpoint does: the error, then the modelled fields of its shape.
    parser, raw = create_parser("json"), {"status_code": 400, "headers": headers, "body": body}
    parsed = parser.parse(raw, model.output_shape)
    parsed.update(parser.parse(raw, model.service_model.shape_for_error_code(parsed["Error"]["Code"])))
    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, headers, None), parsed


def conflicting_once(client: Any) -> list[str]:
    """Make the client's next TransactWriteItems come back cancelled for a conflict on its last
    item, without reaching moto (which runs one request at a time and never answers so);
    returns the operations forged."""
    forged: list[str] = []

    def conflict_once(model: Any, params: dict[str, Any], **_: Any) -> Any:
        if forged:
            return None
        forged.append(model.name)
        items = json.loads(params["body"])["TransactItems"]
        return cancelled_for_a_conflict(model, len(items), conflicting=len(items) - 1)

    # before-call short-circuits the request when a handler answers (before-send would not:
    # moto's own handler there would still apply the transaction).
    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", conflict_once)
    return forged


def place(stack: Stack, client: Any, idempotency_key: str | None = None) -> Any:
    svc = services()
    return place_order(
        lambda: DynamoUnitOfWork(client, stack.table),
        request(),
        channel_id="web",
        idempotency_key=idempotency_key,
        ids=svc.ids,
        clock=svc.clock,
    )


def placed_orders(stack: Stack) -> list[str]:
    return [item["pk"]["S"] for item in stack.items("ORDER#") if item["sk"]["S"] == "ORDER"]


def test_a_transaction_cancelled_for_a_conflict_is_a_transaction_conflict(stack: Stack) -> None:
    client = stack.client("dynamodb")
    uow = DynamoUnitOfWork(client, stack.table)
    uow.count("orders", "2026-11-26")
    forged = conflicting_once(client)

    with pytest.raises(TransactionConflict):
        uow.commit()

    assert forged


def test_a_placement_whose_transaction_met_a_conflict_is_placed_once_after_a_pause(stack: Stack) -> None:
    client = stack.client("dynamodb")
    forged = conflicting_once(client)

    result = place(stack, client)

    assert forged
    assert result.created is True
    assert placed_orders(stack) == [f"ORDER#{result.order.id}"]


def test_a_new_orders_put_meeting_its_own_order_is_order_exists(stack: Stack) -> None:
    client = stack.client("dynamodb")
    placed = place(stack, client)
    uow = DynamoUnitOfWork(client, stack.table)
    uow.add_order(placed.order)

    with pytest.raises(OrderExists) as raised:
        uow.commit()

    assert raised.value.order_id == placed.order.id


def test_a_placement_whose_transaction_is_sent_twice_answers_with_the_one_order_it_created(
    stack: Stack,
) -> None:
    client = stack.client("dynamodb")
    first_copy = services().uow_factory.client  # another client: its hooks are not ours
    copies: list[str] = []

    def apply_a_first_copy(params: dict[str, Any], **_: Any) -> None:
        # What a read timeout leaves behind: DynamoDB applied the first copy, botocore never
        # heard back and sends the same request again.
        if not copies:
            copies.append("first")
            first_copy.transact_write_items(**params)

    client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", apply_a_first_copy)
    result = place(stack, client, idempotency_key="retry-key-1")

    assert copies == ["first"]
    assert result.created is True  # the client's one request created the order: 201, not 409
    assert placed_orders(stack) == [f"ORDER#{result.order.id}"]
