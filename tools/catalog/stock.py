"""Stock import: each row a goods receipt, booked through the service's goods-receipt use case.

Columns (CSV) or keys (JSON): ``warehouse_id``, ``sku``, ``quantity``, ``reference`` (the delivery
note or purchase order the goods came with: required, it is what makes a re-run harmless).

Every row becomes one ``receive_stock`` call, the same use case as ``POST
/v1/inventory/{warehouse_id}/{sku}/receipts``: one transaction with its ``inventory.received``
event, after which the allocation worker hands the new units to waiting backorders. The row's
idempotency key is ``catalog-import:<reference>:<sku>`` in the warehouse's receipt scope and is
kept for good, so the same file imported again books nothing twice (and a row whose reference was
booked with another quantity is refused, before anything of the file is written).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chalicelib.api.warehouse import GoodsReceipt
from chalicelib.domain.errors import DomainError
from chalicelib.service.ports import Clock, IdGenerator, UnitOfWorkFactory
from tools.catalog.drafts import parse_int
from tools.catalog.progress import Progress
from tools.catalog.readers import Row, RowProblem

__all__ = ["IMPORT_ACTOR", "Receipt", "StockPlan", "apply_receipts", "plan_receipts", "read_receipts"]

IMPORT_ACTOR = "system:catalog-import"
COLUMNS = ("warehouse_id", "sku", "quantity", "reference")
_RECEIPT_SCOPE = "goods-receipt#{warehouse_id}"  # the scope receive_stock keeps its keys under


@dataclass(frozen=True)
class Receipt:
    line: int
    warehouse_id: str
    sku: str
    quantity: int
    reference: str

    @property
    def idempotency_key(self) -> str:
        return f"catalog-import:{self.reference}:{self.sku}"


def _text(row: Row, name: str) -> str:
    value = row.values.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_receipts(rows: Iterable[Row]) -> tuple[list[Receipt], list[RowProblem]]:
    """Receipts of a file and its bad rows; a receipt is checked by the API's own body model."""
    receipts: list[Receipt] = []
    problems: list[RowProblem] = []
    first_line: dict[tuple[str, str, str], int] = {}
    for row in rows:
        messages = list(row.problems)
        unknown = sorted(set(row.values) - set(COLUMNS))
        if unknown:
            messages.append(f"unknown column(s) {', '.join(unknown)} (expected {', '.join(COLUMNS)})")
        warehouse_id, sku = _text(row, "warehouse_id"), _text(row, "sku")
        messages += [
            f"{name} is empty" for name, value in (("warehouse_id", warehouse_id), ("sku", sku)) if not value
        ]
        quantity: Any = row.values.get("quantity")
        if isinstance(quantity, str):
            quantity = parse_int(quantity.strip())
        raw_reference = row.values.get("reference")
        reference = _text(row, "reference")
        if raw_reference is None or (isinstance(raw_reference, str) and not reference):
            messages.append("reference is empty (the delivery note or order the goods came with)")
        try:
            body = GoodsReceipt.model_validate(
                {
                    "quantity": quantity,
                    "reference": reference if isinstance(raw_reference, str) else raw_reference,
                }
            )
        except ValidationError as error:
            messages += [_pydantic_message(e) for e in error.errors()]
            body = None
        key = (warehouse_id, sku, reference)
        if reference and key in first_line:
            messages.append(
                f"the same receipt ({warehouse_id}, {sku}, {reference}) as line {first_line[key]}"
            )
        first_line.setdefault(key, row.line)
        if messages or body is None:
            problems += [RowProblem(row.line, message) for message in messages]
            continue
        receipts.append(Receipt(row.line, warehouse_id, sku, body.quantity, reference))
    return receipts, problems


def _pydantic_message(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "row"
    return f"{where}: {error.get('msg', 'invalid')}"


@dataclass
class StockPlan:
    """What an import of receipts would do: book ``new``; ``booked`` are there already."""

    new: list[Receipt]
    booked: list[Receipt]
    problems: list[RowProblem]


def plan_receipts(uow_factory: UnitOfWorkFactory, receipts: list[Receipt]) -> StockPlan:
    """Check receipts against the table (reads only): known warehouses and SKUs, and which rows
    were imported before (with the same quantity, or refused)."""
    uow = uow_factory()
    warehouses = {w.id for w in uow.list_warehouses()}
    known_skus = set(uow.get_products({r.sku for r in receipts}))
    plan = StockPlan(new=[], booked=[], problems=[])
    for receipt in receipts:
        if receipt.warehouse_id not in warehouses:
            plan.problems.append(RowProblem(receipt.line, f"unknown warehouse {receipt.warehouse_id}"))
            continue
        if receipt.sku not in known_skus:
            plan.problems.append(
                RowProblem(receipt.line, f"unknown SKU {receipt.sku} (import the product first)")
            )
            continue
        seen = uow.get_dedup(
            _RECEIPT_SCOPE.format(warehouse_id=receipt.warehouse_id), receipt.idempotency_key
        )
        if seen is None:
            plan.new.append(receipt)
            continue
        booked = (seen.data or {}).get("data", {}).get("quantity")
        if booked != receipt.quantity:
            plan.problems.append(
                RowProblem(
                    receipt.line,
                    f"reference {receipt.reference} was imported for {receipt.sku} in "
                    f"{receipt.warehouse_id} with quantity {booked}, not {receipt.quantity} "
                    "(a correction is a stock count or a new receipt with its own reference)",
                )
            )
            continue
        plan.booked.append(receipt)
    return plan


def apply_receipts(
    uow_factory: UnitOfWorkFactory,
    receipts: list[Receipt],
    *,
    ids: IdGenerator,
    clock: Clock,
    progress: Progress | None = None,
) -> list[RowProblem]:
    """Book each receipt (one transaction each, as the API does). Returns rows the service refused
    meanwhile (e.g. a warehouse removed since the check); the others are booked."""
    from chalicelib.service.inventory import receive_stock

    refused: list[RowProblem] = []
    for receipt in receipts:
        try:
            receive_stock(
                uow_factory,
                receipt.warehouse_id,
                receipt.sku,
                receipt.quantity,
                reference=receipt.reference,
                idempotency_key=receipt.idempotency_key,
                actor=IMPORT_ACTOR,
                ids=ids,
                clock=clock,
                key_ttl_seconds=None,
            )
        except DomainError as error:
            refused.append(RowProblem(receipt.line, str(error)))
        if progress is not None:
            progress.advance()
    return refused
