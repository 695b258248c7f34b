"""Who may do what: API key roles and scopes.

A key has one role and, for channel and warehouse keys, one scope (the
channel or warehouse id). The rules are pure so every route applies the same
ones: a channel never reads or changes another channel's orders.

Two refusals, kept apart on purpose: ``Forbidden`` says the key's *role* may not
use the route (known from the key alone, before anything is looked up), while
``OutOfScope`` says the object is not the key's. The HTTP layer answers
``OutOfScope`` exactly as it answers a missing object, so a key cannot learn
whether another tenant's order, fulfillment or return exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import DomainError


def hash_key(raw_key: str) -> str:
    """What is stored of an API key: its SHA-256, never the key itself."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_id_of(key_hash: str) -> str:
    # Public handle of a key, safe to log and show: a prefix of its hash.
    return f"key_{key_hash[:16]}"


class Role(StrEnum):
    CHANNEL = "channel"
    WAREHOUSE = "warehouse"
    ADMIN = "admin"


class Unauthenticated(DomainError):
    """No key, or a key we do not know (401)."""


class Forbidden(DomainError):
    """A known key without the right role (403)."""


class OutOfScope(Forbidden):
    """The object belongs to another channel or warehouse: answered like a missing one."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    scope: str | None

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.scope or self.key_id}"

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise Forbidden(
                f"this action needs a key with the role {allowed}; this key's role is {self.role.value}"
            )

    def require_channel_access(self, channel_id: str) -> None:
        """Admins see every channel; a channel key sees its own channel only."""
        if self.role == Role.ADMIN:
            return
        if self.role == Role.CHANNEL and self.scope == channel_id:
            return
        raise OutOfScope("this key may not access orders of another channel")

    def require_warehouse_access(self, warehouse_id: str) -> None:
        if self.role == Role.ADMIN:
            return
        if self.role == Role.WAREHOUSE and self.scope == warehouse_id:
            return
        raise OutOfScope("this key may not access another warehouse's work")

    def require_warehouse_among(self, warehouse_ids: Iterable[str | None]) -> None:
        """Admins pass; a warehouse key passes when its warehouse is one of ``warehouse_ids``."""
        if self.role == Role.ADMIN:
            return
        if self.role == Role.WAREHOUSE and self.scope in set(warehouse_ids):
            return
        raise OutOfScope("this key may not access another warehouse's work")
