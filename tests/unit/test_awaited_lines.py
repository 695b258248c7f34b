"""Lines that waited for their products (the ``unresolved_lines`` hold), placed when it is
released (``domain.placement``): every unit is reserved or backordered, the totals never move."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.models import Product, UnresolvedLine, Warehouse
from chalicelib.domain.placement import awaited_demand, place_awaited_lines, skus_not_sellable
from chalicelib.domain.sourcing import plan_sourcing
from chalicelib.domain.status import OrderStatus
from tests.unit.builders import EAST, WEST, make_order
from tests.unit.fakes import START

WAREHOUSES = [
    Warehouse(id=EAST, name="East", priority=1, timezone="America/New_York", country="US"),
    Warehouse(id=WEST, name="West", priority=2, timezone="America/Los_Angeles", country="US"),
]
SKUS = ("HOODIE-L", "CAP-RED", "SCARF")


def awaiting(sku: str, quantity: int, price: str = "10.00") -> UnresolvedLine:
    return UnresolvedLine(
        title=sku.title(),
        sku=sku,
        quantity=quantity,
        unit_price=Decimal(price),
        reason=f"SKU {sku!r} is not in the catalogue",
        store_line_id="7",
        unknown_sku=True,
    )


NO_SKU = UnresolvedLine(title="Gift card", quantity=1, unit_price=Decimal("25.00"), reason="no SKU")


def product(sku: str, *, active: bool = True) -> Product:
    return Product(
        sku=sku, name=sku, weight_grams=100, length_mm=10, width_mm=10, height_mm=10, active=active
    )


def test_the_skus_still_missing_or_not_sold_are_named_sorted_and_a_line_without_sku_is_not_awaited() -> None:
    order = make_order(
        status=OrderStatus.ON_HOLD, unresolved_lines=[awaiting("SCARF", 1), awaiting("CAP-RED", 2), NO_SKU]
    )

    assert skus_not_sellable(order, {"SCARF": product("SCARF", active=False)}) == ["CAP-RED", "SCARF"]
    assert skus_not_sellable(order, {s: product(s) for s in ("SCARF", "CAP-RED")}) == []
    assert awaited_demand(order) == {"SCARF": 1, "CAP-RED": 2}


awaited_lines_strategy = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(1, 20), st.decimals("0.00", "500.00", places=2)),
    min_size=1,
    max_size=6,
)
stock_strategy = st.dictionaries(
    st.tuples(st.sampled_from([EAST, WEST]), st.sampled_from(SKUS)), st.integers(0, 40), max_size=6
)


@given(awaited=awaited_lines_strategy, stock=stock_strategy, with_no_sku=st.booleans())
def test_every_awaited_unit_is_reserved_or_backordered_and_the_totals_do_not_move(
    awaited: list[tuple[str, int, Decimal]], stock: dict[tuple[str, str], int], with_no_sku: bool
) -> None:
    unresolved = [awaiting(sku, qty, str(price)) for sku, qty, price in awaited]
    order = make_order(
        status=OrderStatus.ON_HOLD, unresolved_lines=[*unresolved, *([NO_SKU] if with_no_sku else [])]
    )
    demand = awaited_demand(order)
    plan = plan_sourcing(demand, WAREHOUSES, stock)
    ids = iter(range(100))

    placed, fulfillments = place_awaited_lines(
        order, plan, new_fulfillment_id=lambda: f"ful_{next(ids)}", now=START
    )

    assert placed.totals == order.totals
    assert placed.lines[: len(order.lines)] == order.lines
    new_lines = placed.lines[len(order.lines) :]
    assert [(li.sku, li.quantity, li.unit_price) for li in new_lines] == [
        (u.sku, u.quantity, u.unit_price) for u in unresolved
    ]
    assert all(li.line_total == li.unit_price * li.quantity for li in new_lines)
    assert placed.unresolved_lines == ([NO_SKU] if with_no_sku else [])
    for sku, units in demand.items():
        shipped = sum(line.quantity for f in fulfillments for line in f.lines if line.sku == sku)
        backordered = sum(li.backordered for li in new_lines if li.sku == sku)
        reserved = sum(plan.allocations.get(wh, {}).get(sku, 0) for wh in (EAST, WEST))
        assert shipped == units  # warehouse fulfillments plus backorders carry every unit once
        assert reserved + backordered == units
        assert all(
            reserved_at <= stock.get((wh, sku), 0)
            for wh in (EAST, WEST)
            for reserved_at in [plan.allocations.get(wh, {}).get(sku, 0)]
        )
    assert all(f.order_id == order.id for f in fulfillments)
