"""Delivery exception routes: declare how a shipped parcel's journey ended (lost, damaged,
returned to sender), and resolve it (reship, refund, restock). Warehouse keys work on their own
warehouse's fulfillments (the parcels come back to them); admin keys on all."""

from __future__ import annotations

from typing import Annotated, Literal

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.api.framework import Call, endpoint, owned
from chalicelib.api.orders import OrderView, view_of
from chalicelib.api.warehouse import STEP_ERRORS, WAREHOUSE_OR_ADMIN, _scope_check
from chalicelib.bootstrap import services
from chalicelib.domain.exceptions import RestockedItem
from chalicelib.domain.models import Line, Sku
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.exceptions import record_exception, resolve_exception

exceptions_api = Blueprint(__name__)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExceptionRequest(_Body):
    """How the parcel's journey ended, as operations know it."""

    kind: Literal["lost", "damaged", "returned_to_sender"]
    note: Annotated[Line, Field(min_length=1, max_length=500)] | None = None


class RestockLine(_Body):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=10_000, strict=True)]
    resellable: bool


class ResolutionRequest(_Body):
    """``reship`` or ``refund`` (once, exclusive), or ``restock`` with what came back."""

    action: Literal["reship", "refund", "restock"]
    items: Annotated[list[RestockLine], Field(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _items_only_to_restock(self) -> ResolutionRequest:
        if (self.action == "restock") != (self.items is not None):
            raise ValueError("items are given with restock, and only with restock")
        return self


@endpoint(
    exceptions_api,
    "/v1/fulfillments/{fulfillment_id}/exception",
    "POST",
    summary="Declare a shipped parcel lost, damaged or returned to sender",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    body=ExceptionRequest,
    response=OrderView,
    tags=("warehouse",),
    errors=STEP_ERRORS,
)
def declare_exception(call: Call) -> OrderView:
    svc = services()
    body: ExceptionRequest = call.body
    result = record_exception(
        svc.uow_factory,
        call.params["fulfillment_id"],
        FulfillmentStatus(body.kind),
        note=body.note,
        authorize=_scope_check(call.who),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)


@endpoint(
    exceptions_api,
    "/v1/fulfillments/{fulfillment_id}/resolution",
    "POST",
    summary="Resolve a delivery exception: reship the units, refund them, or restock what came back",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("fulfillment", "fulfillment_id"),
    body=ResolutionRequest,
    response=OrderView,
    tags=("warehouse",),
    errors=STEP_ERRORS,
)
def resolve(call: Call) -> OrderView:
    svc = services()
    body: ResolutionRequest = call.body
    result = resolve_exception(
        svc.uow_factory,
        call.params["fulfillment_id"],
        body.action,
        items=[RestockedItem(i.sku, i.quantity, i.resellable) for i in body.items or []],
        authorize=_scope_check(call.who),
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)
