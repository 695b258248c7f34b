"""Step 4 of the journey, packing: which box(es) a fulfillment should ship in (the domain/packing
package does the maths), and a picked fulfillment packed into its packages."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid
from chalicelib.domain.event_payloads import (
    FulfillmentPacked,
)
from chalicelib.domain.fulfillment import (
    follow_fulfillments,
)
from chalicelib.domain.models import Fulfillment, Package
from chalicelib.domain.packing import (
    DEFAULT_DIM_DIVISOR,
    BoxSpec,
    ItemSpec,
    PackingInputError,
    PackingRecommendation,
    recommend_packing,
)
from chalicelib.domain.status import (
    FulfillmentTrigger,
)
from chalicelib.service.changes import (
    Authorize,
    Change,
    load_fulfillment,
)
from chalicelib.service.fulfillment import (
    advance,
    by_fulfillment,
    fulfillment_of,
    repeat_or_raise,
    replace_fulfillment,
    request_hash,
)
from chalicelib.service.ports import (
    Clock,
    IdGenerator,
    OrderAggregate,
    UnitOfWork,
    UnitOfWorkFactory,
)
from chalicelib.service.unit_of_work import change_order


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


def pack(
    uow_factory: UnitOfWorkFactory,
    fulfillment_id: str,
    packages: list[Package],
    *,
    divisor: int,
    authorize: Authorize,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Record the packages used; a box other than the recommended ones is noted in the event."""
    digest = request_hash({"step": "pack", "packages": [p.model_dump() for p in packages]})

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        f = fulfillment_of(aggregate, fulfillment_id)
        authorize(f)
        if repeat_or_raise(f, "pack", digest, FulfillmentTrigger.PACK):
            return None
        assert f.warehouse_id is not None
        _check_boxes(packages, {box.code for box in uow.get_boxes(f.warehouse_id)}, f.warehouse_id)
        # The advice is recomputed here (it is deterministic) rather than remembered from a GET,
        # so the record of a box other than the recommended one never depends on who asked.
        try:
            recommended = [p.box_code for p in packing_for(uow, f, divisor).packages]
        except PackingInputError:
            recommended = []  # no advice for this one (e.g. too many units to plan): packing goes on
        packed = advance(
            f,
            FulfillmentTrigger.PACK,
            packages=packages,
            packed_at=clock.now(),
            recommended_boxes=recommended,
            step_requests={**f.step_requests, "pack": digest},
        )
        fulfillments = replace_fulfillment(aggregate.fulfillments, packed)
        return Change(
            order=follow_fulfillments(aggregate.order, fulfillments),
            fulfillments=fulfillments,
            payload=FulfillmentPacked(
                fulfillment_id=f.id,
                warehouse_id=f.warehouse_id,
                packages=packages,
                recommended_boxes=recommended,
                boxes_other_than_recommended=[p.box for p in packages if p.box not in recommended],
            ),
        )

    return change_order(
        uow_factory, by_fulfillment(fulfillment_id), decide, actor=actor, ids=ids, clock=clock
    )


def _check_boxes(packages: list[Package], known: set[str], warehouse_id: str) -> None:
    unknown = [i for i, p in enumerate(packages) if p.box not in known]
    if unknown:
        raise InputInvalid(
            [
                FieldError(["packages", i, "box"], f"no box {packages[i].box} in {warehouse_id}'s catalogue")
                for i in unknown
            ]
        )
