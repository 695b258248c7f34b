"""Write-back to the stores: make a store's order show what the service did with it.

``reconcile_order`` is the use case a write-back worker calls for any event of an order
(shipped, tracking updated, cancelled, lines cancelled), whichever it was: it reads the order
now, reads the store's order now, and makes the calls still missing
(``chalicelib.domain.writeback`` explains why it reconciles rather than replaying events, and
how it recognises its own earlier writes). Running it twice, late or concurrently with another
run is safe: the second finds less or nothing to do. Two runs of one order at the same moment,
though, may both create what neither sees yet (a Shopify fulfillment, a WooCommerce note), so
the worker that calls this must let one order have one run at a time (a short per-order claim,
as notifications use; EventBridge cannot group an SQS queue's messages by order).

Errors of a store call are not caught: the message is retried through its queue, and the run
then starts from what the store has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import ChannelKind
from chalicelib.domain.store_api import ShopifyCredentials, WooCommerceCredentials
from chalicelib.domain.writeback import (
    AddOrderNote,
    CancelStoreOrder,
    CreateFulfillment,
    CreateFulfillmentEvent,
    OrderView,
    SetOrderStatus,
    ShopifyAction,
    WooCommerceAction,
    order_view,
    plan_shopify,
    plan_woocommerce,
)
from chalicelib.service.channels import store_credentials
from chalicelib.service.ports import (
    Secrets,
    ShopifyWriter,
    StoreWriters,
    UnitOfWorkFactory,
    WooCommerceWriter,
)


class Skipped(StrEnum):
    #: An API channel, or a store whose API is not connected: nothing to write back to.
    NOT_CONNECTED = "not_connected"


class CredentialsNotReady(Exception):
    """The channel names a store API whose stored credentials do not match it yet (a change of
    them is under way): retry later rather than call the store with a stale set."""


@dataclass(frozen=True)
class WriteBackResult:
    """What a run did: the actions made, in order; ``skipped`` says why none were tried."""

    actions: list[ShopifyAction | WooCommerceAction] = field(default_factory=list)
    skipped: Skipped | None = None


def reconcile_order(
    channel_id: str,
    order_id: str,
    *,
    uow_factory: UnitOfWorkFactory,
    secrets: Secrets,
    stores: StoreWriters,
) -> WriteBackResult:
    """Bring the store's copy of ``order_id`` up to the service's state of it."""
    uow = uow_factory()
    channel = uow.get_channel(channel_id)
    aggregate = uow.get_order(order_id)
    if channel is None:
        raise NotFound("channel", channel_id)
    if aggregate is None or aggregate.order.channel_id != channel_id:
        raise NotFound("order", order_id)
    if channel.kind == ChannelKind.API or channel.store_api is None:
        return WriteBackResult(skipped=Skipped.NOT_CONNECTED)
    credentials = store_credentials(secrets, channel)
    if credentials is None:
        raise CredentialsNotReady(f"the stored credentials of channel {channel_id} do not match it yet")
    view = order_view(aggregate.order, aggregate.fulfillments)
    if isinstance(credentials, ShopifyCredentials):
        return WriteBackResult(
            actions=list(_reconcile_shopify(stores.shopify(credentials), view.external_id, view))
        )
    assert isinstance(credentials, WooCommerceCredentials)
    return WriteBackResult(
        actions=list(_reconcile_woocommerce(stores.woocommerce(credentials), view.external_id, view))
    )


def _reconcile_shopify(store: ShopifyWriter, external_id: str, view: OrderView) -> list[ShopifyAction]:
    plan = plan_shopify(view, store.order_state(external_id))
    created: dict[str, str] = {}
    for action in plan:
        if isinstance(action, CreateFulfillment):
            created[action.parcel_key] = store.create_fulfillment(external_id, action)
        elif isinstance(action, CreateFulfillmentEvent):
            fulfillment_id = action.fulfillment_id or created[action.parcel_key]
            store.create_fulfillment_event(fulfillment_id, action)
        elif isinstance(action, CancelStoreOrder):
            store.cancel_order(external_id, action)
    return plan


def _reconcile_woocommerce(
    store: WooCommerceWriter, external_id: str, view: OrderView
) -> list[WooCommerceAction]:
    plan = plan_woocommerce(view, store.order_state(external_id))
    for action in plan:
        if isinstance(action, AddOrderNote):
            store.add_order_note(external_id, action)
        elif isinstance(action, SetOrderStatus):
            store.set_order_status(external_id, action)
    return plan
