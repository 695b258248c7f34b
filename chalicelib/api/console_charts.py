"""The KPI page's charts: pygal draws them as SVG on the server, inlined in the page.

No plotting code of ours: pygal lays out axes, bars, lines and legends. What is done here is
choosing the series and making pygal's output fit the console's Content-Security-Policy with
pygal's own ``xml_filters`` hook: its ``<script>`` elements (a config object for its optional
tooltip script, which the console does not load) are dropped, its ``<style>`` elements get the
page's nonce, and the one inline ``style`` attribute (the hidden tooltip) goes. The charts then
need no script and nothing from the internet.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pygal  # type: ignore[import-untyped]
from markupsafe import Markup
from pygal.style import Style  # type: ignore[import-untyped]

from chalicelib.domain.kpis import KpiReport

# On import pygal appends a finder for its map plugins to sys.meta_path that has only the legacy
# find_module API; anything calling find_spec on every finder (pytest's importlib import mode,
# Python 3.12's import system) fails on it. The console uses no map plugin, so the finder goes.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

#: Colour-blind-safe palette (Okabe-Ito), dark enough on white for the marks to stand out.
_STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=12,
    no_data_font_size=20,
    colors=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"),
    opacity=".85",
    opacity_hover=".95",
)


@dataclass(frozen=True)
class Chart:
    """One chart: its heading, a sentence for screen readers and the inline SVG."""

    key: str
    title: str
    summary: str
    svg: Markup


def _csp_filter(nonce: str, label: str) -> Callable[[Any], Any]:
    def apply(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                if child.tag == "script":
                    parent.remove(child)
        for element in root.iter():
            if element.tag == "style":
                element.set("nonce", nonce)
            if "style" in element.attrib:
                del element.attrib["style"]
        root.set("role", "img")
        root.set("aria-label", label)
        return root

    return apply


def _config(**options: Any) -> dict[str, Any]:
    return {
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 760,
        "height": 340,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "no_data_text": "No data for this period",
        **options,
    }


def _render(chart: Any, nonce: str, label: str) -> Markup:
    chart.add_xml_filter(_csp_filter(nonce, label))
    # pygal builds the SVG with ElementTree, which escapes every text and attribute: a channel
    # name or label cannot inject markup, so the serialised SVG is safe to inline as is.
    return Markup(chart.render(is_unicode=True))


def _day_labels(report: KpiReport) -> list[str]:
    return [d.day.strftime("%m-%d") for d in report.daily]


def _hours(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else float(value * 100)


def orders_by_channel(report: KpiReport, nonce: str) -> Chart:
    channels = sorted({ch for d in report.daily for ch in d.orders_placed_by_channel})
    summary = f"Orders placed per day from {report.from_date} to {report.to_date}, stacked by channel"
    chart = pygal.StackedBar(**_config(x_label_rotation=-45, show_minor_x_labels=len(report.daily) <= 16))
    chart.x_labels = _day_labels(report)
    if len(report.daily) > 16:
        chart.x_labels_major = _day_labels(report)[:: max(1, len(report.daily) // 8)]
    for channel in channels:
        chart.add(channel, [d.orders_placed_by_channel.get(channel, 0) for d in report.daily])
    return Chart("orders", "Orders per day by channel", summary, _render(chart, nonce, summary))


def order_to_ship(report: KpiReport, nonce: str) -> Chart:
    summary = "Hours from order to shipment per day: median (p50) and 90th percentile (p90)"
    chart = pygal.Line(
        **_config(
            x_label_rotation=-45,
            y_title="hours",
            allow_interruptions=True,
            show_minor_x_labels=len(report.daily) <= 16,
        )
    )
    chart.x_labels = _day_labels(report)
    if len(report.daily) > 16:
        chart.x_labels_major = _day_labels(report)[:: max(1, len(report.daily) // 8)]
    daily: Sequence[Any] = report.daily
    if any(d.order_to_ship_hours_p50 is not None for d in daily):
        chart.add("p50", [_hours(d.order_to_ship_hours_p50) for d in daily])
        chart.add("p90", [_hours(d.order_to_ship_hours_p90) for d in daily])
    return Chart("ship-hours", "Order to ship, p50 and p90 (hours)", summary, _render(chart, nonce, summary))


def service_rates(report: KpiReport, nonce: str) -> Chart:
    summary = "On-time shipment rate and perfect-order rate over the period, in percent"
    chart = pygal.HorizontalBar(
        **_config(
            range=(0, 100),
            height=220,
            print_values=True,
            value_formatter=lambda v: f"{v:.1f} %",
        )
    )
    rates = [("On-time ship", report.on_time_ship_rate), ("Perfect order", report.perfect_order_rate)]
    for name, value in rates:
        if value is not None:
            chart.add(name, [_percent(value)])
    return Chart("rates", "On-time and perfect-order rates", summary, _render(chart, nonce, summary))


def satisfaction(report: KpiReport, nonce: str) -> Chart:
    summary = "Average customer satisfaction rating (1 to 5) over the period"
    chart = pygal.SolidGauge(
        **_config(
            half_pie=True,
            inner_radius=0.7,
            height=260,
            value_formatter=lambda v: f"{v:.2f} / 5",
            legend_at_bottom=True,
        )
    )
    if report.csat_average is not None:
        chart.add("CSAT", [{"value": float(report.csat_average), "max_value": 5}])
    return Chart("csat", "Customer satisfaction (CSAT)", summary, _render(chart, nonce, summary))


def kpi_charts(report: KpiReport, nonce: str) -> list[Chart]:
    return [
        orders_by_channel(report, nonce),
        order_to_ship(report, nonce),
        service_rates(report, nonce),
        satisfaction(report, nonce),
    ]
