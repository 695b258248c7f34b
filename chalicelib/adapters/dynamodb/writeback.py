"""The write-back's bookkeeping in the table: ``StoreAlerts`` and ``WriteBackLedger``.

These are operational records, like the notification claims and the failure records: not order
state, so no event goes with them. Items (keys in ``chalicelib.adapters.keys``):

* per-order claims: the notification claims' items (``CLAIM#writeback#<order>``), held for a run;
* parked orders: ``STOREAPI#PARKED#<channel>`` / ``ORDER#<order>`` with ``parked_at``, ``reason``
  and the customer notes that arrived while parked; listed by channel when it is fixed;
* failing channels: ``STOREAPI#ALERTS`` / ``<channel>``; the conditional put of the first
  report is what makes "one alert per channel";
* refused requests: ``STOREAPI#REJECTED`` / ``<at>#<order>#<random>``, kept 14 days.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.claims import DynamoNotificationClaims
from chalicelib.adapters.dynamodb.items import deserialize, serialize
from chalicelib.domain.models import format_timestamp
from chalicelib.service.notifications import Claimed
from chalicelib.service.ports import ParkedOrder, StoreApiAlert, StoreRejection

REJECTION_RETENTION_SECONDS = 14 * 24 * 3600


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoWriteBackRecords:
    """``StoreAlerts`` and ``WriteBackLedger`` over the single table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name
        self._claims = DynamoNotificationClaims(client, table_name)

    # --- claims ------------------------------------------------------------------------------

    def claim_order(self, order_id: str, *, seconds: int) -> str | None:
        claimed = self._claims.claim(k.writeback_claim_key(order_id), seconds=seconds)
        return claimed.token if isinstance(claimed, Claimed) else None

    def release_order(self, order_id: str, token: str) -> None:
        self._claims.release(k.writeback_claim_key(order_id), Claimed(token))

    # --- parked orders -----------------------------------------------------------------------

    def park(
        self, channel_id: str, order_id: str, *, reason: str, at: datetime, note: tuple[str, str] | None
    ) -> None:
        names = {"#entity": "entity", "#reason": "reason"}
        values: dict[str, Any] = {
            ":entity": k.ENTITY_WRITEBACK_PARKED,
            ":at": format_timestamp(at),
            ":reason": reason[:1000],
        }
        expression = "SET #entity = :entity, parked_at = :at, #reason = :reason"
        if note is not None:
            values[":note"] = [{"note_id": note[0], "text": note[1]}]
            values[":none"] = []
            expression += ", notes = list_append(if_not_exists(notes, :none), :note)"
        self.client.update_item(
            TableName=self.table,
            Key=serialize({"pk": k.writeback_parked_pk(channel_id), "sk": k.writeback_parked_sk(order_id)}),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )

    def parked(self, channel_id: str, *, limit: int) -> list[ParkedOrder]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.writeback_parked_pk(channel_id)}),
            Limit=limit,
        )
        found = []
        for raw in response.get("Items", []):
            item = deserialize(raw)
            found.append(
                ParkedOrder(
                    channel_id=channel_id,
                    order_id=str(item["sk"]).removeprefix("ORDER#"),
                    parked_at=datetime.fromisoformat(str(item["parked_at"])),
                    reason=str(item.get("reason", "")),
                    notes=tuple((str(n["note_id"]), str(n["text"])) for n in item.get("notes") or []),
                )
            )
        return found

    def unpark(self, parked: ParkedOrder) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=serialize(
                    {
                        "pk": k.writeback_parked_pk(parked.channel_id),
                        "sk": k.writeback_parked_sk(parked.order_id),
                    }
                ),
                ConditionExpression="parked_at = :at",
                ExpressionAttributeValues=serialize({":at": format_timestamp(parked.parked_at)}),
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    # --- refused requests ----------------------------------------------------------------------

    def record_rejection(self, rejection: StoreRejection) -> None:
        at = format_timestamp(rejection.at)
        self.client.put_item(
            TableName=self.table,
            Item=serialize(
                {
                    "pk": k.STORE_REJECTIONS_PK,
                    "sk": f"{at}#{rejection.order_id}#{secrets.token_hex(4)}",
                    "entity": k.ENTITY_STORE_REJECTION,
                    "channel_id": rejection.channel_id,
                    "order_id": rejection.order_id,
                    "request": rejection.request[:500],
                    "reason": rejection.reason[:2000],
                    "at": at,
                    "ttl": int(rejection.at.timestamp()) + REJECTION_RETENTION_SECONDS,
                }
            ),
        )

    def rejections(self, limit: int) -> list[StoreRejection]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.STORE_REJECTIONS_PK}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            StoreRejection(
                channel_id=str(item["channel_id"]),
                order_id=str(item["order_id"]),
                request=str(item["request"]),
                reason=str(item["reason"]),
                at=datetime.fromisoformat(str(item["at"])),
            )
            for item in map(deserialize, response.get("Items", []))
        ]

    # --- failing channels --------------------------------------------------------------------

    def start_alert(self, channel_id: str, *, reason: str, at: datetime) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=serialize(
                    {
                        "pk": k.STORE_API_ALERTS_PK,
                        "sk": channel_id,
                        "entity": k.ENTITY_STORE_API_ALERT,
                        "reason": reason[:1000],
                        "since": format_timestamp(at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def clear_alert(self, channel_id: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table,
            Key=serialize({"pk": k.STORE_API_ALERTS_PK, "sk": channel_id}),
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))

    def alert_of(self, channel_id: str) -> StoreApiAlert | None:
        response = self.client.get_item(
            TableName=self.table, Key=serialize({"pk": k.STORE_API_ALERTS_PK, "sk": channel_id})
        )
        return _alert(deserialize(response["Item"])) if "Item" in response else None

    def failing_channels(self, limit: int) -> list[StoreApiAlert]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.STORE_API_ALERTS_PK}),
            Limit=limit,
        )
        return [_alert(deserialize(item)) for item in response.get("Items", [])]


def _alert(item: dict[str, Any]) -> StoreApiAlert:
    return StoreApiAlert(
        channel_id=str(item["sk"]),
        reason=str(item.get("reason", "")),
        since=datetime.fromisoformat(str(item["since"])),
    )
