"""In-memory stand-ins for the ports of ``chalicelib.service.ports``, for unit tests.

``FakeUnitOfWork`` keeps the contract of ``chalicelib.adapters.dynamodb.DynamoUnitOfWork``:

- reads go straight to the shared ``FakeStore`` (strongly consistent, like the adapter's
  ``ConsistentRead=True``) and return fresh copies, never objects the store keeps;
- writes are staged and ``commit()`` applies all of them or none. Every condition is checked
  before anything is applied, in staging order, and the first one that fails decides the error,
  as the adapter's ``_reason`` does with DynamoDB's cancellation reasons:

  ========================  ====================================  =====================
  staged write              condition                             error when it fails
  ========================  ====================================  =====================
  add_order                 no order with that id                 ConcurrencyConflict
  update_order              stored version == expected_version    ConcurrencyConflict
  add_fulfillment           no fulfillment with that id           ConcurrencyConflict
  update_fulfillment        stored version == expected_version    ConcurrencyConflict
  reserve_stock             level exists and available >= qty     StockConflict
  release_stock             level exists and reserved >= qty      StockConflict
  add_event                 no event (order id, version) yet      ConcurrencyConflict
  add_dedup                 no record, or its ttl has passed      DedupExists
  ========================  ====================================  =====================

- like DynamoDB, a transaction may not touch one item twice nor hold more than
  ``MAX_TRANSACTION_ITEMS`` items (``InvalidTransaction``: a bug in the caller, not a race);
- the staged writes are dropped by ``commit()`` whether it succeeds or not.

Documents are stored as their JSON form (``model_dump(mode="json")``) and validated again on
every read, so a value that would not survive the trip through DynamoDB does not survive here.
Time (dedup ttl, claims) comes from a ``FakeClock``, not from the wall clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Channel, Fulfillment, Order, Product, StockLevel, Warehouse
from chalicelib.service.ports import (
    MAX_TRANSACTION_ITEMS,
    DedupExists,
    DedupRecord,
    OrderAggregate,
    StockConflict,
)

START = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

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
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(counter):04d}"


class InvalidTransaction(Exception):
    """What DynamoDB answers with a ValidationException: the transaction itself is malformed."""


@dataclass
class StockRow:
    on_hand: int
    reserved: int
    available: int


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
    #: (order id, version) -> event document
    events: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: (scope, key) -> record and expiry
    dedup: dict[tuple[str, str], _Dedup] = field(default_factory=dict)
    #: Successful commits, and the number of items each one wrote.
    commits: int = 0
    committed_sizes: list[int] = field(default_factory=list)
    #: Every commit() with staged writes, including the ones whose conditions failed.
    commit_attempts: int = 0
    _before_commit: list[Callable[[], object]] = field(default_factory=list)

    # -- seeding (what infra seeding / admin writes do, outside any unit of work) ---------------

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel.model_dump(mode="json")

    def add_warehouse(self, warehouse: Warehouse) -> None:
        self.warehouses[warehouse.id] = warehouse.model_dump(mode="json")

    def add_product(self, product: Product) -> None:
        self.products[product.sku] = product.model_dump(mode="json")

    def set_stock(self, warehouse_id: str, sku: str, on_hand: int) -> None:
        """A level from scratch, reservations at zero (``ReferenceData.put_stock``)."""
        self.stock[(warehouse_id, sku)] = StockRow(on_hand=on_hand, reserved=0, available=on_hand)

    def put_order(self, order: Order, fulfillments: Iterable[Fulfillment] = ()) -> None:
        """Write an aggregate as it stands, bypassing conditions (to set up a state)."""
        self.orders[order.id] = order.model_dump(mode="json")
        self.fulfillments[order.id] = {f.id: f.model_dump(mode="json") for f in fulfillments}

    def before_next_commit(self, action: Callable[[], object]) -> None:
        """Run ``action`` once, at the start of the next commit, before its conditions are checked:
        what a concurrent request does between our reads and our write."""
        self._before_commit.append(action)

    def _run_hooks(self) -> None:
        hooks, self._before_commit = self._before_commit, []
        for hook in hooks:
            hook()

    # -- inspection, for assertions ------------------------------------------------------------

    def order(self, order_id: str) -> Order:
        return Order.model_validate(self.orders[order_id])

    def fulfillments_of(self, order_id: str) -> list[Fulfillment]:
        docs = self.fulfillments.get(order_id, {})
        return [Fulfillment.model_validate(docs[fid]) for fid in sorted(docs)]

    def events_of(self, order_id: str) -> list[DomainEvent]:
        versions = sorted(v for (oid, v) in self.events if oid == order_id)
        return [DomainEvent.model_validate(self.events[(order_id, v)]) for v in versions]

    def all_events(self) -> list[DomainEvent]:
        return [DomainEvent.model_validate(self.events[key]) for key in sorted(self.events)]

    def level(self, warehouse_id: str, sku: str) -> StockLevel:
        row = self.stock[(warehouse_id, sku)]
        return StockLevel(
            sku=sku,
            warehouse_id=warehouse_id,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.available,
        )

    def dedup_record(self, scope: str, key: str) -> DedupRecord | None:
        entry = self.dedup.get((scope, key))
        return entry.record if entry is not None and entry.live(self.clock.now()) else None


@dataclass
class _Write:
    item: tuple[Any, ...]  # the DynamoDB item it touches, to refuse two writes of one item
    check: Callable[[], Exception | None]
    apply: Callable[[], None]


class FakeUnitOfWork:
    """Implements ``chalicelib.service.ports.UnitOfWork`` over a ``FakeStore``."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self._writes: list[_Write] = []

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
            order=self.store.order(order_id), fulfillments=self.store.fulfillments_of(order_id)
        )

    def get_dedup(self, scope: str, key: str) -> DedupRecord | None:
        return self.store.dedup_record(scope, key)

    # -- staged writes -------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        doc = order.model_dump(mode="json")

        def check() -> Exception | None:
            if order.id in self.store.orders:
                return ConcurrencyConflict(f"order {order.id} changed concurrently")
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

    def reserve_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        def check() -> Exception | None:
            row = self.store.stock.get((warehouse_id, sku))
            if row is None or not row.available >= quantity:
                return StockConflict(warehouse_id, sku)
            return None

        def apply() -> None:
            row = self.store.stock[(warehouse_id, sku)]
            row.reserved += quantity
            row.available -= quantity

        self._writes.append(_Write(("stock", sku, warehouse_id), check, apply))

    def release_stock(self, warehouse_id: str, sku: str, quantity: int) -> None:
        def check() -> Exception | None:
            row = self.store.stock.get((warehouse_id, sku))
            if row is None or not row.reserved >= quantity:
                return StockConflict(warehouse_id, sku)
            return None

        def apply() -> None:
            row = self.store.stock[(warehouse_id, sku)]
            row.reserved -= quantity
            row.available += quantity

        self._writes.append(_Write(("stock", sku, warehouse_id), check, apply))

    def add_event(self, event: DomainEvent) -> None:
        doc = event.model_dump(mode="json")
        key = (event.order_id, event.version)

        def check() -> Exception | None:
            if key in self.store.events:
                return ConcurrencyConflict(f"order {event.order_id} changed concurrently")
            return None

        def apply() -> None:
            self.store.events[key] = doc

        self._writes.append(_Write(("event", *key), check, apply))

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
        if not writes:
            return
        self.store.commit_attempts += 1
        if len(writes) > MAX_TRANSACTION_ITEMS:
            raise InvalidTransaction(f"{len(writes)} items; a transaction holds {MAX_TRANSACTION_ITEMS}")
        items = [w.item for w in writes]
        if len(set(items)) != len(items):
            twice = sorted({i for i in items if items.count(i) > 1})
            raise InvalidTransaction(f"one transaction writes these items twice: {twice}")
        self.store._run_hooks()
        for write in writes:
            error = write.check()
            if error is not None:
                raise error
        for write in writes:
            write.apply()
        self.store.commits += 1
        self.store.committed_sizes.append(len(writes))


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

    def _record(self, kind: str, **fields: Any) -> str:
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


class FakeClaims:
    """``NotificationClaims`` on a ``FakeClock``: the semantics of ``DynamoNotificationClaims``
    (a claim may be taken when there is none or when it expired, ``expires_at < now``)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.expires_at: dict[str, datetime] = {}
        self.calls: list[str] = []

    def claim(self, key: str, *, seconds: int) -> bool:
        self.calls.append(key)
        now = self.clock.now()
        current = self.expires_at.get(key)
        if current is not None and not current < now:
            return False
        self.expires_at[key] = now + timedelta(seconds=seconds)
        return True

    def held_by_another_worker(self, key: str, *, seconds: int) -> None:
        """A claim someone else took (a concurrent delivery of the same event)."""
        self.expires_at[key] = self.clock.now() + timedelta(seconds=seconds)
