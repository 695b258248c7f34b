"""API keys: stored only as SHA-256 hashes, with their role and scope.

A raw key is shown once, when minted, and never stored. A lookup hashes the
presented key and reads ``KEY#<sha256>``; warm Lambdas cache lookups for a
short TTL (revocation takes effect within that TTL). Each key also has a
listing item (``APIKEYS`` / ``<key id>``, adapters/reference.py) that the
admin API lists; a table read that finds a key records its last use there, so
"last used" is exact to within the cache time (one write per key, container
and minute at most).

Two bounded caches (least recently used first out): ``known`` holds the keys
that exist, for ``cache_seconds``; ``unknown`` remembers a few keys that do not,
for a few seconds only, so one client retrying a bad key does not read the
table each time. Random keys cannot grow a container's memory: each cache
stops at its bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import keys as k
from chalicelib.adapters.dynamodb import TtlCache, deserialize, serialize
from chalicelib.domain.auth import Principal, Role
from chalicelib.domain.models import format_timestamp
from chalicelib.domain.reference import hash_key, key_id_of

__all__ = ["ApiKeyStore", "MintedKey", "hash_key", "key_id_of"]


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
            self._touch(principal.key_id)
        else:
            self.unknown.put(key_hash, True)
        return principal

    def _touch(self, key_id: str) -> None:
        """Record the key's last use on its listing item: best effort, once per cache period."""
        from chalicelib.adapters.reference import DynamoReferenceStore

        now = format_timestamp(datetime.now(UTC))
        DynamoReferenceStore(self.client, self.table).touch_api_key(key_id, now)

    def mint(
        self,
        role: Role,
        scope: str | None,
        *,
        label: str = "",
        raw_key: str | None = None,
        actor: str = "system:keys",
    ) -> MintedKey:
        """Mint a key with its listing item and ``api_key.minted`` event (one transaction).

        Its scope is taken as given (the seed, tests and ``tools.keys``); the admin API checks
        that it names an existing channel or warehouse."""
        # Imported here: authentication, on every request, needs none of this.
        from chalicelib.adapters.reference import DynamoReferenceStore
        from chalicelib.domain.ids import UlidGenerator
        from chalicelib.domain.reference import ApiKeyRequest
        from chalicelib.service.reference import Actor, mint_api_key

        if role in (Role.CHANNEL, Role.WAREHOUSE) and not scope:
            raise ValueError(f"a {role.value} key needs a scope (the {role.value} id)")
        if role == Role.ADMIN and scope:
            raise ValueError("admin keys have no scope")
        minted = mint_api_key(
            DynamoReferenceStore(self.client, self.table),
            ApiKeyRequest(role=role, scope=scope, label=label),
            actor=Actor(actor, _WallClock(), UlidGenerator()),
            raw_key=raw_key,
            check_scope=False,
        )
        return MintedKey(key_id=minted.record.key_id, raw_key=minted.raw_key, role=role, scope=scope)

    def revoke(self, raw_key_or_hash: str, *, actor: str = "system:keys") -> None:
        """Revoke a key by its raw value or hash: with its listing item and an
        ``api_key.revoked`` event when it has a listing item, else the lookup item alone."""
        from chalicelib.adapters.reference import DynamoReferenceStore
        from chalicelib.domain.ids import UlidGenerator
        from chalicelib.service.reference import Actor, revoke_api_key

        key_hash = raw_key_or_hash if len(raw_key_or_hash) == 64 else hash_key(raw_key_or_hash)
        repo = DynamoReferenceStore(self.client, self.table)
        listed = repo.get_api_key(key_id_of(key_hash))
        if listed is not None and listed.key_hash == key_hash:
            revoke_api_key(repo, listed.record.key_id, actor=Actor(actor, _WallClock(), UlidGenerator()))
            self.known.clear()
            self.unknown.clear()
            return
        self.client.update_item(
            TableName=self.table,
            Key=serialize({"pk": k.api_key_pk(key_hash), "sk": k.API_KEY_SK}),
            UpdateExpression="SET revoked_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=serialize({":now": int(time.time())}),
        )
        self.known.clear()
        self.unknown.clear()


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
