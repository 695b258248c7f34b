"""Packing's inputs and outputs, billable weight, the size limit and the wording of reasons."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..models import MAX_LINE_QUANTITY, Product, Sku
from ..money import Amount, format_amount

#: The common carrier divisor (cm³ per kg); carriers that bill on 4000 or 6000 pass their own.
DEFAULT_DIM_DIVISOR = 5000


#: A fulfillment above this is a pallet load, not parcels, and is refused (PackingInputError):
#: the answer lists every unit's placement (about 100 bytes of JSON each). Up to it, identical
#: units go in as layer blocks, so the work grows with the kinds of unit and the boxes rather
#: than with the units (docs/packing.md has the timings).
MAX_PACKING_UNITS = 10_000


class PackingInputError(ValueError):
    """Input the caller must fix: a bad divisor, a catalogue with two boxes of one code, more
    than ``MAX_PACKING_UNITS`` units. Items that fit no box are not errors (see ``unpackable``)."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


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


def _check_size(items: Sequence[ItemSpec]) -> None:
    units = sum(item.quantity for item in items)
    if units > MAX_PACKING_UNITS:
        raise PackingInputError(
            f"{units} units are more than the packing recommender handles ({MAX_PACKING_UNITS}); "
            "plan a load this size as pallets"
        )


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
# Wording
# --------------------------------------------------------------------------------------------


def _kg(grams: int) -> str:
    return f"{format_amount((Decimal(grams) / 1000).normalize())} kg"


def _cm(mm: int) -> str:
    return f"{format_amount((Decimal(mm) / 10).normalize())} cm"


def _cm_dims(dims: tuple[int, int, int]) -> str:
    return " x ".join(format_amount((Decimal(d) / 10).normalize()) for d in dims) + " cm"


def _litres(mm3: int) -> str:
    return f"{format_amount((Decimal(mm3) / 1_000_000).quantize(Decimal('0.001')).normalize())} L"
