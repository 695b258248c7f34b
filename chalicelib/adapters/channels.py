"""DynamoDB storage of channels, their outbound webhook endpoints and delivery attempts."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.cache import reference_cache
from chalicelib.adapters.dynamodb.items import deserialize, event_item, serialize
from chalicelib.adapters.dynamodb.reader import DynamoReader
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Channel, format_timestamp
from chalicelib.domain.outbound import Delivery, WebhookEndpoint
from chalicelib.service.ports import ChannelExists

#: Delivery attempts are kept this long for the deliveries listing.
DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600


class DynamoChannelStore(DynamoReader):
    def create(self, channel: Channel) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=serialize(
                    {
                        "pk": k.CHANNELS_PK,
                        "sk": channel.id,
                        "entity": k.ENTITY_CHANNEL,
                        "doc": channel.model_dump(mode="json"),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ChannelExists(channel.id) from None
            raise
        reference_cache.clear()

    def save(self, channel: Channel, *, event: DomainEvent | None = None) -> None:
        item = serialize(
            {
                "pk": k.CHANNELS_PK,
                "sk": channel.id,
                "entity": k.ENTITY_CHANNEL,
                "doc": channel.model_dump(mode="json"),
            }
        )
        if event is None:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_exists(pk)")
        else:
            # The change and its event in one transaction: the stream carries the event out.
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": item,
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": serialize(event_item(event)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        reference_cache.clear()

    def get(self, channel_id: str) -> Channel | None:
        item = self._get(k.CHANNELS_PK, channel_id)
        return Channel.model_validate(item["doc"]) if item else None

    def list_endpoints(self, channel_id: str) -> list[WebhookEndpoint]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.endpoints_pk(channel_id)}),
        )
        return [WebhookEndpoint.model_validate(item["doc"]) for item in items]

    def get_endpoint(self, channel_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = self._get(k.endpoints_pk(channel_id), endpoint_id)
        return WebhookEndpoint.model_validate(item["doc"]) if item else None

    def save_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=serialize(
                {
                    "pk": k.endpoints_pk(endpoint.channel_id),
                    "sk": endpoint.id,
                    "entity": k.ENTITY_ENDPOINT,
                    "doc": endpoint.model_dump(mode="json"),
                }
            ),
        )

    def record_delivery(self, delivery: Delivery) -> None:
        now = int(time.time())
        self.client.put_item(
            TableName=self.table,
            Item=serialize(
                {
                    "pk": k.deliveries_pk(delivery.endpoint_id),
                    "sk": "#".join(
                        (format_timestamp(delivery.attempted_at), delivery.webhook_id, str(delivery.attempt))
                    ),
                    "entity": k.ENTITY_DELIVERY,
                    "doc": delivery.model_dump(mode="json"),
                    "ttl": now + DELIVERY_RETENTION_SECONDS,
                }
            ),
        )

    def was_delivered(self, webhook_id: str) -> bool:
        return self._get(k.delivered_pk(webhook_id), "DELIVERED") is not None

    def mark_delivered(self, webhook_id: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=serialize(
                {
                    "pk": k.delivered_pk(webhook_id),
                    "sk": "DELIVERED",
                    # As long as the attempts are listed: a queue redelivers within days at most.
                    "ttl": int(time.time()) + DELIVERY_RETENTION_SECONDS,
                }
            ),
        )

    def list_deliveries(self, endpoint_id: str, limit: int) -> list[Delivery]:
        response: dict[str, Any] = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.deliveries_pk(endpoint_id)}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Delivery.model_validate(deserialize(item)["doc"]) for item in response.get("Items", [])]
