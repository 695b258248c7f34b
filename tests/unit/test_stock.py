"""Stock health (``chalicelib.domain.stock``): days of cover and the daily report's classification."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.models import StockLevel
from chalicelib.domain.stock import DEMAND_DAYS, build_report, days_of_cover, stock_line
from tests.unit.builders import EAST, WEST
from tests.unit.fakes import START


def stock(
    sku: str,
    on_hand: int,
    reserved: int = 0,
    *,
    warehouse_id: str = EAST,
    reorder_point: int | None = None,
    overstock_level: int | None = None,
) -> StockLevel:
    return StockLevel(
        sku=sku,
        warehouse_id=warehouse_id,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        reorder_point=reorder_point,
        overstock_level=overstock_level,
    )


# -- days of cover --------------------------------------------------------------------------------


def test_the_demand_window_is_four_whole_weeks() -> None:
    assert DEMAND_DAYS == 28


@pytest.mark.parametrize(
    ("available", "shipped", "cover"),
    [
        (10, 28, "10.0"),  # one a day: ten days
        (5, 56, "2.5"),  # two a day
        (10, 3, "93.3"),  # 3/28 a day: 93.33… days
        (1, 112, "0.3"),  # 0.25 rounds half up, not half even
        (0, 28, "0.0"),  # demand but nothing left: no cover
        (-3, 28, "0.0"),  # promised more than the shelf holds: still no cover, never negative
    ],
)
def test_days_of_cover_is_available_over_the_average_daily_demand(
    available: int, shipped: int, cover: str
) -> None:
    result = days_of_cover(available, shipped)

    assert result is not None and str(result) == cover


@pytest.mark.parametrize("shipped", [0, -1])
def test_without_demand_there_is_no_figure(shipped: int) -> None:
    assert days_of_cover(50, shipped) is None


def test_days_of_cover_over_another_window_divides_by_its_days() -> None:
    assert days_of_cover(10, 7, days=7) == Decimal("10.0")


# -- classification ---------------------------------------------------------------------------------


def test_a_level_at_its_reorder_point_is_low_and_above_it_is_not() -> None:
    at = stock_line(stock("MUG-1", 5, 2, reorder_point=3), shipped=0)
    above = stock_line(stock("MUG-1", 6, 2, reorder_point=3), shipped=0)

    assert (at.low, at.stock_out) == (True, False)
    assert (above.low, above.stock_out) == (False, False)


def test_a_stock_out_is_a_stock_out_and_not_also_low() -> None:
    empty = stock_line(stock("MUG-1", 2, 2, reorder_point=3), shipped=0)
    oversold = stock_line(stock("MUG-1", 1, 4, reorder_point=3), shipped=0)

    assert (empty.stock_out, empty.low) == (True, False)
    assert (oversold.stock_out, oversold.low, oversold.available) == (True, False, -3)


def test_a_stock_out_is_reported_even_without_a_reorder_point() -> None:
    line = stock_line(stock("MUG-1", 0), shipped=0)

    assert (line.stock_out, line.low, line.overstock) == (True, False, False)


def test_overstock_is_on_hand_above_the_overstock_level_whatever_is_reserved() -> None:
    at = stock_line(stock("MUG-1", 20, overstock_level=20), shipped=0)
    above = stock_line(stock("MUG-1", 21, 15, overstock_level=20), shipped=0)

    assert (at.overstock, above.overstock) == (False, True)


def test_unset_thresholds_are_not_watched() -> None:
    line = stock_line(stock("MUG-1", 1_000_000), shipped=0)

    assert (line.low, line.overstock, line.reorder_point, line.overstock_level) == (False, False, None, None)


def test_a_stock_line_carries_the_level_its_demand_and_its_cover() -> None:
    level = stock("MUG-1", 12, 2, reorder_point=4, overstock_level=50).model_copy(update={"bin": "A-01-2"})

    line = stock_line(level, shipped=14)

    assert line.model_dump() == {
        "sku": "MUG-1",
        "warehouse_id": EAST,
        "on_hand": 12,
        "reserved": 2,
        "available": 10,
        "reorder_point": 4,
        "overstock_level": 50,
        "bin": "A-01-2",
        "shipped_last_28_days": 14,
        "days_of_cover": Decimal("20.0"),
        "stock_out": False,
        "low": False,
        "overstock": False,
    }


# -- the report ------------------------------------------------------------------------------------


def test_the_report_sorts_levels_into_stock_outs_low_stock_overstock_and_cover() -> None:
    levels = [
        stock("MUG-1", 0, reorder_point=5),  # stock-out (with demand: 0.0 days)
        stock("TEE-M", 4, 1, reorder_point=5),  # low: 3 left, 1 a day
        stock("CAP-1", 90, overstock_level=60),  # overstock, nobody buys it
        stock("MUG-1", 30, 2, warehouse_id=WEST, reorder_point=5, overstock_level=100),  # fine
    ]
    shipped = {(EAST, "MUG-1"): 56, (EAST, "TEE-M"): 28, (WEST, "MUG-1"): 14}

    report = build_report(levels, shipped, now=START)

    def keys(lines: list) -> list[tuple[str, str]]:
        return [(line.warehouse_id, line.sku) for line in lines]

    assert report.generated_at == START
    assert keys(report.stock_outs) == [(EAST, "MUG-1")]
    assert keys(report.low_stock) == [(EAST, "TEE-M")]
    assert keys(report.overstock) == [(EAST, "CAP-1")]
    # Fewest days first; CAP-1 has no demand, so no figure and no place in the list.
    assert [(line.sku, str(line.days_of_cover)) for line in report.cover] == [
        ("MUG-1", "0.0"),
        ("TEE-M", "3.0"),
        ("MUG-1", "56.0"),
    ]


def test_levels_with_the_same_cover_are_listed_by_sku() -> None:
    levels = [stock("TEE-M", 10), stock("CAP-1", 10), stock("MUG-1", 10)]
    shipped = {(EAST, "TEE-M"): 28, (EAST, "CAP-1"): 28, (EAST, "MUG-1"): 28}

    report = build_report(levels, shipped, now=START)

    assert [line.sku for line in report.cover] == ["CAP-1", "MUG-1", "TEE-M"]


def test_demand_counts_for_its_own_warehouse_only() -> None:
    levels = [stock("MUG-1", 10), stock("MUG-1", 10, warehouse_id=WEST)]

    report = build_report(levels, {(WEST, "MUG-1"): 28}, now=START)

    (covered,) = report.cover
    assert (covered.warehouse_id, covered.days_of_cover) == (WEST, Decimal("10.0"))


def test_an_empty_warehouse_makes_an_empty_report() -> None:
    report = build_report([], {}, now=START)

    assert (report.stock_outs, report.low_stock, report.overstock, report.cover) == ([], [], [], [])
