from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from itertools import combinations, permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.models import Product
from chalicelib.domain.packing import (
    DEFAULT_DIM_DIVISOR,
    MAX_PACKING_UNITS,
    Alternative,
    BoxSpec,
    ItemSpec,
    Package,
    PackingInputError,
    PackingRecommendation,
    Placement,
    arrange_in_box,
    dimensional_weight_grams,
    recommend_packing,
)

PROPERTY = settings(max_examples=150, deadline=None)

Dims = tuple[int, int, int]


def box(
    code: str,
    inner: Dims,
    *,
    max_kg: int = 30,
    cost: str = "1.00",
    tare: int = 0,
    outer: Dims | None = None,
) -> BoxSpec:
    length, width, height = inner
    sides = {}
    if outer is not None:
        sides = {"outer_length_mm": outer[0], "outer_width_mm": outer[1], "outer_height_mm": outer[2]}
    return BoxSpec(
        code=code,
        inner_length_mm=length,
        inner_width_mm=width,
        inner_height_mm=height,
        max_weight_grams=max_kg * 1000,
        cost=Decimal(cost),
        tare_weight_grams=tare,
        **sides,
    )


def item(sku: str, dims: Dims, grams: int, quantity: int = 1, *, upright: bool = False) -> ItemSpec:
    length, width, height = dims
    return ItemSpec(
        sku=sku,
        length_mm=length,
        width_mm=width,
        height_mm=height,
        weight_grams=grams,
        quantity=quantity,
        keep_upright=upright,
    )


# A warehouse catalogue: three cartons and a tube for long things.
SMALL = box("S", (300, 200, 150), max_kg=10, cost="0.80", tare=150)
MEDIUM = box("M", (400, 300, 250), max_kg=20, cost="1.20", tare=250)
LARGE = box("L", (600, 400, 400), max_kg=30, cost="2.00", tare=400)
TUBE = box("TUBE", (1000, 100, 100), max_kg=10, cost="1.50", tare=200)
CATALOGUE = [SMALL, MEDIUM, LARGE, TUBE]


def only_package(rec: PackingRecommendation) -> Package:
    assert len(rec.packages) == 1, rec.packages
    return rec.packages[0]


def alternative(rec: PackingRecommendation, code: str) -> Alternative:
    (found,) = [a for a in rec.alternatives if a.box_code == code]
    return found


def overlaps(a: Placement, b: Placement) -> bool:
    return (
        a.x_mm < b.x_mm + b.length_mm
        and b.x_mm < a.x_mm + a.length_mm
        and a.y_mm < b.y_mm + b.width_mm
        and b.y_mm < a.y_mm + a.width_mm
        and a.z_mm < b.z_mm + b.height_mm
        and b.z_mm < a.z_mm + a.height_mm
    )


def assert_geometry(placements: list[Placement], inner: Dims, items: list[ItemSpec]) -> None:
    """Checked from scratch, sharing nothing with the heuristic: every unit inside the box, no two
    overlapping, each one a turn of its item (upright ones still upright)."""
    specs = {i.sku: i for i in items}
    for p in placements:
        spec = specs[p.sku]
        assert sorted((p.length_mm, p.width_mm, p.height_mm)) == sorted(
            (spec.length_mm, spec.width_mm, spec.height_mm)
        )
        if spec.keep_upright:
            assert p.height_mm == spec.height_mm
        assert p.x_mm >= 0 and p.x_mm + p.length_mm <= inner[0]
        assert p.y_mm >= 0 and p.y_mm + p.width_mm <= inner[1]
        assert p.z_mm >= 0 and p.z_mm + p.height_mm <= inner[2]
    for a, b in combinations(placements, 2):
        assert not overlaps(a, b), (a, b)


def assert_sound(
    rec: PackingRecommendation, items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    by_code = {b.code: b for b in boxes}
    weights = {i.sku: i.weight_grams for i in items}
    for package in rec.packages:
        spec = by_code[package.box_code]
        assert_geometry(package.placements, spec.inner, items)
        assert Counter(p.sku for p in package.placements) == {
            line.sku: line.quantity for line in package.items
        }
        content = sum(weights[p.sku] for p in package.placements)
        assert package.content_weight_grams == content
        assert package.actual_weight_grams == content + spec.tare_weight_grams <= spec.max_weight_grams
        length, width, height = spec.outer
        assert package.dimensional_weight_grams == -(-(length * width * height) // divisor)
        assert package.billable_weight_grams == max(
            package.actual_weight_grams, package.dimensional_weight_grams
        )
        assert package.box_cost == spec.cost
    assert rec.total_billable_weight_grams == sum(p.billable_weight_grams for p in rec.packages)
    assert rec.total_cost == sum((p.box_cost for p in rec.packages), Decimal(0))


# -- known answers ----------------------------------------------------------------------------


def test_a_long_thin_item_fits_only_the_longest_box() -> None:
    rod = item("ROD", (900, 50, 50), 500)

    rec = recommend_packing([rod], CATALOGUE)

    package = only_package(rec)
    assert package.box_code == "TUBE"
    # 100 x 10 x 10 cm = 10 000 cm³ / 5000 = 2 kg, more than the 0.7 kg it weighs.
    assert (package.actual_weight_grams, package.dimensional_weight_grams) == (700, 2000)
    assert (package.billable_weight_grams, package.billed_on) == (2000, "dimensional")
    assert package.placements == [
        Placement(sku="ROD", x_mm=0, y_mm=0, z_mm=0, length_mm=900, width_mm=50, height_mm=50)
    ]
    assert alternative(rec, "L").reason == (
        "items do not fit: the 90 cm ROD is longer than every side of the box (longest 60 cm)"
    )


def test_a_heavy_small_item_is_billed_on_its_actual_weight() -> None:
    dumbbell = item("DUMBBELL", (150, 80, 80), 5000)

    package = only_package(recommend_packing([dumbbell], CATALOGUE))

    assert package.box_code == "S"
    # 30 x 20 x 15 cm = 9000 cm³ / 5000 = 1.8 kg, against 5 kg of iron and 150 g of carton.
    assert package.dimensional_weight_grams == 1800
    assert package.actual_weight_grams == 5150
    assert (package.billable_weight_grams, package.billed_on) == (5150, "actual")


def test_a_light_bulky_item_is_billed_on_its_dimensional_weight() -> None:
    pillow = item("PILLOW", (550, 380, 200), 400)

    package = only_package(recommend_packing([pillow], CATALOGUE))

    assert package.box_code == "L"
    assert package.actual_weight_grams == 800
    # 60 x 40 x 40 cm = 96 000 cm³ / 5000 = 19.2 kg.
    assert (package.billable_weight_grams, package.billed_on) == (19200, "dimensional")


def test_an_item_that_fits_only_on_its_side_is_laid_down() -> None:
    bottle = item("BOTTLE", (100, 100, 280), 1200)  # as it stands on the shelf
    flat = box("FLAT", (300, 120, 120), cost="0.50")

    package = only_package(recommend_packing([bottle], [flat]))

    (placement,) = package.placements
    assert (placement.length_mm, placement.width_mm, placement.height_mm) == (280, 100, 100)


def test_an_item_is_turned_on_the_floor_of_the_box_when_only_that_way_round_fits() -> None:
    tray = item("TRAY", (300, 200, 100), 800)
    narrow = box("NARROW", (250, 350, 150))

    package = only_package(recommend_packing([tray], [narrow]))

    (placement,) = package.placements
    assert (placement.length_mm, placement.width_mm, placement.height_mm) == (200, 300, 100)


def test_an_item_kept_upright_is_never_laid_down() -> None:
    bottle = item("WINE", (100, 100, 280), 1200, upright=True)
    flat = box("FLAT", (300, 120, 120), cost="0.50")

    rec = recommend_packing([bottle], [flat, LARGE])

    package = only_package(rec)
    assert package.box_code == "L"
    assert package.placements[0].height_mm == 280
    assert alternative(rec, "FLAT").reason == (
        "items do not fit: WINE (10 x 10 x 28 cm) stands 28 cm tall upright, the box is 12 cm high"
    )


def test_units_side_by_side_across_the_box_are_found() -> None:
    # Only one arrangement works: both units with their 29 cm side across the 30 cm width.
    left, right = item("LEFT", (250, 290, 100), 500), item("RIGHT", (140, 290, 100), 500)
    snug = box("SNUG", (400, 300, 100))

    package = only_package(recommend_packing([left, right], [snug]))

    assert Counter(p.width_mm for p in package.placements) == {290: 2}


def test_an_order_no_box_holds_is_split_and_each_part_goes_in_the_smallest_box_that_holds_it() -> None:
    # The television leaves 2 cm of headroom in the large box: the books' volume would fit
    # (90.9 L of 96 L) but no 3 cm thick book does. They go in a box of their own, the small one.
    tv = item("TV", (580, 390, 380), 9000)
    books = item("BOOK", (240, 170, 30), 500, quantity=4)

    rec = recommend_packing([tv, books], CATALOGUE)

    assert [(p.box_code, [(line.sku, line.quantity) for line in p.items]) for p in rec.packages] == [
        ("L", [("TV", 1)]),
        ("S", [("BOOK", 4)]),
    ]
    assert rec.total_billable_weight_grams == 19200 + 2150
    assert rec.total_cost == Decimal("2.80")
    assert alternative(rec, "L") == Alternative(
        box_code="L",
        fits=False,
        recommended=False,
        billable_weight_grams=None,
        box_cost=Decimal("2.00"),
        reason="items do not fit: no arrangement of the 5 units found (placement heuristic)",
    )
    assert not any(a.recommended for a in rec.alternatives)
    assert_sound(rec, [tv, books], CATALOGUE, DEFAULT_DIM_DIVISOR)


def test_a_box_too_weak_for_the_weight_is_passed_over_even_though_everything_fits_in_it() -> None:
    dumbbells = item("DUMBBELL", (150, 80, 80), 5000, quantity=4)  # 2 x 2 on the floor of S

    rec = recommend_packing([dumbbells], CATALOGUE)

    assert only_package(rec).box_code == "L"
    assert arrange_in_box([dumbbells], SMALL) is not None
    assert alternative(rec, "S").reason == "too heavy: 20.15 kg > 10 kg limit"
    assert alternative(rec, "M").reason == "too heavy: 20.25 kg > 20 kg limit"


def test_between_boxes_that_bill_the_same_weight_the_cheaper_one_wins() -> None:
    # Both bill the dumbbell's actual 5.15 kg; the bigger carton is cheaper.
    dumbbell = item("DUMBBELL", (150, 80, 80), 5000)
    bigger_but_cheaper = box("S2", (350, 250, 150), max_kg=10, cost="0.60", tare=150)

    rec = recommend_packing([dumbbell], [SMALL, bigger_but_cheaper])

    assert only_package(rec).box_code == "S2"
    assert alternative(rec, "S").reason == "same billable weight, costs 0.20 more"


def test_between_equal_boxes_the_code_decides_whatever_the_catalogue_order() -> None:
    twin_a, twin_b = box("TWIN-A", (300, 200, 150)), box("TWIN-B", (300, 200, 150))
    mug = item("MUG", (120, 90, 100), 350)

    for boxes in ([twin_a, twin_b], [twin_b, twin_a]):
        rec = recommend_packing([mug], boxes)
        assert only_package(rec).box_code == "TWIN-A"
        assert alternative(rec, "TWIN-B").reason == (
            "same billable weight, cost and size as TWIN-A, which comes first by code"
        )


def test_an_item_no_box_can_take_is_reported_and_the_rest_is_still_packed() -> None:
    skis = item("SKI", (1800, 100, 100), 3000, quantity=2)
    anvil = item("ANVIL", (200, 150, 150), 40000)
    mug = item("MUG", (120, 90, 100), 350)

    rec = recommend_packing([skis, anvil, mug], CATALOGUE)

    assert [(u.sku, u.quantity, u.reason) for u in rec.unpackable] == [
        ("SKI", 2, "its 180 cm side is longer than every side of every box (longest 100 cm)"),
        ("ANVIL", 1, "too heavy: 40 kg, and the boxes it fits carry at most 29.6 kg"),
    ]
    assert not rec.complete
    package = only_package(rec)
    assert (package.box_code, package.items[0].sku) == ("S", "MUG")


def test_without_any_box_every_item_is_unpackable() -> None:
    rec = recommend_packing([item("MUG", (120, 90, 100), 350, quantity=2)], [])

    assert rec.packages == []
    assert [(u.sku, u.quantity, u.reason) for u in rec.unpackable] == [
        ("MUG", 2, "the warehouse has no boxes")
    ]


@pytest.mark.parametrize(("divisor", "winner", "billable"), [(5000, "CRATE", 1800), (6000, "CARTON", 1667)])
def test_the_carrier_divisor_can_change_which_box_bills_least(
    divisor: int, winner: str, billable: int
) -> None:
    # A heavy wooden crate against a light, slightly bigger carton. At 5000 the carton's volume
    # bills 2 kg, more than the crate's 1.8 kg actual; at 6000 it bills 1.667 kg, less.
    crate = box("CRATE", (200, 200, 200), tare=800)
    carton = box("CARTON", (250, 200, 200), tare=100)
    gift = item("GIFT", (150, 150, 150), 1000)

    rec = recommend_packing([gift], [crate, carton], divisor=divisor)

    package = only_package(rec)
    assert (package.box_code, package.billable_weight_grams) == (winner, billable)
    assert rec.divisor_cm3_per_kg == divisor


def test_the_alternatives_say_why_each_box_lost() -> None:
    boots = item("BOOT", (350, 250, 150), 1200, quantity=2)
    tall = box("TALL", (360, 260, 320), max_kg=20, cost="1.10", tare=200)
    roomy = box("ROOMY", (360, 260, 320), max_kg=20, cost="1.40", tare=200)

    rec = recommend_packing([boots], [*CATALOGUE, tall, roomy])

    summary = [(a.box_code, a.fits, a.recommended, a.billable_weight_grams) for a in rec.alternatives]
    assert summary == [
        ("TALL", True, True, 5991),  # 36 x 26 x 32 cm = 29 952 cm³ / 5000, the boots stacked
        ("ROOMY", True, False, 5991),
        ("M", True, False, 6000),  # the boots stand side by side on their edges
        ("L", True, False, 19200),
        ("S", False, False, None),
        ("TUBE", False, False, None),
    ]
    assert [a.reason for a in rec.alternatives] == [
        "recommended: lowest billable weight (5.991 kg), then lowest cost (1.10)",
        "same billable weight, costs 0.30 more",
        "billable weight 6 kg > 5.991 kg",
        "billable weight 19.2 kg > 5.991 kg",
        "items do not fit: the 35 cm BOOT is longer than every side of the box (longest 30 cm)",
        "items do not fit: BOOT (35 x 25 x 15 cm) does not fit the box (100 x 10 x 10 cm) in any orientation",
    ]


def test_a_box_too_small_for_the_items_volume_says_so() -> None:
    rec = recommend_packing([item("BOOT", (350, 250, 150), 1200, quantity=3)], [MEDIUM, LARGE])

    assert alternative(rec, "M").reason == "items do not fit: they take 39.375 L, the box holds 30 L"


def test_between_boxes_that_bill_and_cost_the_same_the_smaller_one_wins() -> None:
    dumbbell = item("DUMBBELL", (150, 80, 80), 5000)
    longer = box("S-LONG", (350, 200, 150), max_kg=10, cost="0.80", tare=150)

    rec = recommend_packing([dumbbell], [longer, SMALL])

    assert only_package(rec).box_code == "S"
    assert alternative(rec, "S-LONG").reason == "same billable weight and cost, larger (10.5 L > 9 L)"


def test_dimensional_weight_is_outer_volume_over_the_divisor_rounded_up_to_the_gram() -> None:
    assert dimensional_weight_grams(100, 100, 100) == 200  # 1000 cm³ / 5000 = 0.2 kg exactly
    assert dimensional_weight_grams(100, 100, 100, divisor=6000) == 167  # 166.67 g, rounded up
    assert dimensional_weight_grams(333, 333, 333) == 7386  # 7385.2 g
    assert dimensional_weight_grams(1, 1, 1) == 1


def test_billable_weight_uses_the_outer_dimensions_when_the_catalogue_knows_them() -> None:
    walled = box("WALLED", (300, 200, 150), outer=(310, 210, 160))

    package = only_package(recommend_packing([item("MUG", (120, 90, 100), 350)], [walled]))

    assert package.dimensional_weight_grams == 2084  # 31 x 21 x 16 cm = 10 416 cm³ / 5000


def test_nothing_to_pack_recommends_nothing() -> None:
    rec = recommend_packing([], CATALOGUE)

    assert (rec.packages, rec.alternatives, rec.unpackable) == ([], [], [])
    assert (rec.total_billable_weight_grams, rec.total_cost) == (0, Decimal(0))


def test_the_recommendation_is_json_with_costs_as_decimal_strings() -> None:
    rec = recommend_packing([item("MUG", (120, 90, 100), 350)], CATALOGUE)

    body = rec.model_dump(mode="json")

    assert body["total_cost"] == "0.80"
    assert body["packages"][0]["box_cost"] == "0.80"
    assert body["alternatives"][0]["box_cost"] == "0.80"
    assert PackingRecommendation.model_validate(body) == rec


def test_an_item_spec_can_be_made_from_a_product() -> None:
    mug = Product(sku="MUG", name="Mug", weight_grams=350, length_mm=120, width_mm=90, height_mm=100)

    assert ItemSpec.for_product(mug, 3) == item("MUG", (120, 90, 100), 350, quantity=3)


# -- input checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"outer_length_mm": 290, "outer_width_mm": 200, "outer_height_mm": 150}, "smaller than the inner"),
        ({"outer_length_mm": 310}, "all three outer dimensions or none"),
        ({"cost": "-0.01"}, "less than nothing"),
        ({"cost": 0.8}, "not floating-point"),
        ({"tare_weight_grams": 10000}, "already reaches its weight limit"),
        ({"inner_length_mm": 0}, "greater than 0"),
        ({"inner_length_mm": 300.5}, "fractional part"),
    ],
)
def test_a_box_that_cannot_exist_is_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "code": "S",
        "inner_length_mm": 300,
        "inner_width_mm": 200,
        "inner_height_mm": 150,
        "max_weight_grams": 10000,
        "cost": "0.80",
    }
    with pytest.raises(ValidationError, match=message):
        BoxSpec.model_validate({**fields, **changes})


def test_catalogue_numbers_read_from_dynamodb_as_decimals_are_accepted() -> None:
    spec = BoxSpec.model_validate(
        {
            "code": "S",
            "inner_length_mm": Decimal("300"),
            "inner_width_mm": Decimal("200"),
            "inner_height_mm": Decimal("150"),
            "max_weight_grams": Decimal("10000"),
            "cost": Decimal("0.80"),
        }
    )

    assert spec.inner == (300, 200, 150)


@pytest.mark.parametrize("divisor", [0, -5000, True, 5000.0])
def test_the_divisor_is_a_positive_whole_number(divisor: object) -> None:
    with pytest.raises(PackingInputError, match="divisor"):
        recommend_packing([item("MUG", (120, 90, 100), 350)], CATALOGUE, divisor=divisor)  # type: ignore[arg-type]


def test_two_boxes_with_one_code_are_refused() -> None:
    with pytest.raises(PackingInputError, match="unique"):
        recommend_packing([item("MUG", (120, 90, 100), 350)], [SMALL, SMALL])


def test_more_units_than_the_recommender_handles_are_refused_with_what_to_do_instead() -> None:
    half = MAX_PACKING_UNITS // 2
    screws, nuts = (
        item("SCREW", (10, 10, 30), 5, quantity=half),
        item("NUT", (10, 10, 5), 2, quantity=half + 1),
    )

    with pytest.raises(PackingInputError) as excinfo:
        recommend_packing([screws, nuts], CATALOGUE)

    assert str(excinfo.value) == (
        f"{MAX_PACKING_UNITS + 1} units are more than the packing recommender handles "
        f"({MAX_PACKING_UNITS}); plan a load this size as pallets"
    )


def test_fifty_different_units_against_fifteen_borderline_boxes_fit_in_one_box() -> None:
    # The adversarial case for the heuristic: nothing alike, every box close to the total volume,
    # so most boxes run every strategy before failing. How long it takes is measured by
    # `make bench` (packing), not asserted here.
    rnd = random.Random(3)
    items = [
        item(f"S{i}", (rnd.randint(60, 160), rnd.randint(60, 160), rnd.randint(60, 160)), 100)
        for i in range(50)
    ]
    volume = sum(i.length_mm * i.width_mm * i.height_mm for i in items)
    boxes = []
    for j in range(15):
        side = round((volume * (0.9 + 0.6 * j / 14)) ** (1 / 3))
        boxes.append(box(f"B{j:02}", (side + rnd.randint(-20, 20), side + rnd.randint(-20, 20), side)))

    rec = recommend_packing(items, boxes)

    assert len(rec.packages) == 1
    assert sorted(p.sku for p in rec.packages[0].placements) == sorted(i.sku for i in items)


# -- properties -------------------------------------------------------------------------------

sides = st.integers(min_value=1, max_value=40).map(lambda n: n * 10)


@st.composite
def orders(draw: st.DrawFn) -> list[ItemSpec]:
    lines = draw(st.integers(min_value=1, max_value=4))
    return [
        item(
            f"SKU-{n}",
            (draw(sides), draw(sides), draw(sides)),
            draw(st.integers(min_value=0, max_value=8000)),
            draw(st.integers(min_value=1, max_value=5)),
            upright=draw(st.booleans()),
        )
        for n in range(lines)
    ]


@st.composite
def catalogues(draw: st.DrawFn) -> list[BoxSpec]:
    count = draw(st.integers(min_value=1, max_value=5))
    boxes = []
    for n in range(count):
        inner = (draw(sides) + 100, draw(sides) + 50, draw(sides) + 20)
        walls = draw(st.none() | st.integers(min_value=0, max_value=20))
        boxes.append(
            box(
                f"BOX-{n}",
                inner,
                max_kg=draw(st.integers(min_value=1, max_value=40)),
                cost=str(draw(st.integers(min_value=10, max_value=500)) / 100),
                tare=draw(st.integers(min_value=0, max_value=500)),
                outer=None if walls is None else (inner[0] + walls, inner[1] + walls, inner[2] + walls),
            )
        )
    return boxes


divisors = st.sampled_from([4000, 5000, 6000])


def fits_alone(spec: ItemSpec, b: BoxSpec) -> bool:
    dims = (spec.length_mm, spec.width_mm, spec.height_mm)
    if spec.keep_upright:
        floor_fits = all(s <= t for s, t in zip(sorted(dims[:2]), sorted(b.inner[:2]), strict=True))
        geometry = floor_fits and dims[2] <= b.inner[2]
    else:
        geometry = all(s <= t for s, t in zip(sorted(dims), sorted(b.inner), strict=True))
    return geometry and spec.weight_grams + b.tare_weight_grams <= b.max_weight_grams


@PROPERTY
@given(orders(), catalogues(), divisors)
def test_every_package_holds_its_units_inside_its_box_within_its_weight_limit(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    rec = recommend_packing(items, boxes, divisor=divisor)

    assert_sound(rec, items, boxes, divisor)


@PROPERTY
@given(orders(), catalogues(), divisors)
def test_no_box_the_heuristic_fits_everything_in_bills_less_than_the_recommendation(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    rec = recommend_packing(items, boxes, divisor=divisor)

    content = sum(i.weight_grams * i.quantity for i in items)
    for b in boxes:
        if arrange_in_box(items, b) is not None and content + b.tare_weight_grams <= b.max_weight_grams:
            billable = max(content + b.tare_weight_grams, dimensional_weight_grams(*b.outer, divisor=divisor))
            package = only_package(rec)
            assert not rec.unpackable
            assert package.billable_weight_grams <= billable
            assert alternative(rec, b.code).fits
    for a in rec.alternatives:
        if a.fits:
            assert a.billable_weight_grams is not None
            assert a.billable_weight_grams >= rec.packages[0].billable_weight_grams


@PROPERTY
@given(orders(), catalogues(), divisors)
def test_every_unit_is_either_packed_or_reported_unpackable_and_only_if_no_box_takes_it(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    rec = recommend_packing(items, boxes, divisor=divisor)

    packed = Counter[str]()
    for package in rec.packages:
        packed.update({line.sku: line.quantity for line in package.items})
    refused = Counter({u.sku: u.quantity for u in rec.unpackable})
    assert packed + refused == Counter({i.sku: i.quantity for i in items})
    for spec in items:
        assert (spec.sku in refused) == (not any(fits_alone(spec, b) for b in boxes))
    assert sorted(a.box_code for a in rec.alternatives) == (sorted(b.code for b in boxes) if packed else [])
    assert sum(a.recommended for a in rec.alternatives) == (1 if any(a.fits for a in rec.alternatives) else 0)


@PROPERTY
@given(orders(), catalogues(), st.tuples(*[st.integers(min_value=0, max_value=30)] * 3))
def test_a_box_at_least_as_big_as_one_that_fits_fits_too(
    items: list[ItemSpec], boxes: list[BoxSpec], growth: Dims
) -> None:
    # The heuristic alone is not monotone (a bigger box can send a greedy choice astray); the
    # recommender makes it so by carrying a smaller box's arrangement over.
    small = boxes[0]
    big = small.model_copy(
        update={
            "code": "BIGGER",
            "inner_length_mm": small.inner_length_mm + growth[0],
            "inner_width_mm": small.inner_width_mm + growth[1],
            "inner_height_mm": small.inner_height_mm + growth[2],
            "outer_length_mm": None,
            "outer_width_mm": None,
            "outer_height_mm": None,
        }
    )

    rec = recommend_packing(items, [big, small])

    if rec.alternatives and alternative(rec, small.code).fits:
        assert alternative(rec, "BIGGER").fits


@PROPERTY
@given(orders(), catalogues(), st.randoms(use_true_random=False))
def test_the_catalogue_order_does_not_change_the_recommendation(
    items: list[ItemSpec], boxes: list[BoxSpec], rnd: random.Random
) -> None:
    shuffled = list(boxes)
    rnd.shuffle(shuffled)

    assert recommend_packing(items, shuffled).packages == recommend_packing(items, boxes).packages


@PROPERTY
@given(
    st.lists(st.tuples(sides, sides, sides, st.booleans()), min_size=1, max_size=30),
    st.tuples(sides, sides, sides),
)
def test_an_arrangement_the_heuristic_returns_is_always_geometrically_possible(
    units: list[tuple[int, int, int, bool]], inner: Dims
) -> None:
    items = [item(f"U{n}", (a, b, c), 1, upright=up) for n, (a, b, c, up) in enumerate(units)]
    # Boxes from just below to well above the total volume, where the heuristic works hardest.
    scale = sum(a * b * c for a, b, c, _ in units) / (inner[0] * inner[1] * inner[2])
    grown = tuple(max(10, round(side * max(scale, 0.1) ** (1 / 3) * 1.1)) for side in inner)
    target = box("BOX", (grown[0], grown[1], grown[2]))

    placements = arrange_in_box(items, target)

    if placements is not None:
        assert_geometry(placements, target.inner, items)
        assert sorted(p.sku for p in placements) == sorted(i.sku for i in items)


# -- large orders: layer blocks ---------------------------------------------------------------


def units_per_package(rec: PackingRecommendation) -> list[int]:
    return [sum(line.quantity for line in p.items) for p in rec.packages]


def test_a_thousand_identical_units_go_in_full_layers_over_as_few_boxes_as_the_layers_allow() -> None:
    # 6 x 4 cubes on the floor of L, 4 layers high: 96 per box (19.2 kg + tare, within 30 kg).
    cubes = item("CUBE", (100, 100, 100), 200, quantity=1000)

    rec = recommend_packing([cubes], CATALOGUE)

    assert [p.box_code for p in rec.packages] == ["L"] * 11
    assert units_per_package(rec) == [96] * 10 + [40]
    assert rec.complete
    assert_sound(rec, [cubes], CATALOGUE, DEFAULT_DIM_DIVISOR)


def test_three_hundred_units_of_five_skus_are_all_packed_in_layers_and_rows() -> None:
    lines = [
        item("MUG", (120, 90, 100), 350, quantity=80),
        item("BOWL", (160, 160, 70), 400, quantity=70),
        item("PLATE", (260, 260, 25), 600, quantity=60),
        item("GLASS", (80, 80, 140), 250, quantity=50, upright=True),
        item("JAR", (100, 100, 120), 500, quantity=40, upright=True),
    ]

    rec = recommend_packing(lines, CATALOGUE)

    assert rec.complete
    assert sum(units_per_package(rec)) == 300
    # 124.5 kg of goods, and L carries 29.6 kg net: no fewer than 5 boxes can do.
    assert len(rec.packages) == 5
    assert_sound(rec, lines, CATALOGUE, DEFAULT_DIM_DIVISOR)


def test_units_kept_upright_stand_in_every_layer_even_when_lying_down_would_take_more() -> None:
    # Standing: 11 x 5 bottles per box. Lying (30 cm along the length): 3 x 5 x 4 = 60.
    crate = box("CRATE", (900, 400, 330), max_kg=60)
    standing = item("WINE", (80, 80, 300), 1000, quantity=120, upright=True)
    lying = standing.model_copy(update={"keep_upright": False})

    upright_rec = recommend_packing([standing], [crate])
    free_rec = recommend_packing([lying], [crate])

    assert units_per_package(upright_rec) == [55, 55, 10]
    assert all(p.height_mm == 300 and p.z_mm == 0 for pk in upright_rec.packages for p in pk.placements)
    assert units_per_package(free_rec) == [60, 60]
    assert_sound(upright_rec, [standing], [crate], DEFAULT_DIM_DIVISOR)
    assert_sound(free_rec, [lying], [crate], DEFAULT_DIM_DIVISOR)


def test_boxes_that_reach_their_weight_limit_before_they_are_full_take_only_what_they_carry() -> None:
    # L holds 96 of these cubes but carries only (30 kg - 0.4 kg) / 0.5 kg = 59 of them.
    weights = item("WEIGHT", (100, 100, 100), 500, quantity=1000)

    rec = recommend_packing([weights], CATALOGUE)

    assert units_per_package(rec)[:16] == [59] * 16
    assert sum(units_per_package(rec)) == 1000
    assert len(rec.packages) == 17  # 944 in 16 boxes, the last 56 in one more
    assert all(p.actual_weight_grams <= 30_000 for p in rec.packages)
    assert_sound(rec, [weights], CATALOGUE, DEFAULT_DIM_DIVISOR)


def test_in_a_large_order_a_unit_larger_than_every_box_is_reported_and_the_rest_is_packed() -> None:
    mugs = item("MUG", (120, 90, 100), 350, quantity=400)
    skis = item("SKI", (1800, 100, 100), 3000, quantity=2)

    rec = recommend_packing([mugs, skis], CATALOGUE)

    assert [(u.sku, u.quantity, u.reason) for u in rec.unpackable] == [
        ("SKI", 2, "its 180 cm side is longer than every side of every box (longest 100 cm)")
    ]
    assert sum(units_per_package(rec)) == 400
    assert_sound(rec, [mugs], CATALOGUE, DEFAULT_DIM_DIVISOR)


def test_ten_thousand_units_are_planned() -> None:
    screws = item("SCREW", (10, 10, 30), 5, quantity=MAX_PACKING_UNITS)

    rec = recommend_packing([screws], CATALOGUE)

    assert rec.complete
    assert sum(units_per_package(rec)) == MAX_PACKING_UNITS
    assert sum(len(p.placements) for p in rec.packages) == MAX_PACKING_UNITS


medium_sides = st.integers(min_value=2, max_value=20).map(lambda n: n * 10)


@st.composite
def large_orders(draw: st.DrawFn) -> list[ItemSpec]:
    """Few lines, many units each: the layer-block path."""
    lines = draw(st.integers(min_value=1, max_value=4))
    return [
        item(
            f"SKU-{n}",
            (draw(medium_sides), draw(medium_sides), draw(medium_sides)),
            draw(st.integers(min_value=0, max_value=3000)),
            draw(st.integers(min_value=1, max_value=120)),
            upright=draw(st.booleans()),
        )
        for n in range(lines)
    ]


def turns_within(inner: Dims, outer: Dims, upright: bool) -> bool:
    """Some turn of a box of size ``inner`` fits inside one of size ``outer``."""
    if upright:
        floor = zip(sorted(inner[:2]), sorted(outer[:2]), strict=True)
        return inner[2] <= outer[2] and all(s <= t for s, t in floor)
    return all(s <= t for s, t in zip(sorted(inner), sorted(outer), strict=True))


MEDIUM_PROPERTY = settings(max_examples=60, deadline=None)


@MEDIUM_PROPERTY
@given(large_orders(), catalogues(), divisors)
def test_in_large_orders_every_unit_is_placed_once_inside_its_box_apart_from_the_others_within_the_weight(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    rec = recommend_packing(items, boxes, divisor=divisor)

    assert_sound(rec, items, boxes, divisor)
    placed = Counter(p.sku for package in rec.packages for p in package.placements)
    refused = Counter({u.sku: u.quantity for u in rec.unpackable})
    assert placed + refused == Counter({i.sku: i.quantity for i in items})
    for spec in items:
        assert (spec.sku in refused) == (not any(fits_alone(spec, b) for b in boxes))


@MEDIUM_PROPERTY
@given(large_orders(), catalogues(), divisors)
def test_no_package_is_in_a_box_that_bills_more_than_a_box_around_it_that_carries_its_weight(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    # A box at least as large as the package's box in every dimension (turned as the units allow)
    # certainly holds the same arrangement; if it carries the weight, re-boxing considered it.
    rec = recommend_packing(items, boxes, divisor=divisor)

    upright = {i.sku for i in items if i.keep_upright}
    by_code = {b.code: b for b in boxes}
    for package in rec.packages:
        inner = by_code[package.box_code].inner
        stands = any(p.sku in upright for p in package.placements)
        for other in boxes:
            actual = package.content_weight_grams + other.tare_weight_grams
            if turns_within(inner, other.inner, stands) and actual <= other.max_weight_grams:
                billable = max(actual, dimensional_weight_grams(*other.outer, divisor=divisor))
                assert package.billable_weight_grams <= billable


def grid_capacity(spec: ItemSpec, b: BoxSpec) -> int:
    """Units in one box in a plain grid of a single orientation, within the weight limit."""
    dims = (spec.length_mm, spec.width_mm, spec.height_mm)
    turns = (
        {(dims[0], dims[1], dims[2]), (dims[1], dims[0], dims[2])}
        if spec.keep_upright
        else set(permutations(dims))
    )
    length, width, height = b.inner
    room = max((length // x) * (width // y) * (height // z) for x, y, z in turns)
    carried = b.max_weight_grams - b.tare_weight_grams
    return min(room, carried // spec.weight_grams) if spec.weight_grams else room


@MEDIUM_PROPERTY
@given(large_orders().map(lambda lines: lines[:1]), catalogues(), divisors)
def test_identical_units_never_take_more_boxes_than_a_plain_grid_in_the_roomiest_box_would(
    items: list[ItemSpec], boxes: list[BoxSpec], divisor: int
) -> None:
    (spec,) = items
    best = max(grid_capacity(spec, b) for b in boxes)

    rec = recommend_packing(items, boxes, divisor=divisor)

    if best:
        assert rec.complete
        assert len(rec.packages) <= -(-spec.quantity // best)
    else:
        assert rec.packages == []
