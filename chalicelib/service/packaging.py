"""Use case: which box(es) a fulfillment should ship in (the domain/packing package does the maths)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import Fulfillment
from chalicelib.domain.packing import (
    DEFAULT_DIM_DIVISOR,
    BoxSpec,
    ItemSpec,
    PackingRecommendation,
    recommend_packing,
)
from chalicelib.service.changes import Authorize, load_fulfillment
from chalicelib.service.ports import UnitOfWork, UnitOfWorkFactory


def parse_divisors(spec: str) -> dict[str, int]:
    """``"default=5000;usps=5454"`` -> {"default": 5000, "usps": 5454} (cm³/kg per carrier)."""
    divisors: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        carrier, _, value = part.partition("=")
        try:
            divisors[carrier.strip().lower()] = int(value)
        except ValueError:
            raise ValueError(f"dimensional divisor {part!r} is not CARRIER=NUMBER") from None
    return divisors


def divisor_for(carrier: str | None, divisors: Mapping[str, int]) -> int:
    default = divisors.get("default", DEFAULT_DIM_DIVISOR)
    return divisors.get(carrier.lower(), default) if carrier else default


def packing_for(uow: UnitOfWork, fulfillment: Fulfillment, divisor: int) -> PackingRecommendation:
    if fulfillment.warehouse_id is None:
        raise Conflict(
            "this fulfillment waits for stock; there is nothing to pack yet",
            current=fulfillment.status.value,
            allowed=[],
        )
    products = uow.get_products(line.sku for line in fulfillment.lines)
    items = [
        ItemSpec(
            sku=line.sku,
            length_mm=products[line.sku].length_mm,
            width_mm=products[line.sku].width_mm,
            height_mm=products[line.sku].height_mm,
            weight_grams=products[line.sku].weight_grams,
            quantity=line.quantity,
            keep_upright=products[line.sku].keep_upright,
        )
        for line in fulfillment.lines
    ]
    boxes = [
        BoxSpec(
            code=b.code,
            inner_length_mm=b.inner_length_mm,
            inner_width_mm=b.inner_width_mm,
            inner_height_mm=b.inner_height_mm,
            max_weight_grams=b.max_weight_grams,
            cost=b.cost,
            tare_weight_grams=b.tare_weight_grams,
            outer_length_mm=b.outer_length_mm,
            outer_width_mm=b.outer_width_mm,
            outer_height_mm=b.outer_height_mm,
        )
        for b in uow.get_boxes(fulfillment.warehouse_id)
    ]
    return recommend_packing(items, boxes, divisor)


def recommend(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    *,
    carrier: str | None,
    divisors: Mapping[str, int],
    authorize: Authorize,
) -> tuple[Fulfillment, PackingRecommendation]:
    uow = uow_factory()
    _, fulfillment = load_fulfillment(uow, fulfillment_id)
    authorize(fulfillment)
    return fulfillment, packing_for(uow, fulfillment, divisor_for(carrier, divisors))
