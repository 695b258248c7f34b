"""Use cases of channel administration and of signed webhooks back to the stores.

Secrets are write-only: the API stores them in the secret store (SSM
Parameter Store, SecureString) and only ever says how many are configured.
A new store signing secret keeps the previous one accepted until it is
retired, so a store can be switched over without losing a webhook.
"""

from __future__ import annotations

import base64
import json
import secrets as random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.event_payloads import ChannelStoreApiChanged, StoreApiConfigured
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Channel, ChannelKind, StoreApiLink
from chalicelib.domain.outbound import (
    MAX_ENDPOINTS_PER_CHANNEL,
    SUBSCRIBABLE_EVENTS,
    Delivery,
    EndpointStatus,
    UnsafeUrl,
    WebhookEndpoint,
    check_url_syntax,
    webhook_id,
)
from chalicelib.domain.store_api import StoreCredentials
from chalicelib.domain.store_connection import (
    StoreApiRequest,
    check_locations,
    check_stock_sync,
    credentials_from_request,
    credentials_from_secret,
    secret_line,
    store_api_secret_name,
)
from chalicelib.service.ports import ChannelRepository, Clock, IdGenerator, Secrets


def store_secret_name(kind: ChannelKind, channel_id: str) -> str:
    return f"webhooks/{kind.value}/{channel_id}"


def endpoint_secret_name(endpoint_id: str) -> str:
    return f"webhook-endpoints/{endpoint_id}"


@dataclass(frozen=True)
class ChannelState:
    channel: Channel
    #: How many store signing secrets are accepted now (2 during a rotation). Never the secrets.
    signing_secrets: int


def _state(channel: Channel, secrets: Secrets) -> ChannelState:
    count = len(secrets.secrets(store_secret_name(channel.kind, channel.id))) if channel.kind != "api" else 0
    return ChannelState(channel=channel, signing_secrets=count)


def get_channel(repo: ChannelRepository, secrets: Secrets, channel_id: str) -> ChannelState:
    channel = repo.get(channel_id)
    if channel is None:
        raise NotFound("channel", channel_id)
    return _state(channel, secrets)


def create_channel(
    repo: ChannelRepository, secrets: Secrets, channel: Channel, signing_secret: str | None
) -> ChannelState:
    if channel.kind != ChannelKind.API and not signing_secret:
        raise InputInvalid(
            [FieldError(["signing_secret"], f"a {channel.kind.value} channel needs its signing secret")]
        )
    if signing_secret and channel.kind == ChannelKind.API:
        raise InputInvalid([FieldError(["signing_secret"], "api channels authenticate with API keys")])
    repo.create(channel)  # raises ChannelExists (409): the secret of a channel that exists is not touched
    if signing_secret:
        secrets.put(store_secret_name(channel.kind, channel.id), [signing_secret])
    return _state(channel, secrets)


class Keep(Enum):
    """``store_api`` left as it is (the request did not name it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class StoreConnectionChange:
    """The store-API part of a channel change: new credentials, None to disconnect, or KEEP.
    ``locations`` and ``stock_sync`` travel in the channel's ``changes``."""

    store_api: StoreApiRequest | Keep | None = KEEP
    allow_loopback: bool = False
    #: Raises ``UnsafeUrl`` for a URL the service would never call (the webhooks' SSRF check).
    check_reachable: Callable[[str], object] | None = None
    actor: str = "admin"


_STORE_FIELDS = ("store_api", "locations", "stock_sync")


def _connect(
    channel: Channel, updated: Channel, change: StoreConnectionChange, now: datetime
) -> tuple[Channel, StoreCredentials | None]:
    """Apply and check the store-API part of a change: the channel as it will be, and the
    credentials to store (None when they do not change)."""
    credentials = None
    if isinstance(change.store_api, StoreApiRequest):
        credentials = credentials_from_request(
            channel.kind, change.store_api, allow_loopback=change.allow_loopback
        )
        if change.check_reachable is not None:
            try:
                change.check_reachable(credentials.url)
            except UnsafeUrl as exc:
                raise InputInvalid([FieldError(["store_api", "url"], str(exc), "unsafe_url")]) from None
        updated = updated.model_copy(update={"store_api": StoreApiLink(url=credentials.url, updated_at=now)})
    elif change.store_api is None:
        # Disconnected: nothing can be pushed any more, so stock sync stops with it.
        updated = updated.model_copy(update={"store_api": None, "stock_sync": False})
    errors = check_locations(updated.kind, updated.locations) + check_stock_sync(
        updated.kind,
        stock_sync=updated.stock_sync,
        connected=updated.store_api is not None,
        locations=updated.locations,
    )
    if errors:
        raise InputInvalid(errors)
    return updated, credentials


def _store_event(
    updated: Channel, change: StoreConnectionChange, ids: IdGenerator, now: datetime
) -> DomainEvent:
    """What changed in the store connection, without a credential in it."""
    link = updated.store_api
    payload = ChannelStoreApiChanged(
        kind=updated.kind,
        store_api=None if link is None else StoreApiConfigured(url=link.url, configured=True),
        credentials_replaced=isinstance(change.store_api, StoreApiRequest),
        locations=dict(updated.locations),
        stock_sync=updated.stock_sync,
    )
    return DomainEvent.recording(
        payload, id=ids.new("evt"), channel_id=updated.id, occurred_at=now, actor=change.actor
    )


def update_channel(
    repo: ChannelRepository,
    secrets: Secrets,
    channel_id: str,
    changes: dict[str, object],
    *,
    signing_secret: str | None,
    retire_previous_secret: bool,
    store: StoreConnectionChange | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
) -> ChannelState:
    """Change a channel. A change of its store connection (``store``, ``locations``,
    ``stock_sync``) is saved with its ``channel.store_api_changed`` event in one transaction;
    the credentials go to the secret store before it (stamped, so the channel never points at a
    set that is not there) and the superseded set is dropped after it."""
    channel = repo.get(channel_id)
    if channel is None:
        raise NotFound("channel", channel_id)
    if "kind" in changes and changes["kind"] != channel.kind:
        raise Conflict("a channel's kind cannot change; create a new channel instead")
    if signing_secret and channel.kind == ChannelKind.API:
        raise InputInvalid([FieldError(["signing_secret"], "api channels authenticate with API keys")])
    updated = Channel.model_validate({**channel.model_dump(), **changes})
    store = store or StoreConnectionChange()
    credentials: StoreCredentials | None = None
    event: DomainEvent | None = None
    api_secret = store_api_secret_name(channel.kind, channel.id)
    touches_store = store.store_api is not KEEP or any(name in changes for name in _STORE_FIELDS)
    if touches_store:
        if clock is None or ids is None:
            raise TypeError("a change of the store connection needs the clock and the id generator")
        now = clock.now()
        updated, credentials = _connect(channel, updated, store, now)
        if any(getattr(updated, name) != getattr(channel, name) for name in _STORE_FIELDS):
            event = _store_event(updated, store, ids, now)
    new_line = secret_line(credentials, now) if credentials is not None and event is not None else None
    previous: list[str] = []
    if new_line is not None:
        # Beside the set in use: if the save below fails, the channel still matches that one.
        previous = secrets.secrets(api_secret)[:1]
        secrets.put(api_secret, [new_line, *previous])
    if updated != channel:
        repo.save(updated, event=event)
    if new_line is not None and previous:
        secrets.put(api_secret, [new_line])  # the superseded set is of no use any more
    elif store.store_api is None:
        secrets.delete(api_secret)  # also when already disconnected: a retry finishes the job
    _change_signing_secrets(secrets, updated, signing_secret, retire_previous_secret=retire_previous_secret)
    return _state(updated, secrets)


def _change_signing_secrets(
    secrets: Secrets, channel: Channel, signing_secret: str | None, *, retire_previous_secret: bool
) -> None:
    """Store a new store signing secret (rotating or replacing) and/or retire the previous one."""
    name = store_secret_name(channel.kind, channel.id)
    current = secrets.secrets(name)
    if signing_secret and retire_previous_secret:
        secrets.put(name, [signing_secret])  # a replaced (e.g. leaked) secret stops working at once
    elif signing_secret:
        # Rotation: the new secret first, the one in use until now still accepted.
        secrets.put(
            name, [signing_secret, *current[:1]] if signing_secret not in current[:1] else current[:2]
        )
    elif retire_previous_secret and len(current) > 1:
        secrets.put(name, current[:1])


def store_credentials(secrets: Secrets, channel: Channel) -> StoreCredentials | None:
    """The credentials to call the channel's store with; None when it is not connected or its
    stored set does not match the channel (a change still under way)."""
    link = channel.store_api
    if link is None:
        return None
    lines = secrets.secrets(store_api_secret_name(channel.kind, channel.id))
    return credentials_from_secret(channel.kind, lines, url=link.url, version=link.updated_at)


def register_endpoint(
    repo: ChannelRepository,
    secrets: Secrets,
    channel_id: str,
    url: str,
    events: list[str],
    *,
    check_reachable: Callable[[str], object],
    require_https: bool,
    ids: IdGenerator,
    clock: Clock,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its ``whsec_`` secret, shown this once only.

    ``require_https`` is off only in the local stack and tests (plain http to 127.0.0.1).
    """
    if repo.get(channel_id) is None:
        raise NotFound("channel", channel_id)
    unknown = sorted(set(events) - SUBSCRIBABLE_EVENTS)
    if unknown:
        raise InputInvalid([FieldError(["events"], f"not events one can subscribe to: {', '.join(unknown)}")])
    active = [e for e in repo.list_endpoints(channel_id) if e.status == EndpointStatus.ACTIVE]
    if len(active) >= MAX_ENDPOINTS_PER_CHANNEL:
        # Two registrations racing may both pass this read; the cap bounds fan-out, it is not a
        # security boundary, and one endpoint over it does no harm.
        raise Conflict(
            f"a channel has at most {MAX_ENDPOINTS_PER_CHANNEL} active webhook endpoints; "
            "this one has them all (an endpoint disabled by a 410 Gone frees its place)"
        )
    try:
        check_url_syntax(url, require_https=require_https)
        check_reachable(url)
    except UnsafeUrl as exc:
        raise InputInvalid([FieldError(["url"], str(exc), "unsafe_url")]) from None
    now = clock.now()
    endpoint = WebhookEndpoint(
        id=ids.new("whe"),
        channel_id=channel_id,
        url=url,
        events=sorted(set(events)),
        created_at=now,
        updated_at=now,
    )
    secret = "whsec_" + base64.b64encode(random.token_bytes(32)).decode()
    secrets.put(endpoint_secret_name(endpoint.id), [secret])
    repo.save_endpoint(endpoint)
    return endpoint, secret


def list_deliveries(repo: ChannelRepository, channel_id: str, endpoint_id: str, limit: int) -> list[Delivery]:
    if repo.get_endpoint(channel_id, endpoint_id) is None:
        raise NotFound("webhook endpoint", endpoint_id)
    return repo.list_deliveries(endpoint_id, limit)


# --- delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryJob:
    channel_id: str
    endpoint_id: str
    event: DomainEvent


def jobs_for(repo: ChannelRepository, event: DomainEvent) -> list[DeliveryJob]:
    """One job per active endpoint of the event's channel that subscribed to its type."""
    if event.channel_id is None:
        return []
    return [
        DeliveryJob(channel_id=event.channel_id, endpoint_id=e.id, event=event)
        for e in repo.list_endpoints(event.channel_id)
        if e.wants(event.type)
    ]


class Delivered(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SendOutcome:
    status_code: int | None
    error: str | None
    duration_ms: int


Sender = Callable[[str, str, str, str], SendOutcome]
"""(url, secret, webhook id, body) -> outcome."""


def webhook_body(event: DomainEvent) -> str:
    """What the store receives: ``{type, timestamp, data}`` as Standard Webhooks recommends."""
    payload = event.model_dump(mode="json")
    return json.dumps(
        {
            "type": event.type,
            "timestamp": payload["occurred_at"],
            "data": {
                "event_id": event.id,
                "order_id": event.order_id,
                "channel_id": event.channel_id,
                "order_version": event.version,
                **payload["data"],
            },
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class PreparedDelivery:
    """Everything one POST needs, read before any sending starts (the sends run concurrently)."""

    job: DeliveryJob
    endpoint: WebhookEndpoint
    url: str
    secret: str
    message_id: str
    body: str


def prepare_delivery(repo: ChannelRepository, secrets: Secrets, job: DeliveryJob) -> PreparedDelivery | None:
    """What to send for ``job``; None when there is nothing to send (the endpoint was removed or
    disabled since the event happened, or has no secret)."""
    endpoint = repo.get_endpoint(job.channel_id, job.endpoint_id)
    if endpoint is None or endpoint.status != EndpointStatus.ACTIVE:
        return None
    keys = secrets.secrets(endpoint_secret_name(endpoint.id))
    if not keys:
        return None
    message_id = webhook_id(job.event.id, endpoint.id)
    if repo.was_delivered(message_id):
        # At-least-once queues: the event fanned out twice, or this job redelivered after it was
        # sent. The store has it; sending again would hand it the same event twice.
        return None
    return PreparedDelivery(
        job=job,
        endpoint=endpoint,
        url=endpoint.url,
        secret=keys[0],
        message_id=message_id,
        body=webhook_body(job.event),
    )


def record_outcome(
    repo: ChannelRepository, prepared: PreparedDelivery, outcome: SendOutcome, *, attempt: int, clock: Clock
) -> Delivered:
    """Record one attempt and what it means: delivered, retry later, or gone (endpoint disabled)."""
    endpoint = prepared.endpoint
    status = outcome.status_code
    if status is not None and 200 <= status < 300:
        result, label = Delivered.DELIVERED, "delivered"
        repo.mark_delivered(prepared.message_id)
    elif status == 410:
        result, label = Delivered.GONE, "gone"
    else:
        result, label = Delivered.RETRY, "failed"
    repo.record_delivery(
        Delivery(
            endpoint_id=endpoint.id,
            webhook_id=prepared.message_id,
            event_id=prepared.job.event.id,
            event_type=prepared.job.event.type,
            attempt=attempt,
            attempted_at=clock.now(),
            status_code=status,
            outcome=label,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    if result == Delivered.GONE:
        # 410 Gone: the store says this endpoint no longer exists; stop sending to it.
        repo.save_endpoint(
            endpoint.model_copy(
                update={
                    "status": EndpointStatus.DISABLED,
                    "disabled_reason": "the endpoint answered 410 Gone",
                    "updated_at": clock.now(),
                }
            )
        )
    return result


def deliver(
    repo: ChannelRepository, secrets: Secrets, send: Sender, job: DeliveryJob, *, attempt: int, clock: Clock
) -> Delivered:
    """Prepare, send and record one delivery (the worker does the three steps itself, so that a
    batch's sends run side by side)."""
    prepared = prepare_delivery(repo, secrets, job)
    if prepared is None:
        return Delivered.SKIPPED
    outcome = send(prepared.url, prepared.secret, prepared.message_id, prepared.body)
    return record_outcome(repo, prepared, outcome, attempt=attempt, clock=clock)
