"""Per-container caches stay bounded: a warm Lambda that sees ever new keys (random API keys,
say) keeps at most a fixed number of entries, the least recently used going first."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from chalicelib.adapters.api_keys import ApiKeyStore
from chalicelib.adapters.dynamodb import TtlCache
from chalicelib.domain.auth import Role


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hundred_thousand_random_keys_leave_the_cache_at_its_bound() -> None:
    cache = TtlCache(60, max_entries=500)
    for _ in range(100_000):
        cache.put(secrets.token_hex(16), True)

    assert len(cache) == 500


def test_the_least_recently_used_entry_is_dropped_first() -> None:
    cache = TtlCache(60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_an_entry_expires_after_its_seconds_and_no_longer_counts() -> None:
    clock = Clock()
    cache = TtlCache(30, max_entries=10, timer=clock)
    cache.put("a", 1)
    clock.now += 29.9
    assert cache.get("a") == 1
    clock.now += 0.2

    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_cache_needs_a_positive_bound() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TtlCache(60, max_entries=0)


class FakeDynamoDB:
    """get_item on a table that holds one API key (as ApiKeyStore.mint wrote it, in a transaction
    with its listing item and event; items are kept by partition key alone)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.reads = 0

    # boto3's keyword names (TableName, Item, Key) arrive in **request.
    def put_item(self, **request: Any) -> None:
        self.items[request["Item"]["pk"]["S"]] = request["Item"]

    def transact_write_items(self, **request: Any) -> None:
        for operation in request["TransactItems"]:
            if "Put" in operation:
                self.put_item(**operation["Put"])

    def update_item(self, **request: Any) -> None:
        """Authentication records a key's last use: not part of what this fake checks."""

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.reads += 1
        item = self.items.get(request["Key"]["pk"]["S"])
        return {"Item": item} if item else {}


def test_a_hundred_thousand_random_api_keys_leave_both_key_caches_at_their_bounds() -> None:
    table = FakeDynamoDB()
    store = ApiKeyStore(table, "oms-test")
    minted = store.mint(Role.ADMIN, None, label="admin")

    for _ in range(100_000):
        assert store.authenticate("oms_ad_" + secrets.token_urlsafe(32)) is None

    assert len(store.known) <= store.known.max_entries
    assert len(store.unknown) == store.unknown.max_entries
    assert store.unknown.max_entries <= 1024
    principal = store.authenticate(minted.raw_key)
    assert principal is not None and principal.role == Role.ADMIN
    assert len(store.known) == 1


def test_a_bad_key_presented_again_at_once_is_answered_from_the_cache() -> None:
    table = FakeDynamoDB()
    store = ApiKeyStore(table, "oms-test")
    for _ in range(3):
        assert store.authenticate("oms_ad_not-a-key") is None

    assert table.reads == 1
