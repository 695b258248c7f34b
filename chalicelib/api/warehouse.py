"""Warehouse routes: pick lists, pick, packaging advice, pack, ship; and goods received.

A warehouse key works only on its own warehouse's fulfillments (another
warehouse's -> 403); admin keys work on all.
"""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.api.framework import Call, endpoint, owned, scoped
from chalicelib.api.orders import OrderView, view_of
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Principal, Role
from chalicelib.domain.errors import FieldError, InputInvalid
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Fulfillment, Line, Package, Sku
from chalicelib.domain.packing import PackingRecommendation
from chalicelib.domain.picking import PickList
from chalicelib.service import packing, picking, shipping
from chalicelib.service.changes import Authorize
from chalicelib.service.inventory import receive_stock
from chalicelib.service.packing import divisor_for, parse_divisors, recommend

warehouse_api = Blueprint(__name__)

WAREHOUSE_OR_ADMIN = (Role.WAREHOUSE, Role.ADMIN)
STEP_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PickedLine(_Body):
    sku: Sku
    quantity: Annotated[int, Field(ge=0, le=10_000, strict=True)]


class PickRequest(_Body):
    """What was actually picked; every SKU of the fulfillment, 0 when none was found."""

    lines: Annotated[list[PickedLine], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _each_sku_once(self) -> PickRequest:
        skus = [line.sku for line in self.lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each SKU once")
        return self


class PackedBox(_Body):
    box: Annotated[Line, Field(min_length=1, max_length=40)]
    weight_grams: Annotated[int, Field(gt=0, le=1_000_000, strict=True)]


class PackRequest(_Body):
    packages: Annotated[list[PackedBox], Field(min_length=1, max_length=50)]


class ShipRequest(_Body):
    carrier: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
    service: Annotated[Line, Field(min_length=1, max_length=60)]
    tracking_number: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")] | None
    ) = None
    tracking_numbers: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]],
            Field(min_length=1, max_length=50),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_form(self) -> ShipRequest:
        if (self.tracking_number is None) == (self.tracking_numbers is None):
            raise ValueError("give tracking_number (one package) or tracking_numbers (one per package)")
        numbers = self.numbers()
        if len(set(numbers)) != len(numbers):
            raise ValueError("tracking numbers must differ")
        return self

    def numbers(self) -> list[str]:
        return [self.tracking_number] if self.tracking_number else list(self.tracking_numbers or [])


class PickListQuery(_Body):
    limit: Annotated[int, Field(ge=1, le=200)] = 20


class PackagingQuery(_Body):
    carrier: Annotated[Line, Field(max_length=40)] | None = None


class GoodsReceipt(_Body):
    quantity: Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
    reference: Annotated[Line, Field(max_length=100)] | None = None


class Packaging(BaseModel):
    fulfillment_id: str
    warehouse_id: str | None
    divisor_cm3_per_kg: int
    recommendation: PackingRecommendation


def _scope_check(who: Principal) -> Authorize:
    def authorize(fulfillment: Fulfillment) -> None:
        # A backorder belongs to no warehouse yet: only an admin sees it (out of every key's scope).
        who.require_warehouse_among([fulfillment.warehouse_id])

    return authorize


@endpoint(
    warehouse_api,
    "/v1/warehouses/{warehouse_id}/pick-lists",
    "GET",
    summary="The next wave: released work grouped by bin in walking order, earliest ship-by first",
    roles=WAREHOUSE_OR_ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    query=PickListQuery,
    response=PickList,
    tags=("warehouse",),
    errors=(401, 403, 404, 422),
)
def get_pick_list(call: Call) -> PickList:
    warehouse_id = call.params["warehouse_id"]
    call.who.require_warehouse_access(warehouse_id)
    svc = services()
    return picking.pick_list(svc.uow_factory, svc.queries, warehouse_id, call.query.limit, clock=svc.clock)


@endpoint(
    warehouse_api,
    "/v1/fulfillments/{fulfillment_id}/pick",
    "POST",
    summary="Report what was picked; a short pick backorders the rest",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    body=PickRequest,
    response=OrderView,
    tags=("warehouse",),
    errors=STEP_ERRORS,
)
def pick(call: Call) -> OrderView:
    svc = services()
    body: PickRequest = call.body
    result = picking.pick(
        svc.uow_factory,
        call.params["fulfillment_id"],
        {line.sku: line.quantity for line in body.lines},
        authorize=_scope_check(call.who),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)


@endpoint(
    warehouse_api,
    "/v1/fulfillments/{fulfillment_id}/packaging",
    "GET",
    summary="Recommended box(es) by billable weight, with the alternatives and why each lost",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    query=PackagingQuery,
    response=Packaging,
    tags=("warehouse",),
    errors=(401, 403, 404, 409, 422),
)
def packaging(call: Call) -> Packaging:
    svc = services()
    divisors = parse_divisors(svc.settings.dimensional_divisors)
    carrier = call.query.carrier
    fulfillment, advice = recommend(
        svc.uow_factory,
        call.params["fulfillment_id"],
        carrier=carrier,
        divisors=divisors,
        authorize=_scope_check(call.who),
    )
    return Packaging(
        fulfillment_id=fulfillment.id,
        warehouse_id=fulfillment.warehouse_id,
        divisor_cm3_per_kg=divisor_for(carrier, divisors),
        recommendation=advice,
    )


@endpoint(
    warehouse_api,
    "/v1/fulfillments/{fulfillment_id}/pack",
    "POST",
    summary="Report the packages used (a box other than the recommended one is recorded)",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    body=PackRequest,
    response=OrderView,
    tags=("warehouse",),
    errors=STEP_ERRORS,
)
def pack(call: Call) -> OrderView:
    svc = services()
    body: PackRequest = call.body
    packages = [Package(box=p.box, weight_grams=p.weight_grams) for p in body.packages]
    divisor = divisor_for(None, parse_divisors(svc.settings.dimensional_divisors))
    result = packing.pack(
        svc.uow_factory,
        call.params["fulfillment_id"],
        packages,
        divisor=divisor,
        authorize=_scope_check(call.who),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)


@endpoint(
    warehouse_api,
    "/v1/fulfillments/{fulfillment_id}/ship",
    "POST",
    summary="Hand the packages to a carrier with their tracking numbers",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    body=ShipRequest,
    response=OrderView,
    tags=("warehouse",),
    errors=STEP_ERRORS,
)
def ship(call: Call) -> OrderView:
    svc = services()
    body: ShipRequest = call.body
    result = shipping.ship(
        svc.uow_factory,
        call.params["fulfillment_id"],
        carrier=body.carrier,
        service=body.service,
        tracking_numbers=body.numbers(),
        authorize=_scope_check(call.who),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)


@endpoint(
    warehouse_api,
    "/v1/inventory/{warehouse_id}/{sku}/receipts",
    "POST",
    summary="Goods received: stock goes up and waiting backorders are allocated, oldest first",
    roles=WAREHOUSE_OR_ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    body=GoodsReceipt,
    response=DomainEvent,
    success_status=201,
    tags=("inventory",),
    errors=(400, 401, 403, 404, 413, 415, 422),
    idempotency_key=True,
)
def goods_receipt(call: Call) -> DomainEvent:
    warehouse_id, sku = call.params["warehouse_id"], call.params["sku"]
    call.who.require_warehouse_access(warehouse_id)
    key = call.header("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255):
        raise InputInvalid([FieldError(["header", "Idempotency-Key"], "must be 1 to 255 characters")])
    svc = services()
    body: GoodsReceipt = call.body
    return receive_stock(
        svc.uow_factory,
        warehouse_id,
        sku,
        body.quantity,
        reference=body.reference,
        idempotency_key=key,
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
