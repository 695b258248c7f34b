"""Returns (RMA) and inventory routes."""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.framework import KEYED, Call, endpoint, owned, scoped
from chalicelib.api.orders import CHANNEL_OR_ADMIN
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Forbidden, Principal, Role
from chalicelib.domain.errors import FieldError, InputInvalid
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Line, StockLevel
from chalicelib.domain.returns import ReceivedItem, ReturnLine, ReturnRequest
from chalicelib.domain.stock import StockLine
from chalicelib.service.inventory import count_stock, set_stock, stock_lines
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.returns import get_return, receive_return, request_return

returns_api = Blueprint(__name__)

WAREHOUSE_OR_ADMIN = (Role.WAREHOUSE, Role.ADMIN)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReturnCreate(_Body):
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=200)]


class ReturnReceipt(_Body):
    items: Annotated[list[ReceivedItem], Field(min_length=1, max_length=200)]
    #: Which warehouse received the parcel; a warehouse key may leave it out (its own).
    warehouse_id: Annotated[Line, Field(max_length=64)] | None = None


class StockUpdate(_Body):
    on_hand: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] | None = None
    reorder_point: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] | None = None
    overstock_level: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] | None = None
    bin: Annotated[Line, Field(min_length=1, max_length=40)] | None = None


class CycleCount(_Body):
    counted: Annotated[int, Field(ge=0, le=10_000_000, strict=True)]


class InventoryQuery(_Body):
    warehouse: Annotated[Line, Field(max_length=64)] | None = None
    below_reorder_point: bool = False
    overstock: bool = False


class Inventory(BaseModel):
    items: list[StockLine]


@endpoint(
    returns_api,
    "/v1/orders/{order_id}/returns",
    "POST",
    summary="Request a return (RMA): approved within the window, else rejected with the reason",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    body=ReturnCreate,
    response=ReturnRequest,
    success_status=201,
    tags=("returns",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def create_return(call: Call) -> Response:
    svc = services()
    body: ReturnCreate = call.body
    who = call.who
    _, rma = request_return(
        svc.uow_factory,
        call.params["order_id"],
        body.lines,
        window_days=svc.settings.return_window_days,
        authorize=lambda order: who.require_channel_access(order.channel_id),
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return Response(
        body=rma.model_dump_json(),
        status_code=201,
        headers={"Content-Type": "application/json", "Location": f"/v1/returns/{rma.id}"},
    )


@endpoint(
    returns_api,
    "/v1/returns/{rma_id}",
    "GET",
    summary="A return with its decision, receipt and refund",
    roles=(Role.CHANNEL, Role.WAREHOUSE, Role.ADMIN),
    access=owned("return", "rma_id"),
    response=ReturnRequest,
    tags=("returns",),
    errors=(401, 403, 404),
)
def read_return(call: Call) -> ReturnRequest:
    aggregate, rma = get_return(services().uow_factory, call.params["rma_id"])
    _require_return_access(call.who, aggregate, rma)
    return rma


def _require_return_access(who: Principal, aggregate: OrderAggregate, rma: ReturnRequest) -> None:
    """The order's channel; a warehouse that shipped any of the order or received this return."""
    if who.role == Role.WAREHOUSE:
        who.require_warehouse_among([rma.warehouse_id, *(f.warehouse_id for f in aggregate.fulfillments)])
    else:
        who.require_channel_access(rma.channel_id)


@endpoint(
    returns_api,
    "/v1/returns/{rma_id}/receive",
    "POST",
    summary="The parcel arrived: resellable units back on the shelf, the rest written off, refund requested",
    roles=WAREHOUSE_OR_ADMIN,
    access=owned("return", "rma_id"),
    body=ReturnReceipt,
    response=ReturnRequest,
    tags=("returns",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def receive(call: Call) -> ReturnRequest:
    svc = services()
    body: ReturnReceipt = call.body
    who = call.who
    warehouse_id = body.warehouse_id or (who.scope if who.role == Role.WAREHOUSE else None)
    if warehouse_id is None:
        raise InputInvalid([FieldError(["warehouse_id"], "say which warehouse received the return")])
    if who.role == Role.WAREHOUSE and warehouse_id != who.scope:  # decided before any lookup
        raise Forbidden("a warehouse key receives returns into its own warehouse only")
    aggregate, rma = get_return(svc.uow_factory, call.params["rma_id"])
    _require_return_access(who, aggregate, rma)
    _, rma = receive_return(
        svc.uow_factory,
        call.params["rma_id"],
        body.items,
        warehouse_id=warehouse_id,
        authorize=who.require_warehouse_access,
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return rma


@endpoint(
    returns_api,
    "/v1/inventory",
    "GET",
    summary="Stock by warehouse and SKU with days of cover; filters for low stock and overstock",
    roles=WAREHOUSE_OR_ADMIN,
    access=KEYED,
    query=InventoryQuery,
    response=Inventory,
    tags=("inventory",),
    errors=(401, 403, 404, 422),
)
def inventory(call: Call) -> Inventory:
    svc = services()
    query: InventoryQuery = call.query
    warehouse = query.warehouse
    if call.who.role == Role.WAREHOUSE:
        if warehouse is not None:
            call.who.require_warehouse_access(warehouse)
        warehouse = call.who.scope
    return Inventory(
        items=stock_lines(
            svc.uow_factory,
            svc.stock,
            warehouse_id=warehouse,
            below_reorder_point=query.below_reorder_point,
            overstock=query.overstock,
            clock=svc.clock,
        )
    )


@endpoint(
    returns_api,
    "/v1/inventory/{warehouse_id}/{sku}",
    "PUT",
    summary="Set a stock level: on hand (booked as an adjustment), reorder point, overstock level, bin",
    roles=WAREHOUSE_OR_ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    body=StockUpdate,
    response=StockLevel,
    tags=("inventory",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def put_stock(call: Call) -> StockLevel:
    warehouse_id, sku = call.params["warehouse_id"], call.params["sku"]
    call.who.require_warehouse_access(warehouse_id)
    svc = services()
    body: StockUpdate = call.body
    return set_stock(
        svc.uow_factory,
        warehouse_id,
        sku,
        on_hand=body.on_hand,
        reorder_point=body.reorder_point,
        overstock_level=body.overstock_level,
        bin_location=body.bin,
        actor=call.who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )


@endpoint(
    returns_api,
    "/v1/inventory/{warehouse_id}/{sku}/counts",
    "POST",
    summary="A cycle count: the difference is booked as an adjustment and feeds inventory accuracy",
    roles=WAREHOUSE_OR_ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    body=CycleCount,
    response=DomainEvent,
    success_status=201,
    tags=("inventory",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def cycle_count(call: Call) -> DomainEvent:
    warehouse_id, sku = call.params["warehouse_id"], call.params["sku"]
    call.who.require_warehouse_access(warehouse_id)
    svc = services()
    body: CycleCount = call.body
    return count_stock(
        svc.uow_factory, warehouse_id, sku, body.counted, actor=call.who.actor, ids=svc.ids, clock=svc.clock
    )
