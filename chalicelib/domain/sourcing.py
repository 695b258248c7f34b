"""Warehouse choice: which warehouses ship which units of an order.

Rules, in order:
1. If one warehouse can ship the whole order, the preferred one (lowest
   ``priority`` number) does: one parcel is cheaper and kinder than two.
2. Otherwise split greedily: take the warehouse that can ship the most of what
   is still missing (ties go to priority), allocate, repeat. Greedy set cover
   keeps the number of shipments small without an exponential search.
3. Whatever no warehouse holds is a shortage, recorded per SKU.

Inactive warehouses are left out: deactivating one stops new sourcing to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .models import Warehouse


@dataclass(frozen=True)
class SourcingPlan:
    #: warehouse id -> sku -> units, in the order the warehouses were chosen.
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    #: sku -> units no warehouse could take.
    shortages: dict[str, int] = field(default_factory=dict)

    @property
    def is_split(self) -> bool:
        return len(self.allocations) > 1

    def allocated(self, sku: str) -> int:
        return sum(skus.get(sku, 0) for skus in self.allocations.values())


def plan_sourcing(
    demand: Mapping[str, int],
    warehouses: Sequence[Warehouse],
    available: Mapping[tuple[str, str], int],
) -> SourcingPlan:
    """``demand`` is sku -> units; ``available`` is (warehouse id, sku) -> units."""
    # An inactive warehouse gets no new work; what it already has stays with it.
    ranked = sorted((w for w in warehouses if w.active), key=lambda w: (w.priority, w.id))
    wanted = {sku: qty for sku, qty in demand.items() if qty > 0}

    def stock(wh: str, sku: str) -> int:
        return max(0, available.get((wh, sku), 0))

    for wh in ranked:
        if all(stock(wh.id, sku) >= qty for sku, qty in wanted.items()):
            return SourcingPlan(allocations={wh.id: dict(wanted)} if wanted else {})

    remaining = dict(wanted)
    allocations: dict[str, dict[str, int]] = {}
    candidates = list(ranked)
    while remaining and candidates:
        best = max(
            candidates,
            key=lambda w: (sum(min(stock(w.id, s), q) for s, q in remaining.items()), -w.priority),
        )
        take = {s: min(stock(best.id, s), q) for s, q in remaining.items()}
        take = {s: q for s, q in take.items() if q > 0}
        if not take:
            break
        allocations[best.id] = take
        candidates.remove(best)
        for sku, qty in take.items():
            remaining[sku] -= qty
        remaining = {s: q for s, q in remaining.items() if q > 0}
    return SourcingPlan(allocations=allocations, shortages=remaining)
