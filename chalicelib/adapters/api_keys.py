"""API keys: stored only as SHA-256 hashes, with their role and scope.

A raw key is shown once, when minted, and never stored. A lookup hashes the
presented key and reads ``KEY#<sha256>``; warm Lambdas cache lookups for a
short TTL (revocation takes effect within that TTL).

Two bounded caches (least recently used first out): ``known`` holds the keys
that exist, for ``cache_seconds``; ``unknown`` remembers a few keys that do not,
for a few seconds only, so one client retrying a bad key does not read the
table each time. Random keys cannot grow a container's memory: each cache
stops at its bound.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.cache import TtlCache
from chalicelib.adapters.dynamodb.items import deserialize, serialize
from chalicelib.domain.auth import Principal, Role, hash_key, key_id_of


@dataclass(frozen=True)
class MintedKey:
    key_id: str
    raw_key: str
    role: Role
    scope: str | None


#: Keys that exist, cached per container: far more than a deployment mints.
KNOWN_KEYS_CACHED = 1000
#: Keys that do not exist, remembered briefly: enough for a few clients retrying a bad key.
UNKNOWN_KEYS_CACHED = 256
UNKNOWN_KEY_SECONDS = 5.0


class ApiKeyStore:
    def __init__(self, client: Any, table_name: str, *, cache_seconds: float = 60.0) -> None:
        self.client = client
        self.table = table_name
        self.known = TtlCache(cache_seconds, max_entries=KNOWN_KEYS_CACHED)
        # A key minted a moment after it was tried works within UNKNOWN_KEY_SECONDS.
        self.unknown = TtlCache(min(cache_seconds, UNKNOWN_KEY_SECONDS), max_entries=UNKNOWN_KEYS_CACHED)

    def authenticate(self, raw_key: str) -> Principal | None:
        key_hash = hash_key(raw_key)
        cached = self.known.get(key_hash)
        if isinstance(cached, Principal):
            return cached
        if self.unknown.get(key_hash) is not None:
            return None
        response = self.client.get_item(
            TableName=self.table, Key=serialize({"pk": k.api_key_pk(key_hash), "sk": k.API_KEY_SK})
        )
        item = deserialize(response["Item"]) if "Item" in response else None
        principal = None
        if item is not None and not item.get("revoked_at"):
            principal = Principal(
                key_id=key_id_of(key_hash), role=Role(item["role"]), scope=item.get("scope")
            )
        if principal is not None:
            self.known.put(key_hash, principal)
        else:
            self.unknown.put(key_hash, True)
        return principal

    def mint(
        self, role: Role, scope: str | None, *, label: str = "", raw_key: str | None = None
    ) -> MintedKey:
        if role in (Role.CHANNEL, Role.WAREHOUSE) and not scope:
            raise ValueError(f"a {role.value} key needs a scope (the {role.value} id)")
        raw = raw_key or f"oms_{role.value[:2]}_{secrets.token_urlsafe(32)}"
        key_hash = hash_key(raw)
        item: dict[str, Any] = {
            "pk": k.api_key_pk(key_hash),
            "sk": k.API_KEY_SK,
            "entity": k.ENTITY_API_KEY,
            "key_id": key_id_of(key_hash),
            "role": role.value,
            "label": label,
            "created_at": int(time.time()),
        }
        if scope:
            item["scope"] = scope
        self.client.put_item(
            TableName=self.table, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return MintedKey(key_id=key_id_of(key_hash), raw_key=raw, role=role, scope=scope)

    def revoke(self, raw_key_or_hash: str) -> None:
        key_hash = raw_key_or_hash if len(raw_key_or_hash) == 64 else hash_key(raw_key_or_hash)
        self.client.update_item(
            TableName=self.table,
            Key=serialize({"pk": k.api_key_pk(key_hash), "sk": k.API_KEY_SK}),
            UpdateExpression="SET revoked_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=serialize({":now": int(time.time())}),
        )
        self.known.clear()
        self.unknown.clear()
