"""DynamoDB storage of the transit table (``TRANSIT`` / ``<carrier>#<service>``).

``DynamoTransitStore`` is both the ``TransitRepository`` of service/transit.py (consistent reads;
each change ONE transaction with its audit event item, conditioned on the version it was decided
on) and the ``TransitTimes`` port order reads use: the whole table cached per process for the
reference cache time (30 s), like warehouses. A change clears the cache of the process that made
it at once; other warm processes see it within those 30 seconds. Reading the table loads no
admin code (the use cases and the audit items are imported by ``commit_transit`` only).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.cache import reference_cache
from chalicelib.adapters.dynamodb.items import serialize
from chalicelib.adapters.dynamodb.reader import DynamoItems
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.reference import Versioned
from chalicelib.domain.transit import TransitTable, TransitTime
from chalicelib.service.ports import TransactionConflict

if TYPE_CHECKING:
    from chalicelib.service.transit import TransitChange


def transit_item(row: TransitTime, version: int = 1) -> dict[str, Any]:
    return {
        "pk": k.TRANSIT_PK,
        "sk": k.transit_sk(row.carrier, row.service),
        "entity": k.ENTITY_TRANSIT_TIME,
        "version": version,
        "doc": row.model_dump(mode="json"),
    }


def _condition(expected: int | None) -> tuple[str, dict[str, Any]]:
    if expected is None:
        return "attribute_not_exists(pk)", {}
    return "version = :expected", {":expected": expected}


class DynamoTransitStore(DynamoItems):
    def _rows(self, *, consistent: bool) -> list[Versioned[TransitTime]]:
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": k.TRANSIT_PK}),
            ConsistentRead=consistent,
        )
        return [Versioned(TransitTime.model_validate(i["doc"]), int(i["version"])) for i in items]

    def list_transit_times(self) -> list[Versioned[TransitTime]]:
        return self._rows(consistent=True)

    def transit_table(self) -> TransitTable:
        cache_key = (self.table, "transit")
        cached = reference_cache.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        table = TransitTable.of(r.value for r in self._rows(consistent=False))
        reference_cache.put(cache_key, table)
        return table

    def commit_transit(self, change: TransitChange) -> None:
        # Imported here: order reads use this store's cached table and never load the admin code.
        from chalicelib.adapters.reference import audit_item
        from chalicelib.service.transit import TransitTimeChange

        key = (
            (change.row.carrier, change.row.service)
            if isinstance(change, TransitTimeChange)
            else (change.carrier, change.service)
        )
        condition, values = _condition(change.expected)
        if isinstance(change, TransitTimeChange):
            record: dict[str, Any] = {
                "Put": {
                    "TableName": self.table,
                    "Item": serialize(transit_item(change.row, change.version)),
                    "ConditionExpression": condition,
                }
            }
            target = record["Put"]
        else:
            record = {
                "Delete": {
                    "TableName": self.table,
                    "Key": serialize({"pk": k.TRANSIT_PK, "sk": k.transit_sk(*key)}),
                    "ConditionExpression": condition,
                }
            }
            target = record["Delete"]
        if values:
            target["ExpressionAttributeValues"] = serialize(values)
        event = {
            "Put": {
                "TableName": self.table,
                "Item": serialize(audit_item(change.event)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            self.client.transact_write_items(
                TransactItems=[record, event], ClientRequestToken=str(uuid.uuid4())
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes:
                raise TransactionConflict(f"transit time {key[0]}/{key[1]} was being written") from None
            raise ConcurrencyConflict(
                f"transit time {key[0]}/{key[1]} changed concurrently; read it again"
            ) from None
        finally:
            reference_cache.clear()
