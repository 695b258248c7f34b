"""The command line of ``python -m tools.catalog`` (usage in the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

import tools.catalog as package
from chalicelib.domain.errors import DomainError
from tools import Target, add_target_arguments, resolve_target
from tools.catalog.drafts import Draft, Skipped
from tools.catalog.progress import Progress
from tools.catalog.readers import FileProblem, Row, RowProblem, read_rows
from tools.catalog.stock import IMPORT_ACTOR, apply_receipts, plan_receipts, read_receipts
from tools.catalog.stores import Dimensions, parse_dimensions, shopify_drafts, woocommerce_drafts

SOURCES = ("native", "shopify", "woocommerce")


def _clock() -> Any:
    from chalicelib.bootstrap import SystemClock

    return SystemClock()


def _ids() -> Any:
    from chalicelib.domain.ids import UlidGenerator

    return UlidGenerator()


def _dynamodb(target: Target) -> Any:
    return target.client("dynamodb")


def repository(client: Any, table: str) -> Any:
    from chalicelib.adapters.reference import DynamoReferenceStore

    return DynamoReferenceStore(client, table)


def unit_of_work_factory(client: Any, table: str) -> Any:
    from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWorkFactory

    return DynamoUnitOfWorkFactory(client, table)


# --- reporting ------------------------------------------------------------------------------------


def _report_problems(problems: Sequence[RowProblem], out: TextIO) -> None:
    for problem in sorted(problems, key=lambda p: p.line):
        print(str(problem), file=out)


def _report_skipped(skipped: Sequence[Skipped], out: TextIO) -> None:
    if not skipped:
        return
    reasons = Counter(s.reason for s in skipped)
    listed = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    print(f"skipped {len(skipped)} row(s): {listed}", file=out)


def _refused(problems: Sequence[RowProblem], out: TextIO) -> int:
    _report_problems(problems, out)
    rows = len({p.line for p in problems})
    print(f"{rows} bad row(s): nothing written", file=out)
    return 1


# --- products -------------------------------------------------------------------------------------


def product_drafts(
    rows: Iterator[Row], source: str, dimensions: Dimensions | None
) -> Iterator[Draft | Skipped]:
    from tools.catalog.products import native_drafts

    if source == "shopify":
        return shopify_drafts(rows, default_dimensions_mm=dimensions)
    if source == "woocommerce":
        return woocommerce_drafts(rows)
    return native_drafts(rows)


def import_products(
    repo: Any,
    path: Path,
    *,
    source: str = "native",
    default_dimensions: Dimensions | None = None,
    dry_run: bool = False,
    show_progress: bool = True,
    out: TextIO | None = None,
) -> int:
    from chalicelib.service.reference import Actor
    from tools.catalog.products import plan_import, validate_drafts, write_plan

    out = out or sys.stdout
    plan = validate_drafts(product_drafts(read_rows(path), source, default_dimensions))
    _report_skipped(plan.skipped, out)
    actor = Actor(name=IMPORT_ACTOR, clock=_clock(), ids=_ids())
    plan = plan_import(repo, plan, actor=actor)
    if plan.problems:
        return _refused(plan.problems, out)
    outcome = plan.outcome
    created, changed, unchanged = (
        (len(outcome.created), len(outcome.changed), len(outcome.unchanged)) if outcome else (0, 0, 0)
    )
    if default_dimensions is not None and plan.specs:
        d = default_dimensions
        print(
            f"{len(plan.specs)} product(s) given the default dimensions "
            f"{d.length_mm}x{d.width_mm}x{d.height_mm} mm",
            file=out,
        )
    if dry_run:
        print(
            f"dry run: {created} product(s) would be created, {changed} changed, {unchanged} unchanged; "
            "nothing written",
            file=out,
        )
        return 0
    progress = Progress("products", len(plan.changes), enabled=show_progress)
    try:
        transactions = write_plan(repo, plan.changes, progress=progress)
    finally:
        progress.close()
    print(
        f"{created} product(s) created, {changed} changed, {unchanged} unchanged "
        f"({transactions} transaction(s))",
        file=out,
    )
    return 0


# --- stock ----------------------------------------------------------------------------------------


def import_stock(
    uow_factory: Any,
    path: Path,
    *,
    dry_run: bool = False,
    show_progress: bool = True,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    receipts, problems = read_receipts(read_rows(path))
    plan = plan_receipts(uow_factory, receipts)  # the valid rows against the table: reads only
    if problems or plan.problems:
        return _refused([*problems, *plan.problems], out)
    units = sum(r.quantity for r in plan.new)
    if dry_run:
        print(
            f"dry run: {len(plan.new)} receipt(s) of {units} unit(s) would be booked, "
            f"{len(plan.booked)} booked already; nothing written",
            file=out,
        )
        return 0
    progress = Progress("receipts", len(plan.new), enabled=show_progress)
    try:
        refused = apply_receipts(uow_factory, plan.new, ids=_ids(), clock=_clock(), progress=progress)
    finally:
        progress.close()
    booked = len(plan.new) - len(refused)
    if refused:
        _report_problems(refused, out)
    print(
        f"{booked} receipt(s) booked, {len(plan.booked)} booked already"
        + (f", {len(refused)} refused (the others are booked; fix and import again)" if refused else ""),
        file=out,
    )
    return 1 if refused else 0


# --- export ---------------------------------------------------------------------------------------


def export_products(repo: Any, out_path: Path | None, *, fmt: str | None, out: TextIO) -> int:
    from tools.catalog.export import all_products, write_csv, write_json

    records = list(all_products(repo))
    chosen = fmt or (out_path.suffix.lower().lstrip(".") if out_path else "csv")
    if chosen not in ("csv", "json"):
        raise FileProblem(f"unknown export format {chosen!r}: csv or json")
    writer: Callable[[list[Any], TextIO], None] = write_json if chosen == "json" else write_csv
    if out_path is None:
        writer(records, out)
        return 0
    with out_path.open("w", encoding="utf-8", newline="") as file:
        writer(records, file)
    print(f"{len(records)} product(s) written to {out_path}", file=sys.stderr)
    return 0


# --- command line ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.catalog",
        description=(package.__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="docs/catalog-import.md describes the file formats.",
    )
    add_target_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("import", "import products (or stock, with --kind stock) from a CSV or JSON file"),
        ("import-stock", "import stock: each row a goods receipt (same as import --kind stock)"),
    ):
        command = commands.add_parser(name, help=text)
        add_target_arguments(command, suppress_defaults=True)
        command.add_argument("file", type=Path)
        if name == "import":
            command.add_argument("--kind", choices=("products", "stock"), default="products")
            command.add_argument(
                "--from",
                dest="source",
                choices=SOURCES,
                default="native",
                help="the file's layout: native (default), a Shopify or a WooCommerce product export",
            )
            command.add_argument(
                "--default-dimensions",
                type=_dimensions,
                metavar="LxWxH",
                help="millimetres for products whose file gives none (Shopify exports have none)",
            )
        command.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
        command.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    export = commands.add_parser("export", help="write every product in the native import format")
    add_target_arguments(export, suppress_defaults=True)
    export.add_argument("--out", type=Path, help="file to write (.csv or .json); standard output if absent")
    export.add_argument("--format", choices=("csv", "json"), help="default: from --out's suffix, else csv")
    return parser


def _dimensions(text: str) -> Dimensions:
    try:
        return parse_dimensions(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace, client: Any, table: str, out: TextIO | None = None) -> int:
    """One command against a table; the report goes to ``out`` (standard output by default)."""
    out = out or sys.stdout
    if args.command == "export":
        return export_products(repository(client, table), args.out, fmt=args.format, out=out)
    kind = "stock" if args.command == "import-stock" else args.kind
    progress = not args.no_progress
    if kind == "stock":
        if args.command == "import" and (args.source != "native" or args.default_dimensions):
            raise FileProblem("--from and --default-dimensions are for products, not stock")
        return import_stock(
            unit_of_work_factory(client, table),
            args.file,
            dry_run=args.dry_run,
            show_progress=progress,
            out=out,
        )
    return import_products(
        repository(client, table),
        args.file,
        source=args.source,
        default_dimensions=args.default_dimensions,
        dry_run=args.dry_run,
        show_progress=progress,
        out=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        target = resolve_target(args)
        return run(args, _dynamodb(target), target.table)
    except (FileProblem, FileNotFoundError, IsADirectoryError) as error:
        print(f"tools.catalog: {error}", file=sys.stderr)
        return 1
    except DomainError as error:
        print(f"tools.catalog: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"tools.catalog: AWS error: {error}", file=sys.stderr)
        return 1
