"""Ports: what the use cases need from the outside world, as Protocols.

The DynamoDB adapter (``chalicelib.adapters.dynamodb``) and the in-memory fake
of the unit tests implement the same contract. A unit of work stages writes
and ``commit()`` applies all of them atomically (one DynamoDB transaction) or
none, raising one of the errors below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.errors import ConcurrencyConflict, Conflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Channel, Fulfillment, Order, Product, StockLevel, Warehouse
from chalicelib.domain.outbound import Delivery, WebhookEndpoint
from chalicelib.domain.returns import ReturnRequest

#: DynamoDB's limit on items in one TransactWriteItems call.
MAX_TRANSACTION_ITEMS = 100


class StockConflict(Exception):
    """A reservation's ``available >= qty`` condition failed: stock moved since we read it."""

    def __init__(self, warehouse_id: str, sku: str) -> None:
        self.warehouse_id = warehouse_id
        self.sku = sku
        super().__init__(f"stock of {sku} in {warehouse_id} changed")


class DedupExists(Exception):
    """A dedup item that must be new already exists (a concurrent or repeated request)."""

    def __init__(self, scope: str, key: str) -> None:
        self.scope = scope
        self.key = key
        super().__init__(f"{scope}/{key} already recorded")


class OrderExists(ConcurrencyConflict):
    """A new order's put found an order with its id already there.

    Order ids are new for every attempt, so the order can only be this very transaction's own
    write: the SDK re-sent a ``TransactWriteItems`` whose first copy was applied but whose answer
    was lost (a read timeout), and the copy found what the first one wrote. Placement answers
    with that order; anywhere else it is an ordinary concurrency conflict.
    """

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} exists already")


class TransactionConflict(ConcurrencyConflict):
    """DynamoDB cancelled the transaction because another one was writing one of its items at
    that moment (cancellation reason ``TransactionConflict``). Nothing was written and no
    condition failed: the same command succeeds if it runs again after a short, jittered pause
    (``chalicelib.service.changes.retrying``). Left unretried it is a 409 like any
    ``ConcurrencyConflict``."""


class ChannelExists(Conflict):
    """A channel with that id exists already (409)."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id} exists already")


class TrackingNumberInUse(Exception):
    """A tracking number already indexed for another fulfillment."""

    def __init__(self, carrier: str, number: str) -> None:
        self.carrier = carrier
        self.number = number
        super().__init__(f"{carrier} tracking number {number} already belongs to another shipment")


@dataclass(frozen=True)
class DedupRecord:
    scope: str
    key: str
    request_hash: str
    ref: str
    created_at: datetime
    state: str = "done"
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrackingRef:
    """Where a tracking number belongs."""

    order_id: str
    fulfillment_id: str
    carrier: str


@dataclass
class OrderAggregate:
    order: Order
    fulfillments: list[Fulfillment]
    returns: list[ReturnRequest] = field(default_factory=list)


class UnitOfWork(Protocol):
    # Reads (strongly consistent where a decision depends on them).
    def get_channel(self, channel_id: str) -> Channel | None: ...
    def list_warehouses(self) -> list[Warehouse]: ...
    def get_products(self, skus: Iterable[str]) -> dict[str, Product]: ...
    def get_catalogue(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> tuple[dict[str, Product], dict[tuple[str, str], StockLevel]]:
        """``get_products`` and ``get_stock`` in one read (placement's hot path)."""
        ...

    def get_stock(
        self, skus: Iterable[str], warehouse_ids: Iterable[str]
    ) -> dict[tuple[str, str], StockLevel]: ...
    def get_order(self, order_id: str) -> OrderAggregate | None: ...
    def get_dedup(self, scope: str, key: str) -> DedupRecord | None: ...
    def get_warehouse(self, warehouse_id: str) -> Warehouse | None: ...
    def find_tracking(self, tracking_number: str) -> TrackingRef | None: ...
    def get_inbound(self, channel_id: str, key: str) -> str | None: ...
    def get_boxes(self, warehouse_id: str) -> list[Box]: ...
    def find_order_of_fulfillment(self, fulfillment_id: str) -> str | None: ...
    def list_backorders(self, sku: str, limit: int) -> list[tuple[str, str]]:
        """(order id, fulfillment id) of backorders of ``sku``, oldest first."""
        ...

    # Staged writes, applied by commit().
    def add_order(self, order: Order) -> None: ...
    def update_order(self, order: Order, *, expected_version: int) -> None: ...
    def add_fulfillment(self, fulfillment: Fulfillment) -> None: ...
    def add_return(self, rma: ReturnRequest) -> None: ...
    def update_return(self, rma: ReturnRequest, *, expected_version: int) -> None: ...
    def set_stock_settings(
        self,
        warehouse_id: str,
        sku: str,
        *,
        reorder_point: int | None,
        overstock_level: int | None,
        bin_location: str | None,
    ) -> None: ...
    def update_fulfillment(self, fulfillment: Fulfillment, *, expected_version: int) -> None: ...
    def reserve_stock(self, warehouse_id: str, sku: str, quantity: int) -> None: ...
    def release_stock(self, warehouse_id: str, sku: str, quantity: int) -> None: ...
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
    ) -> None: ...
    def add_tracking(self, carrier: str, number: str, *, order_id: str, fulfillment_id: str) -> None: ...
    def count(self, metric: str, day: str, by: int = 1) -> None: ...
    def add_inbound(self, channel_id: str, key: str, body: str) -> None: ...
    def add_event(self, event: DomainEvent) -> None: ...
    def add_dedup(self, record: DedupRecord, *, ttl_seconds: int | None = None) -> None: ...
    def staged_count(self) -> int: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class OrderQueries(Protocol):
    def list_events(self, order_id: str) -> list[DomainEvent]: ...
    def list_orders(
        self,
        *,
        status: str | None,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Order], str | None]: ...
    def list_work(
        self, warehouse_id: str, status: str, *, ship_by_before: str | None, limit: int
    ) -> list[Fulfillment]:
        """A warehouse's fulfillments in one status, earliest ship-by first."""
        ...


class Notifier(Protocol):
    def send_email(self, *, to: str, subject: str, text: str, html: str) -> str: ...
    def send_sms(self, *, phone: str, text: str) -> str: ...
    def publish_warehouse(self, *, warehouse_id: str, subject: str, message: dict[str, Any]) -> str: ...
    def publish_operations(self, *, subject: str, message: dict[str, Any]) -> str: ...


class NotificationLog(Protocol):
    """Claims and records outgoing messages so each is sent once per event."""

    def claim(self, key: str, *, now: datetime) -> bool: ...
    def record_sent(
        self, key: str, *, order_id: str, event: DomainEvent, message_id: str, now: datetime
    ) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None:
        """Pause the caller (the backoff between retries of a transient conflict)."""
        ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...


class ChannelRepository(Protocol):
    def get(self, channel_id: str) -> Channel | None: ...
    def create(self, channel: Channel) -> None:
        """Raises if a channel with that id exists."""
        ...

    def save(self, channel: Channel) -> None: ...
    def list_endpoints(self, channel_id: str) -> list[WebhookEndpoint]: ...
    def get_endpoint(self, channel_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def save_endpoint(self, endpoint: WebhookEndpoint) -> None: ...
    def record_delivery(self, delivery: Delivery) -> None: ...
    def list_deliveries(self, endpoint_id: str, limit: int) -> list[Delivery]: ...
    def was_delivered(self, webhook_id: str) -> bool:
        """True once the endpoint took this webhook id (answered 2xx)."""
        ...

    def mark_delivered(self, webhook_id: str) -> None: ...


class Secrets(Protocol):
    """Secrets by name, newest first (two during a rotation); written, never read back by the API."""

    def secrets(self, name: str) -> list[str]: ...
    def put(self, name: str, values: list[str]) -> None: ...


class StockQueries(Protocol):
    def list_stock(self, warehouse_id: str) -> list[StockLevel]: ...
    def shipped_units(self, warehouse_id: str, days: Iterable[str]) -> dict[str, int]: ...
