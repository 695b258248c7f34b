"""Ports: what the use cases, routes and workers need from the outside world, as Protocols.

The composition root (``chalicelib.bootstrap``) is the only module that knows the adapters behind
them; the DynamoDB unit of work (``chalicelib.adapters.dynamodb.unit_of_work``) and the in-memory
fake of the unit tests implement the same contract. A unit of work stages writes
and ``commit()`` applies all of them atomically (one DynamoDB transaction) or
none, raising one of the errors below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import ConcurrencyConflict, Conflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Channel, Fulfillment, Order, Product, StockLevel, Warehouse
from chalicelib.domain.outbound import Delivery, WebhookEndpoint
from chalicelib.domain.returns import ReturnRequest
from chalicelib.domain.stock_sync import Mark, SyncMarker
from chalicelib.domain.store_api import (
    CustomerNoteAdded,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    StockLevelChanged,
    StoreCallOutcome,
    StoreCredentials,
)
from chalicelib.domain.transit import TransitTable

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


class InvalidCursor(ValueError):
    """A listing's page cursor that the listing did not hand out: garbled, or from another
    listing (another filter). The API answers 400."""


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
    def add_order_tag(self, order: Order, tag: str) -> None:
        """The order's entry in the listing of ``tag`` (``list_orders(tag=...)``); staged with the
        order's change that puts the tag on."""
        ...

    def remove_order_tag(self, order_id: str, tag: str) -> None:
        """Take the order out of the listing of ``tag`` (nothing to remove is not an error)."""
        ...

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
        tag: str | None = None,
    ) -> tuple[list[Order], str | None]:
        """Newest first, ``limit`` at most, and the cursor of the next page (None on the last).
        ``created_from``/``created_to`` are RFC 3339 prefixes, both inclusive. Raises
        :class:`InvalidCursor` for a cursor this listing (with these filters) did not hand out.

        With ``tag`` (normalised), only orders carrying it, read from the tag's own listing; a
        status filter there is applied to what the listing holds, so such a page may come back
        short (even empty) with a cursor: the listing reads a bounded number of entries per
        call and says where to go on."""
        ...

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

    def save(self, channel: Channel, *, event: DomainEvent | None = None) -> None:
        """Replace an existing channel; with ``event``, both in one transaction."""
        ...

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
    def delete(self, name: str) -> None:
        """Remove the secrets under ``name`` (none there is no error)."""
        ...


class StockQueries(Protocol):
    def list_stock(self, warehouse_id: str) -> list[StockLevel]: ...
    def shipped_units(self, warehouse_id: str, days: Iterable[str]) -> dict[str, int]: ...


class Counters(Protocol):
    """Daily counters (``KPI#<day>``): per channel and metric, and plain ones."""

    def kpi_counters(self, days: Iterable[str]) -> dict[tuple[str, str, str], int]:
        """(day, channel, metric) -> value, for the days asked."""
        ...

    def daily_counter(self, metric: str, days: Iterable[str]) -> dict[str, int]:
        """day -> value of a channel-less counter (0 where nothing was counted)."""
        ...


class TransitTimes(Protocol):
    def transit_table(self) -> TransitTable:
        """The whole transit table, cached per process like warehouses (reference cache time), so
        reading it on every order response costs no DynamoDB round trip while warm."""
        ...


class ApiKeys(Protocol):
    def authenticate(self, raw_key: str) -> Principal | None:
        """The key's principal; None for a key nobody minted or one revoked."""
        ...

    def forget_cached(self) -> None:
        """Drop this process's cached lookups, so a revocation holds here at once."""
        ...


@dataclass(frozen=True)
class QueueDepth:
    """A dead-letter queue and SQS's own estimate of what it holds."""

    name: str
    messages: int
    in_flight: int


class QueuesUnavailable(Exception):
    """SQS could not be asked (no permission, or not reachable)."""


class ConsoleReads(Protocol):
    """Reads only the operator console makes: bounded, by key or index, never a scan."""

    def principal_for_key_hash(self, key_hash: str) -> Principal | None:
        """The key a session was opened with, read now (never cached): a revoked key ends its
        sessions at once. None when the key is unknown or revoked."""
        ...

    def list_channels(self) -> list[Channel]:
        """Every channel, by id."""
        ...

    def status_counts(
        self,
        statuses: Iterable[str],
        *,
        channel_id: str | None,
        created_from: str | None,
        created_to: str | None,
        cap: int,
    ) -> dict[str, int]:
        """Orders per status (and channel, and creation-date range, as ``OrderQueries.list_orders``
        filters them), each count stopped past ``cap``: ``cap + 1`` means "more than cap"."""
        ...

    def dead_letter_queues(self, stage: str) -> list[QueueDepth]:
        """The stage's dead-letter queues with their depths; raises :class:`QueuesUnavailable`."""
        ...


class FailureRecorder(Protocol):
    """Why a queue message failed, kept beside its id (best effort) for the dead-letter tools."""

    def record(
        self, message_id: str, *, handler: str, error: str, order_id: str | None, receive_count: int | None
    ) -> None: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> list[bool]:
        """Put events on the bus; per event, whether the bus accepted it."""
        ...


class OutboxStream(Protocol):
    """Reads the table's change stream: the outbox's new event items."""

    def new_events(self, records: list[dict[str, Any]]) -> list[tuple[str, DomainEvent]]:
        """(sequence number, event) of each stream record that inserted an event item, in order."""
        ...


class PostResult(Protocol):
    """How one POST ended: the status (None when no answer came) or the error, and its duration."""

    @property
    def status_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration_ms(self) -> int: ...


class WebhookTransport(Protocol):
    """HTTP to the stores' webhook endpoints; every address a name resolves to is checked, so no
    request ever reaches an internal address (loopback only where the settings allow it)."""

    def check_reachable(self, url: str) -> None:
        """Raises ``chalicelib.domain.outbound.UnsafeUrl`` for a URL we would never send to."""
        ...

    def post_signed(
        self, url: str, *, secret: str, webhook_id: str, body: str, deadline: float
    ) -> PostResult:
        """POST ``body`` signed per Standard Webhooks; never waits past ``deadline`` (monotonic)."""
        ...


class WebhookQueue(Protocol):
    """The webhooks-out queue: delivery jobs are sent to it; a received job can wait for its retry."""

    def send(self, bodies: list[str]) -> None:
        """One message per body; raises when the queue refuses any of them."""
        ...

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for ``seconds``: the queue delivers it again then."""
        ...


class StoreApi(Protocol):
    """One store's own API (Shopify Admin GraphQL, WooCommerce REST), for the write-back.

    Every call is idempotent (a resent request changes nothing twice), never raises for what the
    store answers and never sleeps: a throttled or failing store is a ``RetryAfter`` outcome that
    the caller turns into a delayed redelivery (``chalicelib.domain.store_api`` lists them).
    """

    def parcel_shipped(self, request: ParcelShipped) -> StoreCallOutcome: ...

    def milestone_reached(self, request: MilestoneReached) -> StoreCallOutcome: ...

    def order_cancelled(self, request: OrderCancelled) -> StoreCallOutcome: ...

    def customer_note_added(self, request: CustomerNoteAdded) -> StoreCallOutcome: ...

    def stock_level_changed(self, request: StockLevelChanged) -> StoreCallOutcome: ...


class StoreApis(Protocol):
    """Builds the ``StoreApi`` client of a channel from its credentials (the kind follows them)."""

    def for_credentials(self, credentials: StoreCredentials) -> StoreApi: ...


@dataclass(frozen=True)
class ParkedOrder:
    """An order whose write-back waits for a channel's store credentials to be fixed."""

    channel_id: str
    order_id: str
    parked_at: datetime
    reason: str
    #: Customer notes (note id, text) whose events arrived while parked: they live only in them.
    notes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StoreApiAlert:
    """A channel whose store refuses its credentials, since ``since`` (one alert was sent)."""

    channel_id: str
    reason: str
    since: datetime


@dataclass(frozen=True)
class StoreRejection:
    """A write-back request the store refused for good, kept for operations."""

    channel_id: str
    order_id: str
    request: str
    reason: str
    at: datetime


class StoreAlerts(Protocol):
    """Which channels' store credentials are failing: one item per channel while they fail."""

    def start_alert(self, channel_id: str, *, reason: str, at: datetime) -> bool:
        """Records the failure; True only for the call that started it (then alert once)."""
        ...

    def clear_alert(self, channel_id: str) -> bool:
        """Forgets the failure; True when there was one."""
        ...

    def alert_of(self, channel_id: str) -> StoreApiAlert | None: ...

    def failing_channels(self, limit: int) -> list[StoreApiAlert]: ...


class WriteBackLedger(Protocol):
    """The write-back's own bookkeeping: per-order claims, parked orders, refused requests."""

    def claim_order(self, order_id: str, *, seconds: int) -> str | None:
        """A short claim on the order's write-back (its token), or None when another run holds it."""
        ...

    def release_order(self, order_id: str, token: str) -> None: ...

    def park(
        self, channel_id: str, order_id: str, *, reason: str, at: datetime, note: tuple[str, str] | None
    ) -> None: ...

    def parked(self, channel_id: str, *, limit: int) -> list[ParkedOrder]: ...

    def unpark(self, parked: ParkedOrder) -> None:
        """Removes the parked item unless it was parked again since it was read."""
        ...

    def record_rejection(self, rejection: StoreRejection) -> None: ...

    def rejections(self, limit: int) -> list[StoreRejection]: ...


class WriteBackQueue(Protocol):
    """The write-back queue: a message is sent again (delayed) rather than failed, so waiting for
    a busy store never counts towards the queue's dead-letter limit."""

    def send_later(self, body: str, *, delay_seconds: int) -> None: ...


class StockSyncState(Protocol):
    """The stock-sync markers (``chalicelib.domain.stock_sync``), one item per channel and SKU,
    each step one conditional write; and the reads the stock push needs beside them."""

    def mark(self, channel_id: str, sku: str, *, version: str) -> Mark:
        """A change of the SKU's ``available`` (``stock_sync.mark``, atomically)."""
        ...

    def mark_for_full_push(self, channel_id: str, sku: str) -> None: ...
    def get(self, channel_id: str, sku: str) -> SyncMarker:
        """The marker, read strongly consistent (a clean one when there is none)."""
        ...

    def clear(self, channel_id: str, sku: str, *, changes: int, pushed: dict[str, int]) -> bool:
        """``stock_sync.clear``, atomically; when it fails (False), ``stock_sync.forget_pushed``."""
        ...

    def set_unsold(self, channel_id: str, sku: str, *, changes: int, version: str) -> bool:
        """Remember the store does not sell the SKU (and clear the mark), unless marked again."""
        ...

    def forget_unsold(self, channel_id: str, sku: str) -> None: ...
    def list_channels(self) -> list[Channel]: ...
    def list_skus(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """A page of the catalogue's SKUs, in order, after ``after``; and the last one when more follow."""
        ...


class StockSyncQueue(Protocol):
    """The stock-sync queue: push and catalogue messages, sent delayed."""

    def send(self, bodies: list[str], *, delay_seconds: int) -> None:
        """One message per body, each delivered ``delay_seconds`` (0-900) later; raises when the
        queue refuses any."""
        ...
