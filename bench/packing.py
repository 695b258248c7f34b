"""Packing advice (``recommend_packing``) at 3, 12, 50, 200 and 1,000 units, timed in process.

Up to 200 units the units are all different (random sizes and weights: the hard case for a 3D
packer); at 1,000 units they are one SKU, the B2B order the packing endpoint must answer. Sizes
the recommender refuses (``PackingInputError``) are reported as not supported, not raised.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

from bench.common import percentile

SIZES = (3, 12, 50, 200, 1000)


def _boxes() -> list[Any]:
    from chalicelib.domain.packing import BoxSpec

    return [
        BoxSpec(
            code=f"B{n}",
            inner_length_mm=150 + 60 * n,
            inner_width_mm=120 + 40 * n,
            inner_height_mm=80 + 30 * n,
            max_weight_grams=2000 + 2500 * n,
            cost=Decimal("0.40") + n,
        )
        for n in range(12)
    ]


def _items(units: int, rng: random.Random) -> list[Any]:
    from chalicelib.domain.packing import ItemSpec

    if units >= 1000:
        return [
            ItemSpec(sku="TEE", length_mm=300, width_mm=250, height_mm=20, weight_grams=180, quantity=units)
        ]
    return [
        ItemSpec(
            sku=f"SKU-{n}",
            length_mm=rng.randint(20, 300),
            width_mm=rng.randint(20, 200),
            height_mm=rng.randint(10, 120),
            weight_grams=rng.randint(50, 2000),
            quantity=1,
        )
        for n in range(units)
    ]


def run(sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    """Per size: median and p95 in ms over repeated runs, or the reason it is not supported."""
    from chalicelib.domain.packing import PackingInputError, recommend_packing

    rng = random.Random(7)
    boxes = _boxes()
    rows = []
    for units in sizes:
        repeat = 30 if units <= 50 else 5
        samples: list[float] = []
        note = ""
        for _ in range(repeat):
            items = _items(units, rng)
            started = time.perf_counter()
            try:
                recommend_packing(items, boxes)
            except PackingInputError as error:
                note = f"not supported ({error})"
                break
            samples.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "units": units,
                "kind": "one SKU" if units >= 1000 else "all different",
                "p50_ms": percentile(samples, 0.5) if samples else None,
                "p95_ms": percentile(samples, 0.95) if samples else None,
                "runs": len(samples),
                "note": note,
            }
        )
    return rows
