"""In-memory stand-ins for the ports of ``chalicelib.service.ports``, for unit tests.

``FakeUnitOfWork`` keeps the contract of ``chalicelib.adapters.dynamodb.unit_of_work.DynamoUnitOfWork``
(``tests/integration/test_unit_of_work_contract.py`` runs the same tests against both):

- reads go straight to the shared ``FakeStore`` (strongly consistent, like the adapter's
  ``ConsistentRead=True``) and return fresh copies, never objects the store keeps;
- writes are staged and ``commit()`` applies all of them or none. Every condition is checked
  before anything is applied, in staging order, and the first one that fails decides the error,
  as the adapter's ``_reason`` does with DynamoDB's cancellation reasons:

  ========================  ==============================================  =====================
  staged write              condition                                       error when it fails
  ========================  ==============================================  =====================
  add_order                 no order with that id                           OrderExists
  update_order              stored version == expected_version              ConcurrencyConflict
  add_fulfillment           no fulfillment with that id                     ConcurrencyConflict
  update_fulfillment        stored version == expected_version              ConcurrencyConflict
  add_return                no return with that id                          ConcurrencyConflict
  update_return             stored version == expected_version              ConcurrencyConflict
  move_stock                the level exists (unless the move is a plain    StockConflict
                            receipt: on_hand > 0 and no requirement, which
                            creates a missing level), available >=
                            require_available, reserved >= require_reserved,
                            on_hand == expect_on_hand
  set_stock_settings        joins a stock move of that level staged in the  StockConflict
                            same unit of work (one item, one update: that
                            move's condition); else the level exists.
                            Only the settings given (not None) change
  reserve_stock             move_stock(reserved +q, available -q,           StockConflict
                            require_available=q)
  release_stock             move_stock(reserved -q, available +q,           StockConflict
                            require_reserved=q)
  add_tracking              number not indexed (whatever the carrier: the   TrackingNumberInUse
                            index is keyed by number alone), or indexed
                            for the same fulfillment
  add_inbound               no raw body for that (channel, key) yet         DedupExists("inbound")
  add_event                 store webhook event (inbound key and channel):  ConcurrencyConflict
                            no event (channel, key, id) yet; else tracking
                            event (it has a tracking number): no event
                            (number, id) yet; else order event: no event
                            (order id, version) yet; else inventory event:
                            no event (sku, warehouse, id)
  add_dedup                 no record, or its ttl has passed                DedupExists
  count                     none: adds ``by`` to the day's counter          -
  ========================  ==============================================  =====================

- like DynamoDB, a transaction may not touch one item twice nor hold more than
  ``MAX_TRANSACTION_ITEMS`` items (``InvalidTransaction``: a bug in the caller, not a race);
- the staged writes are dropped by ``commit()`` whether it succeeds or not;
- two failures of the wire can be staged on the store: ``conflict_next_commits(n)`` cancels the
  next n commits with ``TransactionConflict`` (DynamoDB met another transaction on an item:
  nothing written), and ``lose_next_answer()`` applies the next commit and then checks it once
  more, as the copy the SDK re-sends after a read timeout would be (its error is raised, the
  writes stay).

The index reads follow the adapter's GSIs: ``list_backorders`` is the ``BACKORDER#<sku>``
partition (fulfillments without a warehouse, not cancelled, filed under their first line's SKU and
sorted by ``created_at#id``), ``FakeQueries.list_work`` the ``WH#<warehouse>#<status>`` partition
(sorted by ``ship_by#id``, ``created_at`` standing in for a missing ship-by), and
``find_order_of_fulfillment`` the by-id index (fulfillments and RMAs). Unlike DynamoDB's GSIs
they are never stale. ``find_tracking`` reads the ``TRACK#<number>`` item ``add_tracking``
wrote (a strongly consistent get, like the adapter's); inbound tracking events live beside it
under their number (``tracking_events_of``), and daily counters under their day (``counter``).
A store webhook's raw body and its events are kept per (channel, delivery key), like
``INBOUND#<channel>#<key>`` (``get_inbound``, ``inbound_events_of``); the body's 30-day ttl is
not modelled, because the adapter's ``get_inbound`` reads an expired body as long as DynamoDB
has not deleted it (a test wanting an expired payload deletes it from ``inbound``).
``get_order`` returns the order's RMAs with it, in id order (the ``RMA#<id>`` items of the
order's partition).

Documents are stored as their JSON form (``model_dump(mode="json")``) and validated again on
every read, so a value that would not survive the trip through DynamoDB does not survive here.
Time (dedup ttl, claims) comes from a ``FakeClock``, not from the wall clock.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ids import PREFIXES
from chalicelib.domain.models import (
    Box,
    Channel,
    Fulfillment,
    Order,
    Product,
    StockLevel,
    Warehouse,
    format_timestamp,
)
from chalicelib.domain.outbound import Delivery, WebhookEndpoint
from chalicelib.domain.returns import ReturnRequest
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.domain.store_api import (
    CustomerNoteAdded,
    Done,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    StockLevelChanged,
    StoreCallOutcome,
    StoreCredentials,
    StoreRequest,
)
from chalicelib.service.notifications import AlreadySent, Claimed
from chalicelib.service.ports import (
    MAX_TRANSACTION_ITEMS,
    ChannelExists,
    DedupExists,
    DedupRecord,
    OrderAggregate,
    OrderExists,
    ParkedOrder,
    StockConflict,
    StoreApiAlert,
    StoreRejection,
    TrackingNumberInUse,
    TrackingRef,
    TransactionConflict,
)

START = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        """Pausing moves the clock, instantly; ``slept`` keeps every pause for assertions."""
        self.slept.append(seconds)
        self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = moment

    def advance(self, **delta: float) -> datetime:
        """``clock.advance(seconds=301)``; takes the keyword arguments of ``timedelta``."""
        self._now += timedelta(**delta)
        return self._now


class SequentialIds:
    """Deterministic ids, one counter per prefix: ``ord_0001``, ``ful_0001``, ``ful_0002``, ..."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def new(self, prefix: str) -> str:
        if prefix not in PREFIXES:  # as the real generator: an id type nobody declared is a bug
            raise ValueError(f"unknown id prefix {prefix!r}")
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(counter):04d}"


class InvalidTransaction(Exception):
    """What DynamoDB answers with a ValidationException: the transaction itself is malformed."""


@dataclass
class StockRow:
    on_hand: int
    reserved: int
    available: int
    bin: str | None = None
    reorder_point: int | None = None
    overstock_level: int | None = None


@dataclass(frozen=True)
class TrackingEntry:
    carrier: str
    tracking_number: str
    order_id: str
    fulfillment_id: str


@dataclass
class _Dedup:
    record: DedupRecord
    expires_at: datetime | None

    def live(self, now: datetime) -> bool:
        # The adapter's condition is ``attribute_not_exists(pk) OR ttl < :now``.
        return self.expires_at is None or not self.expires_at < now


@dataclass
class FakeStore:
    """The table: shared by every unit of work of one test."""

    clock: FakeClock = field(default_factory=FakeClock)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    warehouses: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (warehouse id, sku) -> level
    stock: dict[tuple[str, str], StockRow] = field(default_factory=dict)
    #: order id -> order document
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: order id -> fulfillment id -> fulfillment document
    fulfillments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: order id -> RMA id -> return document (``RMA#<id>`` items of the order's partition)
    returns: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: warehouse id -> box code -> box document (the warehouse's box catalogue)
    boxes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: (tag, order id) -> the order's entry in the tag's listing (``ORDER#<id>``/``TAG#<tag>``):
    #: its channel and sort key (``<created_at>#<order id>``), as the adapter's index keys hold them.
    order_tags: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: (order id, version) -> order event document
    events: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: (sku, warehouse id, event id) -> inventory event document (events of a stock level)
    inventory_events: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    #: tracking number -> index entry (keyed by number alone, like ``TRACK#<number>``)
    tracking: dict[str, TrackingEntry] = field(default_factory=dict)
    #: (tracking number, event id) -> inbound tracking event document (``TRACK#<n>``/``EVENT#<id>``)
    tracking_events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (day, metric) -> value of a daily counter (``KPI#<day>``/``<metric>``)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (channel id, delivery key) -> raw body of a store webhook (``INBOUND#<channel>#<key>``/``PAYLOAD``)
    inbound: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (channel id, delivery key, event id) -> store webhook event document (beside its body)
    inbound_events: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    #: (scope, key) -> record and expiry
    dedup: dict[tuple[str, str], _Dedup] = field(default_factory=dict)
    #: Successful commits, and the number of items each one wrote.
    commits: int = 0
    committed_sizes: list[int] = field(default_factory=list)
    #: Every commit() with staged writes, including the ones whose conditions failed.
    commit_attempts: int = 0
    _before_commit: list[Callable[[], object]] = field(default_factory=list)
    _conflicts_to_come: int = 0
    _lose_next_answer: bool = False

    # -- seeding (what infra seeding / admin writes do, outside any unit of work) ---------------

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel.model_dump(mode="json")

    def add_warehouse(self, warehouse: Warehouse) -> None:
        self.warehouses[warehouse.id] = warehouse.model_dump(mode="json")

    def add_product(self, product: Product) -> None:
        self.products[product.sku] = product.model_dump(mode="json")

    def add_box(self, warehouse_id: str, box: Box) -> None:
        self.boxes.setdefault(warehouse_id, {})[box.code] = box.model_dump(mode="json")

    def set_stock(
        self, warehouse_id: str, sku: str, on_hand: int, *, bin_location: str | None = None
    ) -> None:
        """A level from scratch, reservations at zero (``ReferenceData.put_stock``)."""
        self.stock[(warehouse_id, sku)] = StockRow(
            on_hand=on_hand, reserved=0, available=on_hand, bin=bin_location
        )

    def put_order(
        self,
        order: Order,
        fulfillments: Iterable[Fulfillment] = (),
        returns: Iterable[ReturnRequest] | None = None,
    ) -> None:
        """Write an aggregate as it stands, bypassing conditions (to set up a state). The order's
        RMAs are replaced only when ``returns`` is given."""
        self.orders[order.id] = order.model_dump(mode="json")
        self.fulfillments[order.id] = {f.id: f.model_dump(mode="json") for f in fulfillments}
        if returns is not None:
            self.returns[order.id] = {r.id: r.model_dump(mode="json") for r in returns}

    def before_next_commit(self, action: Callable[[], object]) -> None:
        """Run ``action`` once, at the start of the next commit, before its conditions are checked:
        what a concurrent request does between our reads and our write."""
        self._before_commit.append(action)

    def conflict_next_commits(self, times: int = 1) -> None:
        """Cancel the next ``times`` commits with ``TransactionConflict``, writing nothing."""
        self._conflicts_to_come += times

    def lose_next_answer(self) -> None:
        """Apply the next commit, then run its checks again and raise what they say: the SDK
        re-sent the transaction after a read timeout, and the copy met the first one's writes."""
        self._lose_next_answer = True

    def _run_hooks(self) -> None:
        hooks, self._before_commit = self._before_commit, []
        for hook in hooks:
            hook()

    # -- inspection, for assertions ------------------------------------------------------------

    def snapshot(self) -> tuple[object, ...]:
        """Everything a unit of work can write, and the commits attempted: equal snapshots before
        and after a call show that it wrote nothing (and did not even try)."""
        return copy.deepcopy(
            (
                self.orders,
                self.fulfillments,
                self.returns,
                self.events,
                self.inventory_events,
                self.stock,
                self.tracking,
                self.tracking_events,
                self.counters,
                self.inbound,
                self.inbound_events,
                {key: (entry.record, entry.expires_at) for key, entry in self.dedup.items()},
                self.commit_attempts,
            )
        )

    def order(self, order_id: str) -> Order:
        return Order.model_validate(self.orders[order_id])

    def fulfillments_of(self, order_id: str) -> list[Fulfillment]:
        docs = self.fulfillments.get(order_id, {})
        return [Fulfillment.model_validate(docs[fid]) for fid in sorted(docs)]

    def all_fulfillments(self) -> list[Fulfillment]:
        return [f for order_id in sorted(self.fulfillments) for f in self.fulfillments_of(order_id)]

    def fulfillment(self, fulfillment_id: str) -> Fulfillment:
        (found,) = [f for f in self.all_fulfillments() if f.id == fulfillment_id]
        return found

    def events_of(self, order_id: str) -> list[DomainEvent]:
        versions = sorted(v for (oid, v) in self.events if oid == order_id)
        return [DomainEvent.model_validate(self.events[(order_id, v)]) for v in versions]

    def all_events(self) -> list[DomainEvent]:
        return [DomainEvent.model_validate(self.events[key]) for key in sorted(self.events)]

    def inventory_events_of(self, sku: str, warehouse_id: str) -> list[DomainEvent]:
        """A stock level's events in id order (the adapter's ``EVENT#<warehouse>#<id>`` keys)."""
        keys = sorted(key for key in self.inventory_events if key[:2] == (sku, warehouse_id))
        return [DomainEvent.model_validate(self.inventory_events[key]) for key in keys]

    def tracking_events_of(self, tracking_number: str) -> list[DomainEvent]:
        """The events received for a tracking number in id order (the adapter's ``EVENT#<id>`` keys)."""
        keys = sorted(key for key in self.tracking_events if key[0] == tracking_number)
        return [DomainEvent.model_validate(self.tracking_events[key]) for key in keys]

    def returns_of(self, order_id: str) -> list[ReturnRequest]:
        docs = self.returns.get(order_id, {})
        return [ReturnRequest.model_validate(docs[rid]) for rid in sorted(docs)]

    def rma(self, rma_id: str) -> ReturnRequest:
        (found,) = [
            r for order_id in sorted(self.returns) for r in self.returns_of(order_id) if r.id == rma_id
        ]
        return found

    def inbound_events_of(self, channel_id: str, key: str) -> list[DomainEvent]:
        """A store webhook delivery's events in id order (``EVENT#<id>`` beside its ``PAYLOAD``)."""
        keys = sorted(k for k in self.inbound_events if k[:2] == (channel_id, key))
        return [DomainEvent.model_validate(self.inbound_events[k]) for k in keys]

    def counter(self, metric: str, day: str) -> int:
        """A daily counter's value; 0 when nothing was counted (the item does not exist)."""
        return self.counters.get((day, metric), 0)

    def level(self, warehouse_id: str, sku: str) -> StockLevel:
        row = self.stock[(warehouse_id, sku)]
        return StockLevel(
            sku=sku,
            warehouse_id=warehouse_id,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.available,
            bin=row.bin,
            reorder_point=row.reorder_point,
            overstock_level=row.overstock_level,
        )

    def dedup_record(self, scope: str, key: str) -> DedupRecord | None:
        entry = self.dedup.get((scope, key))
        return entry.record if entry is not None and entry.live(self.clock.now()) else None


@dataclass
class _Write:
    item: tuple[Any, ...]  # the DynamoDB item it touches, to refuse two writes of one item
    check: Callable[[], Exception | None]
    apply: Callable[[], None]
    #: Stock settings this write sets (one update expression may set an attribute once).
    settings: set[str] = field(default_factory=set)


class FakeUnitOfWork:
    """Implements ``chalicelib.service.ports.UnitOfWork`` over a ``FakeStore``."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self._writes: list[_Write] = []
        #: Why DynamoDB would refuse the transaction as malformed (raised by commit()).
        self._malformed: list[str] = []

    # -- reads ---------------------------------------------------------------------------------

    def get_channel(self, channel_id: str) -> Channel | None:
        doc = self.store.channels.get(channel_id)
        return Channel.model_validate(doc) if doc is not None else None

    def list_warehouses(self) -> list[Warehouse]:
        # The adapter queries one partition: warehouses come back sorted by id.
        return [Warehouse.model_validate(self.store.warehouses[w]) for w in sorted(self.store.warehouses)]

    def get_products(self, skus: Iterable[str]) -> dict[str, Product]:
        found = {}
        for sku in skus:
            if sku in self.store.products:
                found[sku] = Product.model_validate(self.store.products[sku])
        return found

    def get_catalogue(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> tuple[dict[str, Product], dict[tuple[str, str], StockLevel]]:
        skus = list(skus)
        return self.get_products(skus), self.get_stock(skus, warehouse_ids)

    def get_stock(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> dict[tuple[str, str], StockLevel]:
        skus, warehouse_ids = list(skus), list(warehouse_ids)
        return {
            (wh, sku): self.store.level(wh, sku)
            for sku in skus
            for wh in warehouse_ids
            if (wh, sku) in self.store.stock
        }

    def get_order(self, order_id: str) -> OrderAggregate | None:
        if order_id not in self.store.orders:
            return None
        return OrderAggregate(
            order=self.store.order(order_id),
            fulfillments=self.store.fulfillments_of(order_id),
            returns=self.store.returns_of(order_id),
        )

    def get_dedup(self, scope: str, key: str) -> DedupRecord | None:
        return self.store.dedup_record(scope, key)

    def get_warehouse(self, warehouse_id: str) -> Warehouse | None:
        doc = self.store.warehouses.get(warehouse_id)
        return Warehouse.model_validate(doc) if doc is not None else None

    def get_boxes(self, warehouse_id: str) -> list[Box]:
        # One partition per warehouse, sorted by its sort key: the box code.
        docs = self.store.boxes.get(warehouse_id, {})
        return [Box.model_validate(docs[code]) for code in sorted(docs)]

    def find_tracking(self, tracking_number: str) -> TrackingRef | None:
        entry = self.store.tracking.get(tracking_number)
        if entry is None:
            return None
        return TrackingRef(
            order_id=entry.order_id, fulfillment_id=entry.fulfillment_id, carrier=entry.carrier
        )

    def get_inbound(self, channel_id: str, key: str) -> str | None:
        return self.store.inbound.get((channel_id, key))

    def find_order_of_fulfillment(self, fulfillment_id: str) -> str | None:
        """The by-id index (``gsi6``) holds fulfillments and RMAs alike."""
        for by_id in (self.store.fulfillments, self.store.returns):
            for order_id, docs in by_id.items():
                if fulfillment_id in docs:
                    return order_id
        return None

    def list_backorders(self, sku: str, limit: int) -> list[tuple[str, str]]:
        rows = [
            (backorder_sort_key(f), f.order_id, f.id)
            for f in self.store.all_fulfillments()
            if f.warehouse_id is None
            and f.status != FulfillmentStatus.CANCELLED
            and (f.lines[0].sku if f.lines else "") == sku
        ]
        return [(order_id, fid) for _, order_id, fid in sorted(rows)[:limit]]

    # -- staged writes -------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        doc = order.model_dump(mode="json")

        def check() -> Exception | None:
            if order.id in self.store.orders:
                return OrderExists(order.id)
            return None

        def apply() -> None:
            self.store.orders[order.id] = doc
            self.store.fulfillments.setdefault(order.id, {})

        self._writes.append(_Write(("order", order.id), check, apply))

    def update_order(self, order: Order, *, expected_version: int) -> None:
        doc = order.model_dump(mode="json")

        def check() -> Exception | None:
            stored = self.store.orders.get(order.id)
            if stored is None or stored["version"] != expected_version:
                return ConcurrencyConflict(f"order {order.id} changed concurrently")
            return None

        def apply() -> None:
            self.store.orders[order.id] = doc

        self._writes.append(_Write(("order", order.id), check, apply))

    def add_fulfillment(self, fulfillment: Fulfillment) -> None:
        doc = fulfillment.model_dump(mode="json")
        order_id, fid = fulfillment.order_id, fulfillment.id

        def check() -> Exception | None:
            if fid in self.store.fulfillments.get(order_id, {}):
                return ConcurrencyConflict(f"fulfillment {fid} changed concurrently")
            return None

        def apply() -> None:
            self.store.fulfillments.setdefault(order_id, {})[fid] = doc

        self._writes.append(_Write(("fulfillment", order_id, fid), check, apply))

    def update_fulfillment(self, fulfillment: Fulfillment, *, expected_version: int) -> None:
        doc = fulfillment.model_dump(mode="json")
        order_id, fid = fulfillment.order_id, fulfillment.id

        def check() -> Exception | None:
            stored = self.store.fulfillments.get(order_id, {}).get(fid)
            if stored is None or stored["version"] != expected_version:
                return ConcurrencyConflict(f"fulfillment {fid} changed concurrently")
            return None

        def apply() -> None:
            self.store.fulfillments[order_id][fid] = doc

        self._writes.append(_Write(("fulfillment", order_id, fid), check, apply))

    def add_return(self, rma: ReturnRequest) -> None:
        doc = rma.model_dump(mode="json")
        order_id, rid = rma.order_id, rma.id

        def check() -> Exception | None:
            if rid in self.store.returns.get(order_id, {}):
                return ConcurrencyConflict(f"return {rid} changed concurrently")
            return None

        def apply() -> None:
            self.store.returns.setdefault(order_id, {})[rid] = doc

        self._writes.append(_Write(("return", order_id, rid), check, apply))

    def update_return(self, rma: ReturnRequest, *, expected_version: int) -> None:
        doc = rma.model_dump(mode="json")
        order_id, rid = rma.order_id, rma.id

        def check() -> Exception | None:
            stored = self.store.returns.get(order_id, {}).get(rid)
            if stored is None or stored["version"] != expected_version:
                return ConcurrencyConflict(f"return {rid} changed concurrently")
            return None

        def apply() -> None:
            self.store.returns[order_id][rid] = doc

        self._writes.append(_Write(("return", order_id, rid), check, apply))

    def set_stock_settings(
        self,
        warehouse_id: str,
        sku: str,
        *,
        reorder_point: int | None,
        overstock_level: int | None,
        bin_location: str | None,
    ) -> None:
        settings = {
            name: value
            for name, value in (
                ("reorder_point", reorder_point),
                ("overstock_level", overstock_level),
                ("bin", bin_location),
            )
            if value is not None
        }
        if not settings:
            return  # the adapter stages nothing
        key, item = (warehouse_id, sku), ("stock", sku, warehouse_id)

        def set_them() -> None:
            row = self.store.stock[key]
            for name, value in settings.items():
                setattr(row, name, value)

        staged = next((w for w in self._writes if w.item == item), None)
        if staged is not None:
            # The adapter appends the SETs to the update already staged for this level: one item,
            # one write, under that write's condition.
            overlap = staged.settings & set(settings)
            if overlap:
                self._malformed.append(f"stock {warehouse_id}/{sku} sets {sorted(overlap)} twice")
            staged.settings |= set(settings)
            first = staged.apply

            def apply_both() -> None:
                first()
                set_them()

            staged.apply = apply_both
            return

        def check() -> Exception | None:
            # ``attribute_exists(pk)``: settings alone never create a level.
            return None if key in self.store.stock else StockConflict(warehouse_id, sku)

        self._writes.append(_Write(item, check, set_them, settings=set(settings)))

    def move_stock(
        self,
        warehouse_id: str,
        sku: str,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        available: int = 0,
        require_available: int | None = None,
        require_reserved: int | None = None,
        expect_on_hand: int | None = None,
    ) -> None:
        # The adapter: ``attribute_exists(pk)`` unless this is a plain receipt, plus the requirements.
        creates = (
            on_hand >= 0
            and reserved == 0
            and available >= 0
            and require_available is None
            and require_reserved is None
            and expect_on_hand is None
        )
        key = (warehouse_id, sku)

        def check() -> Exception | None:
            row = self.store.stock.get(key)
            if row is None:
                return None if creates else StockConflict(warehouse_id, sku)
            if require_available is not None and not row.available >= require_available:
                return StockConflict(warehouse_id, sku)
            if require_reserved is not None and not row.reserved >= require_reserved:
                return StockConflict(warehouse_id, sku)
            if expect_on_hand is not None and row.on_hand != expect_on_hand:
                return StockConflict(warehouse_id, sku)
            return None

        def apply() -> None:
            row = self.store.stock.setdefault(key, StockRow(on_hand=0, reserved=0, available=0))
            row.on_hand += on_hand
            row.reserved += reserved
            row.available += available

        self._writes.append(_Write(("stock", sku, warehouse_id), check, apply))

    def reserve_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        self.move_stock(warehouse_id, sku, reserved=quantity, available=-quantity, require_available=quantity)

    def release_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        self.move_stock(warehouse_id, sku, reserved=-quantity, available=quantity, require_reserved=quantity)

    def add_tracking(self, carrier: str, number: str, *, order_id: str, fulfillment_id: str) -> None:
        entry = TrackingEntry(
            carrier=carrier.lower(), tracking_number=number, order_id=order_id, fulfillment_id=fulfillment_id
        )

        def check() -> Exception | None:
            indexed = self.store.tracking.get(number)
            if indexed is not None and indexed.fulfillment_id != fulfillment_id:
                return TrackingNumberInUse(carrier, number)
            return None

        def apply() -> None:
            self.store.tracking[number] = entry  # a Put: the same fulfillment's repeat overwrites

        self._writes.append(_Write(("tracking", number), check, apply))

    def count(self, metric: str, day: str, by: int = 1) -> None:
        key = (day, metric)

        def apply() -> None:
            self.store.counters[key] = self.store.counters.get(key, 0) + by

        # The adapter's ``ADD #value :by`` has no condition: it creates the counter or adds to it.
        self._writes.append(_Write(("counter", *key), lambda: None, apply))

    def add_order_tag(self, order: Order, tag: str) -> None:
        entry = (order.channel_id, f"{format_timestamp(order.created_at)}#{order.id}")

        def apply() -> None:
            self.store.order_tags[(tag, order.id)] = entry

        self._writes.append(_Write(("order-tag", order.id, tag), lambda: None, apply))

    def remove_order_tag(self, order_id: str, tag: str) -> None:
        def apply() -> None:
            self.store.order_tags.pop((tag, order_id), None)

        self._writes.append(_Write(("order-tag", order_id, tag), lambda: None, apply))

    def add_inbound(self, channel_id: str, key: str, body: str) -> None:
        inbound_key = (channel_id, key)

        def check() -> Exception | None:
            if inbound_key in self.store.inbound:
                return DedupExists("inbound", key)  # the adapter's ("dedup", "inbound", key) tag
            return None

        def apply() -> None:
            self.store.inbound[inbound_key] = body

        self._writes.append(_Write(("inbound", *inbound_key), check, apply))

    def add_event(self, event: DomainEvent) -> None:
        doc = event.model_dump(mode="json")
        table, key, kind, conflict = self._event_slot(event)

        def check() -> Exception | None:
            return ConcurrencyConflict(conflict) if key in table else None

        def apply() -> None:
            table[key] = doc

        self._writes.append(_Write((kind, *key), check, apply))

    def _event_slot(self, event: DomainEvent) -> tuple[dict[Any, dict[str, Any]], tuple[Any, ...], str, str]:
        """Where the adapter's ``event_item`` files an event: (the store's table, the key in it,
        the item's kind, the conflict's message when the key is taken)."""
        recorded = f"event {event.id} already recorded"
        if event.inbound_key is not None and event.channel_id is not None:
            # The adapter's event_item looks at the inbound key first: a store webhook's event is
            # kept beside its raw body, under the channel and the delivery key.
            key: tuple[Any, ...] = (event.channel_id, event.inbound_key, event.id)
            return self.store.inbound_events, key, "inbound-event", recorded
        if event.tracking_number is not None:
            # Then at the tracking number: an inbound tracking event is kept under its number
            # even when it names an order.
            return self.store.tracking_events, (event.tracking_number, event.id), "tracking-event", recorded
        if event.order_id is not None and event.version is not None:
            conflict = f"order {event.order_id} changed concurrently"
            return self.store.events, (event.order_id, event.version), "event", conflict
        if event.sku is not None and event.warehouse_id is not None:
            key = (event.sku, event.warehouse_id, event.id)
            return self.store.inventory_events, key, "stock-event", recorded
        # The adapter's event_item refuses it while staging, before any transaction.
        raise ValueError(f"event {event.type} belongs to neither an order version nor a stock level")

    def add_dedup(self, record: DedupRecord, *, ttl_seconds: int | None = None) -> None:
        key = (record.scope, record.key)

        def check() -> Exception | None:
            entry = self.store.dedup.get(key)
            if entry is not None and entry.live(self.store.clock.now()):
                return DedupExists(record.scope, record.key)
            return None

        def apply() -> None:
            now = self.store.clock.now()
            expires = now + timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
            self.store.dedup[key] = _Dedup(record=record, expires_at=expires)

        self._writes.append(_Write(("dedup", *key), check, apply))

    def staged_count(self) -> int:
        return len(self._writes)

    def commit(self) -> None:
        writes, self._writes = self._writes, []
        malformed, self._malformed = self._malformed, []
        if not writes:
            return
        self.store.commit_attempts += 1
        if malformed:
            raise InvalidTransaction("; ".join(malformed))
        if len(writes) > MAX_TRANSACTION_ITEMS:
            raise InvalidTransaction(f"{len(writes)} items; a transaction holds {MAX_TRANSACTION_ITEMS}")
        items = [w.item for w in writes]
        if len(set(items)) != len(items):
            twice = sorted({i for i in items if items.count(i) > 1})
            raise InvalidTransaction(f"one transaction writes these items twice: {twice}")
        self.store._run_hooks()
        if self.store._conflicts_to_come:
            self.store._conflicts_to_come -= 1
            raise TransactionConflict("another transaction was writing one of its items")
        for write in writes:
            error = write.check()
            if error is not None:
                raise error
        for write in writes:
            write.apply()
        self.store.commits += 1
        self.store.committed_sizes.append(len(writes))
        if self.store._lose_next_answer:
            self.store._lose_next_answer = False
            self.store.commit_attempts += 1
            for write in writes:
                error = write.check()
                if error is not None:
                    raise error


def backorder_sort_key(fulfillment: Fulfillment) -> str:
    """The backorder queue's sort key (``gsi5sk``): first come, first served."""
    return f"{format_timestamp(fulfillment.created_at)}#{fulfillment.id}"


def work_sort_key(fulfillment: Fulfillment) -> str:
    """A warehouse's work queue's sort key (``gsi5sk``): earliest promise first."""
    return f"{format_timestamp(fulfillment.ship_by or fulfillment.created_at)}#{fulfillment.id}"


class FakeQueries:
    """``OrderQueries`` over a ``FakeStore``, with the adapter's index semantics."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.work_calls: list[tuple[str, str, str | None, int]] = []

    def list_events(self, order_id: str) -> list[DomainEvent]:
        return self.store.events_of(order_id)

    def list_orders(
        self,
        *,
        status: str | None,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        limit: int,
        cursor: str | None,
        tag: str | None = None,
    ) -> tuple[list[Order], str | None]:
        """Newest first; the cursor is the sort key of the last order returned. With ``tag``, the
        orders come from the tag's listing entries (``order_tags``), as the adapter reads them."""
        low = created_from or "0000"
        high = (created_to or "9999") + "~"
        rows = []
        listed = (
            self.store.orders
            if tag is None
            else [order_id for (entry_tag, order_id) in self.store.order_tags if entry_tag == tag]
        )
        for order_id in listed:
            order = self.store.order(order_id)
            key = f"{format_timestamp(order.created_at)}#{order.id}"
            if status is not None and order.status.value != status:
                continue
            if channel_id is not None and order.channel_id != channel_id:
                continue
            if not low <= key <= high or (cursor is not None and not key < cursor):
                continue
            rows.append((key, order))
        rows.sort(key=lambda row: row[0], reverse=True)
        page = rows[:limit]
        more = len(rows) > limit
        return [order for _, order in page], (page[-1][0] if more and page else None)

    def list_work(
        self, warehouse_id: str, status: str, *, ship_by_before: str | None, limit: int
    ) -> list[Fulfillment]:
        self.work_calls.append((warehouse_id, status, ship_by_before, limit))
        rows = [
            (work_sort_key(f), f)
            for f in self.store.all_fulfillments()
            if f.warehouse_id == warehouse_id and f.status.value == status
        ]
        if ship_by_before is not None:
            rows = [row for row in rows if row[0] < ship_by_before]
        rows.sort(key=lambda row: row[0])
        return [f for _, f in rows[:limit]]


class FakeUnitOfWorkFactory:
    """``UnitOfWorkFactory``: a new unit of work over the shared store, remembering each one."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.created = 0

    def __call__(self) -> FakeUnitOfWork:
        self.created += 1
        return FakeUnitOfWork(self.store)


@dataclass(frozen=True)
class SentMessage:
    kind: str  # email | sms | warehouse | operations
    message_id: str
    fields: dict[str, Any]


class FakeNotifier:
    """``Notifier`` that records what it was asked to send and answers ``msg-0001``, ..."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        #: Kinds whose next send raises instead of sending (a provider error, a throttle).
        self.failing: dict[str, Exception] = {}

    def fail_next(self, kind: str, error: Exception) -> None:
        """Make the next send of ``kind`` raise ``error``; nothing is sent by that call."""
        self.failing[kind] = error

    def _record(self, kind: str, **fields: Any) -> str:
        if kind in self.failing:
            raise self.failing.pop(kind)
        message_id = f"msg-{len(self.sent) + 1:04d}"
        self.sent.append(SentMessage(kind=kind, message_id=message_id, fields=fields))
        return message_id

    def of_kind(self, kind: str) -> list[SentMessage]:
        return [m for m in self.sent if m.kind == kind]

    def send_email(self, *, to: str, subject: str, text: str, html: str) -> str:
        return self._record("email", to=to, subject=subject, text=text, html=html)

    def send_sms(self, *, phone: str, text: str) -> str:
        return self._record("sms", phone=phone, text=text)

    def publish_warehouse(self, *, warehouse_id: str, subject: str, message: dict[str, Any]) -> str:
        return self._record("warehouse", warehouse_id=warehouse_id, subject=subject, message=message)

    def publish_operations(self, *, subject: str, message: dict[str, Any]) -> str:
        return self._record("operations", subject=subject, message=message)


@dataclass
class _FakeClaim:
    state: str  # sending | sent
    token: str
    expires_at: datetime
    message_id: str | None = None


class FakeClaims:
    """``NotificationClaims`` on a ``FakeClock``, with the semantics of ``DynamoNotificationClaims``:
    a claim may be taken when there is none or when it expired (``expires_at < now``); a live
    ``sending`` claim refuses (None), a live ``sent`` one answers ``AlreadySent``; ``release``
    removes only the caller's own ``sending`` claim; ``mark_sent`` overwrites."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.claims: dict[str, _FakeClaim] = {}
        self.calls: list[str] = []
        self._tokens = 0

    def claim(self, key: str, *, seconds: int) -> Claimed | AlreadySent | None:
        self.calls.append(key)
        now = self.clock.now()
        current = self.claims.get(key)
        if current is not None and not current.expires_at < now:
            return AlreadySent(current.message_id or "") if current.state == "sent" else None
        self._tokens += 1
        token = f"claim-{self._tokens:04d}"
        self.claims[key] = _FakeClaim("sending", token, now + timedelta(seconds=seconds))
        return Claimed(token)

    def release(self, key: str, claim: Claimed) -> None:
        current = self.claims.get(key)
        if current is not None and current.state == "sending" and current.token == claim.token:
            del self.claims[key]

    def mark_sent(self, key: str, claim: Claimed, *, message_id: str, seconds: int) -> None:
        self.claims[key] = _FakeClaim(
            "sent", claim.token, self.clock.now() + timedelta(seconds=seconds), message_id
        )

    def held_by_another_worker(self, key: str, *, seconds: int) -> None:
        """A ``sending`` claim someone else took (a concurrent delivery of the same event)."""
        expires_at = self.clock.now() + timedelta(seconds=seconds)
        self.claims[key] = _FakeClaim("sending", "another-worker", expires_at)


class FakeStockQueries:
    """``StockQueries`` over a ``FakeStore``, with the adapter's semantics: ``list_stock`` is one
    warehouse's ``STOCK#<warehouse>`` index partition (sorted by SKU); ``shipped_units`` adds up
    the daily counters ``shipped#<warehouse>#<sku>`` that shipping writes with ``count``, over the
    days asked (one query per day: ``KPI#<day>``, ``begins_with(sk, "shipped#<warehouse>#")``)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        #: The days each ``shipped_units`` call asked for, per warehouse.
        self.days_asked: list[tuple[str, list[str]]] = []

    def list_stock(self, warehouse_id: str) -> list[StockLevel]:
        return [self.store.level(wh, sku) for wh, sku in sorted(self.store.stock) if wh == warehouse_id]

    def shipped_units(self, warehouse_id: str, days: Iterable[str]) -> dict[str, int]:
        days = list(days)
        self.days_asked.append((warehouse_id, days))
        prefix = f"shipped#{warehouse_id}#"
        totals: dict[str, int] = {}
        for (day, metric), value in self.store.counters.items():
            if day in days and metric.startswith(prefix):
                sku = metric[len(prefix) :]
                totals[sku] = totals.get(sku, 0) + value
        return totals


class FakeCounterReader:
    """``service.kpis.CounterReader`` over a ``FakeStore``'s daily counters: the ``m#<channel>#<metric>``
    items of each day asked (``KPI#<day>``), like ``DynamoCounters.kpi_counters``."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.days_asked: list[list[str]] = []

    def kpi_counters(self, days: Iterable[str]) -> dict[tuple[str, str, str], int]:
        days = list(days)
        self.days_asked.append(days)
        found: dict[tuple[str, str, str], int] = {}
        for (day, name), value in self.store.counters.items():
            if day in days and name.startswith("m#"):
                _, channel, metric = name.split("#", 2)
                found[(day, channel, metric)] = value
        return found


class FakeChannelRepository:
    """``ChannelRepository`` in memory, with the adapter's semantics: ``create`` refuses an id that
    exists, ``save`` an id that does not; endpoints live per channel (listed by id); deliveries are
    listed newest first (``attempted_at#webhook_id#attempt`` sort keys, read backwards)."""

    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        #: channel id -> endpoint id -> endpoint document
        self.endpoints: dict[str, dict[str, dict[str, Any]]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.delivered: set[str] = set()  # webhook ids an endpoint took
        #: Channel events saved with their change.
        self.events: list[DomainEvent] = []
        #: Every write, in order: ("create" | "save" | "save_endpoint" | "record_delivery" |
        #: "mark_delivered", id).
        self.writes: list[tuple[str, str]] = []

    def get(self, channel_id: str) -> Channel | None:
        doc = self.channels.get(channel_id)
        return Channel.model_validate(doc) if doc is not None else None

    def create(self, channel: Channel) -> None:
        if channel.id in self.channels:
            raise ChannelExists(channel.id)
        self.writes.append(("create", channel.id))
        self.channels[channel.id] = channel.model_dump(mode="json")

    def save(self, channel: Channel, *, event: DomainEvent | None = None) -> None:
        if channel.id not in self.channels:
            raise KeyError(channel.id)  # the adapter's attribute_exists(pk)
        self.writes.append(("save", channel.id))
        self.channels[channel.id] = channel.model_dump(mode="json")
        if event is not None:  # the adapter writes both in one transaction
            self.events.append(event)

    def list_endpoints(self, channel_id: str) -> list[WebhookEndpoint]:
        docs = self.endpoints.get(channel_id, {})
        return [WebhookEndpoint.model_validate(docs[eid]) for eid in sorted(docs)]

    def get_endpoint(self, channel_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        doc = self.endpoints.get(channel_id, {}).get(endpoint_id)
        return WebhookEndpoint.model_validate(doc) if doc is not None else None

    def save_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.writes.append(("save_endpoint", endpoint.id))
        self.endpoints.setdefault(endpoint.channel_id, {})[endpoint.id] = endpoint.model_dump(mode="json")

    def record_delivery(self, delivery: Delivery) -> None:
        self.writes.append(("record_delivery", delivery.webhook_id))
        self.deliveries.append(delivery.model_dump(mode="json"))

    def was_delivered(self, webhook_id: str) -> bool:
        return webhook_id in self.delivered

    def mark_delivered(self, webhook_id: str) -> None:
        self.writes.append(("mark_delivered", webhook_id))
        self.delivered.add(webhook_id)

    def list_deliveries(self, endpoint_id: str, limit: int) -> list[Delivery]:
        mine = [Delivery.model_validate(d) for d in self.deliveries if d["endpoint_id"] == endpoint_id]
        mine.sort(
            key=lambda d: (format_timestamp(d.attempted_at), d.webhook_id, str(d.attempt)), reverse=True
        )
        return mine[:limit]


class FakeSecrets:
    """``Secrets`` in memory: values by name, newest first; ``puts`` records every write."""

    def __init__(self, values: dict[str, list[str]] | None = None) -> None:
        self.values: dict[str, list[str]] = dict(values or {})
        self.puts: list[tuple[str, list[str]]] = []

    def secrets(self, name: str) -> list[str]:
        return list(self.values.get(name, []))

    def put(self, name: str, values: list[str]) -> None:
        self.puts.append((name, list(values)))
        self.values[name] = list(values)

    def delete(self, name: str) -> None:
        self.puts.append((name, []))
        self.values.pop(name, None)


class FakeStoreApi:
    """``StoreApi`` in memory: every request recorded (``calls``); ``written`` holds what the
    store has, each request once (as the real clients, a resent request is a no-op); outcomes
    queued in ``answers`` are returned first, in order, without writing anything."""

    def __init__(self) -> None:
        self.calls: list[StoreRequest] = []
        self.written: list[StoreRequest] = []
        self.answers: list[StoreCallOutcome] = []

    def _call(self, request: StoreRequest) -> StoreCallOutcome:
        self.calls.append(request)
        if self.answers:
            return self.answers.pop(0)
        if request in self.written:
            return Done("already there")
        self.written.append(request)
        return Done("written")

    def parcel_shipped(self, request: ParcelShipped) -> StoreCallOutcome:
        return self._call(request)

    def milestone_reached(self, request: MilestoneReached) -> StoreCallOutcome:
        return self._call(request)

    def order_cancelled(self, request: OrderCancelled) -> StoreCallOutcome:
        return self._call(request)

    def customer_note_added(self, request: CustomerNoteAdded) -> StoreCallOutcome:
        return self._call(request)

    def stock_level_changed(self, request: StockLevelChanged) -> StoreCallOutcome:
        return self._call(request)


class FakeStoreApis:
    """``StoreApis``: one ``FakeStoreApi`` for every store, recording the credentials asked for."""

    def __init__(self) -> None:
        self.api = FakeStoreApi()
        self.credentials: list[StoreCredentials] = []

    def for_credentials(self, credentials: StoreCredentials) -> FakeStoreApi:
        self.credentials.append(credentials)
        return self.api


class FakeWriteBackRecords:
    """``WriteBackLedger`` and ``StoreAlerts`` in memory (claims, parked orders by channel,
    refused requests, failing channels)."""

    def __init__(self) -> None:
        self.claims: dict[str, str] = {}
        self.parked_items: dict[tuple[str, str], ParkedOrder] = {}
        self.refused: list[StoreRejection] = []
        self.alerts: dict[str, StoreApiAlert] = {}
        self._tokens = 0

    def claim_order(self, order_id: str, *, seconds: int) -> str | None:
        if order_id in self.claims:
            return None
        self._tokens += 1
        self.claims[order_id] = f"token-{self._tokens}"
        return self.claims[order_id]

    def release_order(self, order_id: str, token: str) -> None:
        if self.claims.get(order_id) == token:
            del self.claims[order_id]

    def park(
        self, channel_id: str, order_id: str, *, reason: str, at: datetime, note: tuple[str, str] | None
    ) -> None:
        held = self.parked_items.get((channel_id, order_id))
        notes = (held.notes if held else ()) + ((note,) if note else ())
        self.parked_items[(channel_id, order_id)] = ParkedOrder(channel_id, order_id, at, reason, notes)

    def parked(self, channel_id: str, *, limit: int) -> list[ParkedOrder]:
        return [p for (c, _), p in sorted(self.parked_items.items()) if c == channel_id][:limit]

    def unpark(self, parked: ParkedOrder) -> None:
        key = (parked.channel_id, parked.order_id)
        if key in self.parked_items and self.parked_items[key].parked_at == parked.parked_at:
            del self.parked_items[key]

    def record_rejection(self, rejection: StoreRejection) -> None:
        self.refused.append(rejection)

    def rejections(self, limit: int) -> list[StoreRejection]:
        return list(reversed(self.refused))[:limit]

    def start_alert(self, channel_id: str, *, reason: str, at: datetime) -> bool:
        if channel_id in self.alerts:
            return False
        self.alerts[channel_id] = StoreApiAlert(channel_id, reason, at)
        return True

    def clear_alert(self, channel_id: str) -> bool:
        return self.alerts.pop(channel_id, None) is not None

    def alert_of(self, channel_id: str) -> StoreApiAlert | None:
        return self.alerts.get(channel_id)

    def failing_channels(self, limit: int) -> list[StoreApiAlert]:
        return sorted(self.alerts.values(), key=lambda a: a.channel_id)[:limit]


class FakeWriteBackQueue:
    """``WriteBackQueue`` in memory: the bodies sent, with their delays."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def send_later(self, body: str, *, delay_seconds: int) -> None:
        self.sent.append((body, delay_seconds))
