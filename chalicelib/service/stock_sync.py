"""Stock levels pushed to the stores: the use cases of the stock-sync worker.

Three kinds of message arrive on the stock-sync queue (``chalicelib.domain.stock_sync`` explains
the coalescing):

- an event that may have changed ``available`` (:func:`record_change`): each SKU it touches is
  marked on every channel that syncs stock; the change that turns a marker dirty sends one
  delayed push message, the others send nothing;
- a push message (:func:`push_sku`): the marker and the stock are read now, the store is set to
  the current value, and the marker is cleared unless it was marked again meanwhile (then the
  push is sent again);
- a catalogue page (:func:`push_catalogue_page`), after ``channel.store_api_changed``: one page of
  the catalogue's SKUs is marked and sent as push messages, and the next page follows as a
  message of its own, so a catalogue of any size never holds one function for long.

How each store answer ends (``chalicelib.domain.store_api``):

- ``Done``: the marker is cleared;
- ``RetryAfter``: the marker stays dirty and the push is sent again as a *new* message delayed by
  the store's wait (longer than SQS's 15-minute delay: carried in ``not_before`` and delayed
  again on arrival). The received message is acknowledged, so its receive count never grows
  and the store's throttling never moves it to the dead-letter queue; nothing sleeps;
- ``CredentialsRejected``: the marker stays dirty and the message is acknowledged: nothing is
  lost, and the full push that fixing the channel starts (``channel.store_api_changed``) pushes
  it; :func:`credentials_rejected_notice` says what an operator must know;
- ``Rejected`` because the store sells no such SKU: remembered on the marker (not asked again);
- any other ``Rejected``: the marker is cleared and the reason returned for the failure record;
  the push is not retried (the next change of the SKU pushes again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.models import Channel, ChannelKind, format_timestamp
from chalicelib.domain.stock_sync import (
    Mark,
    SyncMarker,
    delay_for,
    is_unknown_sku,
    plan_push,
    pushed_after,
    skus_changed,
    stock_targets,
    store_version,
    syncs_stock,
)
from chalicelib.domain.store_api import CredentialsRejected, Done, Rejected, RetryAfter, StoreCallOutcome
from chalicelib.service.channels import store_credentials
from chalicelib.service.ports import (
    ChannelRepository,
    Clock,
    Secrets,
    StockSyncQueue,
    StockSyncState,
    StoreApis,
    UnitOfWorkFactory,
)

#: SKUs per catalogue page: each is one marker write and a tenth of a SendMessageBatch.
CATALOGUE_PAGE = 100
#: The wait before pushing again when the channel's stored credentials do not match it yet.
CREDENTIALS_NOT_READY_SECONDS = 30


@dataclass(frozen=True)
class StockSyncContext:
    uow_factory: UnitOfWorkFactory
    channels: ChannelRepository
    secrets: Secrets
    stores: StoreApis
    state: StockSyncState
    queue: StockSyncQueue
    clock: Clock
    #: Seconds between the first change of a burst and its push.
    delay_seconds: int


class PushStatus(StrEnum):
    #: The store was set to the current value (or already had it).
    PUSHED = "pushed"
    #: No push was pending (a duplicate message, or another delivery pushed it).
    NOTHING = "nothing"
    #: The channel no longer syncs stock.
    NOT_SYNCED = "not_synced"
    #: Not due yet: sent on again, delayed.
    WAITING = "waiting"
    #: The store asked to wait: the push was sent again, delayed.
    RETRY = "retry"
    #: The store does not sell the SKU: remembered.
    NOT_SOLD = "not_sold"
    #: The channel's credentials were refused: the marker stays dirty.
    CREDENTIALS_REJECTED = "credentials_rejected"
    #: The store refused the value for good.
    REJECTED = "rejected"


@dataclass(frozen=True)
class PushResult:
    status: PushStatus
    detail: str = ""
    #: Store calls made.
    calls: int = 0


def push_message(channel_id: str, sku: str, *, not_before: datetime | None = None) -> str:
    body: dict[str, Any] = {"channel_id": channel_id, "sku": sku}
    if not_before is not None:
        body["not_before"] = format_timestamp(not_before)
    return json.dumps({"stock_push": body}, separators=(",", ":"))


def catalogue_message(channel_id: str, after: str | None) -> str:
    return json.dumps({"stock_catalogue": {"channel_id": channel_id, "after": after}}, separators=(",", ":"))


def record_change(ctx: StockSyncContext, event: DomainEvent) -> int:
    """Mark the SKUs the event touched on every channel that syncs stock; returns the push
    messages sent (one per marker the event turned dirty)."""
    if event.type == EventType.CHANNEL_STORE_API_CHANGED:
        return start_full_push(ctx, event.channel_id) if event.channel_id else 0
    skus = sorted(skus_changed(event))
    if not skus:
        return 0
    channels = [c for c in ctx.state.list_channels() if syncs_stock(c)]
    bodies = []
    for channel in channels:
        version = store_version(channel)
        assert version is not None  # syncs_stock: connected
        for sku in skus:
            if event.type == EventType.PRODUCT_CHANGED:
                ctx.state.forget_unsold(channel.id, sku)
            if ctx.state.mark(channel.id, sku, version=version) == Mark.TURNED_DIRTY:
                bodies.append(push_message(channel.id, sku))
    if bodies:
        ctx.queue.send(bodies, delay_seconds=ctx.delay_seconds)
    return len(bodies)


def start_full_push(ctx: StockSyncContext, channel_id: str) -> int:
    """The channel was connected or changed: push its whole catalogue, one page per message."""
    channel = ctx.channels.get(channel_id)
    if channel is None or not syncs_stock(channel):
        return 0
    ctx.queue.send([catalogue_message(channel_id, None)], delay_seconds=0)
    return 1


def push_catalogue_page(ctx: StockSyncContext, channel_id: str, after: str | None) -> int:
    """Mark one page of SKUs for a full push and send their push messages, then the next page."""
    channel = ctx.channels.get(channel_id)
    if channel is None or not syncs_stock(channel):
        return 0
    skus, last = ctx.state.list_skus(after, CATALOGUE_PAGE)
    for sku in skus:
        ctx.state.mark_for_full_push(channel_id, sku)
    if skus:
        ctx.queue.send([push_message(channel_id, sku) for sku in skus], delay_seconds=ctx.delay_seconds)
    if last is not None:
        ctx.queue.send([catalogue_message(channel_id, last)], delay_seconds=0)
    return len(skus)


def push_sku(
    ctx: StockSyncContext, channel_id: str, sku: str, *, not_before: datetime | None = None
) -> PushResult:
    """Set the store's stock of ``sku`` to the current ``available``, if a push is pending."""
    now = ctx.clock.now()
    if not_before is not None and now < not_before:
        _send_again(ctx, channel_id, sku, not_before=not_before, now=now)
        return PushResult(PushStatus.WAITING, f"due at {format_timestamp(not_before)}")
    channel = ctx.channels.get(channel_id)
    if channel is None or not syncs_stock(channel):
        return PushResult(PushStatus.NOT_SYNCED)
    marker = ctx.state.get(channel_id, sku)
    if not marker.dirty:
        return PushResult(PushStatus.NOTHING)
    credentials = store_credentials(ctx.secrets, channel)
    if credentials is None:  # a change of the credentials is under way: its event pushes again
        _send_again(
            ctx, channel_id, sku, not_before=now + timedelta(seconds=CREDENTIALS_NOT_READY_SECONDS), now=now
        )
        return PushResult(PushStatus.RETRY, "the stored credentials do not match the channel yet")
    targets = stock_targets(channel, _levels(ctx, channel, sku), sku)
    requests = plan_push(channel, sku, marker, targets)
    api = ctx.stores.for_credentials(credentials)
    for calls, request in enumerate(requests, start=1):
        outcome = api.stock_level_changed(request)
        if not isinstance(outcome, Done):
            return _not_done(ctx, channel, sku, marker, outcome, calls=calls, now=now)
    if not ctx.state.clear(
        channel_id, sku, changes=marker.changes, pushed=pushed_after(marker, requests, targets)
    ):
        # Marked again during the push: nobody else sends for that change, so this push goes again.
        _send_again(ctx, channel_id, sku, not_before=None, now=now)
    return PushResult(
        PushStatus.PUSHED, f"{len(requests)} call(s) for {len(targets)} target(s)", len(requests)
    )


def _not_done(
    ctx: StockSyncContext,
    channel: Channel,
    sku: str,
    marker: SyncMarker,
    outcome: StoreCallOutcome,
    *,
    calls: int,
    now: datetime,
) -> PushResult:
    """What a store answer other than ``Done`` does to the push (see the module docstring)."""
    if isinstance(outcome, RetryAfter):
        _send_again(ctx, channel.id, sku, not_before=now + timedelta(seconds=outcome.seconds), now=now)
        return PushResult(PushStatus.RETRY, f"{outcome.reason}; again in {outcome.seconds} s", calls)
    if isinstance(outcome, CredentialsRejected):
        return PushResult(PushStatus.CREDENTIALS_REJECTED, outcome.reason, calls)
    assert isinstance(outcome, Rejected)
    if is_unknown_sku(outcome):
        version = store_version(channel)
        assert version is not None  # syncs_stock: connected
        if not ctx.state.set_unsold(channel.id, sku, changes=marker.changes, version=version):
            _send_again(ctx, channel.id, sku, not_before=None, now=now)
        return PushResult(PushStatus.NOT_SOLD, outcome.reason, calls)
    if not ctx.state.clear(channel.id, sku, changes=marker.changes, pushed=dict(marker.pushed)):
        _send_again(ctx, channel.id, sku, not_before=None, now=now)
    return PushResult(PushStatus.REJECTED, outcome.reason, calls)


def credentials_rejected_notice(channel: Channel | str, reason: str) -> str:
    """What operations must know when a stock push found the channel's credentials refused.

    The pending pushes are kept (their markers stay dirty); fixing the channel's ``store_api``
    (``PATCH /v1/channels/{id}``) pushes its whole catalogue again. The worker logs this and raises
    the write-back's alert (``service/store_alerts.py``): one on the operations topic per channel,
    and the channel on the console's needs-attention page."""
    channel_id = channel.id if isinstance(channel, Channel) else channel
    return (
        f"channel {channel_id}: the store refused the stock push's credentials ({reason}); "
        "stock levels are kept pending until the channel's store_api is fixed"
    )


def parse_push(body: dict[str, Any]) -> tuple[str, str, datetime | None]:
    """(channel id, SKU, not before) of a push message's body."""
    raw = body.get("not_before")
    return str(body["channel_id"]), str(body["sku"]), datetime.fromisoformat(str(raw)) if raw else None


def _levels(ctx: StockSyncContext, channel: Channel, sku: str) -> list[Any]:
    """The SKU's stock levels in the warehouses that can sell it: active ones (an inactive
    warehouse is given no new orders, so its stock counts as 0), mapped ones for Shopify."""
    uow = ctx.uow_factory()
    active = {w.id for w in uow.list_warehouses() if w.active}
    if channel.kind == ChannelKind.SHOPIFY:
        active &= set(channel.locations)
    return list(uow.get_stock([sku], sorted(active)).values())


def _send_again(
    ctx: StockSyncContext, channel_id: str, sku: str, *, not_before: datetime | None, now: datetime
) -> None:
    """The push as a new message: due after the coalescing delay, or at ``not_before``."""
    if not_before is None:
        ctx.queue.send([push_message(channel_id, sku)], delay_seconds=ctx.delay_seconds)
        return
    wait = max(0, int((not_before - now).total_seconds() + 0.999))
    ctx.queue.send([push_message(channel_id, sku, not_before=not_before)], delay_seconds=delay_for(wait))
