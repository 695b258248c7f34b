"""Domain events: what happened to an order, recorded with the change that made it.

An order event is stored as the ``EVENT#<version>`` item of its order (an
inventory event under its SKU) in the same transaction as the change, which
makes the timeline and the outbox one thing:
the table stream carries each new event item to the relay, which puts it on
the bus. ``id`` is stable across redeliveries, so consumers deduplicate on it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models import Timestamp


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"
    ORDER_RECEIVED = "order.received"
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_UPDATED = "order.updated"
    #: A store re-sent its order, newer but with nothing the service acts on changed: only the
    #: order's ``store_updated_at`` moves forward (so an older version arriving later is known as
    #: older). Timeline only: no queue receives it.
    ORDER_STORE_SYNCED = "order.store_synced"
    ORDER_ON_HOLD = "order.on_hold"
    ORDER_HOLD_RELEASED = "order.hold_released"
    ORDER_BACKORDERED = "order.backordered"
    ORDER_BACKORDER_ALLOCATED = "order.backorder_allocated"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_LINES_CANCELLED = "order.lines_cancelled"
    FULFILLMENT_PICKED = "fulfillment.picked"
    FULFILLMENT_SHORT_PICKED = "fulfillment.short_picked"
    FULFILLMENT_PACKED = "fulfillment.packed"
    FULFILLMENT_SHIPPED = "fulfillment.shipped"
    SLA_BREACHED = "sla.breached"
    RETURN_REQUESTED = "return.requested"
    RETURN_RECEIVED = "return.received"
    REFUND_REQUESTED = "refund.requested"
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_PREFERENCES_CHANGED = "order.notification_preferences_changed"
    FEEDBACK_RECEIVED = "feedback.received"
    # Carrier tracking: what arrived (kept under the tracking number), and what it did to the order.
    TRACKING_RECEIVED = "tracking.received"
    TRACKING_UNMATCHED = "tracking.unmatched"
    TRACKING_UPDATED = "tracking.updated"
    # Store webhooks (Shopify, WooCommerce): received, then mapped by the intake worker.
    CHANNEL_ORDER_RECEIVED = "channel.order_received"
    CHANNEL_WEBHOOK_IGNORED = "channel.webhook_ignored"
    #: A channel's store API connection, location mapping or stock sync changed (kept under the
    #: channel; never a credential in it).
    CHANNEL_STORE_API_CHANGED = "channel.store_api_changed"
    # Inventory events belong to a stock level (sku, warehouse), not to an order.
    INVENTORY_RECEIVED = "inventory.received"
    INVENTORY_ADJUSTED = "inventory.adjusted"
    INVENTORY_COUNTED = "inventory.counted"


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    #: Order events carry the order, its channel and the order version they produced
    #: (1 for order.placed); inventory events carry the sku and warehouse instead.
    order_id: str | None = None
    channel_id: str | None = None
    version: int | None = None
    sku: str | None = None
    warehouse_id: str | None = None
    #: Inbound tracking events are kept under their tracking number.
    tracking_number: str | None = None
    #: Inbound store webhooks are kept under their channel and delivery key, beside the raw body.
    inbound_key: str | None = None
    occurred_at: Timestamp
    #: Who caused it: ``channel:<id>``, ``admin:<key id>``, ``system:<worker>``.
    actor: str
    data: dict[str, Any] = Field(default_factory=dict)
