"""Inventory: stock by warehouse and SKU (low, overstock, days of cover) and cycle counts."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.console.visit import ACTION_ERRORS, Visit, console_route, plain_error
from chalicelib.service.inventory import count_stock, stock_lines


def _inventory_page(visit: Visit, status: int = 200, *, error: str = "", counted: Any = None) -> Response:
    svc = visit.svc
    warehouses = svc.uow_factory().list_warehouses()
    warehouse = visit.arg("warehouse", 64)
    show = visit.arg("show", 20) or "all"
    errors = [error] if error else []
    if warehouse and warehouse not in {w.id for w in warehouses}:
        errors.append(f"There is no warehouse {warehouse!r}.")
        warehouse = ""
    if show not in ("all", "low", "overstock"):
        show = "all"
    lines = stock_lines(
        svc.uow_factory,
        svc.stock,
        warehouse_id=warehouse or None,
        below_reorder_point=show == "low",
        overstock=show == "overstock",
        clock=svc.clock,
    )
    if errors and status == 200:
        status = 422
    return visit.page(
        "inventory",
        status,
        title="Inventory",
        section="inventory",
        warehouses=warehouses,
        warehouse=warehouse,
        show=show,
        lines=lines,
        counted=counted,
        error=" ".join(errors),
        form_sku=visit.form("sku", 64) if visit.call.request.method == "POST" else "",
        form_warehouse=visit.form("warehouse", 64) if visit.call.request.method == "POST" else "",
    )


@console_route("/console/inventory", "GET", "stock by warehouse and SKU: low, overstock, days of cover")
def console_inventory(visit: Visit) -> Response:
    return _inventory_page(visit)


@console_route("/console/inventory/counts", "POST", "record a cycle count (warehouse, sku, counted)")
def console_count(visit: Visit) -> Response:
    svc = visit.svc
    warehouse, sku, counted_text = (
        visit.form("warehouse", 64),
        visit.form("sku", 64),
        visit.form("counted", 12),
    )
    try:
        counted = int(counted_text)
    except ValueError:
        return _inventory_page(visit, 422, error="Units counted must be a whole number.")
    if not 0 <= counted <= 10_000_000:
        return _inventory_page(visit, 422, error="Units counted must be between 0 and 10,000,000.")
    if not warehouse or not sku:
        return _inventory_page(visit, 422, error="Choose a warehouse and enter a SKU.")
    try:
        event = count_stock(
            svc.uow_factory, warehouse, sku, counted, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        )
    except ACTION_ERRORS as exc:
        status, text = plain_error(exc)
        return _inventory_page(visit, status, error=text)
    return _inventory_page(visit, counted=event)
