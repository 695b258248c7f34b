"""The extreme-point placement heuristic: pieces (units, or blocks of them) into one box."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations
from typing import Protocol, TypeVar

from .specs import ItemSpec

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

    @property
    def unit_turns(self) -> tuple[Dims, ...]:
        return self.orientations

    @property
    def unit_weight(self) -> int:
        return self.weight


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
    #: One unit of it: its orientations and weight.
    @property
    def unit_turns(self) -> tuple[Dims, ...]: ...
    @property
    def unit_weight(self) -> int: ...


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
    # long because: one loop keeps the fill's state (corners, pieces to come, kinds that failed,
    # weight and volume left) in locals; each step that needs no more than that is a function.
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
    todo: list[P] = []
    thinnest: list[int] = []
    _push(todo, thinnest, units)
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
        tried = kind not in failed
        if unit.weight <= weight_budget and unit.volume <= free_volume and tried:
            turns = _usable_turns(kind, inner, strategy.turn)
            spot = _find_spot(order, corners, blocked, turns, placed, strategy.snug)
        if spot is None:
            can_split = split is not None and splits_left > 0 and tried
            parts = _parts_to_try(unit, split if can_split else None, failed, corners, weight_budget)
            if parts:
                splits_left -= 1
                failed.add(kind)
                _push(todo, thinnest, parts)
                continue
            if all_or_nothing:
                return None
            failed.add(kind)
            continue

        failed.clear()
        _add_corners(corners, spot, placed, inner)
        placed.append(spot)
        result.append((unit, spot))
        weight_budget -= unit.weight
        free_volume -= unit.volume
        corners = _corners_left(corners, spot, thinnest[-1] if thinnest else 0)
        order = sorted(corners)
    return result


def _parts_to_try(
    unit: P,
    split: Callable[[P], Sequence[P]] | None,
    failed: set[tuple[Dims, ...]],
    corners: dict[Point, Dims],
    weight_budget: int,
) -> Sequence[P]:
    """What to try instead of a unit that found no room: its parts, or none when it may not be
    split (``split`` None) or no corner could take even one unit of it (``failed`` remembers).

    A kind that already failed since the last placement was split then, and its parts failed
    too (or one went in, which would have cleared ``failed``): not again.
    """
    if split is None or unit.unit_turns in failed:
        return ()
    if _room_for_one(unit, corners, weight_budget):
        return split(unit)
    failed.add(unit.unit_turns)  # no part of it would fit either
    return ()


def _push(todo: list[P], thinnest: list[int], pieces: Sequence[P]) -> None:
    """Put ``pieces`` next in line, the first of them on top (``todo``'s last)."""
    for piece in reversed(pieces):
        todo.append(piece)
        thinnest.append(min(thinnest[-1], piece.least) if thinnest else piece.least)


def _add_corners(corners: dict[Point, Dims], spot: Cuboid, placed: list[Cuboid], inner: Dims) -> None:
    """Add the corners a unit going into ``spot`` creates (``placed``: the units before it)."""
    for point in _new_corners(spot, placed):
        if point not in corners:
            room = _room(point, placed, inner)
            if room is not None:
                corners[point] = room


def _corners_left(corners: dict[Point, Dims], spot: Cuboid, least: int) -> dict[Point, Dims]:
    """The corners, with their room, once a unit went into ``spot``; ``least``: the shortest side
    of any unit still to come.

    Every corner already respects the earlier units: only the new one can swallow it or cut its
    room short. Corners too cramped for the thinnest unit still to come go for good.
    """
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
    return kept


def _room_for_one(piece: _Piece, corners: dict[Point, Dims], weight_budget: int) -> bool:
    """Some corner has room (walls and rays only, see ``_room``) for one unit of ``piece``
    within the weight left: a necessary condition for any part of it to go in."""
    if piece.unit_weight > weight_budget:
        return False
    for (z, y, x), (rx, ry, rz) in corners.items():
        for dx, dy, dz in piece.unit_turns:
            if x + dx <= rx and y + dy <= ry and z + dz <= rz:
                return True
    return False


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


_NO_LIMIT = 1 << 62


#: How many times one fill may split a block that found no room: bounds the work when blocks
#: crumble towards single units (each split is one more placement attempt).
_MAX_SPLITS = 400
