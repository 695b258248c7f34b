"""Stock levels pushed to the stores, coalesced: a burst of changes to one SKU costs a few calls.

Every reservation, release, receipt and count changes a SKU's ``available``; pushing each one to
the store would spend its API budget (Shopify's cost-based throttling, WooCommerce's rate limits)
on values that are stale a moment later. Instead each (channel, SKU) has a **sync marker**, an
item of its own, and a push is a message on the stock-sync queue:

- a change **marks** the SKU dirty and counts the mark (``changes``), in one conditional write;
  only the change that turns a clean marker dirty sends a push message, delayed by a few
  seconds, and every other change of the burst finds it dirty and sends nothing;
- the push message reads the marker and the ``available`` of *that moment* (never a value carried
  in a message), pushes it, then **clears** the marker on condition that ``changes`` is still
  the count it read. A change during the push made the count grow: the clear fails, the marker
  stays dirty, and the push sends itself again (one more delayed message), so that change is
  pushed too. A failed clear also forgets the values pushed (``pushed``): with two deliveries of
  one push racing, which value reached the store last is unknown, so the next push sends all;
- a push that fails (the store busy, its credentials refused) leaves the marker dirty: nothing is
  lost, and the retry, or the full push when the channel is fixed, finds it so.

So a burst of any size within one delay costs one push (two when a change lands during the
push), and the last push carries the final value: what the store shows converges on
``available`` whatever the order, number and duplication of the messages. A duplicate push
message finds the marker clean and does nothing. A value the store was last sent is not sent
again (``pushed``), except by a full push, which forgets them.

A SKU the store does not sell (it answers "no product/variant with SKU") is remembered on the
marker (``unsold_for``, the channel's store API version): changes no longer mark it until the
product changes in the catalogue (its ``product.changed`` forgets it) or the channel's store API
changes (the version no longer matches, and the full push forgets it anyway).

Where the value goes: Shopify keeps stock per location, so each mapped location gets the sum of
``available`` over the warehouses mapped to it (``Channel.locations``); WooCommerce keeps one
count per product or variation, so it gets the sum over every warehouse.

Pure: the adapter makes each marker step one conditional DynamoDB write
(``chalicelib.adapters.dynamodb.stock_sync``), :func:`mark` and :func:`clear` here are the
specification the fakes follow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .events import DomainEvent, EventType
from .models import Channel, ChannelKind, StockLevel, format_timestamp
from .store_api import Rejected, StockLevelChanged, StoreCallOutcome

#: The default delay between the first change of a burst and its push (SQS DelaySeconds).
DEFAULT_DELAY_SECONDS = 5
#: SQS delays a message by at most 15 minutes; a longer wait is made of several delays.
MAX_DELAY_SECONDS = 900
#: The target WooCommerce's single stock count is pushed under (Shopify's are location ids).
WHOLE_STORE = "*"

#: Events after which a SKU's ``available`` may have changed: placement reserves, cancellations
#: and edits release or reserve, backorder allocation reserves, short picks and counts adjust,
#: receipts and restocked returns add; a delivery exception's reship reserves and its restock
#: adds. ``product.changed`` forgets an unsold SKU; ``channel.store_api_changed`` pushes a
#: channel's whole catalogue.
STOCK_EVENT_TYPES: tuple[EventType, ...] = (
    EventType.ORDER_PLACED,
    EventType.ORDER_UPDATED,
    EventType.ORDER_BACKORDER_ALLOCATED,
    EventType.ORDER_CANCELLED,
    EventType.ORDER_LINES_CANCELLED,
    EventType.ORDER_EDITED,
    EventType.FULFILLMENT_SHORT_PICKED,
    EventType.FULFILLMENT_RESOLVED,
    EventType.RETURN_RECEIVED,
    EventType.INVENTORY_RECEIVED,
    EventType.INVENTORY_ADJUSTED,
    EventType.INVENTORY_COUNTED,
    EventType.PRODUCT_CHANGED,
    EventType.CHANNEL_STORE_API_CHANGED,
)

#: Payload fields that map SKUs to units (``{"MUG-1": 2}``): their keys are SKUs.
_SKU_KEYED_FIELDS = frozenset({"cancelled", "restocked", "written_off", "shortfalls"})
#: The store clients' words for "this store has no product or variation with that SKU".
_UNKNOWN_SKU_PHRASES = ("has no product variant with SKU", "has no product or variation with SKU")


@dataclass(frozen=True)
class SyncMarker:
    """The push state of one SKU on one channel."""

    dirty: bool = False
    #: How many times it was marked; a push clears only the mark count it read.
    changes: int = 0
    #: The store API version (``Channel.store_api.updated_at``) under which the store said it
    #: does not sell this SKU; None when it does (or was never asked).
    unsold_for: str | None = None
    #: Target (Shopify location id, or :data:`WHOLE_STORE`) -> the value last pushed there.
    pushed: Mapping[str, int] = field(default_factory=dict)


class Mark(StrEnum):
    """What a change did to the marker."""

    #: It was clean: this change sends the push message.
    TURNED_DIRTY = "turned_dirty"
    #: A push is pending already; it will read this change's value.
    ALREADY_DIRTY = "already_dirty"
    #: The store does not sell the SKU: nothing to push.
    NOT_SOLD = "not_sold"


def store_version(channel: Channel) -> str | None:
    """The version of the channel's store API connection (None when not connected)."""
    return format_timestamp(channel.store_api.updated_at) if channel.store_api is not None else None


def syncs_stock(channel: Channel) -> bool:
    """Stock is pushed to the channel's store: stock sync on, and its API connected."""
    return (
        channel.stock_sync
        and channel.store_api is not None
        and channel.kind in (ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE)
        and (channel.kind != ChannelKind.SHOPIFY or bool(channel.locations))
    )


def mark(marker: SyncMarker, *, version: str) -> tuple[SyncMarker, Mark]:
    """A change of ``available``: the marker after it, and what the change must do."""
    if marker.unsold_for == version:
        return marker, Mark.NOT_SOLD
    marked = replace(marker, dirty=True, changes=marker.changes + 1)
    return marked, (Mark.ALREADY_DIRTY if marker.dirty else Mark.TURNED_DIRTY)


def mark_for_full_push(marker: SyncMarker) -> SyncMarker:
    """A full push (the channel was connected or changed): dirty, nothing remembered."""
    return SyncMarker(dirty=True, changes=marker.changes + 1)


def clear(marker: SyncMarker, *, changes: int, pushed: Mapping[str, int]) -> SyncMarker | None:
    """The marker after a push of the mark count ``changes``; None when the clear fails because
    it was marked again since, or another delivery of the push cleared it first. Then the caller
    :func:`forget_pushed` (which of two racing pushes reached the store last is unknown) and sends
    the push again."""
    if marker.changes != changes or not marker.dirty:
        return None
    return replace(marker, dirty=False, pushed=dict(pushed))


def forget_pushed(marker: SyncMarker) -> SyncMarker:
    """After a failed clear: what the store holds is no longer known, so the next push sends all."""
    return replace(marker, pushed={})


def skus_changed(event: DomainEvent) -> frozenset[str]:
    """The SKUs whose ``available`` the event may have changed (more is harmless: a push of an
    unchanged value is skipped; fewer would leave the store behind)."""
    found: set[str] = set()
    if event.sku:
        found.add(event.sku)
    _collect_skus(event.data, found)
    return frozenset(found)


def _collect_skus(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == "sku" and isinstance(inner, str):
                found.add(inner)
            elif name in _SKU_KEYED_FIELDS and isinstance(inner, dict):
                found.update(str(sku) for sku in inner)
            else:
                _collect_skus(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _collect_skus(inner, found)


def stock_targets(channel: Channel, levels: Iterable[StockLevel], sku: str) -> dict[str, int]:
    """Target -> the ``available`` of ``sku`` to push there (a level missing counts as 0).

    Shopify: each mapped location, the sum over the warehouses mapped to it. WooCommerce: the
    sum over every warehouse, under :data:`WHOLE_STORE`. Never below zero."""
    available = {level.warehouse_id: level.available for level in levels if level.sku == sku}
    if channel.kind == ChannelKind.SHOPIFY:
        targets: dict[str, int] = {}
        for warehouse_id, location in sorted(channel.locations.items()):
            targets[location] = targets.get(location, 0) + available.get(warehouse_id, 0)
        return {target: max(0, value) for target, value in targets.items()}
    return {WHOLE_STORE: max(0, sum(available.values()))}


def plan_push(
    channel: Channel, sku: str, marker: SyncMarker, targets: Mapping[str, int]
) -> list[StockLevelChanged]:
    """The store calls that set ``targets`` (one per distinct value; Shopify sets several
    locations of one value in one call), leaving out targets already holding their value.

    The idempotency key is derived from the channel, SKU, mark count, locations and value: a
    resent push reuses it (Shopify answers it once), a new level gets a new one."""
    to_send = {t: v for t, v in targets.items() if marker.pushed.get(t) != v}
    by_value: dict[int, list[str]] = {}
    for target, value in sorted(to_send.items()):
        by_value.setdefault(value, []).append(target)
    requests = []
    for value, group in sorted(by_value.items()):
        locations = tuple(t for t in group if t != WHOLE_STORE)
        seed = "|".join([channel.id, sku, str(marker.changes), ",".join(group), str(value)])
        key = "oms-stock-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
        requests.append(
            StockLevelChanged(sku=sku, available=value, idempotency_key=key, location_ids=locations)
        )
    return requests


def pushed_after(
    marker: SyncMarker, requests: Iterable[StockLevelChanged], targets: Mapping[str, int]
) -> dict[str, int]:
    """What the store holds once ``requests`` were all done: the targets (stale ones dropped)."""
    done = {t for r in requests for t in (r.location_ids or (WHOLE_STORE,))}
    kept = {t: v for t, v in marker.pushed.items() if t in targets and t not in done}
    return {**kept, **{t: targets[t] for t in done if t in targets}}


def is_unknown_sku(outcome: StoreCallOutcome) -> bool:
    """The store refused the push because it sells no product or variation with that SKU."""
    return isinstance(outcome, Rejected) and any(p in outcome.reason for p in _UNKNOWN_SKU_PHRASES)


def delay_for(seconds: int) -> int:
    """The SQS delay of a message due in ``seconds`` (one hop of at most 15 minutes)."""
    return max(0, min(MAX_DELAY_SECONDS, seconds))
