"""Domain events: what happened to an order, recorded with the change that made it.

An event is stored as the ``EVENT#<version>`` item of its order in the same
transaction as the change, which makes the timeline and the outbox one thing:
the table stream carries each new event item to the relay, which puts it on
the bus. ``id`` is stable across redeliveries, so consumers deduplicate on it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.models import Timestamp


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_ON_HOLD = "order.on_hold"
    ORDER_HOLD_RELEASED = "order.hold_released"
    ORDER_BACKORDERED = "order.backordered"
    NOTIFICATION_SENT = "notification.sent"


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    order_id: str
    channel_id: str
    #: The order version this event produced (1 for order.placed).
    version: int
    occurred_at: Timestamp
    #: Who caused it: ``channel:<id>``, ``admin:<key id>``, ``system:<worker>``.
    actor: str
    data: dict[str, Any] = Field(default_factory=dict)
