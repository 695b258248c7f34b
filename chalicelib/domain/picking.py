"""Pick lists: released work of several orders, grouped by bin in walking order (wave picking)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel

from .models import Fulfillment, Timestamp

_CHUNKS = re.compile(r"(\d+)")


def walking_order(bin_location: str | None) -> tuple[int, tuple[tuple[int, int, str], ...]]:
    """Natural order of bin codes ("A-2-1" before "A-10-1"); work with no bin goes last.

    Each chunk is tagged so numbers and text never compare with each other
    (numbers sort before text, as in most warehouse numbering schemes)."""
    if not bin_location:
        return (1, ())
    return (
        0,
        tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part.upper())
            for part in _CHUNKS.split(bin_location)
            if part
        ),
    )


class PickTask(BaseModel):
    fulfillment_id: str
    order_id: str
    quantity: int


class PickStop(BaseModel):
    """One stop of the walk: a bin, a SKU, how many in all, and for which fulfillments."""

    bin: str | None
    sku: str
    quantity: int
    tasks: list[PickTask]


class PickWave(BaseModel):
    fulfillment_id: str
    order_id: str
    ship_by: Timestamp | None


class PickList(BaseModel):
    warehouse_id: str
    generated_at: Timestamp
    #: The fulfillments in this wave, earliest ship-by promise first.
    fulfillments: list[PickWave]
    stops: list[PickStop]


def build_pick_list(
    warehouse_id: str, work: Sequence[Fulfillment], bins: Mapping[str, str | None], now: datetime
) -> PickList:
    """``work`` is already in ship-by order; ``bins`` maps each SKU to its bin in this warehouse."""
    stops: dict[tuple[str | None, str], PickStop] = {}
    for f in work:
        for line in f.lines:
            key = (bins.get(line.sku), line.sku)
            stop = stops.setdefault(key, PickStop(bin=key[0], sku=line.sku, quantity=0, tasks=[]))
            stop.quantity += line.quantity
            stop.tasks.append(PickTask(fulfillment_id=f.id, order_id=f.order_id, quantity=line.quantity))
    ordered = sorted(stops.values(), key=lambda s: (walking_order(s.bin), s.sku))
    return PickList(
        warehouse_id=warehouse_id,
        generated_at=now,
        fulfillments=[PickWave(fulfillment_id=f.id, order_id=f.order_id, ship_by=f.ship_by) for f in work],
        stops=ordered,
    )
