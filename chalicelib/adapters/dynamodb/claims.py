"""Send-once claims of outgoing notifications."""

from __future__ import annotations

import secrets
import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb.items import deserialize, serialize
from chalicelib.service.notifications import AlreadySent, Claimed


class DynamoNotificationClaims:
    """Send-once claims (``CLAIM#<key>`` / ``CLAIM``): ``state`` is ``sending`` (with the holder's
    random ``token``) or ``sent`` (with the provider's ``message_id``); ``expires_at`` in epoch
    seconds. A claim may be taken when there is none or it expired (``expires_at < now``, so it is
    live at exactly its expiry); ``ttl`` removes it a day after that."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _item(self, key: str, *, state: str, token: str, seconds: int, **more: Any) -> dict[str, Any]:
        now = int(time.time())
        return serialize(
            {
                "pk": k.claim_pk(key),
                "sk": k.CLAIM_SK,
                "entity": k.ENTITY_CLAIM,
                "state": state,
                "token": token,
                "expires_at": now + seconds,
                "ttl": now + seconds + 86400,
                **more,
            }
        )

    def claim(self, key: str, *, seconds: int) -> Claimed | AlreadySent | None:
        token = secrets.token_hex(16)
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(key, state="sending", token=token, seconds=seconds),
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues=serialize({":now": int(time.time())}),
                # The live claim comes back with the refusal: no second read to tell "being sent"
                # from "sent".
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            held = deserialize(exc.response.get("Item") or {})
            if held.get("state") == "sent":
                return AlreadySent(str(held.get("message_id", "")))
            return None
        return Claimed(token)

    def release(self, key: str, claim: Claimed) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=serialize({"pk": k.claim_pk(key), "sk": k.CLAIM_SK}),
                ConditionExpression="#state = :sending AND #token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues=serialize({":sending": "sending", ":token": claim.token}),
            )
        except ClientError as exc:
            # Not ours any more (it expired and another delivery took it): leave it alone.
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def mark_sent(self, key: str, claim: Claimed, *, message_id: str, seconds: int) -> None:
        # Unconditional: the message went out, whoever holds the claim now must learn that.
        self.client.put_item(
            TableName=self.table,
            Item=self._item(key, state="sent", token=claim.token, seconds=seconds, message_id=message_id),
        )
