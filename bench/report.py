"""The benchmark's results as Markdown, written between two markers of docs/performance.md."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.breakdown import StepFigures, by_caller, figures, sum_usage
from bench.common import ROOT
from bench.cost import price, total

DOC = ROOT / "docs" / "performance.md"
START = "<!-- bench:start (written by `make bench`; edit bench/report.py instead) -->"
END = "<!-- bench:end -->"

#: ``make test`` on the 2-core reference machine before the moto patches (recorded by hand:
#: the benchmark does not run the suite unless asked with --with-tests).
TESTS_BEFORE = "4 min 04 s (pytest 243.8 s, 1463 passed, `-n 2`)"

GOALS = {
    "placement_ratio": 4.0,
    "flatness": 1.2,
    "rss_mib": 600.0,
    "idle_cpu": 0.03,
    "cost": 25.0,
    "import_ratio": 1.5,
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
        f"load average at the end of the run {load}"
    )


def _verdict(value: float | None, goal: float, lower_is_better: bool = True) -> str:
    if value is None:
        return "not measured"
    met = value <= goal if lower_is_better else value >= goal
    return "met" if met else f"missed ({value / goal:.1f}\u00d7 the goal)"


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


TIMES = "\u00d7"
LE = "\u2264"
DASH = "\u2013"


def _volume_rows(volume: Mapping[str, Any]) -> list[str]:
    placed = volume["placed"]
    short = placed < 2000
    ratio, first, raw = volume["placement_ratio"], volume["first_p50_ms"], volume["raw_p50_ms"]
    rows = [
        f"| placement over HTTP (p50 of the first 100) / raw 6-item `TransactWriteItems` (p50) "
        f"| {_fmt(ratio, '.1f', TIMES)} ({first:.0f} ms / {raw:.1f} ms) | {LE} 4{TIMES} "
        f"| {_verdict(ratio, GOALS['placement_ratio'])} |"
    ]
    label = (
        f"the last 100 of {placed} / the first 100" if short else f"placements 1,901{DASH}2,000 / 1{DASH}100"
    )
    budget_note = f"; only {placed} orders placed within the time budget" if short else ""
    rows.append(
        f"| flatness: p50 of {label} | {_fmt(volume['flatness'], '.2f')} "
        f"({_fmt(volume['last_p50_ms'], '.0f', ' ms')} / {first:.0f} ms) | {LE} 1.2 "
        f"| {_verdict(volume['flatness'], GOALS['flatness'])}{budget_note} |"
    )
    after, drained = (
        _fmt(volume["rss_after_mib"], ".0f", " MiB"),
        _fmt(volume["rss_drained_mib"], ".0f", " MiB"),
    )
    rows.append(
        f"| resident memory of the stack after {placed} orders (after draining) | {after} ({drained}) "
        f"| {LE} 600 MiB after 2,000 | {_verdict(volume['rss_after_mib'], GOALS['rss_mib'])}"
        f"{' (fewer orders than the goal assumes)' if short else ''} |"
    )
    fresh, rest = volume["idle_cpu_fresh"], volume["idle_cpu_after"]
    worst = None if fresh is None else max(fresh, rest or 0.0)
    rows.append(
        f"| CPU of the idle stack, fresh / after the orders drained "
        f"| {_fmt(fresh and fresh * 100, '.1f', '%')} / "
        + (
            f"still draining after {volume.get('drain_seconds') or 0:.0f} s"
            if volume.get("drained") is False
            else f"{_fmt(rest and rest * 100, '.1f', '%')} of a core"
        )
        + f" | < 3% | {_verdict(worst, GOALS['idle_cpu'])} |"
    )
    rows.append(
        f"| placed \u2192 confirmed through the pump, p50 / p99 "
        f"| {volume['confirm_p50_ms']:.0f} ms / {volume['confirm_p99_ms']:.0f} ms | — | — |"
    )
    return rows


def headline(
    volume: Mapping[str, Any] | None,
    cost_now: float | None,
    cost_http_api: float | None,
    imports: Mapping[str, float] | None,
    tests_after: str | None,
    cost_measured_lambda: float | None = None,
) -> list[str]:
    rows = ["| figure | measured | goal | verdict |", "|---|---|---|---|"]
    if volume:
        rows += _volume_rows(volume)
    if cost_now is not None:
        rows.append(
            f"| infrastructure per million orders, list prices (REST API / HTTP API) "
            f"| ${cost_now:.2f} / ${_fmt(cost_http_api, '.2f')} | {LE} $25 "
            f"| {_verdict(cost_now, GOALS['cost'])} |"
        )
    if cost_measured_lambda is not None:
        rows.append(
            f"| the same with Lambda's time as timed here (an upper bound, see above) "
            f"| ${cost_measured_lambda:.2f} | — | — |"
        )
    if imports:
        rows += _import_rows(imports)
    rows.append(
        f"| `make test` wall time, before / after | {TESTS_BEFORE} / {tests_after or 'not run'} | — | — |"
    )
    return rows


def _import_rows(imports: Mapping[str, float]) -> list[str]:
    rows = [
        f"| cold `import app` (every function) / a bare Chalice + boto3 app | {imports['ratio']:.2f}{TIMES} "
        f"({imports['app_ms']:.0f} ms / {imports['bare_ms']:.0f} ms) | {LE} 1.5{TIMES} "
        f"| {_verdict(imports['ratio'], GOALS['import_ratio'])} |"
    ]
    if "api_ratio" in imports:  # figures saved by an earlier version of bench.imports have only the first
        rows += [
            f"| cold `import app` + the API's first request (`GET /v1/health`) / the bare app's "
            f"| {imports['api_ratio']:.2f}{TIMES} ({imports['api_first_ms']:.0f} ms / "
            f"{imports['bare_first_ms']:.0f} ms) | — (the API's code only) | — |",
            f"| cold `import app` + the receipt worker's first invocation imports / a bare app "
            f"| {imports['worker_ratio']:.2f}{TIMES} ({imports['worker_first_ms']:.0f} ms / "
            f"{imports['bare_ms']:.0f} ms) | — (that worker's code only) | — |",
        ]
    return rows


def catalog_rows(catalog: Mapping[str, Any] | None) -> list[str]:
    """The catalogue import (bench/catalog.py), as rows that continue the headline table."""
    if not catalog:
        return []
    products, ratio = catalog["products"], catalog["ratio"]
    return [
        f"| `tools.catalog import` of {products:,} products / raw `BatchWriteItem` of the same "
        f"{catalog['items_written']:,} items | {_fmt(ratio, '.1f', TIMES)} ({catalog['import_s']:.1f} s / "
        f"{catalog['floor_s']:.1f} s) | < 10 min (minutes, not hours) | "
        f"{'met' if catalog['import_s'] < 600 else 'missed'} |",
        f"| the same file imported again (nothing written) / a dry run "
        f"| {catalog['rerun_s']:.1f} s / {catalog['dry_run_s']:.1f} s | — | — |",
        f"| `tools.catalog import-stock` of {catalog['receipts']:,} goods receipts (one transaction each) "
        f"/ the same file again | {catalog['stock_s']:.1f} s / {catalog['stock_rerun_s']:.1f} s | — | — |",
    ]


def packing_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["| units | units are | p50 | p95 | runs |", "|---|---|---|---|---|"]
    for row in rows:
        if row["note"]:
            out.append(f"| {row['units']:,} | {row['kind']} | {row['note']} | | |")
        else:
            p50, p95 = row["p50_ms"], row["p95_ms"]
            out.append(f"| {row['units']:,} | {row['kind']} | {p50:.1f} ms | {p95:.1f} ms | {row['runs']} |")
    return out


def _calls_cell(calls: Mapping[str, float]) -> str:
    return ", ".join(f"{v:g} {k.split('.', 1)[1]}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))


def steps_table(steps: Sequence[StepFigures], before: Sequence[StepFigures] | None) -> list[str]:
    head = "| step | HTTP | AWS calls per order | read units | write units | $ per M orders |"
    out = [head, "|---|---|---|---|---|---|"]
    old = {s.step: s for s in before or []}
    for s in steps:
        was = old.get(s.step)
        money = f"{s.dollars:.2f}" + (f" (was {was.dollars:.2f})" if was else "")
        units = (
            f"| {s.read_units:g}"
            + (f" (was {was.read_units:g})" if was else "")
            + f" | {s.write_units:g}"
            + (f" (was {was.write_units:g})" if was else "")
        )
        out.append(f"| {s.step} | {s.usage.http_requests:g} | {_calls_cell(s.calls)} {units} | {money} |")
    return out


def dollars_table(steps: Sequence[StepFigures], before: Sequence[StepFigures] | None) -> list[str]:
    now_lines = price(sum_usage(s.usage for s in steps))
    old_lines = {line.component: line for line in price(sum_usage(s.usage for s in before))} if before else {}
    out = [
        "| component | per order | unit | $ per M orders | before |",
        "|---|---|---|---|---|",
    ]
    for line in now_lines:
        was = old_lines.get(line.component)
        out.append(
            f"| {line.component} | {line.quantity_per_order:.3g} | {line.unit} "
            f"| {line.dollars_per_million_orders:.2f} | {was.dollars_per_million_orders:.2f} |"
            if was
            else f"| {line.component} | {line.quantity_per_order:.3g} | {line.unit} "
            f"| {line.dollars_per_million_orders:.2f} | — |"
        )
    out.append(
        f"| **total** | | | **{total(now_lines):.2f}** | {total(old_lines.values()):.2f} |"
        if before
        else f"| **total** | | | **{total(now_lines):.2f}** | |"
    )
    return out


def item_sizes_table(sizes: Mapping[str, int]) -> list[str]:
    """The items one delivered order left, grouped by the part of the sort key before '#'."""
    groups: dict[str, list[int]] = {}
    for sort_key, size in sizes.items():
        groups.setdefault(sort_key.split("#", 1)[0], []).append(size)
    out = [
        "| items | count | bytes each (avg, max) | write units per transactional write |",
        "|---|---|---|---|",
    ]
    for name, values in sorted(groups.items()):
        biggest, average = max(values), sum(values) / len(values)
        units = 2 * -(-biggest // 1024)
        out.append(f"| {name} | {len(values)} | {average:.0f}, {biggest} | {units} |")
    return out


def callers_table(result: Mapping[str, Any]) -> list[str]:
    rows = by_caller(result)
    out = [
        "| function, operation | calls | read units | write units | $ per M orders |",
        "|---|---|---|---|---|",
    ]

    def dollars(r: Mapping[str, float]) -> float:
        return r["read_units"] * 0.125 + r["write_units"] * 0.625

    for name, r in sorted(rows.items(), key=lambda kv: (-dollars(kv[1]), kv[0])):
        out.append(
            f"| {name} | {r['calls']:g} | {r['read_units']:g} | {r['write_units']:g} | {dollars(r):.2f} |"
        )
    return out


def render(
    *,
    volume: Mapping[str, Any] | None,
    journey: Mapping[str, Any] | None,
    journey_before: Mapping[str, Any] | None,
    packing: Sequence[Mapping[str, Any]],
    imports: Mapping[str, float] | None,
    tests_after: str | None,
    catalog: Mapping[str, Any] | None = None,
) -> str:
    steps = figures(journey) if journey else []
    before = figures(journey_before) if journey_before else None
    cost_now = total(price(sum_usage(s.usage for s in steps))) if steps else None
    cost_http = total(price(sum_usage(s.usage for s in steps), http_api=True)) if steps else None
    timed = figures(journey, measured_durations=True) if journey else []
    cost_timed = total(price(sum_usage(s.usage for s in timed))) if timed else None
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        START,
        "",
        f"Run of {when} on {machine()}.",
        "",
        *headline(volume, cost_now, cost_http, imports, tests_after, cost_timed),
        *catalog_rows(catalog),
        "",
        "### Packing advice",
        "",
        *packing_table(packing),
    ]
    if journey:
        parts += [
            "",
            f"### An order's journey, step by step ({journey['orders']} orders, one at a time; per order)",
            "",
            *steps_table(steps, before),
            *(
                [
                    "",
                    f"Requests repeated after a retryable 409 (counted above like any other): "
                    f"{journey['retried']}.",
                ]
                if journey.get("retried")
                else []
            ),
            "",
            "### Where every dollar goes (per million orders, API Gateway REST API)",
            "",
            *dollars_table(steps, before),
            "",
            "### The items a delivered order leaves in the table (DynamoDB's item size)",
            "",
            *item_sizes_table(journey.get("order_item_sizes") or {}),
            "",
            "### DynamoDB by function (per order, whole journey)",
            "",
            *callers_table(journey),
        ]
    parts += ["", END]
    return "\n".join(parts)


def write(section: str, doc: Path = DOC) -> None:
    """Replace the section between the markers (or append it if the doc has none)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text, encoding="utf-8")
