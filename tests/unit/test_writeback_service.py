"""Write-back use case (``chalicelib.service.writeback.reconcile_order``) over the in-memory table,
secret store and fake store APIs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Channel, ChannelKind, Fulfillment, Shipment, StoreApiLink, TrackedScan
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from chalicelib.domain.store_api import ShopifyCredentials, WooCommerceCredentials
from chalicelib.domain.store_connection import (
    secret_line,
    store_api_secret_name,
)
from chalicelib.domain.writeback import Milestone
from chalicelib.service.writeback import CredentialsNotReady, Skipped, reconcile_order
from tests.unit.builders import fulfillment, priced_order
from tests.unit.fakes import FakeSecrets, FakeStore, FakeStoreWriters, FakeUnitOfWorkFactory

CONNECTED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHIPPED_AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def connected(kind: ChannelKind, channel_id: str, secrets: FakeSecrets) -> Channel:
    url = f"https://{channel_id}.example.com"
    credentials: ShopifyCredentials | WooCommerceCredentials = (
        ShopifyCredentials(url, "shpat_1")
        if kind == ChannelKind.SHOPIFY
        else WooCommerceCredentials(url, "ck", "cs")
    )
    secrets.put(store_api_secret_name(kind, channel_id), [secret_line(credentials, CONNECTED_AT)])
    return Channel(
        id=channel_id, name=channel_id, kind=kind, store_api=StoreApiLink(url=url, updated_at=CONNECTED_AT)
    )


def shipped(fulfillment_id: str, sku: str, number: str, *, delivered: bool = False) -> Fulfillment:
    ful = fulfillment(
        (sku, 1),
        status=FulfillmentStatus.DELIVERED if delivered else FulfillmentStatus.SHIPPED,
        fulfillment_id=fulfillment_id,
    )
    history = (
        [
            TrackedScan(
                status=TrackingStatus.DELIVERED,
                raw_status="delivered",
                occurred_at=SHIPPED_AT.replace(hour=15),
                provider="easypost",
                applied=True,
            )
        ]
        if delivered
        else []
    )
    return ful.model_copy(
        update={
            "channel_id": "shop",
            "shipment": Shipment(
                carrier="ups",
                service="ground",
                tracking_numbers=[number],
                tracking_url=f"https://track.example/{number}",
                shipped_at=SHIPPED_AT,
            ),
            "tracking_history": history,
        }
    )


@pytest.fixture
def table() -> FakeStore:
    return FakeStore()


def test_a_two_parcel_shopify_order_gets_two_fulfillments_and_the_delivered_event_once(
    table: FakeStore,
) -> None:
    secrets, writers = FakeSecrets(), FakeStoreWriters()
    table.add_channel(connected(ChannelKind.SHOPIFY, "shop", secrets))
    order = priced_order(
        ("MUG-1", 1, "5.00"),
        ("TEE-M", 1, "9.00"),
        channel_id="shop",
        external_id="4501",
        status=OrderStatus.SHIPPED,
    )
    table.put_order(
        order,
        [shipped("ful_a", "MUG-1", "1ZA", delivered=True), shipped("ful_b", "TEE-M", "1ZB")],
    )
    uow = FakeUnitOfWorkFactory(table)

    first = reconcile_order("shop", order.id, uow_factory=uow, secrets=secrets, stores=writers)
    again = reconcile_order("shop", order.id, uow_factory=uow, secrets=secrets, stores=writers)

    state = writers.shopify_orders.orders["4501"]
    assert [f.tracking_numbers for f in state.fulfillments] == [("1ZA",), ("1ZB",)]
    assert state.fulfillments[0].events == {Milestone.DELIVERED}
    assert len(first.actions) == 3 and again.actions == []
    assert writers.credentials[0] == ShopifyCredentials("https://shop.example.com", "shpat_1")


def test_a_run_stopped_by_the_store_going_down_is_finished_by_the_next_one(table: FakeStore) -> None:
    secrets, writers = FakeSecrets(), FakeStoreWriters()
    table.add_channel(connected(ChannelKind.SHOPIFY, "shop", secrets))
    order = priced_order(
        ("MUG-1", 1, "5.00"), channel_id="shop", external_id="4501", status=OrderStatus.DELIVERED
    )
    table.put_order(order, [shipped("ful_a", "MUG-1", "1ZA", delivered=True)])
    writers.shopify_orders.fail_on = 2  # the fulfillment is created, its event call fails
    uow = FakeUnitOfWorkFactory(table)

    with pytest.raises(ConnectionError):
        reconcile_order("shop", order.id, uow_factory=uow, secrets=secrets, stores=writers)
    retried = reconcile_order("shop", order.id, uow_factory=uow, secrets=secrets, stores=writers)

    [only] = writers.shopify_orders.orders["4501"].fulfillments
    assert only.events == {Milestone.DELIVERED}
    assert [type(a).__name__ for a in retried.actions] == ["CreateFulfillmentEvent"]


def test_a_fully_shipped_woocommerce_order_gets_its_tracking_note_and_is_completed(table: FakeStore) -> None:
    secrets, writers = FakeSecrets(), FakeStoreWriters()
    table.add_channel(connected(ChannelKind.WOOCOMMERCE, "woo", secrets))
    order = priced_order(("MUG-1", 1, "5.00"), channel_id="woo", external_id="77", status=OrderStatus.SHIPPED)
    table.put_order(order, [shipped("ful_a", "MUG-1", "1ZA")])

    reconcile_order(
        "woo", order.id, uow_factory=FakeUnitOfWorkFactory(table), secrets=secrets, stores=writers
    )

    [note] = writers.woocommerce_orders.notes["77"]
    assert "1ZA" in note.text and note.customer_visible
    assert writers.woocommerce_orders.status["77"] == "completed"


def test_a_channel_without_a_connected_store_api_is_skipped_without_a_call(table: FakeStore) -> None:
    writers = FakeStoreWriters()
    table.add_channel(Channel(id="shop", name="Shop", kind=ChannelKind.SHOPIFY))
    order = priced_order(("MUG-1", 1, "5.00"), channel_id="shop", status=OrderStatus.SHIPPED)
    table.put_order(order, [])

    result = reconcile_order(
        "shop", order.id, uow_factory=FakeUnitOfWorkFactory(table), secrets=FakeSecrets(), stores=writers
    )

    assert result.skipped == Skipped.NOT_CONNECTED and writers.credentials == []


def test_credentials_that_do_not_match_the_channel_yet_are_retried_not_used(table: FakeStore) -> None:
    secrets = FakeSecrets()
    channel = connected(ChannelKind.SHOPIFY, "shop", secrets)
    assert channel.store_api is not None
    moved = channel.model_copy(
        update={"store_api": channel.store_api.model_copy(update={"updated_at": SHIPPED_AT})}
    )
    table.add_channel(moved)
    order = priced_order(("MUG-1", 1, "5.00"), channel_id="shop", status=OrderStatus.SHIPPED)
    table.put_order(order, [])

    with pytest.raises(CredentialsNotReady):
        reconcile_order(
            "shop",
            order.id,
            uow_factory=FakeUnitOfWorkFactory(table),
            secrets=secrets,
            stores=FakeStoreWriters(),
        )


def test_an_order_of_another_channel_is_not_found(table: FakeStore) -> None:
    secrets = FakeSecrets()
    table.add_channel(connected(ChannelKind.SHOPIFY, "shop", secrets))
    order = priced_order(("MUG-1", 1, "5.00"), channel_id="other")
    table.put_order(order, [])

    with pytest.raises(NotFound):
        reconcile_order(
            "shop",
            order.id,
            uow_factory=FakeUnitOfWorkFactory(table),
            secrets=secrets,
            stores=FakeStoreWriters(),
        )
