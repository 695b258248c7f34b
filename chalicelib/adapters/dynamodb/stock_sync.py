"""Stock-sync markers in DynamoDB (``StockSyncState``), each step one conditional write.

One item per channel and SKU: ``pk = STOCKSYNC#<channel id>``, ``sk = SKU#<sku>``, holding
``dirty``, ``changes`` (the mark count), ``unsold_for`` and ``pushed`` (target -> value). The
steps follow ``chalicelib.domain.stock_sync`` (``mark``, ``clear``) exactly, but as single
UpdateItem calls, so a hundred reservations racing on one SKU never read-modify-write: each adds
one to ``changes`` and learns from the old image whether it turned the marker dirty.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, serialize
from chalicelib.adapters.dynamodb.reader import DynamoItems
from chalicelib.domain.models import Channel
from chalicelib.domain.stock_sync import Mark, SyncMarker

ENTITY_STOCK_SYNC = "stock_sync"
_MARK = "SET dirty = :t, changes = if_not_exists(changes, :zero) + :one, entity = :e"


def marker_key(channel_id: str, sku: str) -> dict[str, Any]:
    return serialize({"pk": f"STOCKSYNC#{channel_id}", "sk": f"SKU#{sku}"})


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStockSyncState(DynamoItems):
    def mark(self, channel_id: str, sku: str, *, version: str) -> Mark:
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=marker_key(channel_id, sku),
                UpdateExpression=_MARK,
                ConditionExpression="attribute_not_exists(unsold_for) OR unsold_for <> :v",
                ExpressionAttributeValues=serialize(
                    {":t": True, ":zero": 0, ":one": 1, ":v": version, ":e": ENTITY_STOCK_SYNC}
                ),
                ReturnValues="ALL_OLD",  # moto leaves an unchanged attribute out of UPDATED_OLD
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return Mark.NOT_SOLD
            raise
        old = deserialize(response.get("Attributes", {}))
        return Mark.ALREADY_DIRTY if old.get("dirty") is True else Mark.TURNED_DIRTY

    def mark_for_full_push(self, channel_id: str, sku: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=marker_key(channel_id, sku),
            UpdateExpression=_MARK + " REMOVE unsold_for, pushed",
            ExpressionAttributeValues=serialize({":t": True, ":zero": 0, ":one": 1, ":e": ENTITY_STOCK_SYNC}),
        )

    def get(self, channel_id: str, sku: str) -> SyncMarker:
        response = self.client.get_item(
            TableName=self.table, Key=marker_key(channel_id, sku), ConsistentRead=True
        )
        item = deserialize(response["Item"]) if "Item" in response else {}
        return SyncMarker(
            dirty=item.get("dirty") is True,
            changes=int(item.get("changes", 0)),
            unsold_for=item.get("unsold_for"),
            pushed={str(t): int(v) for t, v in (item.get("pushed") or {}).items()},
        )

    def clear(self, channel_id: str, sku: str, *, changes: int, pushed: dict[str, int]) -> bool:
        cleared = self._update_if_unchanged(
            channel_id,
            sku,
            changes,
            "SET dirty = :f, pushed = :p",
            {":f": False, ":p": pushed, ":t": True},
            also="dirty = :t",
        )
        if not cleared:  # stock_sync.forget_pushed
            self.client.update_item(
                TableName=self.table, Key=marker_key(channel_id, sku), UpdateExpression="REMOVE pushed"
            )
        return cleared

    def set_unsold(self, channel_id: str, sku: str, *, changes: int, version: str) -> bool:
        return self._update_if_unchanged(
            channel_id, sku, changes, "SET dirty = :f, unsold_for = :v", {":f": False, ":v": version}
        )

    def forget_unsold(self, channel_id: str, sku: str) -> None:
        self.client.update_item(
            TableName=self.table, Key=marker_key(channel_id, sku), UpdateExpression="REMOVE unsold_for"
        )

    def list_channels(self) -> list[Channel]:
        items = self._query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues=serialize({":pk": k.CHANNELS_PK})
        )
        return [Channel.model_validate(item["doc"]) for item in items]

    def list_skus(self, after: str | None, limit: int) -> tuple[list[str], str | None]:
        condition, values = "gsi5pk = :p", {":p": k.PRODUCTS_INDEX_PK}
        if after is not None:
            condition += " AND gsi5sk > :after"
            values[":after"] = after
        response = self.client.query(
            TableName=self.table,
            IndexName="gsi5",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=serialize(values),
            ProjectionExpression="gsi5sk",
            Limit=limit,
        )
        skus = [str(deserialize(item)["gsi5sk"]) for item in response.get("Items", [])]
        more = "LastEvaluatedKey" in response and len(skus) == limit
        return skus, (skus[-1] if more and skus else None)

    def _update_if_unchanged(
        self,
        channel_id: str,
        sku: str,
        changes: int,
        expression: str,
        values: dict[str, Any],
        also: str | None = None,
    ) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=marker_key(channel_id, sku),
                UpdateExpression=expression,
                ConditionExpression="changes = :n" + (f" AND {also}" if also else ""),
                ExpressionAttributeValues=serialize({**values, ":n": changes}),
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
