"""The store API clients of the write-back against fake Shopify and WooCommerce servers over real
HTTP on 127.0.0.1: each call's request shape and result, idempotency on a resent request, and
what throttling, 429, 5xx and refused credentials become."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from urllib.parse import urlencode

import pytest
import trustme

from chalicelib.adapters.stores import HttpStoreApis
from chalicelib.adapters.stores.shopify import SHOPIFY_API_VERSION, ShopifyStoreApi
from chalicelib.adapters.stores.woocommerce import WooCommerceStoreApi
from chalicelib.domain.store_api import (
    CredentialsRejected,
    Done,
    Milestone,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    RetryAfter,
    ShippedLine,
    ShopifyCredentials,
    StockLevelChanged,
    WooCommerceCredentials,
)
from tests.fake_stores import FakeShopify, FakeWooCommerce, serving

LOCATION = "gid://shopify/Location/1"
SECOND_LOCATION = "gid://shopify/Location/2"


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    fake = FakeShopify()
    with serving(fake):
        yield fake


@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    fake = FakeWooCommerce()
    with serving(fake):
        yield fake


def shopify_client(fake: FakeShopify, *, token: str | None = None) -> ShopifyStoreApi:
    return ShopifyStoreApi(ShopifyCredentials(fake.url, token or fake.access_token), allow_loopback=True)


def woo_client(
    fake: FakeWooCommerce, *, secret: str | None = None, tls: ssl.SSLContext | None = None
) -> WooCommerceStoreApi:
    credentials = WooCommerceCredentials(fake.url, fake.consumer_key, secret or fake.consumer_secret)
    return WooCommerceStoreApi(credentials, allow_loopback=True, tls=tls)


def parcel(order_id: str, number: str, *lines: tuple[str, int], completes: bool = False) -> ParcelShipped:
    return ParcelShipped(
        store_order_id=order_id,
        lines=tuple(ShippedLine(sku, qty) for sku, qty in lines),
        carrier="DHL",
        tracking_numbers=(number,),
        tracking_urls=(f"https://track.example/{number}",),
        completes_order=completes,
    )


# --- Shopify -----------------------------------------------------------------------------------


def test_a_shopify_parcel_becomes_a_fulfillment_of_its_lines_with_the_tracking_details(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(5001, [("MUG-1", 2), ("TEE-M", 1)])

    outcome = shopify_client(shopify).parcel_shipped(parcel("5001", "TRK-1", ("MUG-1", 2)))

    assert isinstance(outcome, Done)
    [request] = [r for r in shopify.requests if "fulfillmentCreate" in (r.json() or {}).get("query", "")]
    assert request.path == f"/admin/api/{SHOPIFY_API_VERSION}/graphql.json"
    assert request.headers["x-shopify-access-token"] == shopify.access_token
    sent = request.json()["variables"]["fulfillment"]
    fulfillment_order = shopify.order(gid).fulfillment_orders[0]
    mug = fulfillment_order.line_items[0]
    assert sent == {
        "lineItemsByFulfillmentOrder": [
            {
                "fulfillmentOrderId": fulfillment_order.id,
                "fulfillmentOrderLineItems": [{"id": mug.id, "quantity": 2}],
            }
        ],
        "trackingInfo": {"company": "DHL", "numbers": ["TRK-1"], "urls": ["https://track.example/TRK-1"]},
        "notifyCustomer": True,
    }
    [created] = shopify.order(gid).fulfillments
    assert created.tracking == [{"company": "DHL", "number": "TRK-1", "url": "https://track.example/TRK-1"}]
    assert mug.remaining == 0 and fulfillment_order.status == "IN_PROGRESS"


def test_a_split_shipment_makes_one_fulfillment_per_parcel_and_a_resent_parcel_makes_none(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(5002, [("MUG-1", 3)])
    client = shopify_client(shopify)

    first = client.parcel_shipped(parcel(gid, "TRK-A", ("MUG-1", 2)))
    second = client.parcel_shipped(parcel(gid, "TRK-B", ("MUG-1", 1)))
    resent = client.parcel_shipped(parcel(gid, "TRK-A", ("MUG-1", 2)))

    assert isinstance(first, Done) and isinstance(second, Done)
    assert isinstance(resent, Done) and "already" in resent.detail
    assert [[t["number"] for t in f.tracking] for f in shopify.order(gid).fulfillments] == [
        ["TRK-A"],
        ["TRK-B"],
    ]
    assert shopify.operations().count("fulfillmentCreate") == 2
    assert shopify.order(gid).fulfillment_orders[0].status == "CLOSED"


def test_a_parcel_with_more_units_than_shopify_has_unfulfilled_is_rejected_without_a_mutation(
    shopify: FakeShopify,
) -> None:
    shopify.add_order(5003, [("MUG-1", 1)])

    outcome = shopify_client(shopify).parcel_shipped(parcel("5003", "TRK-1", ("MUG-1", 2)))

    assert isinstance(outcome, Rejected) and "MUG-1" in outcome.reason
    assert "fulfillmentCreate" not in shopify.operations()


def test_an_unknown_shopify_order_is_rejected(shopify: FakeShopify) -> None:
    outcome = shopify_client(shopify).parcel_shipped(parcel("999", "TRK-1", ("MUG-1", 1)))

    assert isinstance(outcome, Rejected) and "gid://shopify/Order/999" in outcome.reason


def test_a_milestone_becomes_one_fulfillment_event_on_the_parcels_fulfillment(shopify: FakeShopify) -> None:
    gid = shopify.add_order(5004, [("MUG-1", 1)])
    client = shopify_client(shopify)
    client.parcel_shipped(parcel(gid, "TRK-1", ("MUG-1", 1)))
    delivered = MilestoneReached(
        gid, ("TRK-1",), Milestone.DELIVERED, datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    )

    outcome = client.milestone_reached(delivered)
    resent = client.milestone_reached(delivered)

    assert isinstance(outcome, Done) and isinstance(resent, Done)
    [fulfillment] = shopify.order(gid).fulfillments
    assert [(e["status"], e["happenedAt"]) for e in fulfillment.events] == [
        ("DELIVERED", "2026-12-06T14:30:00+00:00")
    ]
    assert shopify.operations().count("fulfillmentEventCreate") == 1


def test_a_milestone_on_the_way_carries_the_promised_last_day_as_shopifys_estimate(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(5014, [("MUG-1", 1)])
    client = shopify_client(shopify)
    client.parcel_shipped(parcel(gid, "TRK-7", ("MUG-1", 1)))

    outcome = client.milestone_reached(
        MilestoneReached(
            gid,
            ("TRK-7",),
            Milestone.IN_TRANSIT,
            datetime(2026, 12, 7, 9, tzinfo=UTC),
            estimated_delivery=date(2026, 12, 10),
        )
    )

    assert isinstance(outcome, Done)
    [fulfillment] = shopify.order(gid).fulfillments
    assert [e.get("estimatedDeliveryAt") for e in fulfillment.events] == ["2026-12-10T23:59:59Z"]


def test_a_milestone_for_a_parcel_shopify_does_not_know_is_rejected(shopify: FakeShopify) -> None:
    gid = shopify.add_order(5005, [("MUG-1", 1)])

    outcome = shopify_client(shopify).milestone_reached(
        MilestoneReached(gid, ("TRK-NONE",), Milestone.OUT_FOR_DELIVERY, datetime.now(UTC))
    )

    assert isinstance(outcome, Rejected) and "TRK-NONE" in outcome.reason


def test_a_cancelled_order_is_cancelled_in_shopify_without_restocking_and_only_once(
    shopify: FakeShopify,
) -> None:
    gid = shopify.add_order(5006, [("MUG-1", 1)])
    client = shopify_client(shopify)
    request = OrderCancelled("5006", reason="customer asked", notify_customer=True, refund=True)

    outcome = client.order_cancelled(request)
    resent = client.order_cancelled(request)

    assert isinstance(outcome, Done) and isinstance(resent, Done)
    cancellation = shopify.order(gid).cancellation
    assert cancellation == {
        "orderId": gid,
        "reason": "OTHER",
        "restock": False,
        "refundMethod": {"originalPaymentMethodsRefund": True},
        "notifyCustomer": True,
        "staffNote": "customer asked",
    }
    assert shopify.operations().count("orderCancel") == 1


def test_cancelled_lines_alone_are_not_written_to_shopify(shopify: FakeShopify) -> None:
    shopify.add_order(5007, [("MUG-1", 2)])

    outcome = shopify_client(shopify).order_cancelled(
        OrderCancelled("5007", reason="out of stock", lines=(ShippedLine("MUG-1", 1),))
    )

    assert isinstance(outcome, Rejected)
    assert shopify.requests == []


def test_a_stock_level_is_set_as_available_at_every_mapped_location_with_an_idempotency_key(
    shopify: FakeShopify,
) -> None:
    item = shopify.add_variant("MUG-1", locations={LOCATION: 40, SECOND_LOCATION: 40})
    shopify.add_variant("MUG-10", locations={LOCATION: 5})  # a prefix match the client must ignore
    request = StockLevelChanged("MUG-1", 17, idempotency_key="stock-MUG-1-v42", location_ids=(LOCATION, "2"))

    outcome = shopify_client(shopify).stock_level_changed(request)

    assert isinstance(outcome, Done)
    assert shopify.available[(item, LOCATION)] == 17 and shopify.available[(item, SECOND_LOCATION)] == 17
    body = shopify.graphql_requests()[-1]
    assert "@idempotent(key: $idempotencyKey)" in body["query"]
    assert body["variables"]["idempotencyKey"] == "stock-MUG-1-v42"
    assert body["variables"]["input"] == {
        "name": "available",
        "reason": "correction",
        "quantities": [
            {"inventoryItemId": item, "locationId": LOCATION, "quantity": 17, "changeFromQuantity": None},
            {
                "inventoryItemId": item,
                "locationId": SECOND_LOCATION,
                "quantity": 17,
                "changeFromQuantity": None,
            },
        ],
    }


def test_a_stock_level_for_a_sku_or_location_shopify_does_not_know_is_rejected(shopify: FakeShopify) -> None:
    shopify.add_variant("MUG-1")
    client = shopify_client(shopify)

    unknown_sku = client.stock_level_changed(StockLevelChanged("NOPE", 1, "k1", (LOCATION,)))
    unknown_location = client.stock_level_changed(
        StockLevelChanged("MUG-1", 1, "k2", ("gid://shopify/Location/9",))
    )

    assert isinstance(unknown_sku, Rejected) and "NOPE" in unknown_sku.reason
    assert isinstance(unknown_location, Rejected) and "location could not be found" in unknown_location.reason


def test_a_throttled_shopify_call_is_retried_after_the_time_the_cost_bucket_needs(
    shopify: FakeShopify,
) -> None:
    shopify.add_order(5008, [("MUG-1", 1)])
    # The order read costs 62 points; 12 are left and 5 come back per second: (62 - 12) / 5 = 10 s.
    shopify.set_bucket(12, restore_rate=5)

    outcome = shopify_client(shopify).parcel_shipped(parcel("5008", "TRK-1", ("MUG-1", 1)))

    assert outcome == RetryAfter(10, "Shopify throttled the request (query cost)")
    assert shopify.order("gid://shopify/Order/5008").fulfillments == []


def test_shopify_429_is_retried_after_its_retry_after_header(shopify: FakeShopify) -> None:
    shopify.add_order(5009, [("MUG-1", 1)])
    shopify.answer_429_next(retry_after="2.0")
    client = shopify_client(shopify)

    outcome = client.parcel_shipped(parcel("5009", "TRK-1", ("MUG-1", 1)))
    again = client.parcel_shipped(parcel("5009", "TRK-1", ("MUG-1", 1)))

    assert isinstance(outcome, RetryAfter) and outcome.seconds == 2
    assert isinstance(again, Done)


def test_shopify_5xx_is_retried_later(shopify: FakeShopify) -> None:
    shopify.answer_500_next()

    outcome = shopify_client(shopify).order_cancelled(OrderCancelled("1", reason="x"))

    assert isinstance(outcome, RetryAfter) and "503" in outcome.reason


def test_a_revoked_or_wrong_shopify_token_is_credentials_rejected(shopify: FakeShopify) -> None:
    shopify.add_order(5010, [("MUG-1", 1)])
    shopify.answer_401_next()

    revoked = shopify_client(shopify).parcel_shipped(parcel("5010", "TRK-1", ("MUG-1", 1)))
    wrong = shopify_client(shopify, token="shpat_other").parcel_shipped(parcel("5010", "TRK-1", ("MUG-1", 1)))

    assert isinstance(revoked, CredentialsRejected) and "401" in revoked.reason
    assert isinstance(wrong, CredentialsRejected)
    assert shopify.order("gid://shopify/Order/5010").fulfillments == []


def test_a_shopify_token_without_the_scope_a_mutation_needs_is_credentials_rejected(
    shopify: FakeShopify,
) -> None:
    shopify.add_variant("MUG-1")
    shopify.denied_fields.add("inventorySetQuantities")

    outcome = shopify_client(shopify).stock_level_changed(StockLevelChanged("MUG-1", 3, "k", (LOCATION,)))

    assert isinstance(outcome, CredentialsRejected) and "scope" in outcome.reason


# --- WooCommerce -------------------------------------------------------------------------------


def test_a_woocommerce_parcel_adds_one_customer_note_and_completes_the_order_when_all_shipped(
    woo: FakeWooCommerce,
) -> None:
    woo.add_order(7001)
    client = woo_client(woo)

    first = client.parcel_shipped(parcel("7001", "TRK-10", ("MUG-1", 1)))
    last = client.parcel_shipped(parcel("7001", "TRK-1", ("MUG-1", 1), completes=True))
    resent = client.parcel_shipped(parcel("7001", "TRK-1", ("MUG-1", 1), completes=True))

    assert all(isinstance(o, Done) for o in (first, last, resent))
    notes = woo.orders[7001].notes
    assert [n.customer_note for n in notes] == [True, True]
    assert (
        "DHL" in notes[0].note
        and "TRK-10" in notes[0].note
        and "https://track.example/TRK-10" in notes[0].note
    )
    assert "tracking TRK-1:" in notes[1].note  # not taken as noted by the TRK-10 note
    assert woo.orders[7001].status == "completed"
    posts = [r for r in woo.requests if r.method == "POST"]
    assert [r.path for r in posts] == ["/wp-json/wc/v3/orders/7001/notes"] * 2
    assert posts[0].json() == {"note": notes[0].note, "customer_note": True}
    [put] = [r for r in woo.requests if r.method == "PUT"]
    assert put.path == "/wp-json/wc/v3/orders/7001" and put.json() == {"status": "completed"}


def test_a_woocommerce_parcel_note_tells_the_promised_window_and_a_moved_window_adds_no_second_note(
    woo: FakeWooCommerce,
) -> None:
    woo.add_order(7011)
    client = woo_client(woo)
    shipped = parcel("7011", "TRK-5", ("MUG-1", 1))

    client.parcel_shipped(replace(shipped, expected_between=(date(2026, 12, 8), date(2026, 12, 10))))
    client.parcel_shipped(replace(shipped, expected_between=(date(2026, 12, 9), date(2026, 12, 11))))

    [note] = woo.orders[7011].notes
    assert note.note.endswith(
        "Expected to arrive between Tuesday 8 December 2026 and Thursday 10 December 2026"
    )


def test_a_woocommerce_milestone_is_one_customer_note(woo: FakeWooCommerce) -> None:
    woo.add_order(7002)
    client = woo_client(woo)
    milestone = MilestoneReached("7002", ("TRK-A",), Milestone.OUT_FOR_DELIVERY, datetime.now(UTC))

    assert isinstance(client.milestone_reached(milestone), Done)
    assert isinstance(client.milestone_reached(milestone), Done)

    [note] = woo.orders[7002].notes
    assert note.customer_note and "TRK-A" in note.note and "out for delivery" in note.note


def test_a_woocommerce_order_cancelled_whole_is_cancelled_and_cancelled_lines_are_noted(
    woo: FakeWooCommerce,
) -> None:
    woo.add_order(7003)
    woo.add_order(7004)
    client = woo_client(woo)

    whole = client.order_cancelled(OrderCancelled("7003", reason="fraud suspected"))
    resent = client.order_cancelled(OrderCancelled("7003", reason="fraud suspected"))
    lines = client.order_cancelled(
        OrderCancelled("7004", reason="Out of stock.", lines=(ShippedLine("TEE-M", 1),), notify_customer=True)
    )

    assert all(isinstance(o, Done) for o in (whole, resent, lines))
    assert woo.orders[7003].status == "cancelled"
    assert [n.customer_note for n in woo.orders[7003].notes] == [False]
    assert woo.orders[7004].status == "processing"
    [note] = woo.orders[7004].notes
    assert note.customer_note and "1 x TEE-M" in note.note


def test_woocommerce_stock_is_set_on_the_product_or_on_the_variation_found_by_sku(
    woo: FakeWooCommerce,
) -> None:
    simple = woo.add_product("MUG-1", stock_quantity=40)
    parent = woo.add_product("TEE")
    variation = woo.add_variation(parent, "TEE-M", stock_quantity=3)
    client = woo_client(woo)

    on_product = client.stock_level_changed(StockLevelChanged("MUG-1", 12, "k1"))
    on_variation = client.stock_level_changed(StockLevelChanged("TEE-M", 0, "k2"))
    unknown = client.stock_level_changed(StockLevelChanged("NOPE", 1, "k3"))

    assert isinstance(on_product, Done) and isinstance(on_variation, Done)
    assert isinstance(unknown, Rejected) and "NOPE" in unknown.reason
    assert woo.products[simple].stock_quantity == 12 and woo.products[simple].manage_stock
    assert woo.products[variation].stock_quantity == 0
    puts = [(r.path, r.json()) for r in woo.requests if r.method == "PUT"]
    assert puts == [
        (f"/wp-json/wc/v3/products/{simple}", {"manage_stock": True, "stock_quantity": 12}),
        (
            f"/wp-json/wc/v3/products/{parent}/variations/{variation}",
            {"manage_stock": True, "stock_quantity": 0},
        ),
    ]
    lookups = [r.query_dict().get("sku") for r in woo.requests if r.method == "GET"]
    assert lookups == ["MUG-1", "TEE-M", "NOPE"]


def test_an_unknown_woocommerce_order_is_rejected(woo: FakeWooCommerce) -> None:
    outcome = woo_client(woo).order_cancelled(OrderCancelled("404404", reason="x"))

    assert isinstance(outcome, Rejected) and "404" in outcome.reason


def test_woocommerce_over_plain_http_signs_with_oauth1_and_the_fake_verifies_the_signature(
    woo: FakeWooCommerce,
) -> None:
    woo.add_order(7005)

    outcome = woo_client(woo).order_cancelled(OrderCancelled("7005", reason="x"))

    assert isinstance(outcome, Done)
    assert woo.auth_used and set(woo.auth_used) == {"oauth1"}
    first = woo.requests[0].query_dict()
    assert first["oauth_consumer_key"] == woo.consumer_key
    assert first["oauth_signature_method"] == "HMAC-SHA256"
    assert "authorization" not in woo.requests[0].headers


def test_a_tampered_or_replayed_oauth1_request_is_refused_by_the_fake(woo: FakeWooCommerce) -> None:
    woo.add_order(7006)
    client = woo_client(woo)
    assert isinstance(client.order_cancelled(OrderCancelled("7006", reason="x")), Done)
    signed = woo.requests[0]
    from chalicelib.adapters.http_sender import send_request

    def resend(path: str, query: list[tuple[str, str]]) -> int | None:
        url = f"{woo.url}{path}?{urlencode(query)}"
        return send_request("GET", url, headers={}, body=None, allow_loopback=True).status_code

    tampered = [(k, v) for k, v in signed.query if k != "oauth_nonce"] + [("oauth_nonce", "fresh-nonce-1")]
    assert resend(signed.path, tampered) == 401  # the signature no longer matches its parameters
    assert resend(signed.path.replace("7006", "7005"), signed.query) == 401  # another resource
    assert resend(signed.path, signed.query) == 401  # the same request again: its nonce was used


def test_a_wrong_woocommerce_secret_is_credentials_rejected(woo: FakeWooCommerce) -> None:
    woo.add_order(7007)

    outcome = woo_client(woo, secret="cs_wrong").order_cancelled(OrderCancelled("7007", reason="x"))

    assert isinstance(outcome, CredentialsRejected)
    assert woo.orders[7007].status == "processing"


def test_woocommerce_over_https_authenticates_with_basic_auth() -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    fake = FakeWooCommerce()
    with serving(fake, tls=server_tls):
        fake.add_product("MUG-1", stock_quantity=1)
        outcome = woo_client(fake, tls=client_tls).stock_level_changed(StockLevelChanged("MUG-1", 9, "k"))

    assert isinstance(outcome, Done)
    assert set(fake.auth_used) == {"basic"}
    assert fake.requests[0].headers["authorization"].startswith("Basic ")
    assert "oauth_signature" not in fake.requests[0].query_dict()


def test_woocommerce_429_honours_retry_after_and_5xx_and_401_are_classified(woo: FakeWooCommerce) -> None:
    woo.add_order(7008)
    client = woo_client(woo)
    request = OrderCancelled("7008", reason="x")

    woo.answer_429_next(retry_after="7")
    busy = client.order_cancelled(request)
    woo.answer_429_next(retry_after=None)
    busy_without_header = client.order_cancelled(request)
    woo.answer_500_next()
    failing = client.order_cancelled(request)
    woo.answer_401_next()
    revoked = client.order_cancelled(request)

    assert busy == RetryAfter(7, "the store answered HTTP 429")
    assert isinstance(busy_without_header, RetryAfter) and busy_without_header.seconds >= 1
    assert isinstance(failing, RetryAfter) and "500" in failing.reason
    assert isinstance(revoked, CredentialsRejected)
    assert woo.orders[7008].status == "processing"


# --- the transport's rules ---------------------------------------------------------------------


def test_plain_http_and_loopback_store_urls_are_refused_where_loopback_is_not_allowed(
    shopify: FakeShopify, woo: FakeWooCommerce
) -> None:
    shopify.add_order(5011, [("MUG-1", 1)])
    woo.add_order(7009)
    apis = HttpStoreApis(allow_loopback=False)

    on_shopify = apis.for_credentials(ShopifyCredentials(shopify.url, shopify.access_token)).parcel_shipped(
        parcel("5011", "TRK-1", ("MUG-1", 1))
    )
    on_woo = apis.for_credentials(WooCommerceCredentials(woo.url, "ck", "cs")).order_cancelled(
        OrderCancelled("7009", reason="x")
    )
    https_loopback = ShopifyStoreApi(
        ShopifyCredentials(shopify.url.replace("http://", "https://"), "t"), allow_loopback=False
    ).order_cancelled(OrderCancelled("5011", reason="x"))

    assert isinstance(on_shopify, CredentialsRejected) and "https" in on_shopify.reason
    assert isinstance(on_woo, CredentialsRejected) and "https" in on_woo.reason
    assert isinstance(https_loopback, CredentialsRejected) and "loopback" in https_loopback.reason
    assert shopify.requests == [] and woo.requests == []


def test_a_store_that_does_not_answer_is_retried_later() -> None:
    fake = FakeShopify()
    with serving(fake):
        url = fake.url  # the port is free again once the server stops

    outcome = ShopifyStoreApi(ShopifyCredentials(url, "t"), allow_loopback=True).order_cancelled(
        OrderCancelled("1", reason="x")
    )

    assert isinstance(outcome, RetryAfter) and "no answer" in outcome.reason


def test_the_sender_keeps_the_answer_only_when_asked_and_never_more_than_asked(shopify: FakeShopify) -> None:
    from chalicelib.adapters.http_sender import send_request

    url = f"{shopify.url}/admin/api/{SHOPIFY_API_VERSION}/graphql.json"
    headers = {"X-Shopify-Access-Token": shopify.access_token, "Content-Type": "application/json"}
    body = b'{"query": "query { order(id: $id) { id } }", "variables": {"id": "gid://shopify/Order/1"}}'

    kept = send_request("POST", url, headers=headers, body=body, allow_loopback=True, keep_body_bytes=4096)
    cut = send_request("POST", url, headers=headers, body=body, allow_loopback=True, keep_body_bytes=10)
    status_only = send_request("POST", url, headers=headers, body=body, allow_loopback=True)

    assert kept.status_code == 200 and kept.body.startswith(b'{"data"') and not kept.body_truncated
    assert kept.headers["content-type"] == "application/json"
    assert len(cut.body) == 10 and cut.body_truncated
    assert status_only.status_code == 200 and status_only.body == b"" and status_only.headers == {}
    assert [r.body for r in shopify.requests] == [body] * 3


def test_a_forced_throttle_is_retried_and_the_next_call_goes_through(shopify: FakeShopify) -> None:
    shopify.add_order(5012, [("MUG-1", 1)])
    shopify.throttle_next()
    client = shopify_client(shopify)

    throttled = client.parcel_shipped(parcel("5012", "TRK-1", ("MUG-1", 1)))
    shopify.set_bucket(2000)
    again = client.parcel_shipped(parcel("5012", "TRK-1", ("MUG-1", 1)))

    assert isinstance(throttled, RetryAfter) and throttled.seconds == 1  # 62 points at 100 per second
    assert isinstance(again, Done)


def test_a_store_url_with_no_store_api_behind_it_is_credentials_rejected(
    shopify: FakeShopify, woo: FakeWooCommerce
) -> None:
    wrong_shopify = ShopifyStoreApi(
        ShopifyCredentials(f"{shopify.url}/not-a-shop", shopify.access_token), allow_loopback=True
    )
    wrong_woo = WooCommerceStoreApi(
        WooCommerceCredentials(f"{woo.url}/blog", woo.consumer_key, woo.consumer_secret), allow_loopback=True
    )

    assert isinstance(wrong_shopify.order_cancelled(OrderCancelled("1", reason="x")), CredentialsRejected)
    assert isinstance(wrong_woo.order_cancelled(OrderCancelled("1", reason="x")), CredentialsRejected)


def test_a_non_loopback_store_url_must_be_https() -> None:
    outcome = ShopifyStoreApi(
        ShopifyCredentials("http://shop.example", "t"), allow_loopback=False
    ).order_cancelled(OrderCancelled("1", reason="x"))

    assert isinstance(outcome, CredentialsRejected) and "only https" in outcome.reason
