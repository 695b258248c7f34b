"""Layer blocks: identical units packed as a grid and placed as one cuboid, so a large order
costs the heuristic a few pieces per kind of unit instead of one per unit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

from .heuristic import _AS_BUILT, _NO_LIMIT, Cuboid, Dims, _attempts, _fill, _Unit


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


#: Up to this many units the heuristic places units one by one (milliseconds, and it finds
#: mixed arrangements layers miss); above it, identical units go in as layer blocks.
_UNIT_BY_UNIT_MAX_UNITS = 60


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
    def unit_turns(self) -> tuple[Dims, ...]:
        return self.unit.orientations

    @property
    def unit_weight(self) -> int:
        return self.unit.weight

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
