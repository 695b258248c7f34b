"""Benchmarks (``make bench``): ratios measured in one run, printed and written to docs/performance.md.

1. packing advice at 3, 12, 50, 200 and 1,000 units (:mod:`bench.packing`);
2. the cold ``import app``, the API's first request and a worker's first invocation against a
   bare Chalice + boto3 app (:mod:`bench.imports`);
3. an order's journey, place to delivered e-mail, with the AWS calls, DynamoDB units and
   list-price cost of each step (:mod:`bench.journey`, in a child process that runs the local stack
   with its request meter on; :mod:`bench.breakdown`, :mod:`bench.cost`);
4. the local stack at volume, in its own process (``python -m infra.local``): placement against a
   raw transaction, placed -> confirmed, flatness, memory, idle CPU (:mod:`bench.volume`);
5. a 10,000-product catalogue imported with ``tools.catalog`` against raw ``BatchWriteItem`` writes
   of the same items, in a child process with moto in process (:mod:`bench.catalog`).

Every figure is measured, never asserted. The run stops by itself: the volume part places orders
until ``--orders`` or until ``--budget`` seconds have passed, and says which. ``--quick`` is a
short run (200 orders, 2 journeys) for trying things out; it does not write the doc unless
``--write`` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import catalog, imports, packing, report, volume
from bench.common import ROOT, clean_environment, stop_on_sigterm
from bench.journey import MARKER

BASELINE = Path(__file__).with_name("baseline") / "journey-before.json"


def run_journey(orders: int) -> dict[str, Any]:
    """bench.journey in a child process (it hosts a local stack in process) and its JSON result."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.journey", "--orders", str(orders)],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])  # type: ignore[no-any-return]
    raise RuntimeError(
        f"bench.journey ended with {completed.returncode} and no result:\n{completed.stderr[-3000:]}"
    )


def run_catalog(products: int) -> dict[str, Any]:
    """bench.catalog in a child process (moto in process there) and its JSON result."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.catalog", "--products", str(products)],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(catalog.MARKER):
            return json.loads(line[len(catalog.MARKER) :])  # type: ignore[no-any-return]
    raise RuntimeError(
        f"bench.catalog ended with {completed.returncode} and no result:\n{completed.stderr[-3000:]}"
    )


def run_tests() -> str:
    started = time.monotonic()
    completed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "-n", "2", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else "no output"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s ({summary})"


def run_parts(args: argparse.Namespace, saved: dict[str, Any]) -> None:
    """Each part not already in ``saved`` (from --reuse), its figures saved under its name."""
    if "packing" not in saved:
        print("packing advice ...", flush=True)
        saved["packing"] = packing.run()
    if "imports" not in saved:
        print("cold import of the app ...", flush=True)
        saved["imports"] = imports.run()
        print(imports.summary(saved["imports"]), flush=True)
    if "journey" not in saved and not args.skip_journey:
        print(f"an order's journey x{args.journeys} (local stack with the request meter) ...", flush=True)
        try:
            saved["journey"] = run_journey(args.journeys)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"the journey failed: {error}", flush=True)
    if "volume" not in saved and not args.skip_volume:
        print(f"the local stack at volume: up to {args.orders} orders, {args.budget:.0f} s ...", flush=True)
        saved["volume"] = volume.summary(volume.run(args.orders, args.budget, args.config))
    if "catalog" not in saved and not args.skip_catalog:
        print(f"a {args.products:,}-product catalogue import ...", flush=True)
        try:
            saved["catalog"] = run_catalog(args.products)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"the catalogue import failed: {error}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="OMS benchmarks")
    parser.add_argument("--orders", type=int, default=2000, help="placements in the volume run (2000)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds of placing at most (480)")
    parser.add_argument("--journeys", type=int, default=5, help="orders walked place -> delivered (5)")
    parser.add_argument("--config", type=Path, help="local.json of a running stack for the volume run")
    parser.add_argument("--quick", action="store_true", help="200 orders, 2 journeys, no doc unless --write")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md even with --quick")
    parser.add_argument("--skip-volume", action="store_true", help="leave out the volume run")
    parser.add_argument("--with-tests", action="store_true", help="also time the whole test suite (-n 2)")
    parser.add_argument("--save-baseline", action="store_true", help="keep this journey as the 'before'")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a JSON of earlier results (packing, imports, journey, volume): parts found there are not "
        "run again, and every part of this run is saved back to it",
    )
    parser.add_argument("--skip-journey", action="store_true", help="leave out the journey")
    parser.add_argument("--skip-catalog", action="store_true", help="leave out the catalogue import")
    parser.add_argument(
        "--products", type=int, default=10_000, help="products in the catalogue import (10000)"
    )
    args = parser.parse_args()
    stop_on_sigterm()
    if args.quick:
        args.orders, args.journeys, args.budget = (
            min(args.orders, 200),
            min(args.journeys, 2),
            min(args.budget, 120),
        )

    print("OMS benchmarks: measured, never asserted\n", flush=True)
    saved: dict[str, Any] = {}
    if args.reuse is not None and args.reuse.exists():
        saved = json.loads(args.reuse.read_text(encoding="utf-8"))
    run_parts(args, saved)
    journey = saved.get("journey")
    if args.save_baseline and journey is not None:
        BASELINE.parent.mkdir(exist_ok=True)
        BASELINE.write_text(json.dumps(journey, indent=1) + "\n", encoding="utf-8")
    before = json.loads(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else None
    if args.reuse is not None:
        args.reuse.write_text(json.dumps(saved), encoding="utf-8")
    volume_figures = saved.get("volume")
    packing_rows = saved["packing"]
    import_figures = saved["imports"]
    tests_after = run_tests() if args.with_tests else None

    section = report.render(
        volume=volume_figures,
        journey=journey,
        journey_before=before,
        packing=packing_rows,
        imports=import_figures,
        tests_after=tests_after,
        catalog=saved.get("catalog"),
    )
    print()
    print(section)
    if not args.quick or args.write:
        report.write(section)
        print(f"\nwritten to {report.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
