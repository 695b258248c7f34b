"""Scheduled handlers (EventBridge schedules in AWS, the pump's clock locally)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import CloudWatchEvent

from chalicelib.bootstrap import services
from chalicelib.service.sweepers import alert_stuck_orders, sweep_sla

logger = Logger(service="oms", child=True)


def stuck_order_sweeper(event: CloudWatchEvent) -> dict[str, Any]:
    svc = services()
    ctx = svc.notification_context()
    alerted = alert_stuck_orders(svc.queries, ctx.notifier, ctx.claims, svc.clock)
    logger.info("stuck order sweep done", extra={"alerted": len(alerted)})
    return {"alerted": alerted}


def sla_sweeper(event: CloudWatchEvent) -> dict[str, Any]:
    svc = services()
    breached = sweep_sla(svc.uow_factory, svc.queries, svc.ids, svc.clock)
    logger.info("SLA sweep done", extra={"breached": len(breached)})
    return {"breached": breached}
