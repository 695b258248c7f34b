"""The table's change stream read as the outbox (``OutboxStream``): inserted event items."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, event_from_item
from chalicelib.domain.events import DomainEvent


class DynamoOutboxStream:
    def new_events(self, records: list[dict[str, Any]]) -> list[tuple[str, DomainEvent]]:
        found = []
        for record in records:
            ddb = record.get("dynamodb", {})
            image = ddb.get("NewImage")
            if record.get("eventName") != "INSERT" or not image:
                continue
            item = deserialize(image)
            if item.get("entity") == k.ENTITY_EVENT and str(item.get("sk", "")).startswith(k.EVENT_PREFIX):
                found.append((ddb["SequenceNumber"], event_from_item(item)))
        return found
