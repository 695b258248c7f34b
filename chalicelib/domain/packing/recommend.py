"""Judging every box, splitting over several, and the recommendation (rules in __init__)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import permutations

from ..money import format_amount
from .heuristic import Cuboid, Dims, _attempts, _blocker, _fill, _Unit, _units
from .layers import _UNIT_BY_UNIT_MAX_UNITS, _any_alike, _arrange, _block_fills
from .specs import (
    DEFAULT_DIM_DIVISOR,
    Alternative,
    BoxSpec,
    ItemSpec,
    Package,
    PackedLine,
    PackingInputError,
    PackingRecommendation,
    Placement,
    UnpackableItem,
    _check_divisor,
    _check_size,
    _cm,
    _cm_dims,
    _kg,
    _litres,
    billable_weight_grams,
    dimensional_weight_grams,
)

# --------------------------------------------------------------------------------------------
# Judging boxes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Packed:
    """A box with contents that fit it (geometry and weight), and what the carrier bills."""

    box: BoxSpec
    arranged: tuple[tuple[_Unit, Cuboid], ...]
    actual: int
    dimensional: int

    @property
    def billable(self) -> int:
        return billable_weight_grams(self.actual, self.dimensional)

    def rank(self) -> tuple[int, Decimal, int, str]:
        return (self.billable, self.box.cost, self.box.outer_volume_mm3, self.box.code)


@dataclass(frozen=True, slots=True)
class _Verdict:
    box: BoxSpec
    packed: _Packed | None
    #: Why the box cannot hold everything; empty when it can.
    misfit: str


def _pack(box: BoxSpec, arranged: Sequence[tuple[_Unit, Cuboid]], divisor: int) -> _Packed:
    contents = sum(u.weight for u, _ in arranged)
    return _Packed(
        box=box,
        arranged=tuple(arranged),
        actual=contents + box.tare_weight_grams,
        dimensional=dimensional_weight_grams(*box.outer, divisor=divisor),
    )


def _judge_all(
    boxes: Sequence[BoxSpec], units: Sequence[_Unit], divisor: int, known: Sequence[_Packed] = ()
) -> list[_Verdict]:
    """Every box judged for ``units``, in catalogue order. Smallest boxes first, so that a box at
    least as large in every dimension as one that fits reuses that arrangement: the heuristic
    is then monotone (a bigger box never "does not fit" where a smaller one does), and cheaper.
    ``known`` are arrangements of exactly ``units`` found before (a package being re-boxed)."""
    fitting = list(known)
    verdicts: dict[str, _Verdict] = {}
    for box in sorted(boxes, key=lambda b: (b.inner_volume_mm3, b.code)):
        verdict = _judge(box, units, divisor, fitting)
        if verdict.packed is not None:
            fitting.append(verdict.packed)
        verdicts[box.code] = verdict
    return [verdicts[b.code] for b in boxes]


def _judge(box: BoxSpec, units: Sequence[_Unit], divisor: int, known: Sequence[_Packed]) -> _Verdict:
    """Can ``box`` alone hold ``units``? Cheap necessary conditions first, each with the reason
    a person would give; then an arrangement of the same units in a box this one contains; the
    placement heuristic only when neither settles it."""
    seen: set[tuple[Dims, ...]] = set()
    for unit in units:
        if unit.orientations not in seen:
            seen.add(unit.orientations)
            if not _fits_empty(unit, box):
                return _Verdict(box, None, f"items do not fit: {_misfit(unit, box)}")
    weight = sum(u.weight for u in units) + box.tare_weight_grams
    if weight > box.max_weight_grams:
        return _Verdict(box, None, f"too heavy: {_kg(weight)} > {_kg(box.max_weight_grams)} limit")
    volume = sum(u.volume for u in units)
    if volume > box.inner_volume_mm3:
        return _Verdict(
            box,
            None,
            f"items do not fit: they take {_litres(volume)}, the box holds {_litres(box.inner_volume_mm3)}",
        )
    upright = any(u.upright for u in units)
    arranged = next((a for k in known if (a := _embed(k.arranged, k.box.inner, box.inner, upright))), None)
    if arranged is None:
        arranged = _arrange(box.inner, units)
    if arranged is None:
        return _Verdict(
            box,
            None,
            f"items do not fit: no arrangement of the {len(units)} units found (placement heuristic)",
        )
    return _Verdict(box, _pack(box, arranged, divisor), "")


def _embed(
    arranged: Sequence[tuple[_Unit, Cuboid]], small: Dims, big: Dims, upright: bool
) -> list[tuple[_Unit, Cuboid]] | None:
    """``arranged`` (in a box of inner size ``small``) moved into a box of inner size ``big``,
    if some turn of the small box fits inside the big one; None otherwise. Turning the whole
    arrangement keeps units apart and inside; with upright units only turns about the vertical.
    """
    for axes in permutations(range(3)):  # axes[i]: the big box's axis for the small box's axis i
        if upright and axes[2] != 2:
            continue
        if all(small[i] <= big[axes[i]] for i in range(3)):
            moved: list[tuple[_Unit, Cuboid]] = []
            for unit, cuboid in arranged:
                spans = [(0, 0)] * 3
                for i in range(3):
                    spans[axes[i]] = (cuboid[2 * i], cuboid[2 * i + 1])
                (x0, x1), (y0, y1), (z0, z1) = spans
                moved.append((unit, (x0, x1, y0, y1, z0, z1)))
            return moved
    return None


def _fits_empty(unit: _Unit, box: BoxSpec) -> bool:
    length, width, height = box.inner
    return any(d[0] <= length and d[1] <= width and d[2] <= height for d in unit.orientations)


def _takes_alone(unit: _Unit, box: BoxSpec) -> bool:
    return _fits_empty(unit, box) and unit.weight + box.tare_weight_grams <= box.max_weight_grams


def _misfit(unit: _Unit, box: BoxSpec) -> str:
    item, inner = sorted(unit.dims, reverse=True), sorted(box.inner, reverse=True)
    label = f"{unit.sku} ({_cm_dims(unit.dims)})"
    if unit.upright and unit.dims[2] > box.inner_height_mm:
        return f"{label} stands {_cm(unit.dims[2])} tall upright, the box is {_cm(box.inner_height_mm)} high"
    if item[0] > inner[0]:
        return f"the {_cm(item[0])} {unit.sku} is longer than every side of the box (longest {_cm(inner[0])})"
    how = "standing upright" if unit.upright else "in any orientation"
    return f"{label} does not fit the box ({_cm_dims(box.inner)}) {how}"


def _unpackable_reason(unit: _Unit, boxes: Sequence[BoxSpec]) -> str:
    if not boxes:
        return "the warehouse has no boxes"
    fitting = [b for b in boxes if _fits_empty(unit, b)]
    if not fitting:
        longest = max(max(b.inner) for b in boxes)
        if max(unit.dims) > longest:
            return (
                f"its {_cm(max(unit.dims))} side is longer than every side of every box "
                f"(longest {_cm(longest)})"
            )
        how = "standing upright" if unit.upright else "in any orientation"
        return f"{_cm_dims(unit.dims)} fits no box {how}"
    capacity = max(b.max_weight_grams - b.tare_weight_grams for b in fitting)
    return f"too heavy: {_kg(unit.weight)}, and the boxes it fits carry at most {_kg(capacity)}"


# --------------------------------------------------------------------------------------------
# Several boxes
# --------------------------------------------------------------------------------------------


def _own_billable(unit: _Unit, divisor: int) -> int:
    """What the unit would bill alone in a box of its own size: the share of the order it is."""
    return max(unit.weight, -(-unit.volume // divisor))


def _split(units: Sequence[_Unit], boxes: Sequence[BoxSpec], divisor: int) -> list[_Packed]:
    """Greedy: while units remain, if one box holds them all, the single-box rule picks it;
    otherwise open the box that takes the largest share of what is left (by the billable weight
    those units would have alone; ties: lower billable weight, cost, volume, code). Above
    ``_UNIT_BY_UNIT_MAX_UNITS`` units, a box filled that way is filled again with the same
    contents while what is left still has them and is too much for any one box (by weight or
    volume): the greedy would pick it again. Finally each package moves to the best box that
    still holds its contents.

    Precondition: every unit fits some box alone, so every round takes at least one unit.
    """
    many = len(units) > _UNIT_BY_UNIT_MAX_UNITS
    left: dict[int, list[_Unit]] = {}  # line -> its units not yet in a package
    for unit in units:
        left.setdefault(unit.line, []).append(unit)
    packages: list[_Packed] = []
    while any(left.values()):
        remaining = [u for same in left.values() for u in same]
        # The caller has already found that no box holds all of ``units``.
        if packages:
            fitting = [v.packed for v in _judge_all(boxes, remaining, divisor) if v.packed is not None]
            if fitting:
                packages.append(min(fitting, key=_Packed.rank))
                break
        package = _largest_share(boxes, remaining, many, divisor)
        taken = {u.n for u, _ in package.arranged}
        left = {line: [u for u in same if u.n not in taken] for line, same in left.items()}
        packages.append(package)
        contents = Counter(u.line for u, _ in package.arranged)
        while many and _holds_again(left, contents, boxes):
            packages.append(package)  # identical units: the same arrangement, repeated
            for line, count in contents.items():
                del left[line][:count]
    rechosen: dict[int, _Packed] = {}  # a repeated package is re-boxed once
    for package in packages:
        if id(package) not in rechosen:
            rechosen[id(package)] = _rechoose(package, boxes, divisor)
    return [rechosen[id(p)] for p in packages]


def _largest_share(boxes: Sequence[BoxSpec], remaining: Sequence[_Unit], many: bool, divisor: int) -> _Packed:
    """The box filled with the largest share of ``remaining`` (by the billable weight those units
    would have alone; ties: lower billable weight, cost, volume, code)."""
    best: tuple[tuple[int, int, Decimal, int, str], _Packed] | None = None
    for box in boxes:
        for arranged in _partial_fills(box, remaining, many):
            packed = _pack(box, arranged, divisor)
            share = sum(_own_billable(u, divisor) for u, _ in arranged)
            key = (-share, *packed.rank())
            if best is None or key < best[0]:
                best = (key, packed)
    if best is None:  # unreachable by the precondition; never loop forever on a broken one
        raise AssertionError("no box takes any of the remaining units")
    return best[1]


def _partial_fills(box: BoxSpec, units: Sequence[_Unit], many: bool) -> Iterator[list[tuple[_Unit, Cuboid]]]:
    """As many of ``units`` as the heuristic gets into ``box`` within its weight limit, once per
    strategy: one unit at a time for few units, and in layer blocks when some are alike."""
    budget = box.max_weight_grams - box.tare_weight_grams
    if not many or not _any_alike(units):
        for ordered, strategy in _attempts(units):
            arranged = _fill(box.inner, ordered, budget, all_or_nothing=False, strategy=strategy)
            if arranged:
                yield arranged
    if _any_alike(units):
        yield from _block_fills(box.inner, units, budget, all_or_nothing=False)


def _holds_again(left: dict[int, list[_Unit]], contents: Counter[int], boxes: Sequence[BoxSpec]) -> bool:
    """``left`` has ``contents`` again and more than any single box could hold (a necessary
    condition: its weight or its volume is too much for every box)."""
    if any(len(left[line]) < count for line, count in contents.items()):
        return False
    weight = sum(len(same) * same[0].weight for same in left.values() if same)
    volume = sum(len(same) * same[0].volume for same in left.values() if same)
    return all(
        weight + b.tare_weight_grams > b.max_weight_grams or volume > b.inner_volume_mm3 for b in boxes
    )


def _rechoose(package: _Packed, boxes: Sequence[BoxSpec], divisor: int) -> _Packed:
    """The best box for exactly this package's contents. The current box stays a candidate with
    its current arrangement, because the all-or-nothing orders may not rediscover it."""
    contents = [u for u, _ in package.arranged]
    verdicts = _judge_all(boxes, contents, divisor, known=[package])
    return min([package, *(v.packed for v in verdicts if v.packed is not None)], key=_Packed.rank)


# --------------------------------------------------------------------------------------------
# The recommendation
# --------------------------------------------------------------------------------------------


def recommend_packing(
    items: Sequence[ItemSpec], boxes: Sequence[BoxSpec], divisor: int = DEFAULT_DIM_DIVISOR
) -> PackingRecommendation:
    """The box (or boxes) to ship ``items`` in, with every catalogue box judged.

    ``divisor`` is the carrier's dimensional-weight divisor in cm³/kg. Raises PackingInputError
    only for input the caller must fix (a bad divisor, two boxes with one code, more than
    ``MAX_PACKING_UNITS`` units); items that fit no box are reported in ``unpackable``.
    """
    _check_divisor(divisor)
    codes = [b.code for b in boxes]
    if len(set(codes)) != len(codes):
        raise PackingInputError("box codes must be unique within a catalogue")
    _check_size(items)
    units = _units(items)

    packable: list[_Unit] = []
    refused: dict[int, tuple[_Unit, int]] = {}  # line -> (a unit of it, units refused)
    for unit in units:
        if any(_takes_alone(unit, b) for b in boxes):
            packable.append(unit)
        else:
            first, count = refused.get(unit.line, (unit, 0))
            refused[unit.line] = (first, count + 1)
    unpackable = [
        UnpackableItem(sku=u.sku, quantity=count, reason=_unpackable_reason(u, boxes))
        for u, count in refused.values()
    ]

    if not packable:
        return _recommendation([], [], unpackable, divisor)
    verdicts = _judge_all(boxes, packable, divisor)
    fitting = sorted((v.packed for v in verdicts if v.packed is not None), key=_Packed.rank)
    packages = [fitting[0]] if fitting else _split(packable, boxes, divisor)
    return _recommendation(packages, _alternatives(verdicts, fitting), unpackable, divisor)


def arrange_in_box(items: Sequence[ItemSpec], box: BoxSpec) -> list[Placement] | None:
    """The placement heuristic alone (geometry, not weight): placements for every unit of
    ``items`` inside ``box``, or None when it finds no arrangement (one may still exist)."""
    _check_size(items)
    units = _units(items)
    arranged = _arrange(box.inner, units)
    return None if arranged is None else _placements(arranged)


def _alternatives(verdicts: Sequence[_Verdict], fitting: Sequence[_Packed]) -> list[Alternative]:
    """Every box, judged as the single box for everything packed. ``fitting`` is ranked."""
    result: list[Alternative] = []
    if fitting:
        winner = fitting[0]
        result.append(
            Alternative(
                box_code=winner.box.code,
                fits=True,
                recommended=True,
                billable_weight_grams=winner.billable,
                box_cost=winner.box.cost,
                reason=(
                    f"recommended: lowest billable weight ({_kg(winner.billable)}), "
                    f"then lowest cost ({format_amount(winner.box.cost)})"
                ),
            )
        )
        for loser in fitting[1:]:
            result.append(
                Alternative(
                    box_code=loser.box.code,
                    fits=True,
                    recommended=False,
                    billable_weight_grams=loser.billable,
                    box_cost=loser.box.cost,
                    reason=_why_lost(loser, winner),
                )
            )
    for verdict in verdicts:
        if verdict.packed is None:
            result.append(
                Alternative(
                    box_code=verdict.box.code,
                    fits=False,
                    recommended=False,
                    billable_weight_grams=None,
                    box_cost=verdict.box.cost,
                    reason=verdict.misfit,
                )
            )
    return result


def _why_lost(loser: _Packed, winner: _Packed) -> str:
    if loser.billable > winner.billable:
        return f"billable weight {_kg(loser.billable)} > {_kg(winner.billable)}"
    if loser.box.cost > winner.box.cost:
        return f"same billable weight, costs {format_amount(loser.box.cost - winner.box.cost)} more"
    if loser.box.outer_volume_mm3 > winner.box.outer_volume_mm3:
        return (
            f"same billable weight and cost, larger ({_litres(loser.box.outer_volume_mm3)} > "
            f"{_litres(winner.box.outer_volume_mm3)})"
        )
    return f"same billable weight, cost and size as {winner.box.code}, which comes first by code"


def _recommendation(
    packages: Sequence[_Packed],
    alternatives: list[Alternative],
    unpackable: list[UnpackableItem],
    divisor: int,
) -> PackingRecommendation:
    return PackingRecommendation(
        packages=[_package(p) for p in packages],
        total_billable_weight_grams=sum(p.billable for p in packages),
        total_cost=sum((p.box.cost for p in packages), Decimal(0)),
        divisor_cm3_per_kg=divisor,
        alternatives=alternatives,
        unpackable=unpackable,
    )


def _check_sound(packed: _Packed) -> None:
    """The module's promise, checked on what leaves it, independently of how the heuristic got
    there: every unit inside the walls, no two overlapping, the weight within the limit. Each
    unit is compared only with those sharing a cell of a coarse grid over the box (about one
    unit per cell), so the check stays linear; a failure is a bug here, never the input's."""
    inner = packed.box.inner
    cuboids = [c for _, c in packed.arranged]
    per_axis = max(1, round(len(cuboids) ** (1 / 3)))
    cell = tuple(-(-side // per_axis) for side in inner)
    cells: dict[tuple[int, int, int], list[Cuboid]] = {}
    for cuboid in cuboids:
        x0, x1, y0, y1, z0, z1 = cuboid
        if not (0 <= x0 < x1 <= inner[0] and 0 <= y0 < y1 <= inner[1] and 0 <= z0 < z1 <= inner[2]):
            raise AssertionError(f"packing bug: a unit sticks out of box {packed.box.code}")
        for i in range(x0 // cell[0], (x1 - 1) // cell[0] + 1):
            for j in range(y0 // cell[1], (y1 - 1) // cell[1] + 1):
                for k in range(z0 // cell[2], (z1 - 1) // cell[2] + 1):
                    near = cells.setdefault((i, j, k), [])
                    if _blocker(x0, x1, y0, y1, z0, z1, near) is not None:
                        raise AssertionError(f"packing bug: two units overlap in box {packed.box.code}")
                    near.append(cuboid)
    if packed.actual > packed.box.max_weight_grams:
        raise AssertionError(f"packing bug: box {packed.box.code} is overweight")


def _package(packed: _Packed) -> Package:
    _check_sound(packed)
    # Input order (units are numbered in it); two input lines with one SKU become one line here.
    per_sku: dict[str, int] = {}
    for unit, _ in sorted(packed.arranged, key=lambda a: a[0].n):
        per_sku[unit.sku] = per_sku.get(unit.sku, 0) + 1
    return Package(
        box_code=packed.box.code,
        items=[PackedLine(sku=sku, quantity=count) for sku, count in per_sku.items()],
        placements=_placements(packed.arranged),
        content_weight_grams=packed.actual - packed.box.tare_weight_grams,
        actual_weight_grams=packed.actual,
        dimensional_weight_grams=packed.dimensional,
        billable_weight_grams=packed.billable,
        billed_on="dimensional" if packed.dimensional > packed.actual else "actual",
        box_cost=packed.box.cost,
    )


def _placements(arranged: Sequence[tuple[_Unit, Cuboid]]) -> list[Placement]:
    ordered = sorted(arranged, key=lambda a: (a[1][4], a[1][2], a[1][0]))  # bottom layer first
    return [
        Placement(
            sku=u.sku, x_mm=x0, y_mm=y0, z_mm=z0, length_mm=x1 - x0, width_mm=y1 - y0, height_mm=z1 - z0
        )
        for u, (x0, x1, y0, y1, z0, z1) in ordered
    ]
