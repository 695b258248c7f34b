"""Packing recommendation: which box(es) of a warehouse's catalogue a fulfillment ships in.

Rules (docs/packing.md explains them at length):

1. A box *fits* when the placement heuristic (``heuristic``; identical units of large orders
   go in as layer blocks, ``layers``) finds room for every unit inside its inner dimensions
   and the units plus the empty box weigh no more than its ``max_weight_grams``.
2. Billable weight = max(actual weight, dimensional weight); actual = contents + tare;
   dimensional = outer L x W x H (cm³) / divisor (cm³/kg). Both in whole grams, rounded up.
3. If one box fits everything, the fitting box with the lowest billable weight wins, then the
   lowest cost, then the smallest outer volume, then the lowest code (so the answer is stable).
4. Otherwise the units are split over several boxes (greedy, see ``recommend._split``), and a
   unit that no box can take even alone is reported as unpackable, with the reason.

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

The package: ``specs`` (inputs, outputs, weights, wording), ``heuristic`` (the extreme-point
placement of pieces in one box), ``layers`` (identical units as layer blocks, for large
orders), ``recommend`` (judging boxes, splitting, the recommendation).
"""

from .recommend import arrange_in_box, recommend_packing
from .specs import (
    DEFAULT_DIM_DIVISOR,
    MAX_PACKING_UNITS,
    Alternative,
    BoxSpec,
    Grams,
    ItemSpec,
    Millimetres,
    Package,
    PackedLine,
    PackingInputError,
    PackingRecommendation,
    Placement,
    UnpackableItem,
    billable_weight_grams,
    dimensional_weight_grams,
)

__all__ = [
    "DEFAULT_DIM_DIVISOR",
    "MAX_PACKING_UNITS",
    "Alternative",
    "BoxSpec",
    "Grams",
    "ItemSpec",
    "Millimetres",
    "Package",
    "PackedLine",
    "PackingInputError",
    "PackingRecommendation",
    "Placement",
    "UnpackableItem",
    "arrange_in_box",
    "billable_weight_grams",
    "dimensional_weight_grams",
    "recommend_packing",
]
