"""The stock-sync use cases (``chalicelib.service.stock_sync``) over in-memory fakes: what a store's
answer does to the marker and the queue, and how a full push walks the catalogue in pages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.models import Channel, ChannelKind, StoreApiLink, Warehouse
from chalicelib.domain.stock_sync import Mark, SyncMarker, clear, forget_pushed, mark, mark_for_full_push
from chalicelib.domain.store_api import (
    CredentialsRejected,
    Done,
    Rejected,
    RetryAfter,
    ShopifyCredentials,
    StockLevelChanged,
    StoreCallOutcome,
    StoreCredentials,
)
from chalicelib.domain.store_connection import secret_line, store_api_secret_name
from chalicelib.service.stock_sync import (
    CATALOGUE_PAGE,
    PushStatus,
    StockSyncContext,
    push_catalogue_page,
    push_sku,
    record_change,
)
from tests.unit.fakes import FakeChannelRepository, FakeClock, FakeSecrets, FakeStore, FakeUnitOfWorkFactory

CONNECTED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EAST, WEST = "gid://shopify/Location/1", "gid://shopify/Location/2"


class MemoryState:
    """``StockSyncState`` in memory, following ``chalicelib.domain.stock_sync`` step by step."""

    def __init__(self, channels: list[Channel], skus: list[str]) -> None:
        self.markers: dict[tuple[str, str], SyncMarker] = {}
        self.channels = channels
        self.skus = sorted(skus)

    def mark(self, channel_id: str, sku: str, *, version: str) -> Mark:
        marker, what = mark(self.get(channel_id, sku), version=version)
        self.markers[(channel_id, sku)] = marker
        return what

    def mark_for_full_push(self, channel_id: str, sku: str) -> None:
        self.markers[(channel_id, sku)] = mark_for_full_push(self.get(channel_id, sku))

    def get(self, channel_id: str, sku: str) -> SyncMarker:
        return self.markers.get((channel_id, sku), SyncMarker())

    def clear(self, channel_id: str, sku: str, *, changes: int, pushed: dict[str, int]) -> bool:
        marker = self.get(channel_id, sku)
        cleared = clear(marker, changes=changes, pushed=pushed)
        self.markers[(channel_id, sku)] = cleared if cleared is not None else forget_pushed(marker)
        return cleared is not None

    def set_unsold(self, channel_id: str, sku: str, *, changes: int, version: str) -> bool:
        marker = self.get(channel_id, sku)
        if marker.changes != changes:
            return False
        self.markers[(channel_id, sku)] = replace(marker, dirty=False, unsold_for=version)
        return True

    def forget_unsold(self, channel_id: str, sku: str) -> None:
        self.markers[(channel_id, sku)] = replace(self.get(channel_id, sku), unsold_for=None)

    def list_channels(self) -> list[Channel]:
        return list(self.channels)

    def list_skus(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        rest = [s for s in self.skus if after is None or s > after]
        page = rest[:limit]
        return page, (page[-1] if len(rest) > limit else None)


@dataclass
class MemoryQueue:
    sent: list[tuple[dict[str, object], int]] = field(default_factory=list)

    def send(self, bodies: list[str], *, delay_seconds: int) -> None:
        self.sent += [(json.loads(b), delay_seconds) for b in bodies]


@dataclass
class ScriptedStore:
    """A store answering the scripted outcomes first, then ``Done``; records each request."""

    answers: list[StoreCallOutcome] = field(default_factory=list)
    requests: list[StockLevelChanged] = field(default_factory=list)

    def stock_level_changed(self, request: StockLevelChanged) -> StoreCallOutcome:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else Done()

    def for_credentials(self, credentials: StoreCredentials) -> ScriptedStore:
        return self


@pytest.fixture
def world() -> tuple[StockSyncContext, MemoryState, MemoryQueue, ScriptedStore, FakeClock]:
    credentials = ShopifyCredentials("https://shop.example.com", "shpat_1")
    secrets = FakeSecrets()
    secrets.put(store_api_secret_name(ChannelKind.SHOPIFY, "shop"), [secret_line(credentials, CONNECTED_AT)])
    channel = Channel(
        id="shop",
        name="Shop",
        kind=ChannelKind.SHOPIFY,
        store_api=StoreApiLink(url=credentials.url, updated_at=CONNECTED_AT),
        locations={"wh-east": EAST, "wh-west": WEST},
        stock_sync=True,
    )
    channels = FakeChannelRepository()
    channels.channels[channel.id] = channel.model_dump(mode="json")
    table = FakeStore()
    table.add_warehouse(Warehouse(id="wh-east", name="East", priority=1, timezone="UTC", country="US"))
    table.add_warehouse(
        Warehouse(id="wh-west", name="West", priority=2, timezone="UTC", country="US", active=False)
    )
    table.set_stock("wh-east", "MUG", 12)
    table.set_stock("wh-west", "MUG", 40)  # not sellable: its warehouse takes no new orders
    state, queue, store, clock = MemoryState([channel], ["MUG"]), MemoryQueue(), ScriptedStore(), FakeClock()
    ctx = StockSyncContext(
        uow_factory=FakeUnitOfWorkFactory(table),
        channels=channels,
        secrets=secrets,
        stores=store,  # type: ignore[arg-type]
        state=state,
        queue=queue,
        clock=clock,
        delay_seconds=5,
    )
    return ctx, state, queue, store, clock


World = tuple[StockSyncContext, MemoryState, MemoryQueue, ScriptedStore, FakeClock]


def placed(sku: str) -> DomainEvent:
    return DomainEvent(
        id="evt_1",
        type=EventType.ORDER_PLACED,
        occurred_at=CONNECTED_AT,
        actor="channel:web",
        data={"lines": [{"sku": sku, "quantity": 1}]},
    )


def test_the_first_change_sends_one_delayed_push_and_the_next_ones_nothing(world: World) -> None:
    ctx, _, queue, _, _ = world

    sent = [record_change(ctx, placed("MUG")) for _ in range(50)]

    assert sent == [1] + [0] * 49
    assert queue.sent == [({"stock_push": {"channel_id": "shop", "sku": "MUG"}}, 5)]


def test_a_push_sets_each_mapped_location_s_available_and_clears_the_marker(world: World) -> None:
    ctx, state, _, store, _ = world
    record_change(ctx, placed("MUG"))

    result = push_sku(ctx, "shop", "MUG")

    assert result.status == PushStatus.PUSHED
    assert [(r.available, r.location_ids) for r in store.requests] == [(0, (WEST,)), (12, (EAST,))]
    assert not state.get("shop", "MUG").dirty
    assert push_sku(ctx, "shop", "MUG").status == PushStatus.NOTHING  # a duplicate does nothing


def test_a_throttled_push_is_a_new_delayed_message_and_a_long_wait_is_made_of_15_minute_hops(
    world: World,
) -> None:
    ctx, state, queue, store, clock = world
    record_change(ctx, placed("MUG"))
    store.answers = [RetryAfter(3600, "throttled")]

    result = push_sku(ctx, "shop", "MUG")

    assert result.status == PushStatus.RETRY and state.get("shop", "MUG").dirty
    body, delay = queue.sent[-1]
    assert delay == 900
    due = datetime.fromisoformat(str(body["stock_push"]["not_before"]))  # type: ignore[index]
    assert due == clock.now() + timedelta(seconds=3600)
    # It arrives after 15 minutes: early, so it hops on towards the same due time, pushing nothing.
    clock.advance(seconds=900)
    assert push_sku(ctx, "shop", "MUG", not_before=due).status == PushStatus.WAITING
    assert queue.sent[-1] == (body, 900) and len(store.requests) == 1
    clock.advance(seconds=2600)
    assert push_sku(ctx, "shop", "MUG", not_before=due).status == PushStatus.WAITING
    assert queue.sent[-1] == (body, 100)
    clock.advance(seconds=100)
    assert push_sku(ctx, "shop", "MUG", not_before=due).status == PushStatus.PUSHED


def test_refused_credentials_keep_the_marker_dirty_and_send_nothing_more(world: World) -> None:
    ctx, state, queue, _, _ = world
    record_change(ctx, placed("MUG"))
    ctx.stores.answers = [CredentialsRejected("HTTP 401")]  # type: ignore[attr-defined]

    result = push_sku(ctx, "shop", "MUG")

    assert result.status == PushStatus.CREDENTIALS_REJECTED
    assert state.get("shop", "MUG").dirty and len(queue.sent) == 1
    assert record_change(ctx, placed("MUG")) == 0  # still pending: the full push will send it


def test_a_sku_the_store_does_not_sell_is_remembered_and_no_longer_marked(world: World) -> None:
    ctx, state, _, store, _ = world
    record_change(ctx, placed("MUG"))
    store.answers = [Rejected("Shopify has no product variant with SKU MUG")]

    assert push_sku(ctx, "shop", "MUG").status == PushStatus.NOT_SOLD
    assert state.get("shop", "MUG").unsold_for is not None
    assert record_change(ctx, placed("MUG")) == 0
    assert len(store.requests) == 1


def test_another_refusal_is_reported_and_not_retried(world: World) -> None:
    ctx, state, queue, store, _ = world
    record_change(ctx, placed("MUG"))
    store.answers = [Rejected("Shopify refused the stock level: bad location")]

    result = push_sku(ctx, "shop", "MUG")

    assert result.status == PushStatus.REJECTED and "bad location" in result.detail
    assert not state.get("shop", "MUG").dirty and len(queue.sent) == 1


def test_a_full_push_walks_the_catalogue_one_page_per_message(world: World) -> None:
    ctx, state, queue, _, _ = world
    state.skus = [f"SKU-{n:05d}" for n in range(CATALOGUE_PAGE * 2 + 5)]

    after: str | None = None
    pages = 0
    while True:
        push_catalogue_page(ctx, "shop", after)
        pages += 1
        follow = [b for b, _ in queue.sent if "stock_catalogue" in b]
        if len(follow) < pages:
            break
        after = str(follow[-1]["stock_catalogue"]["after"])  # type: ignore[index]

    pushes = [b["stock_push"]["sku"] for b, _ in queue.sent if "stock_push" in b]  # type: ignore[index]
    assert pages == 3
    assert pushes == state.skus
    assert all(state.get("shop", sku).dirty for sku in state.skus)
