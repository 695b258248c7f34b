from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.models import Warehouse
from chalicelib.domain.sourcing import SourcingPlan, plan_sourcing

PROPERTY = settings(max_examples=200, deadline=None)


def wh(ident: str, priority: int) -> Warehouse:
    return Warehouse(id=ident, name=ident, priority=priority, timezone="UTC", country="US")


A, B, C = wh("wh_a", 1), wh("wh_b", 2), wh("wh_c", 3)


def test_one_warehouse_that_holds_everything_ships_the_whole_order() -> None:
    plan = plan_sourcing({"MUG": 2, "TEE": 1}, [A, B], {("wh_b", "MUG"): 5, ("wh_b", "TEE"): 1})

    assert plan == SourcingPlan(allocations={"wh_b": {"MUG": 2, "TEE": 1}}, shortages={})
    assert not plan.is_split


def test_among_several_warehouses_able_to_ship_everything_the_preferred_one_wins() -> None:
    stock = {(w, sku): 10 for w in ("wh_a", "wh_b", "wh_c") for sku in ("MUG", "TEE")}

    plan = plan_sourcing({"MUG": 3, "TEE": 3}, [C, B, A], stock)

    assert plan.allocations == {"wh_a": {"MUG": 3, "TEE": 3}}


def test_a_single_warehouse_beats_a_preferred_warehouse_that_would_need_a_second_parcel() -> None:
    stock = {("wh_a", "MUG"): 10, ("wh_b", "MUG"): 10, ("wh_b", "TEE"): 10}

    plan = plan_sourcing({"MUG": 1, "TEE": 1}, [A, B], stock)

    assert plan.allocations == {"wh_b": {"MUG": 1, "TEE": 1}}


def test_equal_priorities_are_ordered_by_warehouse_id() -> None:
    twins = [wh("wh_z", 1), wh("wh_m", 1)]
    stock = {("wh_z", "MUG"): 5, ("wh_m", "MUG"): 5}

    assert plan_sourcing({"MUG": 1}, twins, stock).allocations == {"wh_m": {"MUG": 1}}


def test_the_order_is_split_when_no_warehouse_can_ship_all_of_it() -> None:
    stock = {("wh_a", "MUG"): 2, ("wh_b", "TEE"): 1}

    plan = plan_sourcing({"MUG": 2, "TEE": 1}, [A, B], stock)

    assert plan == SourcingPlan(allocations={"wh_a": {"MUG": 2}, "wh_b": {"TEE": 1}}, shortages={})
    assert plan.is_split


def test_one_sku_is_split_across_warehouses_when_none_has_enough() -> None:
    plan = plan_sourcing({"MUG": 7}, [A, B], {("wh_a", "MUG"): 4, ("wh_b", "MUG"): 5})

    # wh_b covers more of what is missing (5 > 4), so it goes first.
    assert list(plan.allocations.items()) == [("wh_b", {"MUG": 5}), ("wh_a", {"MUG": 2})]
    assert plan.allocated("MUG") == 7


def test_greedy_takes_the_warehouse_covering_most_units_first_whatever_its_priority() -> None:
    stock = {("wh_a", "MUG"): 4, ("wh_b", "TEE"): 4, ("wh_b", "MUG"): 1, ("wh_c", "CAP"): 1}

    plan = plan_sourcing({"MUG": 4, "TEE": 4, "CAP": 1}, [A, B, C], stock)

    assert list(plan.allocations.items()) == [
        ("wh_b", {"MUG": 1, "TEE": 4}),
        ("wh_a", {"MUG": 3}),
        ("wh_c", {"CAP": 1}),
    ]
    assert plan.shortages == {}


def test_when_two_warehouses_cover_equally_much_priority_breaks_the_tie() -> None:
    stock = {("wh_a", "MUG"): 3, ("wh_b", "TEE"): 3}

    plan = plan_sourcing({"MUG": 3, "TEE": 3}, [B, A], stock)

    assert list(plan.allocations) == ["wh_a", "wh_b"]


def test_units_no_warehouse_holds_are_recorded_as_a_shortage_per_sku() -> None:
    stock = {("wh_a", "MUG"): 2, ("wh_b", "MUG"): 1}

    plan = plan_sourcing({"MUG": 5, "TEE": 2}, [A, B], stock)

    assert plan.allocations == {"wh_a": {"MUG": 2}, "wh_b": {"MUG": 1}}
    assert plan.shortages == {"MUG": 2, "TEE": 2}


def test_nothing_in_stock_anywhere_is_all_shortage_and_no_warehouse() -> None:
    assert plan_sourcing({"MUG": 3}, [A, B], {}) == SourcingPlan(allocations={}, shortages={"MUG": 3})


def test_zero_and_negative_availability_are_ignored() -> None:
    stock = {("wh_a", "MUG"): 0, ("wh_a", "TEE"): -4, ("wh_b", "TEE"): 1}

    plan = plan_sourcing({"MUG": 1, "TEE": 2}, [A, B], stock)

    assert plan.allocations == {"wh_b": {"TEE": 1}}
    assert plan.shortages == {"MUG": 1, "TEE": 1}


def test_negative_availability_does_not_cancel_out_stock_elsewhere() -> None:
    # Summing availability across warehouses would give 3 - 3 = 0 and a full shortage.
    plan = plan_sourcing({"MUG": 3}, [A, B], {("wh_a", "MUG"): -3, ("wh_b", "MUG"): 3})

    assert plan.allocations == {"wh_b": {"MUG": 3}}


def test_a_negative_level_of_one_sku_does_not_count_against_a_warehouses_other_stock() -> None:
    stock = {("wh_a", "MUG"): 5, ("wh_a", "CAP"): -10, ("wh_b", "MUG"): 2, ("wh_b", "TEE"): 2}

    plan = plan_sourcing({"MUG": 5, "TEE": 2, "CAP": 1}, [A, B], stock)

    # wh_a covers 5 units, wh_b 4: wh_a goes first and ships all the mugs in one parcel.
    assert list(plan.allocations.items()) == [("wh_a", {"MUG": 5}), ("wh_b", {"TEE": 2})]
    assert plan.shortages == {"CAP": 1}


def test_an_empty_demand_needs_no_warehouse() -> None:
    assert plan_sourcing({}, [A], {("wh_a", "MUG"): 1}) == SourcingPlan()
    assert plan_sourcing({"MUG": 0}, [A], {}) == SourcingPlan()


def test_without_warehouses_everything_is_short() -> None:
    assert plan_sourcing({"MUG": 2}, [], {}).shortages == {"MUG": 2}


# -- property ---------------------------------------------------------------------------------

SKUS = ["S1", "S2", "S3", "S4"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, int], list[Warehouse], dict[tuple[str, str], int]]:
    count = draw(st.integers(min_value=0, max_value=5))
    priorities = draw(st.lists(st.integers(min_value=0, max_value=3), min_size=count, max_size=count))
    warehouses = [wh(f"wh_{i}", p) for i, p in enumerate(priorities)]
    demand = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(min_value=-2, max_value=30)))
    available = draw(
        st.dictionaries(
            st.tuples(st.sampled_from([w.id for w in warehouses] or ["wh_0"]), st.sampled_from(SKUS)),
            st.integers(min_value=-5, max_value=30),
        )
    )
    return demand, warehouses, available


@PROPERTY
@given(scenarios())
def test_a_plan_never_overallocates_and_accounts_for_every_unit(
    scenario: tuple[dict[str, int], list[Warehouse], dict[tuple[str, str], int]],
) -> None:
    demand, warehouses, available = scenario

    plan = plan_sourcing(demand, warehouses, available)

    known = {w.id for w in warehouses}
    for warehouse_id, skus in plan.allocations.items():
        assert warehouse_id in known
        assert skus, f"{warehouse_id} is in the plan with nothing to ship"
        for sku, qty in skus.items():
            assert 0 < qty <= available.get((warehouse_id, sku), 0)
    wanted = {sku: qty for sku, qty in demand.items() if qty > 0}
    for sku, qty in wanted.items():
        assert plan.allocated(sku) + plan.shortages.get(sku, 0) == qty
    assert set(plan.shortages) <= set(wanted)
    assert all(qty > 0 for qty in plan.shortages.values())
    allocated_skus = {sku for skus in plan.allocations.values() for sku in skus}
    assert allocated_skus <= set(wanted)


@PROPERTY
@given(scenarios())
def test_a_plan_has_a_shortage_only_for_skus_the_warehouses_together_cannot_cover(
    scenario: tuple[dict[str, int], list[Warehouse], dict[tuple[str, str], int]],
) -> None:
    demand, warehouses, available = scenario

    plan = plan_sourcing(demand, warehouses, available)

    for sku, short in plan.shortages.items():
        total = sum(max(0, available.get((w.id, sku), 0)) for w in warehouses)
        assert short == demand[sku] - total


def test_an_inactive_warehouse_is_given_no_new_work_even_when_it_is_preferred() -> None:
    closed = wh("A", 1).model_copy(update={"active": False})
    plan = plan_sourcing({"MUG": 2}, [closed, wh("B", 2)], {("A", "MUG"): 5, ("B", "MUG"): 1})
    assert plan.allocations == {"B": {"MUG": 1}}
    assert plan.shortages == {"MUG": 1}
