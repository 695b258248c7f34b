"""Stock health: stock-outs, low stock, overstock and days of cover.

Days of cover = available ÷ average daily demand, the demand being the units
shipped over the last ``DEMAND_DAYS`` days (28: four whole weeks, so weekday
patterns do not bias it). No demand means no figure (not "infinite"): nothing
can be said about when a SKU nobody buys runs out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel

from .models import StockLevel, Timestamp

DEMAND_DAYS = 28


def days_of_cover(available: int, shipped_in_window: int, days: int = DEMAND_DAYS) -> Decimal | None:
    if shipped_in_window <= 0:
        return None
    daily = Decimal(shipped_in_window) / Decimal(days)
    return (Decimal(max(available, 0)) / daily).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class StockLine(BaseModel):
    sku: str
    warehouse_id: str
    on_hand: int
    reserved: int
    available: int
    reorder_point: int | None
    overstock_level: int | None
    bin: str | None
    shipped_last_28_days: int
    days_of_cover: Decimal | None
    stock_out: bool
    low: bool
    overstock: bool


class StockReport(BaseModel):
    generated_at: Timestamp
    stock_outs: list[StockLine]
    low_stock: list[StockLine]
    overstock: list[StockLine]
    #: Everything with demand, fewest days of cover first.
    cover: list[StockLine]


def stock_line(level: StockLevel, shipped: int) -> StockLine:
    return StockLine(
        sku=level.sku,
        warehouse_id=level.warehouse_id,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        reorder_point=level.reorder_point,
        overstock_level=level.overstock_level,
        bin=level.bin,
        shipped_last_28_days=shipped,
        days_of_cover=days_of_cover(level.available, shipped),
        stock_out=level.available <= 0,
        low=level.below_reorder_point and level.available > 0,
        overstock=level.overstocked,
    )


def build_report(
    levels: Sequence[StockLevel], shipped: Mapping[tuple[str, str], int], *, now: object
) -> StockReport:
    """``shipped`` is (warehouse id, sku) -> units shipped over the last ``DEMAND_DAYS`` days."""
    lines = [stock_line(level, shipped.get((level.warehouse_id, level.sku), 0)) for level in levels]
    with_cover = [line for line in lines if line.days_of_cover is not None]
    return StockReport.model_validate(
        {
            "generated_at": now,
            "stock_outs": [line for line in lines if line.stock_out],
            "low_stock": [line for line in lines if line.low],
            "overstock": [line for line in lines if line.overstock],
            "cover": sorted(with_cover, key=lambda line: (line.days_of_cover, line.sku)),
        }
    )
