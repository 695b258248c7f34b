"""KPI route (admin): the figures of a period, for one channel or all."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.framework import KEYED, Call, endpoint
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Role
from chalicelib.domain.kpis import KpiReport
from chalicelib.domain.models import Line
from chalicelib.service.kpis import kpi_report

kpis_api = Blueprint(__name__)


class KpiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_date: date = Field(alias="from", description="first day, YYYY-MM-DD (UTC)")
    to_date: date = Field(alias="to", description="last day, inclusive")
    channel: Annotated[Line, Field(max_length=64)] | None = None


@endpoint(
    kpis_api,
    "/v1/kpis",
    "GET",
    summary="KPIs of a period (docs/kpis.md defines each figure)",
    roles=(Role.ADMIN,),
    access=KEYED,
    query=KpiQuery,
    response=KpiReport,
    tags=("kpis",),
    errors=(401, 403, 422),
)
def kpis(call: Call) -> KpiReport:
    query: KpiQuery = call.query
    return kpi_report(
        services().counters, from_date=query.from_date, to_date=query.to_date, channel=query.channel
    )
