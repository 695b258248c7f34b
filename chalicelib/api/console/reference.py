"""Console pages for reference data: warehouses, products, boxes, the transit table and API keys.

Each page lists the records and carries a form that calls the same use case as the API
(service/reference.py), with the same validation and the same version check: the form sends the
version the page showed, so a record someone changed meanwhile is refused ("reload and try
again") instead of overwritten. A minted key is shown once, on the answer page, never again.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.console.visit import ACTION_ERRORS, Refused, Visit, console_route, plain_error
from chalicelib.domain.models import Weekday
from chalicelib.domain.reference import (
    ApiKeyRequest,
    BoxDefinition,
    PreconditionFailed,
    PreconditionRequired,
    ProductSpec,
    WarehouseSpec,
)
from chalicelib.domain.transit import TransitTimeSpec

PRODUCTS_PAGE = 50


def _repo() -> Any:
    from chalicelib.bootstrap import reference_store

    return reference_store()


def _actor(visit: Visit) -> Any:
    from chalicelib.service.reference import Actor

    return Actor(f"admin:{visit.who.key_id}", visit.svc.clock, visit.svc.ids)


def _validated(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """The form as the API's body model, or the page's error in plain words."""
    try:
        return model.model_validate(
            {name: value for name, value in fields.items() if value not in ("", None)}
        )
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in err['loc']) or 'form'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise _FormError("; ".join(problems)) from None


class _FormError(Exception):
    pass


def _version(visit: Visit) -> int | None:
    text = visit.form("version", 12)
    if not text:
        return None
    if not text.isdigit():
        raise _FormError("the version must be a whole number")
    return int(text)


def _outcome(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, _FormError):
        return 422, str(exc)
    if isinstance(exc, PreconditionFailed | PreconditionRequired):
        return 409, "Someone changed this record since the page showed it. Reload the page and try again."
    return plain_error(exc)


_FAILURES = (_FormError, *ACTION_ERRORS)


# --- warehouses -------------------------------------------------------------------------------------


def _warehouses_page(visit: Visit, status: int = 200, *, error: str = "", notice: str = "") -> Response:
    from chalicelib.service import reference

    warehouses = reference.list_warehouses(_repo())
    editing = next((w for w in warehouses if w.value.id == visit.arg("edit", 40)), None)
    return visit.page(
        "warehouses",
        status,
        title="Warehouses",
        section="warehouses",
        warehouses=warehouses,
        editing=editing,
        weekdays=list(Weekday),
        error=error,
        notice=notice,
    )


@console_route("/console/warehouses", "GET", "warehouses with their calendars; a form to add or change one")
def console_warehouses(visit: Visit) -> Response:
    return _warehouses_page(visit)


@console_route("/console/warehouses", "POST", "add or change a warehouse (the version the page showed)")
def console_save_warehouse(visit: Visit) -> Response:
    from chalicelib.service import reference

    warehouse_id = visit.form("id", 40)
    try:
        address = None
        if visit.form("line1"):
            address = {
                "name": visit.form("name", 200),
                "line1": visit.form("line1", 200),
                "city": visit.form("city", 200),
                "postal_code": visit.form("postal_code", 20) or None,
                "country": visit.form("country", 2),
            }
        spec = _validated(
            WarehouseSpec,
            {
                "name": visit.form("name", 200),
                "address": address,
                "country": visit.form("country", 2),
                "timezone": visit.form("timezone", 64),
                "priority": visit.form("priority", 6),
                "cutoff": visit.form("cutoff", 5),
                "business_days": visit.form_values("business_days")[:7],
                "holidays": [
                    line.strip() for line in visit.form("holidays", 5000).splitlines() if line.strip()
                ],
                "active": visit.form("active") == "on",
            },
        )
        saved = reference.put_warehouse(
            _repo(), warehouse_id, spec, if_match=_version(visit), actor=_actor(visit)
        )
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _warehouses_page(visit, status, error=text)
    verb = "added" if saved.created else ("saved" if saved.changed else "unchanged")
    return _warehouses_page(visit, notice=f"Warehouse {warehouse_id} {verb} (version {saved.version}).")


# --- products ---------------------------------------------------------------------------------------


def _products_page(visit: Visit, status: int = 200, *, error: str = "", notice: str = "") -> Response:
    from chalicelib.service import reference

    repo = _repo()
    errors = [error] if error else []
    try:
        page, next_cursor = reference.list_products(repo, visit.arg("cursor", 512) or None, PRODUCTS_PAGE)
    except ACTION_ERRORS:
        page, next_cursor = reference.list_products(repo, None, PRODUCTS_PAGE)
        errors.append("That page link is not valid any more; here is the first page.")
    editing = None
    if visit.arg("edit", 64):
        try:
            editing = reference.get_product(repo, visit.arg("edit", 64))
        except ACTION_ERRORS:
            errors.append(f"There is no product {visit.arg('edit', 64)!r}.")
    return visit.page(
        "products",
        status if not errors or status != 200 else 422,
        title="Products",
        section="products",
        products=page,
        next_cursor=next_cursor,
        editing=editing,
        error="; ".join(errors),
        notice=notice,
    )


@console_route("/console/products", "GET", "products, a page at a time; a form to add or change one")
def console_products(visit: Visit) -> Response:
    return _products_page(visit)


@console_route("/console/products", "POST", "add or change a product (the version the page showed)")
def console_save_product(visit: Visit) -> Response:
    from chalicelib.service import reference

    sku = visit.form("sku", 64)
    try:
        spec = _validated(
            ProductSpec,
            {
                "name": visit.form("name", 200),
                **{
                    name: visit.form(name, 9)
                    for name in ("length_mm", "width_mm", "height_mm", "weight_grams")
                },
                **{flag: visit.form(flag) == "on" for flag in ("keep_upright", "hazmat", "active")},
            },
        )
        saved = reference.put_product(_repo(), sku, spec, if_match=_version(visit), actor=_actor(visit))
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _products_page(visit, status, error=text)
    verb = "added" if saved.created else ("saved" if saved.changed else "unchanged")
    return _products_page(visit, notice=f"Product {sku} {verb} (version {saved.version}).")


# --- boxes ------------------------------------------------------------------------------------------


def _boxes_page(
    visit: Visit, status: int = 200, *, error: str = "", notice: str = "", warehouse: str = ""
) -> Response:
    from chalicelib.service import reference

    repo = _repo()
    warehouses = reference.list_warehouses(repo)
    chosen = warehouse or visit.arg("warehouse", 40) or (warehouses[0].value.id if warehouses else "")
    boxes = []
    if chosen:
        try:
            boxes = reference.list_boxes(repo, chosen)
        except ACTION_ERRORS:
            error = error or f"There is no warehouse {chosen!r}."
            status = 422 if status == 200 else status
    editing = next((b for b in boxes if b.value.code == visit.arg("edit", 40)), None)
    return visit.page(
        "boxes",
        status,
        title="Boxes",
        section="boxes",
        warehouses=warehouses,
        warehouse=chosen,
        boxes=boxes,
        editing=editing,
        error=error,
        notice=notice,
    )


@console_route("/console/boxes", "GET", "a warehouse's box catalogue; forms to add, change or retire a box")
def console_boxes(visit: Visit) -> Response:
    return _boxes_page(visit)


@console_route("/console/boxes", "POST", "add or change a box (the version the page showed)")
def console_save_box(visit: Visit) -> Response:
    from chalicelib.service import reference

    warehouse, code = visit.form("warehouse", 40), visit.form("code", 40)
    names = ("inner_length_mm", "inner_width_mm", "inner_height_mm", "outer_length_mm", "outer_width_mm")
    try:
        definition = _validated(
            BoxDefinition,
            {
                **{name: visit.form(name, 9) for name in (*names, "outer_height_mm")},
                "tare_weight_grams": visit.form("tare_weight_grams", 9),
                "max_weight_grams": visit.form("max_weight_grams", 9),
                "cost": visit.form("cost", 20),
            },
        )
        saved = reference.put_box(
            _repo(), warehouse, code, definition, if_match=_version(visit), actor=_actor(visit)
        )
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _boxes_page(visit, status, error=text, warehouse=warehouse)
    verb = "added" if saved.created else ("saved" if saved.changed else "unchanged")
    return _boxes_page(visit, notice=f"Box {code} {verb} (version {saved.version}).", warehouse=warehouse)


@console_route("/console/boxes/retire", "POST", "retire a box from a warehouse's catalogue")
def console_retire_box(visit: Visit) -> Response:
    from chalicelib.service import reference

    warehouse, code = visit.form("warehouse", 40), visit.form("code", 40)
    try:
        reference.retire_box(_repo(), warehouse, code, if_match=_version(visit), actor=_actor(visit))
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _boxes_page(visit, status, error=text, warehouse=warehouse)
    return _boxes_page(visit, notice=f"Box {code} retired.", warehouse=warehouse)


# --- transit table ----------------------------------------------------------------------------------


def _transit_repo() -> Any:
    from chalicelib.bootstrap import transit_store

    return transit_store()


def _transit_page(visit: Visit, status: int = 200, *, error: str = "", notice: str = "") -> Response:
    from chalicelib.service import transit

    rows = transit.list_transit_times(_transit_repo())
    wanted = (visit.arg("carrier", 40), visit.arg("service", 60))
    editing = next((r for r in rows if r.value.key == wanted), None)
    return visit.page(
        "transit_times",
        status,
        title="Transit times",
        section="transit-times",
        rows=rows,
        editing=editing,
        error=error,
        notice=notice,
    )


@console_route("/console/transit-times", "GET", "the transit table; forms to add, change or remove a row")
def console_transit_times(visit: Visit) -> Response:
    return _transit_page(visit)


@console_route("/console/transit-times", "POST", "add or change a transit row (the version the page showed)")
def console_save_transit_time(visit: Visit) -> Response:
    from chalicelib.service import transit

    carrier, service = visit.form("carrier", 40), visit.form("service", 60)
    try:
        spec = _validated(
            TransitTimeSpec,
            {
                "min_days": visit.form("min_days", 3),
                "max_days": visit.form("max_days", 3),
                "shipping_methods": [
                    line.strip()
                    for line in visit.form("shipping_methods", 12000).splitlines()
                    if line.strip()
                ],
            },
        )
        saved = transit.put_transit_time(
            _transit_repo(), carrier, service, spec, if_match=_version(visit), actor=_actor(visit)
        )
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _transit_page(visit, status, error=text)
    verb = "added" if saved.created else ("saved" if saved.changed else "unchanged")
    return _transit_page(visit, notice=f"Transit time {carrier}/{service} {verb} (version {saved.version}).")


@console_route(
    "/console/transit-times/remove", "POST", "remove a transit row (its services fall back to the defaults)"
)
def console_remove_transit_time(visit: Visit) -> Response:
    from chalicelib.service import transit

    carrier, service = visit.form("carrier", 40), visit.form("service", 60)
    try:
        transit.remove_transit_time(
            _transit_repo(), carrier, service, if_match=_version(visit), actor=_actor(visit)
        )
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _transit_page(visit, status, error=text)
    return _transit_page(visit, notice=f"Transit time {carrier}/{service} removed.")


# --- API keys ---------------------------------------------------------------------------------------


def _keys_page(
    visit: Visit, status: int = 200, *, error: str = "", notice: str = "", minted: Any = None
) -> Response:
    from chalicelib.service import reference

    repo = _repo()
    return visit.page(
        "api_keys",
        status,
        title="API keys",
        section="api-keys",
        keys=reference.list_api_keys(repo),
        warehouses=reference.list_warehouses(repo),
        minted=minted,
        own_key=visit.who.key_id,
        error=error,
        notice=notice,
    )


@console_route("/console/api-keys", "GET", "API keys: roles, scopes, labels, last use; mint and revoke")
def console_api_keys(visit: Visit) -> Response:
    return _keys_page(visit)


@console_route("/console/api-keys", "POST", "mint an API key (shown once, on the answer page)")
def console_mint_api_key(visit: Visit) -> Response:
    from chalicelib.service import reference

    try:
        request = _validated(
            ApiKeyRequest,
            {
                "role": visit.form("role", 20),
                "scope": visit.form("scope", 64),
                "label": visit.form("label", 200),
            },
        )
        minted = reference.mint_api_key(_repo(), request, actor=_actor(visit))
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _keys_page(visit, status, error=text)
    return _keys_page(visit, 201, minted=minted)


@console_route("/console/api-keys/revoke", "POST", "revoke an API key by its id")
def console_revoke_api_key(visit: Visit) -> Response:
    from chalicelib.service import reference

    key_id = visit.form("key_id", 40)
    try:
        reference.revoke_api_key(_repo(), key_id, actor=_actor(visit))
    except _FAILURES as exc:
        status, text = _outcome(exc)
        return _keys_page(visit, status, error=text)
    visit.svc.api_keys.forget_cached()
    return _keys_page(visit, notice=f"Key {key_id} revoked.")


__all__ = ["Refused"]
