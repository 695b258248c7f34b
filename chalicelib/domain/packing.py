"""Packing recommendation: which box(es) of a warehouse's catalogue a fulfillment ships in.

Rules (docs/packing.md explains them at length):

1. A box *fits* when the placement heuristic below finds room for every unit inside its inner
   dimensions and the units plus the empty box weigh no more than its ``max_weight_grams``.
2. Billable weight = max(actual weight, dimensional weight); actual = contents + tare;
   dimensional = outer L x W x H (cm³) / divisor (cm³/kg). Both in whole grams, rounded up.
3. If one box fits everything, the fitting box with the lowest billable weight wins, then the
   lowest cost, then the smallest outer volume, then the lowest code (so the answer is stable).
4. Otherwise the units are split over several boxes (greedy, see ``_split``), and a unit that no
   box can take even alone is reported as unpackable, with the reason, instead of raising.

Invariants of every recommendation (the property tests check them):
- each package's placements lie inside its box, no two overlap, and they are exactly the units
  its ``items`` list; its actual weight is within the box's limit;
- units in packages + unpackable units == units requested;
- a single box is recommended whenever some box fits everything, and no box the heuristic says
  fits has a lower billable weight than the recommended one.

Soundness over completeness: a fit is claimed only for a placement that was checked cuboid by
cuboid against the box walls and every unit already placed. The heuristic may miss a fit that
exists (packing is NP-hard); it never reports one that does not.

All arithmetic is on integers (mm, grams) and Decimal (cost): no floats anywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import permutations
from math import gcd
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .models import MAX_LINE_QUANTITY, Product, Sku
from .money import Amount, format_amount

#: The common carrier divisor (cm³ per kg); carriers that bill on 4000 or 6000 pass their own.
DEFAULT_DIM_DIVISOR = 5000
#: A fulfillment above this is a pallet load, not parcels, and is refused (PackingInputError):
#: the answer (every unit's placement) would be megabytes, and a truck is planned otherwise.
#: Up to it, identical units go in as layer blocks, so the work grows with the number of kinds
#: and boxes rather than units (docs/packing.md has the timings).
MAX_PACKING_UNITS = 10_000


class PackingInputError(ValueError):
    """Input the caller must fix: a bad divisor, a catalogue with two boxes of one code, more
    than ``MAX_PACKING_UNITS`` units. Items that fit no box are not errors (see ``unpackable``)."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

# Lax ints on purpose: catalogue data read from DynamoDB arrives as Decimal("300"), which pydantic
# accepts as an int only in lax mode; fractional values are still refused.
Millimetres = Annotated[int, Field(gt=0)]
Grams = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ItemSpec(_Frozen):
    """One line to pack: ``quantity`` identical units, each a rigid cuboid."""

    sku: Sku
    length_mm: Millimetres
    width_mm: Millimetres
    height_mm: Millimetres
    weight_grams: Grams
    quantity: Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY)]
    #: "This side up": the unit may only turn about the vertical axis, so ``height_mm`` stays
    #: vertical. Otherwise all six axis-aligned orientations are allowed.
    keep_upright: bool = False

    @classmethod
    def for_product(cls, product: Product, quantity: int, *, keep_upright: bool = False) -> ItemSpec:
        return cls(
            sku=product.sku,
            length_mm=product.length_mm,
            width_mm=product.width_mm,
            height_mm=product.height_mm,
            weight_grams=product.weight_grams,
            quantity=quantity,
            keep_upright=keep_upright,
        )


class BoxSpec(_Frozen):
    """One box of a warehouse's catalogue.

    Items must fit the *inner* dimensions; carriers bill on the *outer* ones (the walls count),
    which default to the inner ones when the catalogue does not know them. ``max_weight_grams``
    is the gross limit (contents + the empty box), as box makers certify it.
    """

    code: Annotated[str, Field(min_length=1, max_length=64)]
    inner_length_mm: Millimetres
    inner_width_mm: Millimetres
    inner_height_mm: Millimetres
    max_weight_grams: Annotated[int, Field(gt=0)]
    #: In the warehouse's currency; every box of one catalogue shares it.
    cost: Amount
    tare_weight_grams: Grams = 0
    outer_length_mm: Millimetres | None = None
    outer_width_mm: Millimetres | None = None
    outer_height_mm: Millimetres | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BoxSpec:
        if self.cost < 0:
            raise ValueError("a box cannot cost less than nothing")
        outer = (self.outer_length_mm, self.outer_width_mm, self.outer_height_mm)
        if any(side is not None for side in outer):
            if any(side is None for side in outer):
                raise ValueError("give all three outer dimensions or none")
            if any(o < i for o, i in zip(self.outer, self.inner, strict=True)):
                raise ValueError("an outer dimension is smaller than the inner one")
        if self.tare_weight_grams >= self.max_weight_grams:
            raise ValueError("the empty box already reaches its weight limit")
        return self

    @property
    def inner(self) -> tuple[int, int, int]:
        return (self.inner_length_mm, self.inner_width_mm, self.inner_height_mm)

    @property
    def outer(self) -> tuple[int, int, int]:
        if self.outer_length_mm is None or self.outer_width_mm is None or self.outer_height_mm is None:
            return self.inner
        return (self.outer_length_mm, self.outer_width_mm, self.outer_height_mm)

    @property
    def outer_volume_mm3(self) -> int:
        length, width, height = self.outer
        return length * width * height

    @property
    def inner_volume_mm3(self) -> int:
        length, width, height = self.inner
        return length * width * height


# --------------------------------------------------------------------------------------------
# Outputs (JSON-ready: the API returns them as they are)
# --------------------------------------------------------------------------------------------


class Placement(_Frozen):
    """One unit in its box: the corner nearest the box's origin corner and its extent along the
    box's inner length (x), width (y) and height (z). Occupies [x, x+length) x [y, y+width) x
    [z, z+height)."""

    sku: str
    x_mm: int
    y_mm: int
    z_mm: int
    length_mm: int
    width_mm: int
    height_mm: int


class PackedLine(_Frozen):
    sku: str
    quantity: int


class Package(_Frozen):
    box_code: str
    #: Units per SKU, in the order the SKUs were given.
    items: list[PackedLine]
    placements: list[Placement]
    content_weight_grams: int
    #: Contents + tare.
    actual_weight_grams: int
    dimensional_weight_grams: int
    billable_weight_grams: int
    #: Which weight the carrier bills; "actual" when the two are equal.
    billed_on: Literal["actual", "dimensional"]
    box_cost: Amount


class Alternative(_Frozen):
    """One catalogue box judged as the single box for everything that was packed."""

    box_code: str
    fits: bool
    #: True for the one box recommended alone; False for all when several boxes are needed.
    recommended: bool
    #: Only for boxes that fit: a box that does not fit has nothing to bill.
    billable_weight_grams: int | None
    box_cost: Amount
    reason: str


class UnpackableItem(_Frozen):
    sku: str
    quantity: int
    reason: str


class PackingRecommendation(_Frozen):
    packages: list[Package]
    total_billable_weight_grams: int
    total_cost: Amount
    divisor_cm3_per_kg: int
    #: Every catalogue box, the recommended one first, then the other fitting boxes best first,
    #: then the boxes that do not fit in catalogue order.
    alternatives: list[Alternative]
    #: Units no box can take even on their own; they are in no package.
    unpackable: list[UnpackableItem]

    @property
    def complete(self) -> bool:
        return not self.unpackable


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def dimensional_weight_grams(
    length_mm: int, width_mm: int, height_mm: int, divisor: int = DEFAULT_DIM_DIVISOR
) -> int:
    """Outer volume / divisor, in grams rounded up.

    L x W x H in cm³ / divisor (cm³/kg) gives kg; mm³ = cm³ x 1000 and g = kg x 1000 cancel, so
    grams = mm³ / divisor exactly. Rounded up because carriers never round in the shipper's favour.
    """
    _check_divisor(divisor)
    return -(-(length_mm * width_mm * height_mm) // divisor)


def billable_weight_grams(actual: int, dimensional: int) -> int:
    """What the carrier bills: the greater of the two, both in grams."""
    return max(actual, dimensional)


def _check_divisor(divisor: int) -> None:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor <= 0:
        raise PackingInputError(
            f"the dimensional-weight divisor is a positive whole number of cm³/kg, not {divisor!r}"
        )


# --------------------------------------------------------------------------------------------
# Geometry: the extreme-point placement heuristic
# --------------------------------------------------------------------------------------------

Dims = tuple[int, int, int]
#: A placed cuboid as half-open intervals: (x0, x1, y0, y1, z0, z1).
Cuboid = tuple[int, int, int, int, int, int]
#: A candidate corner, stored (z, y, x) so that plain tuple order is "lowest, then back, then left".
Point = tuple[int, int, int]
TurnKey = Callable[[Dims], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class _Unit:
    """One physical unit. ``n`` is unique per call, so two identical units are still distinct."""

    n: int
    line: int
    sku: str
    dims: Dims
    weight: int
    volume: int
    upright: bool
    #: Allowed (length, width, height) orientations; also the unit's "kind": units with equal
    #: orientations are interchangeable for the geometry.
    orientations: tuple[Dims, ...]

    @property
    def longest(self) -> int:
        return max(self.dims)

    @property
    def base_area(self) -> int:
        _, middle, large = sorted(self.dims)
        return middle * large

    @property
    def least(self) -> int:
        return min(self.dims)


class _Piece(Protocol):
    """What the placement heuristic places: a unit, or a block of identical units (a cuboid)."""

    @property
    def n(self) -> int: ...
    @property
    def dims(self) -> Dims: ...
    @property
    def weight(self) -> int: ...
    @property
    def volume(self) -> int: ...
    @property
    def orientations(self) -> tuple[Dims, ...]: ...
    @property
    def longest(self) -> int: ...
    @property
    def base_area(self) -> int: ...
    #: The shortest side of one unit in it: a block split up still never offers a thinner piece.
    @property
    def least(self) -> int: ...


P = TypeVar("P", bound=_Piece)


def _orientations(length: int, width: int, height: int, keep_upright: bool) -> tuple[Dims, ...]:
    turns: set[Dims] = {(length, width, height), (width, length, height)}
    if not keep_upright:
        turns |= {(a, b, c) for a, b, c in permutations((length, width, height))}
    return tuple(sorted(turns))  # the strategy decides the preference; sorted only for determinism


def _units(items: Sequence[ItemSpec]) -> list[_Unit]:
    units: list[_Unit] = []
    for line, item in enumerate(items):
        dims = (item.length_mm, item.width_mm, item.height_mm)
        orientations = _orientations(*dims, item.keep_upright)
        for _ in range(item.quantity):
            units.append(
                _Unit(
                    n=len(units),
                    line=line,
                    sku=item.sku,
                    dims=dims,
                    weight=item.weight_grams,
                    volume=dims[0] * dims[1] * dims[2],
                    upright=item.keep_upright,
                    orientations=orientations,
                )
            )
    return units


def _flat_first(d: Dims) -> tuple[int, ...]:
    """Shortest side up (low, stable layers), then the longest side along the box's length."""
    return (d[2], -d[0], d[1])


def _middle_up(d: Dims) -> tuple[int, ...]:
    """Middle side up: the standing rows that complete a layer flat units leave short."""
    return (d[2] != sorted(d)[1], d[2], -d[0], d[1])


@dataclass(frozen=True, slots=True)
class _Strategy:
    #: Order in which units are placed; ``n`` last keeps ties in input order, so identical units
    #: stay together (and the "kind found no room" shortcut in ``_fill`` pays off).
    order: Callable[[_Piece], tuple[int, ...]]
    #: Preference among a unit's orientations at one corner (every one is tried before the next
    #: corner); only a preference, never a restriction.
    turn: TurnKey
    #: Among the orientations that fit at the chosen corner, take the one that fills the free
    #: room in front of the corner most tightly (``turn`` then only breaks ties).
    snug: bool = False


def _biggest_first(u: _Piece) -> tuple[int, ...]:
    return (-u.volume, -u.longest, u.n)


def _longest_first(u: _Piece) -> tuple[int, ...]:
    return (-u.longest, -u.volume, u.n)


def _widest_base_first(u: _Piece) -> tuple[int, ...]:
    return (-u.base_area, -u.volume, u.n)


#: Tried in turn; the first that places everything wins. Biggest-first is the classic
#: first-fit-decreasing rule, and snug orientation puts two units side by side across a box
#: (the plain preference turns the first one the wrong way); the plain variant is kept because
#: snug choices sometimes spoil a later layer; longest-first with the middle side up finds the
#: mixed layers (some units standing) and puts long units in before bulky ones take their room.
#: Chosen on a benchmark of random orders against a 15-box catalogue (docs/packing.md): more
#: strategies gained almost nothing, and every one costs time on the boxes that fail.
_STRATEGIES: tuple[_Strategy, ...] = (
    _Strategy(order=_biggest_first, turn=_flat_first, snug=True),
    _Strategy(order=_biggest_first, turn=_flat_first),
    _Strategy(order=_longest_first, turn=_middle_up),
    _Strategy(order=_widest_base_first, turn=_flat_first, snug=True),
)


def _as_built(u: _Piece) -> tuple[int, ...]:
    return (u.n,)


#: Blocks are first tried in the order they were built: line by line, each line's layers from
#: the bottom up, so a line's layers stack on one another as its plan has them.
_AS_BUILT = _Strategy(order=_as_built, turn=_flat_first)


def _attempts(units: Sequence[P]) -> list[tuple[list[P], _Strategy]]:
    """Each strategy with its unit order, without repeats (with one kind of unit every sort key
    gives the same order, and a repeat would only fail the same way again)."""
    seen: set[tuple[tuple[int, ...], TurnKey, bool]] = set()
    attempts: list[tuple[list[P], _Strategy]] = []
    for strategy in _STRATEGIES:
        ordered = sorted(units, key=strategy.order)
        signature = (tuple(u.n for u in ordered), strategy.turn, strategy.snug)
        if signature not in seen:
            seen.add(signature)
            attempts.append((ordered, strategy))
    return attempts


def _blocker(x0: int, x1: int, y0: int, y1: int, z0: int, z1: int, placed: list[Cuboid]) -> Cuboid | None:
    """A placed cuboid the candidate overlaps, or None when it overlaps none."""
    # Latest first: the units placed last are the ones near the corners still being tried.
    for cuboid in reversed(placed):
        a0, a1, b0, b1, c0, c1 = cuboid
        # Half-open intervals: touching faces do not overlap.
        if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1 and z0 < c1 and c0 < z1:
            return cuboid
    return None


def _new_corners(spot: Cuboid, placed: list[Cuboid]) -> tuple[Point, ...]:
    """The corners a unit just placed at ``spot`` offers: its three far corners, and each slid
    towards the origin along the two other axes until it meets an earlier unit's far face or the
    wall (corners against something waste less room). One pass over ``placed`` for all six."""
    x0, x1, y0, y1, z0, z1 = spot
    ay = az = bx = bz = cx = cy = 0
    for a0, a1, b0, b1, c0, c1 in placed:
        if a0 <= x1 < a1:  # the corner beyond the unit's length: (x1, y0, z0)
            if b1 <= y0 and c0 <= z0 < c1 and b1 > ay:
                ay = b1
            if c1 <= z0 and b0 <= y0 < b1 and c1 > az:
                az = c1
        if b0 <= y1 < b1:  # beyond its width: (x0, y1, z0)
            if a1 <= x0 and c0 <= z0 < c1 and a1 > bx:
                bx = a1
            if c1 <= z0 and a0 <= x0 < a1 and c1 > bz:
                bz = c1
        if c0 <= z1 < c1:  # on top of it: (x0, y0, z1)
            if a1 <= x0 and b0 <= y0 < b1 and a1 > cx:
                cx = a1
            if b1 <= y0 and a0 <= x0 < a1 and b1 > cy:
                cy = b1
    return (
        (z0, y0, x1),
        (z0, ay, x1),
        (az, y0, x1),
        (z0, y1, x0),
        (z0, y1, bx),
        (bz, y1, x0),
        (z1, y0, x0),
        (z1, y0, cx),
        (z1, cy, x0),
    )


def _room(point: Point, placed: Sequence[Cuboid], room: Dims) -> Dims | None:
    """Where the free run from a corner along +x, +y and +z ends: ``room`` (the walls, or the
    corner's room so far) cut short by every cuboid of ``placed`` standing across a ray; None when
    a cuboid swallows the corner (holds it, near faces included): no unit can ever go there.

    A unit at the corner must end within these coordinates on every axis, or it would overlap
    whatever the ray meets: a necessary condition, checked before the full overlap test."""
    z, y, x = point
    rx, ry, rz = room
    for a0, a1, b0, b1, c0, c1 in placed:
        if c0 <= z < c1:
            if b0 <= y < b1:
                if a0 <= x < a1:
                    return None
                if x <= a0 < rx:
                    rx = a0
            if a0 <= x < a1 and y <= b0 < ry:
                ry = b0
        elif z <= c0 < rz and a0 <= x < a1 and b0 <= y < b1:
            rz = c0
    return (rx, ry, rz)


def _fill(
    inner: Dims,
    units: Sequence[P],
    weight_budget: int,
    *,
    all_or_nothing: bool,
    strategy: _Strategy,
    split: Callable[[P], Sequence[P]] | None = None,
) -> list[tuple[P, Cuboid]] | None:
    """Place ``units`` in this order into an empty box (extreme-point first fit).

    Each unit goes to the first candidate corner, lowest then back then left, where one of its
    orientations stays inside the walls and overlaps nothing already placed. Placing a unit adds
    the corners it creates (its three far corners and their projections back towards the walls).

    A piece that finds no room is replaced by ``split(piece)`` (smaller pieces, tried next in
    their order) when that gives any, at most ``_MAX_SPLITS`` times per fill. Otherwise, with
    ``all_or_nothing`` it ends the attempt (None); without, it is skipped and the others are
    still tried (used to fill one box of several).
    """
    length, width, height = inner
    placed: list[Cuboid] = []
    result: list[tuple[P, Cuboid]] = []
    #: Candidate corners, each with its room (see ``_room``), kept up to date as units go in.
    corners: dict[Point, Dims] = {(0, 0, 0): inner}
    blocked: dict[Point, list[Dims]] = {}
    order: list[Point] = [(0, 0, 0)]
    # The pieces still to come, the next one last; thinnest[i]: the shortest side of a unit among
    # todo[:i + 1]. A corner whose room is shorter than that on some axis can take none of the
    # pieces still to come (splitting a piece never makes a unit thinner), and room only shrinks.
    todo = list(reversed(units))
    thinnest: list[int] = []
    for piece in todo:
        thinnest.append(min(thinnest[-1], piece.least) if thinnest else piece.least)
    splits_left = _MAX_SPLITS
    free_volume = length * width * height
    # Kinds that found no room since the last placement: nothing changed, so they would fail again.
    failed: set[tuple[Dims, ...]] = set()

    while todo:
        unit = todo.pop()
        thinnest.pop()
        if not corners:  # full: no corner has room for any unit still to come
            return None if all_or_nothing else result
        kind = unit.orientations
        spot: Cuboid | None = None
        if unit.weight <= weight_budget and unit.volume <= free_volume and kind not in failed:
            turns = _usable_turns(kind, inner, strategy.turn)
            spot = _find_spot(order, corners, blocked, turns, placed, strategy.snug)
        if spot is None:
            parts = split(unit) if split is not None and splits_left > 0 else ()
            if parts:
                splits_left -= 1
                failed.add(kind)
                for part in reversed(parts):
                    todo.append(part)
                    thinnest.append(min(thinnest[-1], part.least) if thinnest else part.least)
                continue
            if all_or_nothing:
                return None
            failed.add(kind)
            continue

        failed.clear()
        for point in _new_corners(spot, placed):
            if point not in corners:
                room = _room(point, placed, inner)
                if room is not None:
                    corners[point] = room
        placed.append(spot)
        result.append((unit, spot))
        weight_budget -= unit.weight
        free_volume -= unit.volume
        # Every corner already respects the earlier units: only the new one can swallow it or cut
        # its room short. Corners too cramped for the thinnest unit still to come go for good.
        least = thinnest[-1] if thinnest else 0
        x0, x1, y0, y1, z0, z1 = spot
        kept: dict[Point, Dims] = {}
        for point, (rx, ry, rz) in corners.items():
            z, y, x = point
            # The cube of side ``least`` at the corner lies inside every unit still to come, in
            # every orientation: if the new unit overlaps it (or holds the corner), it is dead.
            if x < x1 and x0 < x + least and y < y1 and y0 < y + least and z < z1 and z0 < z + least:
                continue
            if x0 <= x < x1 and y0 <= y < y1 and z0 <= z < z1:
                continue
            # The new unit may stand across the corner's rays (as in ``_room``, inlined: this is
            # the innermost loop of the heuristic).
            if y0 <= y < y1 and z0 <= z < z1 and x <= x0 < rx:
                rx = x0
            if x0 <= x < x1 and z0 <= z < z1 and y <= y0 < ry:
                ry = y0
            if x0 <= x < x1 and y0 <= y < y1 and z <= z0 < rz:
                rz = z0
            if rx - x >= least and ry - y >= least and rz - z >= least:
                kept[point] = (rx, ry, rz)
        corners = kept
        order = sorted(corners)
    return result


@lru_cache(maxsize=4096)
def _usable_turns(kind: tuple[Dims, ...], inner: Dims, turn: TurnKey) -> tuple[Dims, ...]:
    """The orientations of a kind that fit the empty box, preferred first (cached: the same
    kinds meet the same boxes in every attempt of a recommendation)."""
    length, width, height = inner
    fitting = (d for d in kind if d[0] <= length and d[1] <= width and d[2] <= height)
    return tuple(sorted(fitting, key=turn))


def _find_spot(
    order: list[Point],
    corners: dict[Point, Dims],
    blocked: dict[Point, list[Dims]],
    turns: tuple[Dims, ...],
    placed: list[Cuboid],
    snug: bool,
) -> Cuboid | None:
    """The first corner where some orientation fits, and the orientation: the first in
    preference order, or with ``snug`` the one leaving the least room in front of the corner.

    ``blocked`` remembers, per corner, extents known to overlap a placed unit: a unit that
    reaches beyond (tx, ty, tz) on all three axes overlaps the unit that set it, so later
    candidates there are refused without the full test. Units are never removed, so what is
    learnt stays true for the whole fill."""
    for point in order:
        z, y, x = point
        rx, ry, rz = corners[point]
        known = blocked.get(point)
        fits: list[Cuboid] = []
        for dx, dy, dz in turns:
            x1, y1, z1 = x + dx, y + dy, z + dz
            # The room test covers the walls and the units on the rays; the full test the rest.
            if x1 > rx or y1 > ry or z1 > rz:
                continue
            if known and any(dx > tx and dy > ty and dz > tz for tx, ty, tz in known):
                continue
            hit = _blocker(x, x1, y, y1, z, z1, placed)
            if hit is not None:
                threshold = (max(0, hit[0] - x), max(0, hit[2] - y), max(0, hit[4] - z))
                if known is None:
                    known = blocked[point] = []
                known.append(threshold)
                continue
            if not snug:
                return (x, x1, y, y1, z, z1)
            fits.append((x, x1, y, y1, z, z1))
        if fits:
            # Leftover per axis, smallest first: an exact fit along one axis beats any slack, then
            # the tightest second axis (two units side by side across the box's width). min()
            # keeps the first of equals, so the preference order breaks ties.
            return min(fits, key=lambda c: sorted((rx - c[1], ry - c[3], rz - c[5])))
    return None


def _arrange(inner: Dims, units: Sequence[_Unit]) -> list[tuple[_Unit, Cuboid]] | None:
    """Up to ``_UNIT_BY_UNIT_MAX_UNITS`` units, each strategy in turn places them one by one and
    the first complete arrangement wins; then (or straight away for more units) the layer blocks
    get their turn, unless every unit is of its own kind (then blocks would be the units)."""
    alike = _any_alike(units)
    if len(units) <= _UNIT_BY_UNIT_MAX_UNITS or not alike:
        for ordered, strategy in _attempts(units):
            arranged = _fill(inner, ordered, _NO_LIMIT, all_or_nothing=True, strategy=strategy)
            if arranged is not None:
                return arranged
        if not alike:
            return None
    return next(_block_fills(inner, units, _NO_LIMIT, all_or_nothing=True), None)


def _any_alike(units: Sequence[_Unit]) -> bool:
    """Two units of one line (else blocks would only be the units again)."""
    return len({u.line for u in units}) < len(units)


_NO_LIMIT = 1 << 62
#: Up to this many units the heuristic places units one by one (milliseconds, and it finds
#: mixed arrangements layers miss); above it, identical units go in as layer blocks.
_UNIT_BY_UNIT_MAX_UNITS = 60
#: How many times one fill may split a block that found no room: bounds the work when blocks
#: crumble towards single units (each split is one more placement attempt).
_MAX_SPLITS = 400


# --------------------------------------------------------------------------------------------
# Layer blocks: identical units as one cuboid
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layer:
    """One horizontal layer of identical units: ``across`` x ``deep`` units, each ``cell``
    (length, width, height: an allowed orientation) long along the box's length, width, height."""

    cell: Dims
    across: int
    deep: int

    @property
    def units(self) -> int:
        return self.across * self.deep


@dataclass(frozen=True, slots=True)
class _Block:
    """``grid`` (along x, y, z) identical units, each ``cell`` in size, packed without gaps: a
    cuboid the heuristic places like one unit. A block of several units only turns about the
    vertical, so layers stay layers; a block of one unit turns every way the unit may."""

    n: int
    line: int
    unit: _Unit
    grid: Dims
    cell: Dims
    dims: Dims
    weight: int
    volume: int
    orientations: tuple[Dims, ...]
    least: int

    @property
    def count(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def longest(self) -> int:
        return max(self.dims)

    @property
    def base_area(self) -> int:
        _, middle, large = sorted(self.dims)
        return middle * large


def _block(n: int, unit: _Unit, grid: Dims, cell: Dims) -> _Block:
    dims = (grid[0] * cell[0], grid[1] * cell[1], grid[2] * cell[2])
    count = grid[0] * grid[1] * grid[2]
    turns = unit.orientations if count == 1 else tuple(sorted({dims, (dims[1], dims[0], dims[2])}))
    return _Block(
        n=n,
        line=unit.line,
        unit=unit,
        grid=grid,
        cell=cell,
        dims=dims,
        weight=count * unit.weight,
        volume=count * unit.volume,
        orientations=turns,
        least=unit.least,
    )


@lru_cache(maxsize=1024)
def _layer_plan(orientations: tuple[Dims, ...], inner: Dims) -> tuple[tuple[_Layer, int], ...]:
    """The layers that stack the most units of one kind in a box of size ``inner``: per upright
    side, the orientation whose grid covers the floor with the most units; then how many layers
    of each height (a knapsack over the box's height, so 25 cm takes a 10 cm and a 15 cm layer).
    Densest layers first (they go at the bottom). Empty when the unit does not fit the box."""
    length, width, height = inner
    by_height: dict[int, _Layer] = {}
    for cell in orientations:  # sorted, so ties always resolve the same way
        if cell[0] <= length and cell[1] <= width and cell[2] <= height:
            layer = _Layer(cell, length // cell[0], width // cell[1])
            best = by_height.get(cell[2])
            if best is None or layer.units > best.units:
                by_height[cell[2]] = layer
    layers = sorted(by_height.values(), key=lambda la: (-la.units, la.cell[2]))
    if not layers:
        return ()
    # most[h]: the most units in layers at most h steps high, and the last layer that achieves
    # it; a step is the heights' greatest common divisor (often 5 or 10 mm, so few steps).
    step = gcd(*(layer.cell[2] for layer in layers))
    height //= step
    most = [0] * (height + 1)
    last: list[_Layer | None] = [None] * (height + 1)
    for h in range(1, height + 1):
        most[h], last[h] = most[h - 1], last[h - 1] if most[h - 1] else None
        for layer in layers:
            below = h - layer.cell[2] // step
            if below >= 0 and most[below] + layer.units > most[h]:
                most[h], last[h] = most[below] + layer.units, layer
    counts: dict[_Layer, int] = {}
    h = height
    while most[h]:
        if most[h - 1] == most[h]:
            h -= 1
            continue
        top = last[h]
        assert top is not None
        counts[top] = counts.get(top, 0) + 1
        h -= top.cell[2] // step
    return tuple((layer, counts[layer]) for layer in layers if layer in counts)


def _blocks_of(units: Sequence[_Unit], inner: Dims, *, first_n: int) -> list[_Block]:
    """Identical ``units`` as blocks for a box of size ``inner``: whole layers of the plan from
    the bottom up, then what is left as rows of the next layer and a last short row. Units
    beyond what the plan holds become more of the same; they find no room whole and are split
    (see ``_halves``) into pieces that may fit beside the layers."""
    if len(units) == 1:  # no layers to plan
        fits = any(
            all(d <= side for d, side in zip(turn, inner, strict=True)) for turn in units[0].orientations
        )
        return [_block(first_n, units[0], (1, 1, 1), units[0].dims)] if fits else []
    plan = _layer_plan(units[0].orientations, inner)
    if not plan:
        return []
    unit, left = units[0], len(units)
    blocks: list[_Block] = []
    layer = plan[0][0]
    for layer, layers in plan:
        full = min(layers, left // layer.units)
        if full:
            blocks.append(_block(first_n + len(blocks), unit, (layer.across, layer.deep, full), layer.cell))
            left -= full * layer.units
        if full < layers:
            break
    full, left = divmod(left, layer.units)
    rows, tail = divmod(left, layer.across)
    for grid in ((layer.across, layer.deep, full), (layer.across, rows, 1), (tail, 1, 1)):
        if grid[0] * grid[1] * grid[2]:
            blocks.append(_block(first_n + len(blocks), unit, grid, layer.cell))
    return blocks


def _halves(block: _Block) -> tuple[_Block, ...]:
    """A block that found no room, cut in two (layers, else rows, else units; the larger half
    first); nothing for a single unit."""
    gx, gy, gz = block.grid
    if gz > 1:
        grids = [(gx, gy, (gz + 1) // 2), (gx, gy, gz // 2)]
    elif gy > 1:
        grids = [(gx, (gy + 1) // 2, 1), (gx, gy // 2, 1)]
    elif gx > 1:
        grids = [((gx + 1) // 2, 1, 1), (gx // 2, 1, 1)]
    else:
        return ()
    return tuple(_block(block.n, block.unit, grid, block.cell) for grid in grids)


def _block_capacity(unit: _Unit, inner: Dims, weight_budget: int) -> int:
    """How many units of this kind the layer plan puts in an empty box, within the weight."""
    room = sum(layer.units * count for layer, count in _layer_plan(unit.orientations, inner))
    return min(room, weight_budget // unit.weight) if unit.weight else room


def _block_fills(
    inner: Dims, units: Sequence[_Unit], weight_budget: int, *, all_or_nothing: bool
) -> Iterator[list[tuple[_Unit, Cuboid]]]:
    """Arrangements of ``units`` (all of them with ``all_or_nothing``, else as many as fit) with
    identical units grouped into layer blocks, one per strategy that succeeds, as units.

    Without ``all_or_nothing`` each kind offers at most what the box takes of it alone, so one
    kind's blocks do not start out larger than the box."""
    kinds: dict[int, list[_Unit]] = {}
    for unit in units:
        kinds.setdefault(unit.line, []).append(unit)
    blocks: list[_Block] = []
    for same in kinds.values():
        if not all_or_nothing and len(same) > 1:
            same = same[: _block_capacity(same[0], inner, weight_budget)]
        if same:
            kind = _blocks_of(same, inner, first_n=len(blocks))
            if not kind and all_or_nothing:
                return  # a unit that does not fit the empty box
            blocks.extend(kind)
    for ordered, strategy in [(blocks, _AS_BUILT), *_attempts(blocks)]:
        placed = _fill(
            inner, ordered, weight_budget, all_or_nothing=all_or_nothing, strategy=strategy, split=_halves
        )
        if placed:
            yield _unpack(placed, kinds)


def _unpack(
    placed: Sequence[tuple[_Block, Cuboid]], kinds: dict[int, list[_Unit]]
) -> list[tuple[_Unit, Cuboid]]:
    """Each block's units at their places, taken from ``kinds`` (identical, so any will do)."""
    taken = dict.fromkeys(kinds, 0)
    arranged: list[tuple[_Unit, Cuboid]] = []
    for block, (x0, x1, y0, y1, z0, z1) in placed:
        grid, cell = block.grid, block.cell
        if block.count == 1:
            cell = (x1 - x0, y1 - y0, z1 - z0)  # the turn the heuristic chose
        elif (x1 - x0, y1 - y0) != block.dims[:2]:  # turned about the vertical
            grid, cell = (grid[1], grid[0], grid[2]), (cell[1], cell[0], cell[2])
        same, first = kinds[block.line], taken[block.line]
        taken[block.line] += block.count
        units = iter(same[first : first + block.count])
        for k in range(grid[2]):
            for j in range(grid[1]):
                for i in range(grid[0]):
                    x, y, z = x0 + i * cell[0], y0 + j * cell[1], z0 + k * cell[2]
                    arranged.append((next(units), (x, x + cell[0], y, y + cell[1], z, z + cell[2])))
    return arranged


def arrange_in_box(items: Sequence[ItemSpec], box: BoxSpec) -> list[Placement] | None:
    """The placement heuristic alone (geometry, not weight): placements for every unit of
    ``items`` inside ``box``, or None when it finds no arrangement (one may still exist)."""
    _check_size(items)
    units = _units(items)
    arranged = _arrange(box.inner, units)
    return None if arranged is None else _placements(arranged)


def _placements(arranged: Sequence[tuple[_Unit, Cuboid]]) -> list[Placement]:
    ordered = sorted(arranged, key=lambda a: (a[1][4], a[1][2], a[1][0]))  # bottom layer first
    return [
        Placement(
            sku=u.sku, x_mm=x0, y_mm=y0, z_mm=z0, length_mm=x1 - x0, width_mm=y1 - y0, height_mm=z1 - z0
        )
        for u, (x0, x1, y0, y1, z0, z1) in ordered
    ]


def _check_size(items: Sequence[ItemSpec]) -> None:
    units = sum(item.quantity for item in items)
    if units > MAX_PACKING_UNITS:
        raise PackingInputError(
            f"{units} units are more than the packing recommender handles ({MAX_PACKING_UNITS}); "
            "plan a load this size as pallets"
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
        package = best[1]
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


# --------------------------------------------------------------------------------------------
# Wording
# --------------------------------------------------------------------------------------------


def _kg(grams: int) -> str:
    return f"{format_amount((Decimal(grams) / 1000).normalize())} kg"


def _cm(mm: int) -> str:
    return f"{format_amount((Decimal(mm) / 10).normalize())} cm"


def _cm_dims(dims: Dims) -> str:
    return " x ".join(format_amount((Decimal(d) / 10).normalize()) for d in dims) + " cm"


def _litres(mm3: int) -> str:
    return f"{format_amount((Decimal(mm3) / 1_000_000).quantize(Decimal('0.001')).normalize())} L"
