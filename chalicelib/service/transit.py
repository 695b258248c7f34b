"""Use cases of the transit table (admin only): list, read, put and remove rows.

Each change is ONE transaction with its event item (``transit_time.changed``,
``transit_time.removed``), decided on the version its caller read, as every reference change is
(service/reference.py): 412 when the row moved, 428 when an existing row is changed without a
version; a change that changes nothing writes nothing. A shipping method is served by one row at
most: a row naming one another row already serves is refused (422), so which row applies to an
order is never ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain import reference_payloads as payloads
from chalicelib.domain.errors import FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent, EventPayload
from chalicelib.domain.reference import Versioned, check_version
from chalicelib.domain.transit import (
    ANY,
    MAX_TRANSIT_ROWS,
    TransitTable,
    TransitTime,
    TransitTimeSpec,
    is_carrier_key,
    is_service_key,
)
from chalicelib.service.reference import Actor, Saved


@dataclass(frozen=True)
class TransitTimeChange:
    row: TransitTime
    version: int
    #: The version replaced; None for a new row.
    expected: int | None
    event: DomainEvent


@dataclass(frozen=True)
class TransitTimeRemoval:
    carrier: str
    service: str
    expected: int
    event: DomainEvent


TransitChange = TransitTimeChange | TransitTimeRemoval


class TransitRepository(Protocol):
    """Storage of the transit table (adapters/transit.py); reads are strongly consistent."""

    def list_transit_times(self) -> list[Versioned[TransitTime]]: ...

    def commit_transit(self, change: TransitChange) -> None:
        """The change and its event in one transaction; a row that moved since it was read fails
        the transaction with ConcurrencyConflict (retryable 409)."""
        ...


def _event(actor: Actor, payload: EventPayload) -> DomainEvent:
    return DomainEvent.recording(
        payload, id=actor.ids.new("evt"), occurred_at=actor.clock.now(), actor=actor.name
    )


def _check_key(carrier: str, service: str) -> None:
    errors = []
    if not is_carrier_key(carrier):
        errors.append(FieldError(["path", "carrier"], "carriers are '*' or 1-40 of a-z, 0-9, '_', '-'"))
    if not is_service_key(service):
        errors.append(FieldError(["path", "service"], "services are '*' or 1-60 of a-z, 0-9, '.', '_', '-'"))
    if not errors and carrier == ANY and service != ANY:
        errors.append(
            FieldError(["path", "service"], "the carrier '*' takes the service '*' only (the default row)")
        )
    if errors:
        raise InputInvalid(errors)


def _find(rows: list[Versioned[TransitTime]], carrier: str, service: str) -> Versioned[TransitTime] | None:
    return next((r for r in rows if r.value.key == (carrier, service)), None)


def list_transit_times(repo: TransitRepository) -> list[Versioned[TransitTime]]:
    return sorted(repo.list_transit_times(), key=lambda r: r.value.key)


def get_transit_time(repo: TransitRepository, carrier: str, service: str) -> Versioned[TransitTime]:
    _check_key(carrier, service)
    found = _find(repo.list_transit_times(), carrier, service)
    if found is None:
        raise NotFound("transit time", f"{carrier}/{service}")
    return found


def _check_methods(rows: list[Versioned[TransitTime]], row: TransitTime) -> None:
    table = TransitTable.of(r.value for r in rows)
    errors = [
        FieldError(["shipping_methods", index], f"{method!r} is served by {owner.carrier}/{owner.service}")
        for index, method in enumerate(row.shipping_methods)
        if (owner := table.method_owner(method, besides=row.key)) is not None
    ]
    if errors:
        raise InputInvalid(errors)


def put_transit_time(
    repo: TransitRepository,
    carrier: str,
    service: str,
    spec: TransitTimeSpec,
    *,
    if_match: int | None,
    actor: Actor,
) -> Saved[TransitTime]:
    """Add or replace a row; windows counted from then on use it (other processes within the
    reference cache time)."""
    _check_key(carrier, service)
    rows = repo.list_transit_times()
    current = _find(rows, carrier, service)
    current_version = current.version if current else None
    check_version("transit time", f"{carrier}/{service}", current_version, if_match)
    row = spec.build(carrier, service)
    if current is not None and current.value == row:
        return Saved(current.value, current.version, changed=False)
    if current is None and len(rows) >= MAX_TRANSIT_ROWS:
        raise InputInvalid([FieldError(["path"], f"the transit table holds {MAX_TRANSIT_ROWS} rows at most")])
    _check_methods(rows, row)
    version = (current_version or 0) + 1
    event = _event(
        actor,
        payloads.TransitTimeChanged(
            entity="transit_time",
            id=f"{carrier}/{service}",
            version=version,
            before=current.value if current else None,
            after=row,
        ),
    )
    repo.commit_transit(TransitTimeChange(row, version, current_version, event))
    return Saved(row, version, changed=True, created=current is None)


def remove_transit_time(
    repo: TransitRepository, carrier: str, service: str, *, if_match: int | None, actor: Actor
) -> Versioned[TransitTime]:
    """Remove a row: its service falls back to the carrier's row or the default, its shipping
    methods to the default. The event keeps the row as it was."""
    found = get_transit_time(repo, carrier, service)
    if if_match is not None:
        check_version("transit time", f"{carrier}/{service}", found.version, if_match)
    event = _event(
        actor,
        payloads.TransitTimeRemoved(
            entity="transit_time",
            id=f"{carrier}/{service}",
            version=found.version,
            before=found.value,
            after=None,
        ),
    )
    repo.commit_transit(TransitTimeRemoval(carrier, service, found.version, event))
    return found
