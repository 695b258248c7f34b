"""Product import: drafts validated by the service's product model, written in batches.

The service's own rules decide (``chalicelib.domain.reference.ProductSpec``, the body of ``PUT
/v1/products/{sku}``, and ``chalicelib.service.reference_bulk.plan_products``): a row the API would
refuse, the import refuses, naming its line. A file with any bad row writes nothing.

Writing goes through ``plan_products`` / ``commit_in_batches``: the products already in the table
are read in batches, only those that differ become changes (each with its ``product.changed``
event and a new version), and whole changes are packed into transactions of up to 100 items. A
file imported twice therefore changes nothing the second time: no event, no version bump.

The native format (what ``export`` writes): columns ``sku``, ``name``, ``length_mm``,
``width_mm``, ``height_mm``, ``weight_grams``, ``keep_upright``, ``hazmat``, ``active`` and one
``bin:<warehouse id>`` column per warehouse; in JSON, objects with those keys and ``bins`` as an
object of warehouse id to bin.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.errors import InputInvalid
from chalicelib.domain.models import is_sku
from chalicelib.domain.reference import ProductSpec
from chalicelib.service.reference import Actor, ProductChange, ReferenceRepository
from chalicelib.service.reference_bulk import BulkOutcome, commit_in_batches, plan_products
from tools.catalog.drafts import Draft, Skipped, parse_bool, parse_int
from tools.catalog.progress import Progress
from tools.catalog.readers import FileProblem, Row, RowProblem

__all__ = [
    "BIN_PREFIX",
    "FLAG_FIELDS",
    "INTEGER_FIELDS",
    "ProductPlan",
    "native_drafts",
    "plan_import",
    "validate_drafts",
    "write_plan",
]

BIN_PREFIX = "bin:"
INTEGER_FIELDS = ("length_mm", "width_mm", "height_mm", "weight_grams")
FLAG_FIELDS = ("keep_upright", "hazmat", "active")
COLUMNS = ("sku", "name", *INTEGER_FIELDS, *FLAG_FIELDS)
#: Changes committed between two redraws of the progress bar (several transactions each).
WRITE_SLICE = 500


def native_drafts(rows: Iterable[Row]) -> Iterator[Draft]:
    """Drafts of the native format. CSV cells become numbers and flags where they clearly are
    one; anything else is passed on as written, for the model to refuse with its own words."""
    first = True
    for row in rows:
        if first:
            _not_a_store_export(row)
            first = False
        fields: dict[str, Any] = {}
        problems = list(row.problems)
        bins: dict[str, Any] = {}
        for name, value in row.values.items():
            if not isinstance(value, str):
                fields[name] = value  # JSON: typed already
            elif name.startswith(BIN_PREFIX):
                if value:
                    bins[name.removeprefix(BIN_PREFIX)] = value
            elif value == "":
                continue  # an empty cell: the field's default, or "missing" if it has none
            elif name in INTEGER_FIELDS:
                fields[name] = parse_int(value)
            elif name in FLAG_FIELDS:
                fields[name] = parse_bool(value)
            else:
                fields[name] = value
        if bins:
            fields["bins"] = bins
        if "sku" not in fields:
            problems.append("sku is empty")
        yield Draft(line=row.line, fields=fields, problems=problems)


def _not_a_store_export(row: Row) -> None:
    """A store's export read as the native format would fail on every row: say what it is."""
    columns = set(row.values)
    if {"Handle", "Title"} <= columns or {"URL handle", "Title"} <= columns:
        raise FileProblem("this is a Shopify product export: import it with --from shopify")
    if {"Type", "SKU", "Name"} <= columns:
        raise FileProblem("this is a WooCommerce product export: import it with --from woocommerce")


def _pydantic_problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "row"
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "extra_forbidden":
        message = "not a product field"
    return f"{where}: {message}"


@dataclass
class ProductPlan:
    """What an import of products does: the service's decision and the rows it skipped."""

    drafts: list[Draft] = field(default_factory=list)
    specs: list[tuple[str, ProductSpec]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line of each spec
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    outcome: BulkOutcome | None = None
    changes: list[ProductChange] = field(default_factory=list)


def validate_drafts(drafts: Iterable[Draft | Skipped]) -> ProductPlan:
    """Each draft through the product model; the bad ones become problems with their line."""
    plan = ProductPlan()
    first_line: dict[str, int] = {}
    for draft in drafts:
        if isinstance(draft, Skipped):
            plan.skipped.append(draft)
            continue
        plan.drafts.append(draft)
        messages = list(draft.problems)
        sku = draft.sku
        if sku and not is_sku(sku):
            messages.append(f"sku: {sku!r} is not a SKU (1-64 letters, digits, '.', '_', '-', '/')")
        if sku in first_line:
            messages.append(f"sku {sku} is on line {first_line[sku]} already")
        elif sku:
            first_line[sku] = draft.line
        body = {name: value for name, value in draft.fields.items() if name != "sku"}
        try:
            spec = ProductSpec.model_validate(body)
        except ValidationError as error:
            messages += [_pydantic_problem(e) for e in error.errors()]
            spec = None
        if messages or spec is None:
            plan.problems += [RowProblem(draft.line, message) for message in dict.fromkeys(messages)]
            continue
        plan.specs.append((sku, spec))
        plan.lines.append(draft.line)
    return plan


def plan_import(repo: ReferenceRepository, plan: ProductPlan, *, actor: Actor) -> ProductPlan:
    """Ask the service what the valid rows would write (reads only). Rows it refuses (an unknown
    warehouse in a bin, say) join the problems with their line, so one run reports them all."""
    if not plan.specs:
        return plan
    try:
        plan.outcome, plan.changes = plan_products(repo, plan.specs, actor=actor)
    except InputInvalid as error:
        for item in error.errors:
            index = item.loc[0] if item.loc and isinstance(item.loc[0], int) else None
            line = plan.lines[index] if index is not None and index < len(plan.lines) else 0
            where = ".".join(str(part) for part in item.loc[1:])
            plan.problems.append(RowProblem(line, f"{where}: {item.msg}" if where else item.msg))
        plan.problems.sort(key=lambda p: p.line)
    return plan


def write_plan(
    repo: ReferenceRepository, changes: Sequence[ProductChange], *, progress: Progress | None = None
) -> int:
    """Commit the planned changes, whole changes per transaction; returns the transactions made.

    A failure part-way (a product changed by someone else meanwhile, the network) leaves the
    transactions before it written and the rest not: importing the file again finishes the job,
    since what is written already is unchanged the second time."""
    transactions = 0
    for start in range(0, len(changes), WRITE_SLICE):
        part = changes[start : start + WRITE_SLICE]
        transactions += commit_in_batches(repo, part)
        if progress is not None:
            progress.advance(len(part))
    return transactions
