"""Reference data administration over HTTP (admin keys only): warehouses, products, boxes, the
transit table, API keys, and the audit listing of their changes.

Versions travel as ETags: every read answers ``ETag: "<version>"`` (and ``version`` in the body);
a PUT or DELETE of an existing record sends ``If-Match: "<version>"``. A record that moved
meanwhile answers 412, a change to an existing record without If-Match 428. ``If-None-Match: *``
creates only. The use cases are imported inside the views: registering the routes stays cheap.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.framework import KEYED, Call, ProblemError, endpoint, scoped
from chalicelib.domain.auth import Role
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Warehouse
from chalicelib.domain.reference import (
    ApiKeyRecord,
    ApiKeyRequest,
    BoxDefinition,
    PreconditionFailed,
    PreconditionRequired,
    ProductRecord,
    ProductSpec,
    WarehouseSpec,
)
from chalicelib.domain.transit import TransitTime, TransitTimeSpec

if TYPE_CHECKING:
    from chalicelib.domain.reference import Versioned
    from chalicelib.service.reference import Actor, ReferenceRepository
    from chalicelib.service.transit import TransitRepository

reference_api = Blueprint(__name__)

ADMIN = (Role.ADMIN,)
TAGS = ("reference data",)
_ERRORS_READ = (400, 401, 403, 404, 422)
_ERRORS_WRITE = (400, 401, 403, 404, 409, 412, 413, 415, 422, 428)
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')


class WarehouseView(Warehouse):
    version: int


class WarehouseList(BaseModel):
    items: list[WarehouseView]


class ProductView(ProductRecord):
    version: int


class ProductList(BaseModel):
    items: list[ProductView]
    #: Pass as ``cursor`` for the next page; absent on the last page.
    next_cursor: str | None = None


class BoxView(Box):
    warehouse_id: str
    version: int


class BoxList(BaseModel):
    items: list[BoxView]


class TransitTimeView(TransitTime):
    version: int


class TransitTimeList(BaseModel):
    #: By carrier and service; ``*`` rows are the defaults.
    items: list[TransitTimeView]


class ApiKeyList(BaseModel):
    items: list[ApiKeyRecord]


class MintedApiKeyView(ApiKeyRecord):
    #: The key itself: shown in this answer only, never again. Store it now.
    key: str


class AuditList(BaseModel):
    #: Reference events, newest first.
    items: list[DomainEvent]
    next_cursor: str | None = None


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: Annotated[str, Field(max_length=512)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


def _repo() -> ReferenceRepository:
    from chalicelib.bootstrap import reference_store

    return reference_store()


def _actor(call: Call) -> Actor:
    from chalicelib.bootstrap import services
    from chalicelib.service.reference import Actor

    svc = services()
    return Actor(f"admin:{call.who.key_id}", svc.clock, svc.ids)


def _if_match(call: Call) -> int | None:
    """The version the caller decided on: If-Match, or 0 for ``If-None-Match: *``."""
    if_match = call.header("If-Match")
    if if_match is not None:
        found = _ETAG.match(if_match.strip())
        if found is None:
            raise ProblemError(
                400, "bad-if-match", "Bad If-Match", 'If-Match takes the ETag a read answered, e.g. "3"'
            )
        return int(found.group(1))
    if (call.header("If-None-Match") or "").strip() == "*":
        return 0
    return None


def _answer(view: BaseModel, version: int, status: int = 200) -> Response:
    return Response(
        body=view.model_dump_json(),
        status_code=status,
        headers={"Content-Type": "application/json", "ETag": f'"{version}"'},
    )


def _guarded(action: Any) -> Any:
    """Run a change; version refusals become 412/428 problems with the current version."""
    try:
        return action()
    except PreconditionFailed as exc:
        raise ProblemError(
            412, "precondition-failed", "Precondition failed", str(exc), current_version=exc.current
        ) from None
    except PreconditionRequired as exc:
        raise ProblemError(
            428, "precondition-required", "Precondition required", str(exc), current_version=exc.current
        ) from None


def _warehouse_view(found: Versioned[Warehouse]) -> WarehouseView:
    return WarehouseView(**found.value.model_dump(), version=found.version)


def _product_view(found: Versioned[ProductRecord]) -> ProductView:
    return ProductView(**found.value.model_dump(), version=found.version)


def _box_view(warehouse_id: str, found: Versioned[Box]) -> BoxView:
    return BoxView(**found.value.model_dump(), warehouse_id=warehouse_id, version=found.version)


# -- warehouses ------------------------------------------------------------------------------------


@endpoint(
    reference_api,
    "/v1/warehouses",
    "GET",
    summary="Warehouses, preferred first",
    roles=ADMIN,
    access=KEYED,
    response=WarehouseList,
    tags=TAGS,
    errors=(401, 403),
)
def list_warehouses(call: Call) -> WarehouseList:
    from chalicelib.service import reference

    return WarehouseList(items=[_warehouse_view(w) for w in reference.list_warehouses(_repo())])


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}",
    "GET",
    summary="A warehouse (ETag: its version)",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    response=WarehouseView,
    tags=TAGS,
    errors=_ERRORS_READ,
)
def get_warehouse(call: Call) -> Response:
    from chalicelib.service import reference

    found = reference.get_warehouse(_repo(), call.params["warehouse_id"])
    return _answer(_warehouse_view(found), found.version)


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}",
    "PUT",
    summary="Create or replace a warehouse (If-Match to replace): calendar, priority, active flag",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    body=WarehouseSpec,
    response=WarehouseView,
    tags=TAGS,
    errors=_ERRORS_WRITE,
)
def put_warehouse(call: Call) -> Response:
    from chalicelib.service import reference

    warehouse_id = call.params["warehouse_id"]
    saved = _guarded(
        lambda: reference.put_warehouse(
            _repo(), warehouse_id, call.body, if_match=_if_match(call), actor=_actor(call)
        )
    )
    view = WarehouseView(**saved.value.model_dump(), version=saved.version)
    return _answer(view, saved.version, 201 if saved.created else 200)


# -- products --------------------------------------------------------------------------------------


@endpoint(
    reference_api,
    "/v1/products",
    "GET",
    summary="Products by SKU, a page at a time",
    roles=ADMIN,
    access=KEYED,
    query=PageQuery,
    response=ProductList,
    tags=TAGS,
    errors=(400, 401, 403, 422),
)
def list_products(call: Call) -> ProductList:
    from chalicelib.service import reference

    page, cursor = reference.list_products(_repo(), call.query.cursor, call.query.limit)
    return ProductList(items=[_product_view(p) for p in page], next_cursor=cursor)


@endpoint(
    reference_api,
    "/v1/products/{sku}",
    "GET",
    summary="A product with its bins (ETag: its version)",
    roles=ADMIN,
    access=KEYED,
    response=ProductView,
    tags=TAGS,
    errors=_ERRORS_READ,
)
def get_product(call: Call) -> Response:
    from chalicelib.service import reference

    found = reference.get_product(_repo(), call.params["sku"])
    return _answer(_product_view(found), found.version)


@endpoint(
    reference_api,
    "/v1/products/{sku}",
    "PUT",
    summary="Create or replace a product (If-Match to replace); placed orders keep their lines",
    roles=ADMIN,
    access=KEYED,
    body=ProductSpec,
    response=ProductView,
    tags=TAGS,
    errors=_ERRORS_WRITE,
)
def put_product(call: Call) -> Response:
    from chalicelib.service import reference

    sku = call.params["sku"]
    saved = _guarded(
        lambda: reference.put_product(_repo(), sku, call.body, if_match=_if_match(call), actor=_actor(call))
    )
    view = ProductView(**saved.value.model_dump(), version=saved.version)
    return _answer(view, saved.version, 201 if saved.created else 200)


# -- boxes -----------------------------------------------------------------------------------------


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}/boxes",
    "GET",
    summary="A warehouse's box catalogue",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    response=BoxList,
    tags=TAGS,
    errors=_ERRORS_READ,
)
def list_boxes(call: Call) -> BoxList:
    from chalicelib.service import reference

    warehouse_id = call.params["warehouse_id"]
    return BoxList(items=[_box_view(warehouse_id, b) for b in reference.list_boxes(_repo(), warehouse_id)])


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}/boxes/{code}",
    "GET",
    summary="A box of a warehouse's catalogue (ETag: its version)",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    response=BoxView,
    tags=TAGS,
    errors=_ERRORS_READ,
)
def get_box(call: Call) -> Response:
    from chalicelib.service import reference

    warehouse_id = call.params["warehouse_id"]
    found = reference.get_box(_repo(), warehouse_id, call.params["code"])
    return _answer(_box_view(warehouse_id, found), found.version)


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}/boxes/{code}",
    "PUT",
    summary="Add or replace a box (If-Match to replace): inner and outer measures, tare, gross limit, cost",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    body=BoxDefinition,
    response=BoxView,
    tags=TAGS,
    errors=_ERRORS_WRITE,
)
def put_box(call: Call) -> Response:
    from chalicelib.service import reference

    warehouse_id, code = call.params["warehouse_id"], call.params["code"]
    saved = _guarded(
        lambda: reference.put_box(
            _repo(), warehouse_id, code, call.body, if_match=_if_match(call), actor=_actor(call)
        )
    )
    view = BoxView(**saved.value.model_dump(), warehouse_id=warehouse_id, version=saved.version)
    return _answer(view, saved.version, 201 if saved.created else 200)


@endpoint(
    reference_api,
    "/v1/warehouses/{warehouse_id}/boxes/{code}",
    "DELETE",
    summary="Retire a box: packing no longer recommends or accepts it (If-Match optional)",
    roles=ADMIN,
    access=scoped("warehouse", "warehouse_id"),
    response=BoxView,
    tags=TAGS,
    errors=(400, 401, 403, 404, 409, 412),
)
def retire_box(call: Call) -> BoxView:
    from chalicelib.service import reference

    warehouse_id = call.params["warehouse_id"]
    retired = _guarded(
        lambda: reference.retire_box(
            _repo(), warehouse_id, call.params["code"], if_match=_if_match(call), actor=_actor(call)
        )
    )
    return _box_view(warehouse_id, retired)


# -- transit table ---------------------------------------------------------------------------------


def _transit_key(call: Call) -> tuple[str, str]:
    # ``*`` may arrive percent-encoded (``%2A``) from clients that encode it.
    carrier, service = (
        call.params[name].replace("%2A", "*").replace("%2a", "*") for name in ("carrier", "service")
    )
    return carrier, service


def _transit_view(found: Versioned[TransitTime]) -> TransitTimeView:
    return TransitTimeView(**found.value.model_dump(), version=found.version)


def _transit_repo() -> TransitRepository:
    from chalicelib.bootstrap import transit_store

    return transit_store()


@endpoint(
    reference_api,
    "/v1/transit-times",
    "GET",
    summary="The transit table: business days per carrier service, and the shipping methods each serves",
    roles=ADMIN,
    access=KEYED,
    response=TransitTimeList,
    tags=TAGS,
    errors=(401, 403),
)
def list_transit_times(call: Call) -> TransitTimeList:
    from chalicelib.service import transit

    return TransitTimeList(items=[_transit_view(r) for r in transit.list_transit_times(_transit_repo())])


@endpoint(
    reference_api,
    "/v1/transit-times/{carrier}/{service}",
    "GET",
    summary="A row of the transit table (ETag: its version); `*` is the default service or carrier",
    roles=ADMIN,
    access=KEYED,
    response=TransitTimeView,
    tags=TAGS,
    errors=_ERRORS_READ,
)
def get_transit_time(call: Call) -> Response:
    from chalicelib.service import transit

    found = transit.get_transit_time(_transit_repo(), *_transit_key(call))
    return _answer(_transit_view(found), found.version)


@endpoint(
    reference_api,
    "/v1/transit-times/{carrier}/{service}",
    "PUT",
    summary="Add or replace a transit-table row (If-Match to replace): business days, shipping methods",
    roles=ADMIN,
    access=KEYED,
    body=TransitTimeSpec,
    response=TransitTimeView,
    tags=TAGS,
    errors=_ERRORS_WRITE,
)
def put_transit_time(call: Call) -> Response:
    from chalicelib.service import transit

    carrier, service = _transit_key(call)
    saved = _guarded(
        lambda: transit.put_transit_time(
            _transit_repo(), carrier, service, call.body, if_match=_if_match(call), actor=_actor(call)
        )
    )
    view = TransitTimeView(**saved.value.model_dump(), version=saved.version)
    return _answer(view, saved.version, 201 if saved.created else 200)


@endpoint(
    reference_api,
    "/v1/transit-times/{carrier}/{service}",
    "DELETE",
    summary="Remove a transit-table row: its service and shipping methods fall back to the defaults",
    roles=ADMIN,
    access=KEYED,
    response=TransitTimeView,
    tags=TAGS,
    errors=(400, 401, 403, 404, 409, 412, 422),
)
def remove_transit_time(call: Call) -> TransitTimeView:
    from chalicelib.service import transit

    carrier, service = _transit_key(call)
    removed = _guarded(
        lambda: transit.remove_transit_time(
            _transit_repo(), carrier, service, if_match=_if_match(call), actor=_actor(call)
        )
    )
    return _transit_view(removed)


# -- API keys --------------------------------------------------------------------------------------


@endpoint(
    reference_api,
    "/v1/api-keys",
    "POST",
    summary="Mint an API key for a role and scope; the key is in this answer only",
    roles=ADMIN,
    access=KEYED,
    body=ApiKeyRequest,
    response=MintedApiKeyView,
    success_status=201,
    tags=TAGS,
    errors=(400, 401, 403, 413, 415, 422),
)
def mint_api_key(call: Call) -> MintedApiKeyView:
    from chalicelib.service import reference

    minted = reference.mint_api_key(_repo(), call.body, actor=_actor(call))
    return MintedApiKeyView(**minted.record.model_dump(), key=minted.raw_key)


@endpoint(
    reference_api,
    "/v1/api-keys",
    "GET",
    summary="API keys: ids, roles, scopes, labels, last use (never the keys)",
    roles=ADMIN,
    access=KEYED,
    response=ApiKeyList,
    tags=TAGS,
    errors=(401, 403),
)
def list_api_keys(call: Call) -> ApiKeyList:
    from chalicelib.service import reference

    return ApiKeyList(items=reference.list_api_keys(_repo()))


@endpoint(
    reference_api,
    "/v1/api-keys/{key_id}",
    "DELETE",
    summary="Revoke an API key by its id (effective within the key cache time)",
    roles=ADMIN,
    access=KEYED,
    response=ApiKeyRecord,
    tags=TAGS,
    errors=(401, 403, 404, 409),
)
def revoke_api_key(call: Call) -> ApiKeyRecord:
    from chalicelib.bootstrap import services
    from chalicelib.service import reference

    revoked = reference.revoke_api_key(_repo(), call.params["key_id"], actor=_actor(call))
    services().api_keys.forget_cached()  # this process stops accepting it at once
    return revoked


# -- audit -----------------------------------------------------------------------------------------


@endpoint(
    reference_api,
    "/v1/audit",
    "GET",
    summary="Changes to reference data and API keys, newest first",
    roles=ADMIN,
    access=KEYED,
    query=PageQuery,
    response=AuditList,
    tags=TAGS,
    errors=(400, 401, 403, 422),
)
def list_audit(call: Call) -> AuditList:
    from chalicelib.service import reference

    events, cursor = reference.list_audit(_repo(), call.query.cursor, call.query.limit)
    return AuditList(items=events, next_cursor=cursor)
