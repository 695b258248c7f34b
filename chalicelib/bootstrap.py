"""Composition root: builds the adapters behind the ports, once per process; the only module
that knows them.

Routes and workers ask for ``services()``; tests reset it with
``reset_services()`` after pointing the environment at moto.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from chalicelib.adapters.api_keys import ApiKeyStore
from chalicelib.adapters.aws import client, reset_clients
from chalicelib.adapters.cache import reference_cache
from chalicelib.adapters.channels import DynamoChannelStore
from chalicelib.adapters.console_reads import DynamoConsoleReads
from chalicelib.adapters.dynamodb.claims import DynamoNotificationClaims
from chalicelib.adapters.dynamodb.failures import FailureLog
from chalicelib.adapters.dynamodb.queries import DynamoCounters, DynamoOrderQueries, DynamoStockQueries
from chalicelib.adapters.dynamodb.stream import DynamoOutboxStream
from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWorkFactory
from chalicelib.adapters.eventbus import EventBusPublisher
from chalicelib.adapters.http_sender import HttpWebhookTransport
from chalicelib.adapters.notifier import AwsNotifier
from chalicelib.adapters.secrets import SecretStore
from chalicelib.adapters.templates import JinjaRenderer
from chalicelib.adapters.transit import DynamoTransitStore
from chalicelib.adapters.webhook_queue import SqsWebhookQueue
from chalicelib.config import Settings, settings
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.ids import UlidGenerator
from chalicelib.domain.models import utcnow
from chalicelib.service.notifications import NotificationContext
from chalicelib.service.ports import (
    ApiKeys,
    ChannelRepository,
    Clock,
    ConsoleReads,
    Counters,
    EventPublisher,
    FailureRecorder,
    IdGenerator,
    OrderQueries,
    OutboxStream,
    Secrets,
    StockQueries,
    StoreAlerts,
    StoreApis,
    TransitTimes,
    UnitOfWorkFactory,
    WebhookQueue,
    WebhookTransport,
    WriteBackLedger,
)

if TYPE_CHECKING:
    from chalicelib.adapters.reference import DynamoReferenceStore
    from chalicelib.service.stock_sync import StockSyncContext
    from chalicelib.service.writeback import WriteBackContext

#: SSM parameter (under the stage's prefix) holding the key(s) that sign links in e-mails.
LINK_SIGNING_SECRET = "signing/links"


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Services:
    """What routes and workers may use, each typed by its port: only this module knows the
    adapters behind them. Adapters that need a client of their own (SQS, EventBridge) are made
    when asked for, so a function that never uses them never creates the client."""

    settings: Settings
    secrets: Secrets
    channels: ChannelRepository
    stock: StockQueries
    counters: Counters
    uow_factory: UnitOfWorkFactory
    queries: OrderQueries
    api_keys: ApiKeys
    console: ConsoleReads
    failures: FailureRecorder
    outbox: OutboxStream
    webhook_transport: WebhookTransport
    hold_policy: HoldPolicy
    ids: IdGenerator
    clock: Clock
    #: The transit table, cached per process (promised dates on every order read).
    transit_times: TransitTimes

    def event_publisher(self) -> EventPublisher:
        return EventBusPublisher(client("events"), self.settings.event_bus_name)

    def webhook_queue(self) -> WebhookQueue:
        return SqsWebhookQueue(client("sqs"), self.settings.webhooks_queue)

    def writeback_context(self) -> WriteBackContext:
        """What the write-back worker needs: the store API clients (loopback store URLs only where
        the settings allow them: the local stack and tests), its bookkeeping, the operations topic."""
        from chalicelib.adapters.dynamodb.writeback import DynamoWriteBackRecords
        from chalicelib.adapters.webhook_queue import SqsWriteBackQueue
        from chalicelib.service.writeback import WriteBackContext

        cfg = self.settings
        records = DynamoWriteBackRecords(client("dynamodb"), cfg.table_name)
        return WriteBackContext(
            uow_factory=self.uow_factory,
            secrets=self.secrets,
            stores=self.store_apis(),
            ledger=records,
            alerts=records,
            notifier=self.operations_notifier(),
            queue=SqsWriteBackQueue(client("sqs"), cfg.writeback_queue),
            clock=self.clock,
            channels=self.channels,
            transit_table=self.transit_times.transit_table,
        )

    def store_alerts(self) -> StoreAlerts:
        """The channels whose store credentials fail (the console's needs-attention page)."""
        from chalicelib.adapters.dynamodb.writeback import DynamoWriteBackRecords

        return DynamoWriteBackRecords(client("dynamodb"), self.settings.table_name)

    def writeback_ledger(self) -> WriteBackLedger:
        from chalicelib.adapters.dynamodb.writeback import DynamoWriteBackRecords

        return DynamoWriteBackRecords(client("dynamodb"), self.settings.table_name)

    def operations_notifier(self) -> AwsNotifier:
        """SES and SNS as the notifier port (the operations topic's alerts among them)."""
        cfg = self.settings
        return AwsNotifier(
            client("ses"),
            client("sns"),
            sender=cfg.sender_email,
            warehouse_topic_arn=cfg.warehouse_topic_arn,
            operations_topic_arn=cfg.operations_topic_arn,
        )

    def store_apis(self) -> StoreApis:
        """The stores' own APIs (write-back); loopback URLs only where the stage allows them."""
        from chalicelib.adapters.stores import HttpStoreApis

        return HttpStoreApis(allow_loopback=self.settings.allow_loopback_webhooks)

    def stock_sync_context(self) -> StockSyncContext:
        from chalicelib.adapters.dynamodb.stock_sync import DynamoStockSyncState
        from chalicelib.adapters.stock_sync_queue import SqsStockSyncQueue
        from chalicelib.service.stock_sync import StockSyncContext

        cfg = self.settings
        return StockSyncContext(
            uow_factory=self.uow_factory,
            channels=self.channels,
            secrets=self.secrets,
            stores=self.store_apis(),
            state=DynamoStockSyncState(client("dynamodb"), cfg.table_name),
            queue=SqsStockSyncQueue(client("sqs"), cfg.stock_sync_queue),
            clock=self.clock,
            delay_seconds=cfg.stock_sync_delay_seconds,
        )

    def notification_context(self) -> NotificationContext:
        cfg = self.settings
        return NotificationContext(
            uow_factory=self.uow_factory,
            notifier=AwsNotifier(
                client("ses"),
                client("sns"),
                sender=cfg.sender_email,
                warehouse_topic_arn=cfg.warehouse_topic_arn,
                operations_topic_arn=cfg.operations_topic_arn,
            ),
            claims=DynamoNotificationClaims(client("dynamodb"), cfg.table_name),
            renderer=JinjaRenderer(),
            ids=self.ids,
            clock=self.clock,
            public_base_url=cfg.public_base_url,
            link_keys=self.link_keys,
            transit_table=self.transit_times.transit_table,
            return_window_days=cfg.return_window_days,
        )

    def link_keys(self) -> list[str]:
        """Keys that sign links in e-mails (feedback, unsubscribe), newest first."""
        return self.secrets.secrets(LINK_SIGNING_SECRET)


@cache
def services() -> Services:
    cfg = settings()
    dynamodb = client("dynamodb")
    return Services(
        settings=cfg,
        secrets=SecretStore(client("ssm"), cfg.secrets_prefix),
        channels=DynamoChannelStore(dynamodb, cfg.table_name),
        stock=DynamoStockQueries(dynamodb, cfg.table_name),
        counters=DynamoCounters(dynamodb, cfg.table_name),
        uow_factory=DynamoUnitOfWorkFactory(dynamodb, cfg.table_name),
        queries=DynamoOrderQueries(dynamodb, cfg.table_name),
        api_keys=ApiKeyStore(dynamodb, cfg.table_name, cache_seconds=cfg.api_key_cache_seconds),
        console=DynamoConsoleReads(dynamodb, cfg.table_name, sqs=lambda: client("sqs")),
        failures=FailureLog(dynamodb, cfg.table_name),
        outbox=DynamoOutboxStream(),
        webhook_transport=HttpWebhookTransport(allow_loopback=cfg.allow_loopback_webhooks),
        hold_policy=HoldPolicy.parse(cfg.fraud_review_threshold),
        ids=UlidGenerator(),
        clock=SystemClock(),
        transit_times=DynamoTransitStore(dynamodb, cfg.table_name),
    )


@cache
def reference_store() -> DynamoReferenceStore:
    """The repository of reference data administration (service/reference.py)."""
    from chalicelib.adapters.reference import DynamoReferenceStore

    return DynamoReferenceStore(client("dynamodb"), settings().table_name)


@cache
def transit_store() -> DynamoTransitStore:
    """The repository of the transit table's administration (service/transit.py)."""
    return DynamoTransitStore(client("dynamodb"), settings().table_name)


def reset_services() -> None:
    services.cache_clear()
    reference_store.cache_clear()
    transit_store.cache_clear()
    settings.cache_clear()
    reset_clients()
    reference_cache.clear()
