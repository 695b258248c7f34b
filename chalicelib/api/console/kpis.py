"""KPIs of a period and a channel, with charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalice.app import Response
from pydantic import ValidationError

from chalicelib.api import console_data as data
from chalicelib.api.console.visit import Visit, console_route, parse_day, plain_error
from chalicelib.domain.errors import InputInvalid
from chalicelib.domain.models import format_timestamp
from chalicelib.service.kpis import kpi_report

KPI_DEFAULT_DAYS = 14


@console_route("/console/kpis", "GET", "KPIs of a period and channel, with charts")
def console_kpis(visit: Visit) -> Response:
    svc = visit.svc
    today = svc.clock.now().date()
    errors: list[str] = []
    channels = data.list_channels(svc)
    day_to = parse_day(visit.arg("to", 10), "To", errors) or today
    default_from = day_to - timedelta(days=KPI_DEFAULT_DAYS - 1)
    day_from = parse_day(visit.arg("from", 10), "From", errors) or default_from
    channel = visit.arg("channel", 64)
    if channel and channel not in {c.id for c in channels}:
        errors.append(f"There is no channel {channel!r}.")
        channel = ""
    report = None
    try:
        report = kpi_report(svc.counters, from_date=day_from, to_date=day_to, channel=channel or None)
    except (InputInvalid, ValidationError) as exc:
        errors.append(plain_error(exc)[1] if isinstance(exc, InputInvalid) else "The period is not valid.")
    return visit.page(
        "kpis",
        200 if not errors else 422,
        title="KPIs",
        section="kpis",
        report=report,
        charts=_charts(report, visit.nonce) if report is not None else [],
        channels=channels,
        filters={"from": day_from.isoformat(), "to": day_to.isoformat(), "channel": channel},
        generated_at=format_timestamp(svc.clock.now()),
        error=" ".join(errors),
    )


def _charts(report: Any, nonce: str) -> Any:
    # pygal is imported on the KPI page only: every other request (and every cold start of the
    # API Lambda) is spared its import time.
    from chalicelib.api.console_charts import kpi_charts

    return kpi_charts(report, nonce)
