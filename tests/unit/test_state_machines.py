from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.status import (
    DELIVERY_EXCEPTIONS,
    FULFILLMENT_SHIPPED_STATES,
    FULFILLMENT_TERMINAL,
    FULFILLMENT_TRANSITIONS,
    ORDER_TERMINAL,
    ORDER_TRANSITIONS,
    RESOLVED_EXCEPTIONS,
    FulfillmentStatus,
    FulfillmentTrigger,
    InvalidTransition,
    OrderStatus,
    OrderTrigger,
    allowed_fulfillment_triggers,
    allowed_order_triggers,
    next_fulfillment_status,
    next_order_status,
)

PROPERTY = settings(max_examples=200, deadline=None)

O, OT = OrderStatus, OrderTrigger  # noqa: E741
F, FT = FulfillmentStatus, FulfillmentTrigger


def walk(
    entity: str,
    table: Mapping[StrEnum, Mapping[StrEnum, StrEnum]],
    step: Callable[[StrEnum, StrEnum], StrEnum],
    states: type[StrEnum],
    start: StrEnum,
    triggers: list[StrEnum],
) -> StrEnum:
    """Apply each allowed trigger; check that each refused one raises and changes nothing."""
    state = start
    for trigger in triggers:
        row = table[state]
        if trigger in row:
            state = step(state, trigger)
            assert state == row[trigger]
        else:
            with pytest.raises(InvalidTransition) as excinfo:
                step(state, trigger)
            error = excinfo.value
            assert (error.entity, error.current, error.trigger) == (entity, state.value, trigger.value)
            assert error.allowed == [t.value for t in row]
        assert state in set(states)
    return state


# -- properties over random trigger sequences -------------------------------------------------


@PROPERTY
@given(st.lists(st.sampled_from(list(OrderTrigger)), max_size=40))
def test_no_sequence_of_order_triggers_leaves_the_order_status_enum(triggers: list[OrderTrigger]) -> None:
    walk("order", ORDER_TRANSITIONS, next_order_status, OrderStatus, O.PLACED, triggers)  # type: ignore[arg-type]


@PROPERTY
@given(st.lists(st.sampled_from(list(FulfillmentTrigger)), max_size=40))
def test_no_sequence_of_fulfillment_triggers_leaves_the_fulfillment_status_enum(
    triggers: list[FulfillmentTrigger],
) -> None:
    walk(
        "fulfillment",
        FULFILLMENT_TRANSITIONS,  # type: ignore[arg-type]
        next_fulfillment_status,  # type: ignore[arg-type]
        FulfillmentStatus,
        F.PENDING,
        triggers,  # type: ignore[arg-type]
    )


@PROPERTY
@given(
    st.sampled_from(sorted(ORDER_TERMINAL)),
    st.lists(st.sampled_from(list(OrderTrigger)), min_size=1, max_size=20),
)
def test_a_terminal_order_status_refuses_every_trigger(
    terminal: OrderStatus, triggers: list[OrderTrigger]
) -> None:
    for trigger in triggers:
        with pytest.raises(InvalidTransition, match=r"\(no further changes are possible\)") as excinfo:
            next_order_status(terminal, trigger)
        assert excinfo.value.allowed == []


@PROPERTY
@given(
    st.sampled_from(sorted(FULFILLMENT_TERMINAL)),
    st.lists(st.sampled_from(list(FulfillmentTrigger)), min_size=1, max_size=20),
)
def test_a_terminal_fulfillment_status_refuses_every_trigger(
    terminal: FulfillmentStatus, triggers: list[FulfillmentTrigger]
) -> None:
    for trigger in triggers:
        with pytest.raises(InvalidTransition, match=r"\(no further changes are possible\)") as excinfo:
            next_fulfillment_status(terminal, trigger)
        assert excinfo.value.allowed == []


# -- the tables themselves --------------------------------------------------------------------


def reachable(table: Mapping[StrEnum, Mapping[StrEnum, StrEnum]], start: StrEnum) -> set[StrEnum]:
    seen, queue = {start}, deque([start])
    while queue:
        for target in table[queue.popleft()].values():
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_every_order_status_is_reachable_from_placed() -> None:
    assert reachable(ORDER_TRANSITIONS, O.PLACED) == set(OrderStatus)  # type: ignore[arg-type]


def test_every_fulfillment_status_is_reachable_from_pending() -> None:
    assert reachable(FULFILLMENT_TRANSITIONS, F.PENDING) == set(FulfillmentStatus)  # type: ignore[arg-type]


def test_every_order_status_has_a_row_and_the_table_names_only_enum_members() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    for state, row in ORDER_TRANSITIONS.items():
        assert type(state) is OrderStatus
        assert all(type(trigger) is OrderTrigger for trigger in row), state
        assert all(type(target) is OrderStatus for target in row.values()), state


def test_every_fulfillment_status_has_a_row_and_the_table_names_only_enum_members() -> None:
    assert set(FULFILLMENT_TRANSITIONS) == set(FulfillmentStatus)
    for state, row in FULFILLMENT_TRANSITIONS.items():
        assert type(state) is FulfillmentStatus
        assert all(type(trigger) is FulfillmentTrigger for trigger in row), state
        assert all(type(target) is FulfillmentStatus for target in row.values()), state


def test_the_terminal_states_are_exactly_the_empty_rows() -> None:
    assert {O.RETURNED, O.CANCELLED} == ORDER_TERMINAL
    assert {F.DELIVERED, F.RESHIPPED, F.REFUNDED, F.CANCELLED} == FULFILLMENT_TERMINAL


def test_the_tables_do_not_share_rows_so_editing_one_state_cannot_change_another() -> None:
    rows = list(ORDER_TRANSITIONS.values()) + list(FULFILLMENT_TRANSITIONS.values())
    assert len({id(row) for row in rows}) == len(rows)


def test_every_shipped_fulfillment_state_lies_on_the_carrier_side_of_the_table() -> None:
    carrier_side = reachable(FULFILLMENT_TRANSITIONS, F.SHIPPED)  # type: ignore[arg-type]
    assert carrier_side == FULFILLMENT_SHIPPED_STATES


# -- examples ---------------------------------------------------------------------------------


def test_a_packed_fulfillment_cannot_be_cancelled() -> None:
    with pytest.raises(InvalidTransition) as excinfo:
        next_fulfillment_status(F.PACKED, FT.CANCEL)

    assert excinfo.value.allowed == ["ship"]
    assert str(excinfo.value) == "fulfillment is packed: 'cancel' is not allowed (allowed: ship)"


def test_an_order_cannot_be_cancelled_once_part_of_it_has_shipped() -> None:
    with pytest.raises(InvalidTransition) as excinfo:
        next_order_status(O.PARTIALLY_SHIPPED, OT.CANCEL)

    assert excinfo.value.allowed == [
        "ship_partially",
        "ship_all",
        "deliver_partially",
        "reopen_fulfillment",
        "refund_undelivered",
    ]


def test_a_failed_shipment_can_recover_to_in_transit() -> None:
    assert next_fulfillment_status(F.FAILED, FT.SCAN_IN_TRANSIT) == F.IN_TRANSIT


def test_a_delivered_order_can_be_partially_returned_and_then_fully_returned() -> None:
    partially = next_order_status(O.DELIVERED, OT.RETURN_PARTIALLY)

    assert partially == O.PARTIALLY_RETURNED
    assert next_order_status(partially, OT.RETURN_ALL) == O.RETURNED


def test_a_held_fulfillment_is_released_or_goes_back_to_pending_when_its_hold_is_lifted() -> None:
    assert next_fulfillment_status(F.ON_HOLD, FT.RELEASE) == F.RELEASED
    assert next_fulfillment_status(F.ON_HOLD, FT.UNHOLD) == F.PENDING
    with pytest.raises(InvalidTransition):
        next_fulfillment_status(F.PENDING, FT.UNHOLD)


def test_a_placed_order_offers_exactly_the_pre_shipment_triggers() -> None:
    assert allowed_order_triggers(O.PLACED) == [OT.HOLD, OT.CONFIRM, OT.BACKORDER, OT.CANCEL]
    assert allowed_fulfillment_triggers(F.PENDING) == [FT.HOLD, FT.RELEASE, FT.CANCEL]


# -- delivery exceptions ----------------------------------------------------------------------

ON_THE_WAY = [F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY, F.DELIVERY_ATTEMPTED, F.AVAILABLE_FOR_PICKUP]
RESOLUTIONS = [FT.RESHIP, FT.REFUND]


@PROPERTY
@given(st.lists(st.sampled_from(list(FulfillmentTrigger)), max_size=40))
def test_a_fulfillment_is_resolved_at_most_once_whatever_the_triggers(
    triggers: list[FulfillmentTrigger],
) -> None:
    state: FulfillmentStatus = F.PENDING
    resolutions = 0
    for trigger in triggers:
        if trigger in allowed_fulfillment_triggers(state):
            state = next_fulfillment_status(state, trigger)
            resolutions += trigger in RESOLUTIONS

    assert resolutions <= 1
    assert (state in RESOLVED_EXCEPTIONS) == (resolutions == 1)


@PROPERTY
@given(
    st.sampled_from(ON_THE_WAY), st.sampled_from([FT.DECLARE_LOST, FT.DECLARE_DAMAGED, FT.DECLARE_RETURNED])
)
def test_a_parcel_on_its_way_can_be_declared_and_then_reshipped_or_refunded_but_not_both(
    start: FulfillmentStatus, declaration: FulfillmentTrigger
) -> None:
    declared = next_fulfillment_status(start, declaration)

    assert declared in DELIVERY_EXCEPTIONS
    for first, second in ((FT.RESHIP, FT.REFUND), (FT.REFUND, FT.RESHIP)):
        resolved = next_fulfillment_status(declared, first)
        with pytest.raises(InvalidTransition):
            next_fulfillment_status(resolved, second)


def test_a_delivered_or_unshipped_fulfillment_cannot_be_declared_or_resolved() -> None:
    for state in (F.PENDING, F.RELEASED, F.PICKED, F.PACKED, F.DELIVERED, F.CANCELLED):
        for trigger in (FT.DECLARE_LOST, FT.DECLARE_DAMAGED, FT.DECLARE_RETURNED, *RESOLUTIONS):
            assert trigger not in allowed_fulfillment_triggers(state), (state, trigger)


def test_a_parcel_declared_lost_that_the_carrier_delivers_after_all_is_delivered() -> None:
    assert next_fulfillment_status(F.LOST, FT.SCAN_DELIVERED) == F.DELIVERED


@PROPERTY
@given(st.lists(st.sampled_from(list(OrderTrigger)), max_size=40))
def test_only_an_order_that_shipped_goes_back_to_the_warehouse_or_to_cancelled_by_a_resolution(
    triggers: list[OrderTrigger],
) -> None:
    state: OrderStatus = O.PLACED
    for trigger in triggers:
        if trigger not in allowed_order_triggers(state):
            continue
        before, state = state, next_order_status(state, trigger)
        if trigger in (OT.REOPEN_FULFILLMENT, OT.REOPEN_PARTIALLY, OT.REFUND_UNDELIVERED):
            assert before in (O.SHIPPED, O.PARTIALLY_SHIPPED)
            assert state in (O.IN_FULFILLMENT, O.PARTIALLY_SHIPPED, O.CANCELLED)
