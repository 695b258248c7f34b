"""Bulk product writes (catalogue imports): plan every row first, then commit whole changes.

A row is validated and decided exactly as ``PUT /v1/products/{sku}`` decides it
(``reference._decide_product``); only the products that differ are written, each change with its
event, as many changes per transaction as fit in DynamoDB's 100 items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.domain.errors import FieldError, InputInvalid
from chalicelib.domain.reference import ProductSpec
from chalicelib.service.reference import (
    TRANSACTION_ITEMS,
    Actor,
    ProductChange,
    ReferenceChange,
    ReferenceRepository,
    _check_bins,
    _check_sku,
    _decide_product,
)


@dataclass
class BulkOutcome:
    """What a bulk write did: SKUs created, changed and left as they were."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    transactions: int = 0


def plan_products(
    repo: ReferenceRepository, items: Sequence[tuple[str, ProductSpec]], *, actor: Actor
) -> tuple[BulkOutcome, list[ProductChange]]:
    """Decide a bulk upsert without writing: what would be created, changed, left alone.

    Raises InputInvalid naming the item (its index in ``items``) of every bad SKU or bin."""
    errors = []
    seen: set[str] = set()
    for index, (sku, _spec) in enumerate(items):
        try:
            _check_sku(sku)
        except InputInvalid as exc:
            errors += [FieldError([index, "sku"], e.msg) for e in exc.errors]
        if sku in seen:
            errors.append(FieldError([index, "sku"], f"{sku} appears twice"))
        seen.add(sku)
    if errors:
        raise InputInvalid(errors)
    _check_bins(repo, list(enumerate(spec for _, spec in items)))
    skus = [sku for sku, _ in items]
    current = repo.get_products(skus)
    named = sorted({wh for _, spec in items for wh in spec.bins})
    bins = repo.get_bins(skus, named) if named else {}
    # Each product is decided on its own bins only: handing every product all the file's bins made
    # a 10,000-product re-import quadratic (10^8 bin comparisons).
    bins_of: dict[str, dict[tuple[str, str], str]] = {}
    for (bin_sku, warehouse_id), location in bins.items():
        bins_of.setdefault(bin_sku, {})[(bin_sku, warehouse_id)] = location
    outcome, changes = BulkOutcome(), []
    for sku, spec in items:
        saved, change = _decide_product(
            sku, spec, current.get(sku), bins_of.get(sku, {}), if_match=None, overwrite=True, actor=actor
        )
        if change is None:
            outcome.unchanged.append(sku)
            continue
        changes.append(change)
        (outcome.created if saved.created else outcome.changed).append(sku)
    return outcome, changes


def commit_in_batches(repo: ReferenceRepository, changes: Sequence[ReferenceChange]) -> int:
    """Commit whole changes, as many per transaction as fit; returns the transactions made."""
    batch: list[ReferenceChange] = []
    size = transactions = 0
    for change in changes:
        if batch and size + change.items > TRANSACTION_ITEMS:
            repo.commit(batch)
            transactions += 1
            batch, size = [], 0
        batch.append(change)
        size += change.items
    if batch:
        repo.commit(batch)
        transactions += 1
    return transactions


def put_products(
    repo: ReferenceRepository, items: Sequence[tuple[str, ProductSpec]], *, actor: Actor
) -> BulkOutcome:
    """Upsert many products (imports): only those that differ are written, each with its event."""
    outcome, changes = plan_products(repo, items, actor=actor)
    outcome.transactions = commit_in_batches(repo, changes)
    return outcome
