"""Channel administration (admin) and the stores' outbound webhook endpoints."""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.framework import KEYED, Call, endpoint, scoped
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Role
from chalicelib.domain.models import BackorderPolicy, Channel, ChannelKind, Line, Timestamp
from chalicelib.domain.outbound import Delivery, WebhookEndpoint
from chalicelib.domain.store_connection import StoreApiRequest
from chalicelib.service.channels import (
    KEEP,
    ChannelState,
    Keep,
    StoreConnectionChange,
    create_channel,
    get_channel,
    list_deliveries,
    register_endpoint,
    update_channel,
)

channels_api = Blueprint(__name__)

ADMIN = (Role.ADMIN,)
CHANNEL_OR_ADMIN = (Role.CHANNEL, Role.ADMIN)
Secret = Annotated[str, Field(min_length=8, max_length=512)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ChannelCreate(_Body):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")]
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    kind: ChannelKind = ChannelKind.API
    backorder_policy: BackorderPolicy = BackorderPolicy.BACKORDER
    shop_domain: Annotated[Line, Field(max_length=255)] | None = None
    #: The store's webhook signing secret (Shopify app secret, WooCommerce webhook secret). Write-only.
    signing_secret: Secret | None = None


Credential = Annotated[str, Field(min_length=1, max_length=512)]


class StoreApiBody(_Body):
    """The store's API: Shopify takes ``access_token``; WooCommerce ``consumer_key`` and
    ``consumer_secret``. Write-only."""

    #: The store's base URL, https (e.g. https://shop.example.com), no path.
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    access_token: Credential | None = None
    consumer_key: Credential | None = None
    consumer_secret: Credential | None = None


class ChannelUpdate(_Body):
    name: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    backorder_policy: BackorderPolicy | None = None
    shop_domain: Annotated[Line, Field(max_length=255)] | None = None
    #: A new signing secret: the previous one stays accepted until ``retire_previous_secret``.
    signing_secret: Secret | None = None
    retire_previous_secret: bool = False
    #: Connect the store's API (replacing the credentials), or null to disconnect it.
    store_api: StoreApiBody | None = None
    #: Warehouse id -> Shopify location id (gid://shopify/Location/<n>) its stock is pushed to.
    locations: (
        dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=100)]] | None
    ) = None
    #: Push changes of available stock to the store.
    stock_sync: bool | None = None


class StoreApiView(BaseModel):
    """The store's API as shown: never a credential."""

    url: str
    configured: bool
    updated_at: Timestamp


class ChannelView(Channel):
    """A channel as the API shows it: its secrets never, only how many are accepted."""

    signing_secrets: int
    store_api: StoreApiView | None = None  # type: ignore[assignment]


class EndpointCreate(_Body):
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    events: Annotated[list[str], Field(min_length=1, max_length=50)]


class EndpointCreated(WebhookEndpoint):
    #: The ``whsec_`` secret to verify deliveries with. Shown this once only.
    secret: str


class EndpointList(BaseModel):
    items: list[WebhookEndpoint]


class DeliveriesQuery(_Body):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class DeliveryList(BaseModel):
    items: list[Delivery]


def _view(state: ChannelState) -> ChannelView:
    link = state.channel.store_api
    return ChannelView(
        **state.channel.model_dump(exclude={"store_api"}),
        signing_secrets=state.signing_secrets,
        store_api=None
        if link is None
        else StoreApiView(url=link.url, configured=True, updated_at=link.updated_at),
    )


@endpoint(
    channels_api,
    "/v1/channels",
    "POST",
    summary="Create a channel (signing secret write-only)",
    roles=ADMIN,
    access=KEYED,
    body=ChannelCreate,
    response=ChannelView,
    success_status=201,
    tags=("channels",),
    errors=(400, 401, 403, 409, 413, 415, 422),
)
def create(call: Call) -> ChannelView:
    svc = services()
    body: ChannelCreate = call.body
    channel = Channel(
        id=body.id,
        name=body.name,
        kind=body.kind,
        backorder_policy=body.backorder_policy,
        shop_domain=body.shop_domain,
    )
    return _view(create_channel(svc.channels, svc.secrets, channel, body.signing_secret))


@endpoint(
    channels_api,
    "/v1/channels/{channel_id}",
    "GET",
    summary="A channel",
    roles=ADMIN,
    access=scoped("channel", "channel_id"),
    response=ChannelView,
    tags=("channels",),
    errors=(401, 403, 404),
)
def read(call: Call) -> ChannelView:
    svc = services()
    return _view(get_channel(svc.channels, svc.secrets, call.params["channel_id"]))


@endpoint(
    channels_api,
    "/v1/channels/{channel_id}",
    "PATCH",
    summary="Change a channel: a new signing secret keeps the previous one accepted until retired; "
    "the store's API credentials (store_api) are write-only",
    roles=ADMIN,
    access=scoped("channel", "channel_id"),
    body=ChannelUpdate,
    response=ChannelView,
    tags=("channels",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def change(call: Call) -> ChannelView:
    svc = services()
    body: ChannelUpdate = call.body
    changes = body.model_dump(
        exclude_none=True, exclude={"signing_secret", "retire_previous_secret", "store_api"}
    )
    store_api: StoreApiRequest | Keep | None = KEEP
    if "store_api" in body.model_fields_set:
        store_api = None if body.store_api is None else StoreApiRequest(**body.store_api.model_dump())
    store = StoreConnectionChange(
        store_api=store_api,
        allow_loopback=svc.settings.allow_loopback_webhooks,
        check_reachable=svc.webhook_transport.check_reachable,
        actor=call.who.actor,
    )
    return _view(
        update_channel(
            svc.channels,
            svc.secrets,
            call.params["channel_id"],
            changes,
            signing_secret=body.signing_secret,
            retire_previous_secret=body.retire_previous_secret,
            store=store,
            clock=svc.clock,
            ids=svc.ids,
        )
    )


@endpoint(
    channels_api,
    "/v1/channels/{channel_id}/webhook-endpoints",
    "POST",
    summary="Subscribe a URL to order events, signed per Standard Webhooks; the secret is shown once",
    roles=CHANNEL_OR_ADMIN,
    access=scoped("channel", "channel_id"),
    body=EndpointCreate,
    response=EndpointCreated,
    success_status=201,
    tags=("channels",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def add_endpoint(call: Call) -> EndpointCreated:
    channel_id = call.params["channel_id"]
    call.who.require_channel_access(channel_id)
    svc = services()
    body: EndpointCreate = call.body
    allow_loopback = svc.settings.allow_loopback_webhooks
    created, secret = register_endpoint(
        svc.channels,
        svc.secrets,
        channel_id,
        body.url,
        body.events,
        check_reachable=svc.webhook_transport.check_reachable,
        require_https=not allow_loopback,
        ids=svc.ids,
        clock=svc.clock,
    )
    return EndpointCreated(**created.model_dump(), secret=secret)


@endpoint(
    channels_api,
    "/v1/channels/{channel_id}/webhook-endpoints",
    "GET",
    summary="The channel's endpoints",
    roles=CHANNEL_OR_ADMIN,
    access=scoped("channel", "channel_id"),
    response=EndpointList,
    tags=("channels",),
    errors=(401, 403),
)
def endpoints(call: Call) -> EndpointList:
    channel_id = call.params["channel_id"]
    call.who.require_channel_access(channel_id)
    return EndpointList(items=services().channels.list_endpoints(channel_id))


@endpoint(
    channels_api,
    "/v1/channels/{channel_id}/webhook-endpoints/{endpoint_id}/deliveries",
    "GET",
    summary="Delivery attempts to an endpoint, newest first, with status codes",
    roles=CHANNEL_OR_ADMIN,
    access=scoped("channel", "channel_id"),
    query=DeliveriesQuery,
    response=DeliveryList,
    tags=("channels",),
    errors=(401, 403, 404, 422),
)
def deliveries(call: Call) -> DeliveryList:
    channel_id = call.params["channel_id"]
    call.who.require_channel_access(channel_id)
    items = list_deliveries(services().channels, channel_id, call.params["endpoint_id"], call.query.limit)
    return DeliveryList(items=items)
