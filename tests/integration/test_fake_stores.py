"""The fake stores refuse what the real platforms refuse: a test against them passes only when the
clients send the shapes and credentials the platforms document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.http_sender import send_request
from chalicelib.adapters.stores.shopify import (
    FULFILLMENT_CREATE,
    INVENTORY_SET_QUANTITIES,
    ORDER_CANCEL,
    SHOPIFY_API_VERSION,
)
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    fake = FakeShopify()
    with serving(fake):
        yield fake


def graphql(
    fake: FakeShopify, query: str, variables: dict[str, Any], *, version: str = SHOPIFY_API_VERSION
) -> Any:
    result = send_request(
        "POST",
        f"{fake.url}/admin/api/{version}/graphql.json",
        headers={"X-Shopify-Access-Token": fake.access_token, "Content-Type": "application/json"},
        body=json.dumps({"query": query, "variables": variables}).encode(),
        allow_loopback=True,
        keep_body_bytes=65536,
    )
    return result.status_code, json.loads(result.body)


def error_codes(body: Any) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def test_the_fake_shopify_answers_only_the_pinned_version(shopify: FakeShopify) -> None:
    status, body = graphql(
        shopify, "query Q($id: ID!) { order(id: $id) { id } }", {"id": "x"}, version="2023-01"
    )

    assert status == 404 and body == {"errors": "Not Found"}


def test_the_fake_shopify_refuses_a_fulfillment_without_user_errors_or_with_unknown_fields(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(1, [("MUG-1", 1)])
    fo = shopify.order(gid).fulfillment_orders[0]
    items = [{"id": fo.line_items[0].id, "quantity": 1}]
    good = {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo.id, "fulfillmentOrderLineItems": items}]
    }
    no_user_errors = FULFILLMENT_CREATE.replace("userErrors { field message }", "")

    _, without_user_errors = graphql(shopify, no_user_errors, {"fulfillment": good})
    _, legacy_field = graphql(
        shopify, FULFILLMENT_CREATE, {"fulfillment": {**good, "trackingNumbers": ["1"]}}
    )
    _, accepted = graphql(shopify, FULFILLMENT_CREATE, {"fulfillment": good})

    assert error_codes(without_user_errors) == ["BAD_REQUEST"]
    assert error_codes(legacy_field) == ["INVALID_VARIABLE"]
    assert accepted["data"]["fulfillmentCreate"]["userErrors"] == []
    assert accepted["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 2000


def test_the_fake_shopify_wants_the_idempotent_directive_and_change_from_quantity(
    shopify: FakeShopify,
) -> None:
    item = shopify.add_variant("MUG-1")
    quantity = {"inventoryItemId": item, "locationId": "gid://shopify/Location/1", "quantity": 3}
    payload = {
        "name": "available",
        "reason": "correction",
        "quantities": [{**quantity, "changeFromQuantity": None}],
    }
    no_directive = INVENTORY_SET_QUANTITIES.replace("@idempotent(key: $idempotencyKey)", "")

    _, without_directive = graphql(shopify, no_directive, {"input": payload, "idempotencyKey": "k"})
    _, without_change_from = graphql(
        shopify,
        INVENTORY_SET_QUANTITIES,
        {"input": {**payload, "quantities": [quantity]}, "idempotencyKey": "k"},
    )
    _, old_flag = graphql(
        shopify,
        INVENTORY_SET_QUANTITIES,
        {"input": {**payload, "ignoreCompareQuantity": True}, "idempotencyKey": "k"},
    )

    assert error_codes(without_directive) == ["BAD_REQUEST"]
    assert error_codes(without_change_from) == ["INVALID_VARIABLE"]
    assert error_codes(old_flag) == ["INVALID_VARIABLE"]
    assert shopify.available[(item, "gid://shopify/Location/1")] == 0


def test_the_fake_shopify_replays_an_idempotency_key_instead_of_applying_it_twice(
    shopify: FakeShopify,
) -> None:
    item = shopify.add_variant("MUG-1")
    slot = (item, "gid://shopify/Location/1")

    def set_to(value: int, key: str) -> Any:
        quantity = {
            "inventoryItemId": item,
            "locationId": slot[1],
            "quantity": value,
            "changeFromQuantity": None,
        }
        payload = {"name": "available", "reason": "correction", "quantities": [quantity]}
        return graphql(shopify, INVENTORY_SET_QUANTITIES, {"input": payload, "idempotencyKey": key})[1]

    set_to(5, "k1")
    shopify.available[slot] = 4  # a sale in the store meanwhile
    replay = set_to(5, "k1")
    reused = set_to(6, "k1")

    assert replay["data"]["inventorySetQuantities"]["userErrors"] == []
    assert shopify.available[slot] == 4  # the replay did not apply again
    assert error_codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]


def test_the_fake_shopify_refuses_a_cancellation_without_restock_or_refund_method(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(2, [("MUG-1", 1)])
    variables = {
        "orderId": gid,
        "reason": "OTHER",
        "restock": False,
        "refundMethod": {},
        "notifyCustomer": False,
    }

    _, no_restock = graphql(shopify, ORDER_CANCEL, {**variables, "restock": None})
    _, bad_reason = graphql(shopify, ORDER_CANCEL, {**variables, "reason": "BECAUSE"})

    assert error_codes(no_restock) == ["INVALID_VARIABLE"] and error_codes(bad_reason) == ["INVALID_VARIABLE"]
    assert shopify.order(gid).cancelled_at is None


def test_the_fake_woocommerce_refuses_basic_auth_over_plain_http() -> None:
    fake = FakeWooCommerce()
    with serving(fake):
        fake.add_order(1)
        result = send_request(
            "GET",
            f"{fake.url}/wp-json/wc/v3/orders/1",
            headers={"Authorization": "Basic Y2tfZmFrZV9rZXk6Y3NfZmFrZV9zZWNyZXQ="},  # the right key
            body=None,
            allow_loopback=True,
        )

    assert result.status_code == 401
    assert fake.auth_used == []


def test_the_fake_shopify_takes_a_parcel_groups_numbers_and_refuses_both_forms_at_once() -> None:
    from tests.fake_stores.shopify import GraphQLError, _tracking_lists

    numbers, urls = _tracking_lists({"company": "UPS", "numbers": ["1ZA", "1ZB"], "urls": ["https://t/1ZA"]})
    assert (numbers, urls) == (["1ZA", "1ZB"], ["https://t/1ZA"])
    for bad in (
        {"number": "1ZA", "numbers": ["1ZB"]},
        {"numbers": "1ZA"},
        {"numbers": ["1ZA", ""]},
        {"numbers": ["1ZA"], "urls": ["not a url"]},
    ):
        with pytest.raises(GraphQLError):
            _tracking_lists(bad)
