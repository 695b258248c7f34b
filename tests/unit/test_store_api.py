"""The store API vocabulary and the arithmetic of waiting: how long a throttled or busy store asks
the write-back to wait (Shopify's cost bucket, ``Retry-After`` in seconds or as a date)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.stores._http import retry_after_seconds
from chalicelib.adapters.stores.shopify import allocate_parcel, location_gid, order_gid, throttle_wait_seconds
from chalicelib.domain.store_api import (
    MAX_RETRY_SECONDS,
    MIN_RETRY_SECONDS,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    RetryAfter,
    ShippedLine,
    ShopifyCredentials,
    WooCommerceCredentials,
)


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_a_retry_wait_is_always_between_one_second_and_the_queues_twelve_hours(seconds: int) -> None:
    wait = RetryAfter(seconds, "busy").seconds

    assert MIN_RETRY_SECONDS <= wait <= MAX_RETRY_SECONDS
    if MIN_RETRY_SECONDS <= seconds <= MAX_RETRY_SECONDS:
        assert wait == seconds


def test_the_throttle_wait_is_the_time_the_bucket_needs_to_hold_the_requests_cost() -> None:
    cost = {"requestedQueryCost": 252, "throttleStatus": {"currentlyAvailable": 2, "restoreRate": 50.0}}

    assert throttle_wait_seconds(cost) == 5


@given(
    requested=st.integers(min_value=1, max_value=1000),
    available=st.integers(min_value=0, max_value=1000),
    restore_rate=st.sampled_from([50.0, 100.0, 200.0, 1000.0]),
)
def test_after_the_throttle_wait_the_bucket_holds_the_cost(
    requested: int, available: int, restore_rate: float
) -> None:
    cost = {
        "requestedQueryCost": requested,
        "throttleStatus": {"currentlyAvailable": available, "restoreRate": restore_rate},
    }

    wait = throttle_wait_seconds(cost)

    assert wait >= 1
    assert available + wait * restore_rate >= requested
    if requested > available:  # and not a second longer than needed
        assert wait == math.ceil((requested - available) / restore_rate)


def test_a_throttle_answer_without_readable_cost_still_waits_a_while() -> None:
    assert throttle_wait_seconds(None) >= 1
    assert throttle_wait_seconds({"requestedQueryCost": 10, "throttleStatus": {"restoreRate": 0}}) >= 1


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 12, 7, 0, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("2.0") == 2
    assert retry_after_seconds("0.2") == 1
    assert retry_after_seconds("Mon, 07 Dec 2026 00:01:30 GMT", now=now) == 90
    assert retry_after_seconds("Sun, 06 Dec 2026 23:00:00 GMT", now=now) == 0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None


def test_store_ids_become_shopify_global_ids_once() -> None:
    assert order_gid("5001") == "gid://shopify/Order/5001"
    assert order_gid("gid://shopify/Order/5001") == "gid://shopify/Order/5001"
    assert location_gid("7") == "gid://shopify/Location/7"


def test_a_cancellation_without_lines_is_a_whole_order_cancellation() -> None:
    assert OrderCancelled("1", reason="x").whole_order
    assert not OrderCancelled("1", reason="x", lines=(ShippedLine("A", 1),)).whole_order


def test_store_credentials_never_show_their_secrets() -> None:
    shown = repr(ShopifyCredentials("https://s.example", "shpat_secret")) + repr(
        WooCommerceCredentials("https://w.example", "ck_key", "cs_secret")
    )

    assert "shpat_secret" not in shown and "cs_secret" not in shown


SKUS = st.sampled_from(["MUG-1", "TEE-M", "CAP"])


@given(
    fulfillment_orders=st.lists(
        st.tuples(
            st.sampled_from(["OPEN", "IN_PROGRESS", "CLOSED"]), st.lists(st.tuples(SKUS, st.integers(0, 4)))
        ),
        max_size=4,
    ),
    lines=st.lists(
        st.tuples(SKUS, st.integers(1, 6)), min_size=1, max_size=3, unique_by=lambda line: line[0]
    ),
)
def test_a_parcel_takes_exactly_its_units_from_open_fulfillment_orders_or_is_rejected_whole(
    fulfillment_orders: list[tuple[str, list[tuple[str, int]]]], lines: list[tuple[str, int]]
) -> None:
    nodes = [
        {
            "id": f"fo{f}",
            "status": status,
            "lineItems": {
                "nodes": [
                    {"id": f"li{f}-{i}", "sku": s, "remainingQuantity": q} for i, (s, q) in enumerate(items)
                ]
            },
        }
        for f, (status, items) in enumerate(fulfillment_orders)
    ]
    remaining = {
        (node["id"], item["id"]): (item["sku"], item["remainingQuantity"], node["status"])
        for node in nodes
        for item in node["lineItems"]["nodes"]
    }
    request = ParcelShipped("1", tuple(ShippedLine(s, q) for s, q in lines), "DHL", ("T",))

    result = allocate_parcel(request, nodes)

    open_units = {
        sku: sum(q for s, q, status in remaining.values() if s == sku and status != "CLOSED")
        for sku, _ in lines
    }
    if all(open_units[sku] >= quantity for sku, quantity in lines):
        assert isinstance(result, list)
        for sku, quantity in lines:
            assert (
                sum(
                    a.quantity
                    for a in result
                    if remaining[(a.fulfillment_order_id, a.line_item_id)][0] == sku
                )
                == quantity
            )
        for allocation in result:
            sku, available, status = remaining[(allocation.fulfillment_order_id, allocation.line_item_id)]
            assert status != "CLOSED" and 0 < allocation.quantity <= available
    else:
        assert isinstance(result, Rejected)
