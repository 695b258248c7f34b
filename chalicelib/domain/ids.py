"""Identifiers: a type prefix and a ULID, so ids say what they name and sort by time."""

from __future__ import annotations

from datetime import datetime

from ulid import ULID

PREFIXES = frozenset({"ord", "ful", "rma", "evt", "key", "whe", "dlv", "note", "edt"})


def new_id(prefix: str, at: datetime | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    ulid = ULID.from_datetime(at) if at is not None else ULID()
    return f"{prefix}_{str(ulid).lower()}"


class UlidGenerator:
    def new(self, prefix: str) -> str:
        return new_id(prefix)
