"""How units are booked on an order's lines when they are backordered, allocated or cancelled
(``domain.fulfillment``), and where returned units go (``domain.returns``): never more than a
line has, never a unit lost."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.fulfillment import book_allocation, book_backorders, book_cancellations
from chalicelib.domain.models import OrderLine
from chalicelib.domain.returns import ReceivedItem, ReturnCondition, assess_receipt
from tests.unit.builders import make_order

SKUS = ("MUG-1", "TEE-M")


@st.composite
def order_lines(draw: st.DrawFn) -> list[OrderLine]:
    """One to four lines of two SKUs, with some units already backordered or cancelled."""
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        quantity = draw(st.integers(min_value=1, max_value=9))
        cancelled = draw(st.integers(min_value=0, max_value=quantity))
        backordered = draw(st.integers(min_value=0, max_value=quantity - cancelled))
        lines.append(
            OrderLine(
                sku=draw(st.sampled_from(SKUS)),
                quantity=quantity,
                unit_price=Decimal("1.00"),
                line_total=Decimal(quantity),
                backordered=backordered,
                cancelled=cancelled,
            )
        )
    return lines


def units(lines: list[OrderLine], field: str, sku: str) -> int:
    return sum(getattr(line, field) for line in lines if line.sku == sku)


def consistent(lines: list[OrderLine]) -> bool:
    return all(line.backordered >= 0 and 0 <= line.cancelled <= line.quantity for line in lines) and all(
        line.backordered + line.cancelled <= line.quantity for line in lines
    )


@given(lines=order_lines(), wanted=st.integers(min_value=0, max_value=20), sku=st.sampled_from(SKUS))
def test_backordered_units_are_booked_up_to_what_the_lines_have_open(
    lines: list[OrderLine], wanted: int, sku: str
) -> None:
    order = make_order(lines=lines)
    open_units = sum(line.quantity - line.cancelled - line.backordered for line in lines if line.sku == sku)

    booked = book_backorders(order, {sku: wanted})

    assert units(booked, "backordered", sku) - units(lines, "backordered", sku) == min(wanted, open_units)
    assert consistent(booked)
    assert [line.sku for line in booked] == [line.sku for line in lines]


@given(lines=order_lines(), quantity=st.integers(min_value=0, max_value=20), sku=st.sampled_from(SKUS))
def test_allocated_units_come_off_the_backordered_ones_and_no_further(
    lines: list[OrderLine], quantity: int, sku: str
) -> None:
    order = make_order(lines=lines)

    booked = book_allocation(order, sku, quantity)

    waiting = units(lines, "backordered", sku)
    assert units(booked, "backordered", sku) == waiting - min(quantity, waiting)
    assert consistent(booked)


@given(lines=order_lines(), wanted=st.integers(min_value=0, max_value=20), sku=st.sampled_from(SKUS))
def test_cancelled_units_are_booked_up_to_what_is_not_cancelled_yet_backorders_first(
    lines: list[OrderLine], wanted: int, sku: str
) -> None:
    order = make_order(lines=lines)
    cancellable = sum(line.quantity - line.cancelled for line in lines if line.sku == sku)

    booked = book_cancellations(order, {sku: wanted})

    taken = min(wanted, cancellable)
    assert units(booked, "cancelled", sku) - units(lines, "cancelled", sku) == taken
    # A cancelled unit is a backordered one first: nothing waits for stock that nobody wants.
    for before, after in zip(lines, booked, strict=True):
        took = after.cancelled - before.cancelled
        assert after.backordered == max(0, before.backordered - took)
    assert consistent(booked)
    other = next(s for s in SKUS if s != sku)
    assert [line for line in booked if line.sku == other] == [line for line in lines if line.sku == other]


def test_a_short_pick_books_its_backorder_on_the_last_line_of_the_sku_first() -> None:
    first = OrderLine(sku="MUG-1", quantity=2, unit_price=Decimal(1), line_total=Decimal(2))
    last = OrderLine(sku="MUG-1", quantity=3, unit_price=Decimal(1), line_total=Decimal(3))

    booked = book_backorders(make_order(lines=[first, last]), {"MUG-1": 4})

    assert [line.backordered for line in booked] == [1, 3]


@given(
    items=st.lists(
        st.builds(
            ReceivedItem,
            sku=st.sampled_from(SKUS),
            quantity=st.integers(min_value=1, max_value=5),
            condition=st.sampled_from(list(ReturnCondition)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_unit_received_back_is_either_restocked_or_written_off(items: list[ReceivedItem]) -> None:
    receipt = assess_receipt(make_order(), [], [], items)

    for sku in SKUS:
        received = sum(item.quantity for item in items if item.sku == sku)
        resellable = sum(
            item.quantity
            for item in items
            if item.sku == sku and item.condition == ReturnCondition.RESELLABLE
        )
        assert receipt.restocked.get(sku, 0) == resellable
        assert receipt.restocked.get(sku, 0) + receipt.written_off.get(sku, 0) == received
