"""Publishing recorded domain events to the EventBridge bus (the outbox relay's output)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.events import DomainEvent

EVENT_SOURCE = "oms"
#: PutEvents takes at most ten entries per call.
PUT_EVENTS_BATCH = 10


class EventBusPublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, events: Sequence[DomainEvent]) -> list[bool]:
        """Put events on the bus; returns, per event, whether EventBridge accepted it."""
        accepted: list[bool] = []
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            chunk = events[start : start + PUT_EVENTS_BATCH]
            response = self.client.put_events(Entries=[self._entry(event) for event in chunk])
            accepted += ["EventId" in entry and not entry.get("ErrorCode") for entry in response["Entries"]]
        return accepted

    def _entry(self, event: DomainEvent) -> dict[str, Any]:
        return {
            "EventBusName": self.bus_name,
            "Source": EVENT_SOURCE,
            "DetailType": event.type,
            "Time": event.occurred_at,
            "Resources": [],
            "Detail": json.dumps(event.model_dump(mode="json")),
        }
