"""Stock push coalescing (``chalicelib.domain.stock_sync``): a burst sends one push message, the
store converges on the final ``available`` whatever the interleaving, and what is pushed where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.models import Channel, ChannelKind, StockLevel, StoreApiLink
from chalicelib.domain.stock_sync import (
    STOCK_EVENT_TYPES,
    WHOLE_STORE,
    Mark,
    SyncMarker,
    clear,
    delay_for,
    forget_pushed,
    is_unknown_sku,
    mark,
    mark_for_full_push,
    plan_push,
    pushed_after,
    skus_changed,
    stock_targets,
    syncs_stock,
)
from chalicelib.domain.store_api import CredentialsRejected, Rejected

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VERSION = "2026-12-01T09:00:00.000Z"
EAST, WEST = "gid://shopify/Location/1", "gid://shopify/Location/2"
LINK = StoreApiLink(url="https://shop.example.com", updated_at=T0)
SHOP = Channel(
    id="shop",
    name="Shop",
    kind=ChannelKind.SHOPIFY,
    store_api=LINK,
    locations={"wh-east": EAST, "wh-west": WEST},
    stock_sync=True,
)
WOO = Channel(id="woo", name="Woo", kind=ChannelKind.WOOCOMMERCE, store_api=LINK, stock_sync=True)


def level(warehouse: str, available: int, sku: str = "MUG") -> StockLevel:
    return StockLevel(sku=sku, warehouse_id=warehouse, on_hand=available, reserved=0, available=available)


def event(type_: EventType, data: dict[str, object], sku: str | None = None) -> DomainEvent:
    return DomainEvent(id="evt_1", type=type_, occurred_at=T0, actor="system:test", sku=sku, data=data)


# --- the protocol, simulated ------------------------------------------------------------------


@dataclass
class World:
    """One SKU on one channel: the marker, the OMS's available, the store's value, the queue."""

    available: int = 10
    store: int = 10
    marker: SyncMarker = field(default_factory=lambda: SyncMarker(pushed={WHOLE_STORE: 10}))
    queue: list[str] = field(default_factory=list)
    messages_sent: int = 0
    store_calls: int = 0
    deliveries: int = 0
    #: Pushes that read the marker and the stock and have not finished: (changes read, value).
    in_flight: list[tuple[SyncMarker, int]] = field(default_factory=list)

    def change(self, delta: int) -> None:
        self.available += delta
        self.marker, what = mark(self.marker, version=VERSION)
        if what == Mark.TURNED_DIRTY:
            self.send()

    def send(self) -> None:
        self.queue.append("push")
        self.messages_sent += 1

    def start_push(self, duplicate: bool) -> None:
        """A push message is received: it reads the marker and ``available`` now."""
        if not self.queue:
            return
        if not duplicate:
            self.queue.pop(0)
        self.deliveries += 1
        if self.marker.dirty:
            self.in_flight.append((self.marker, self.available))

    def finish_push(self) -> None:
        """The oldest push in flight sets the store and clears the marker it read."""
        if not self.in_flight:
            return
        read, value = self.in_flight.pop(0)
        targets = {WHOLE_STORE: value}
        requests = plan_push(WOO, "MUG", read, targets)
        for request in requests:
            self.store = request.available
            self.store_calls += 1
        cleared = clear(self.marker, changes=read.changes, pushed=pushed_after(read, requests, targets))
        if cleared is None:
            self.marker = forget_pushed(self.marker)
            self.send()
        else:
            self.marker = cleared

    def drain(self) -> None:
        while self.queue or self.in_flight:
            self.start_push(duplicate=False)
            self.finish_push()


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("change"), st.integers(-5, 5)),
        st.tuples(st.just("start"), st.booleans()),
        st.tuples(st.just("finish"), st.just(False)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_the_store_ends_on_the_final_available_whatever_the_interleaving(
    ops: list[tuple[str, object]],
) -> None:
    world = World()
    for op, arg in ops:
        if op == "change":
            assert isinstance(arg, int)
            world.change(arg)
        elif op == "start":
            world.start_push(duplicate=bool(arg))
        else:
            world.finish_push()
    world.drain()

    assert world.store == world.available
    assert not world.marker.dirty
    # Never more store calls than deliveries of push messages (duplicates included): one each.
    assert world.store_calls <= world.deliveries


# Non-zero deltas drawn directly rather than filtered: generation stays fast on a busy machine.
@settings(deadline=None)
@given(st.lists(st.integers(1, 5) | st.integers(-5, -1), min_size=1, max_size=200))
def test_a_burst_before_its_push_sends_one_message_and_one_call(deltas: list[int]) -> None:
    world = World()
    for delta in deltas:
        world.change(delta)
    world.drain()

    assert world.messages_sent == 1
    assert world.store_calls == (1 if sum(deltas) else 0)  # an unchanged value is not sent again
    assert world.store == world.available


def test_a_change_during_a_push_sends_the_push_again() -> None:
    world = World()
    world.change(-1)
    world.start_push(duplicate=False)
    world.change(-2)  # the marker is dirty: this change sends nothing itself
    assert world.messages_sent == 1
    world.finish_push()  # the clear fails: the push is sent again

    assert world.messages_sent == 2 and world.marker.dirty
    world.drain()
    assert world.store == world.available == 7


# --- the marker --------------------------------------------------------------------------------


def test_a_sku_the_store_does_not_sell_is_not_marked_until_the_store_api_changes() -> None:
    unsold = SyncMarker(unsold_for=VERSION)

    assert mark(unsold, version=VERSION) == (unsold, Mark.NOT_SOLD)
    assert mark(unsold, version="2026-12-02T00:00:00.000Z")[1] == Mark.TURNED_DIRTY
    assert mark_for_full_push(unsold) == SyncMarker(dirty=True, changes=1)


def test_a_full_push_forgets_what_was_pushed_so_every_target_is_sent() -> None:
    marker = mark_for_full_push(SyncMarker(changes=4, pushed={EAST: 3, WEST: 2}))

    requests = plan_push(SHOP, "MUG", marker, {EAST: 3, WEST: 2})

    assert sorted(r.location_ids for r in requests) == [(EAST,), (WEST,)]


# --- what is pushed where ----------------------------------------------------------------------


def test_shopify_gets_each_mapped_location_s_own_warehouse_and_woocommerce_the_sum() -> None:
    levels = [level("wh-east", 4), level("wh-west", 7), level("wh-north", 100), level("wh-east", 9, "CUP")]

    assert stock_targets(SHOP, levels, "MUG") == {EAST: 4, WEST: 7}
    assert stock_targets(WOO, levels, "MUG") == {WHOLE_STORE: 111}


def test_warehouses_mapped_to_one_location_are_summed_and_a_missing_level_is_zero() -> None:
    shared = SHOP.model_copy(update={"locations": {"wh-east": EAST, "wh-west": EAST, "wh-south": WEST}})

    assert stock_targets(shared, [level("wh-east", 4), level("wh-west", 7)], "MUG") == {EAST: 11, WEST: 0}


def test_one_call_per_distinct_value_leaving_out_targets_that_hold_it_already() -> None:
    marker = SyncMarker(dirty=True, changes=3, pushed={EAST: 5})
    requests = plan_push(
        SHOP.model_copy(update={"locations": {"a": EAST, "b": WEST, "c": "L3"}}),
        "MUG",
        marker,
        {EAST: 5, WEST: 2, "L3": 2},
    )

    assert [(r.available, r.location_ids) for r in requests] == [(2, ("L3", WEST))]
    assert pushed_after(marker, requests, {EAST: 5, WEST: 2, "L3": 2}) == {EAST: 5, WEST: 2, "L3": 2}


def test_the_idempotency_key_is_the_same_for_a_resent_push_and_new_for_a_new_level() -> None:
    marker = SyncMarker(dirty=True, changes=3)
    (first,) = plan_push(WOO, "MUG", marker, {WHOLE_STORE: 5})
    (again,) = plan_push(WOO, "MUG", marker, {WHOLE_STORE: 5})
    (other_value,) = plan_push(WOO, "MUG", marker, {WHOLE_STORE: 6})
    (next_mark,) = plan_push(WOO, "MUG", SyncMarker(dirty=True, changes=4), {WHOLE_STORE: 5})

    assert first.idempotency_key == again.idempotency_key
    assert len({first.idempotency_key, other_value.idempotency_key, next_mark.idempotency_key}) == 3
    assert first.location_ids == ()


def test_only_connected_channels_with_stock_sync_and_for_shopify_a_location_sync_stock() -> None:
    assert syncs_stock(SHOP) and syncs_stock(WOO)
    assert not syncs_stock(SHOP.model_copy(update={"stock_sync": False}))
    assert not syncs_stock(WOO.model_copy(update={"store_api": None}))
    assert not syncs_stock(SHOP.model_copy(update={"locations": {}}))


def test_the_stores_words_for_an_unknown_sku_are_recognised_and_nothing_else() -> None:
    assert is_unknown_sku(Rejected("Shopify has no product variant with SKU MUG"))
    assert is_unknown_sku(Rejected("WooCommerce has no product or variation with SKU MUG"))
    assert not is_unknown_sku(Rejected("Shopify refused the stock level: invalid location"))
    assert not is_unknown_sku(CredentialsRejected("Shopify has no product variant with SKU MUG"))


def test_a_wait_longer_than_sqs_can_delay_is_made_of_15_minute_hops() -> None:
    assert [delay_for(s) for s in (-3, 0, 5, 900, 3600)] == [0, 0, 5, 900, 900]


# --- which SKUs an event touched ---------------------------------------------------------------


def test_the_skus_of_each_stock_event_are_found_in_its_payload() -> None:
    placed = event(
        EventType.ORDER_PLACED, {"lines": [{"sku": "MUG", "quantity": 1}, {"sku": "CUP", "quantity": 2}]}
    )
    cancelled = event(
        EventType.ORDER_CANCELLED,
        {"cancelled": {"MUG": 1}, "stock_released": [{"warehouse_id": "e", "sku": "PLATE", "quantity": 1}]},
    )
    returned = event(EventType.RETURN_RECEIVED, {"restocked": {"BOWL": 1}, "written_off": {"SPOON": 1}})
    short = event(EventType.FULFILLMENT_SHORT_PICKED, {"shortfalls": {"FORK": 1}, "picked": []})
    received = event(EventType.INVENTORY_RECEIVED, {"quantity": 4}, sku="KNIFE")

    assert skus_changed(placed) == {"MUG", "CUP"}
    assert skus_changed(cancelled) == {"MUG", "PLATE"}
    assert skus_changed(returned) == {"BOWL", "SPOON"}
    assert skus_changed(short) == {"FORK"}
    assert skus_changed(received) == {"KNIFE"}


def test_the_template_s_rule_routes_exactly_the_stock_events_to_the_stock_sync_queue() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((Path(__file__).parents[2] / "infra" / "template.yaml").read_text(), Loader=Loader)
    pattern = template["Resources"]["StockSyncRule"]["Properties"]["EventPattern"]

    assert pattern["detail-type"] == [t.value for t in STOCK_EVENT_TYPES]
