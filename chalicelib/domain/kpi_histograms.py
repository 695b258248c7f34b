"""Percentiles of bucketed histograms (the KPI report's hours), kept apart from domain.kpis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

#: Upper bounds (inclusive) of the hour buckets. Fine where most orders fall (the first day), then
#: coarser; the last bucket is open so every duration has one.
HOUR_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 12, 24, 36, 48, 72, 96, 120, 168, 240, 336, math.inf)
_HOUR_PLACES = Decimal("0.01")


def histogram_percentile(
    counts: Sequence[int], q: Fraction, edges: Sequence[float] = HOUR_BUCKETS
) -> Decimal | None:
    """The q-quantile (0 < q <= 1) of a bucketed histogram, None when it is empty.

    The rank ``q * total`` falls in the first bucket whose cumulative count reaches it; inside
    that bucket the values are taken as evenly spread between its lower bound (the previous upper
    bound, 0 for the first) and its upper bound, and the rank interpolated linearly. In the open
    last bucket there is nothing to interpolate towards, so its lower bound is returned: a floor.
    """
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    below = 0
    for i, count in enumerate(counts):
        if count > 0 and below + count >= rank:
            lower = Fraction(0) if i == 0 else Fraction(edges[i - 1])
            if math.isinf(edges[i]):
                return quantize(lower, _HOUR_PLACES)
            upper = Fraction(edges[i])
            return quantize(lower + (rank - below) / count * (upper - lower), _HOUR_PLACES)
        below += count
    raise AssertionError("the rank is within the total")  # pragma: no cover


def quantize(value: Fraction, places: Decimal) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(places, rounding=ROUND_HALF_UP)
