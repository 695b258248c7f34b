"""KPI worker: every order and inventory event -> daily counters, exactly once per event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.bootstrap import services
from chalicelib.service.kpis import record_kpis
from chalicelib.workers.sqs import domain_event_of, process_batch

HANDLER = "kpi_worker"


def _handle(record: SQSRecord) -> None:
    svc = services()
    record_kpis(svc.uow_factory, svc.queries, domain_event_of(record), clock=svc.clock)


def handle_batch(event: SQSEvent) -> dict[str, Any]:
    return process_batch(event, _handle, handler=HANDLER)
