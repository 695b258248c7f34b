"""Domain events: what happened to an order, recorded with the change that made it.

An order event is stored as the ``EVENT#<version>`` item of its order (an
inventory event under its SKU) in the same transaction as the change, which
makes the timeline and the outbox one thing:
the table stream carries each new event item to the relay, which puts it on
the bus. ``id`` is stable across redeliveries, so consumers deduplicate on it.

What an event says (its ``data``) is one :class:`EventPayload` model per event type
(``event_payloads``): producers build the model, ``DomainEvent.recording`` stores its JSON form,
and consumers read it back with ``DomainEvent.payload``. docs/events.md is generated from those
models (``python -m tools.events``).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .models import Timestamp
from .status import OrderStatus


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
    #: Staff notes and tags (domain/notes.py): the order's timeline and the store write-back.
    ORDER_NOTE_ADDED = "order.note_added"
    ORDER_TAGS_CHANGED = "order.tags_changed"
    #: Lines added, units removed or quantities changed before picking (API or store edit).
    ORDER_EDITED = "order.edited"
    #: What an edit changed in the order's total, for the store to charge or refund.
    PAYMENT_ADJUSTMENT_REQUESTED = "payment.adjustment_requested"
    FULFILLMENT_PICKED = "fulfillment.picked"
    FULFILLMENT_SHORT_PICKED = "fulfillment.short_picked"
    FULFILLMENT_PACKED = "fulfillment.packed"
    FULFILLMENT_SHIPPED = "fulfillment.shipped"
    #: A parcel's journey ended without a delivery: returned to sender, lost or damaged.
    FULFILLMENT_EXCEPTION_RECORDED = "fulfillment.exception_recorded"
    #: A delivery exception resolved: reshipped, refunded, or the returned goods restocked.
    FULFILLMENT_RESOLVED = "fulfillment.resolved"
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
    # Reference data (admin): kept in the audit listing; the record's version is in the data.
    WAREHOUSE_CHANGED = "warehouse.changed"
    PRODUCT_CHANGED = "product.changed"
    BOX_CHANGED = "box.changed"
    BOX_RETIRED = "box.retired"
    API_KEY_MINTED = "api_key.minted"
    API_KEY_REVOKED = "api_key.revoked"
    TRANSIT_TIME_CHANGED = "transit_time.changed"
    TRANSIT_TIME_REMOVED = "transit_time.removed"


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

    @classmethod
    def recording(
        cls,
        payload: EventPayload,
        *,
        id: str,
        occurred_at: datetime,
        actor: str,
        order_id: str | None = None,
        channel_id: str | None = None,
        version: int | None = None,
        sku: str | None = None,
        warehouse_id: str | None = None,
        tracking_number: str | None = None,
        inbound_key: str | None = None,
        order_state: OrderState | None = None,
    ) -> DomainEvent:
        """The event that records ``payload``: its type is the payload's, its ``data`` the
        payload's JSON form (after ``order_state`` for an event an order change records)."""
        if payload.recorded_with_order_state != (order_state is not None):
            raise ValueError(f"{payload.event_type}: the order state goes with order-change events only")
        data = payload.to_data() if order_state is None else {**order_state.to_data(), **payload.to_data()}
        return cls(
            id=id,
            type=payload.event_type,
            order_id=order_id,
            channel_id=channel_id,
            version=version,
            sku=sku,
            warehouse_id=warehouse_id,
            tracking_number=tracking_number,
            inbound_key=inbound_key,
            occurred_at=occurred_at,
            actor=actor,
            data=data,
        )

    def payload(self, model: builtins.type[P]) -> P:
        """This event's data read as ``model``, the payload of its type (the one accessor every
        consumer reads events through). Raises ``ValueError`` (pydantic's ``ValidationError``)
        when the data does not fit, ``TypeError`` when ``model`` is not this event type's."""
        if model.event_type != self.type:
            raise TypeError(
                f"{self.type} event {self.id} is not read as {model.__name__} ({model.event_type})"
            )
        data = self.data
        if model.recorded_with_order_state:
            data = {k: v for k, v in data.items() if k not in OrderState.model_fields}
        return model.model_validate(data)

    def order_state(self) -> OrderState:
        """The order's status and milestone flags an order-change event carries beside its payload."""
        return OrderState.model_validate({k: v for k, v in self.data.items() if k in OrderState.model_fields})


class EventPayload(BaseModel):
    """What one type of event says: its ``data``. One subclass per :class:`EventType`.

    The class docstring says when the event is emitted, and ``emitted_by`` by which step; the
    field descriptions say what each field means. docs/events.md and the JSON Schemas under
    docs/events/ are generated from them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[EventType]
    #: The step (and module) that records the event, for the catalogue.
    emitted_by: ClassVar[str]
    #: True for the order events an order change records (``stage_change``): their ``data``
    #: carries the :class:`OrderState` fields too, before the payload's own.
    recorded_with_order_state: ClassVar[bool] = False

    def to_data(self, *, only: Collection[str] | None = None) -> dict[str, Any]:
        """The JSON form stored in the event item and sent on the bus and to webhooks (or just the
        fields named in ``only``). Optional fields appear only when they were given: absent and
        null are not the same on the wire."""
        fields = self.model_fields_set if only is None else self.model_fields_set & set(only)
        return self.model_dump(mode="json", include=set(fields))

    def amended(self, **fields: Any) -> Self:
        """A copy with ``fields`` set as well (validated, so a field this payload lacks is an error)."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return self.model_validate({**given, **fields})


P = TypeVar("P", bound=EventPayload)


class OrderState(EventPayload):
    """The order as an order change left it: in the data of every event the change records."""

    status: OrderStatus = Field(description="The order's status after the change.")
    first_confirmation: bool | None = Field(
        default=None,
        description="True on the change that confirms the order for the first time. "
        "Present on the change's own event, absent on its follow-up events (refund.requested).",
    )
    order_fully_shipped: bool | None = Field(
        default=None,
        description="True on the change after which every active fulfillment has shipped, for the first "
        "time. Present on the change's own event, absent on its follow-up events.",
    )
    order_fully_delivered: bool | None = Field(
        default=None,
        description="True on the change after which every active fulfillment is delivered, for the first "
        "time. Present on the change's own event, absent on its follow-up events.",
    )
