"""Scheduled handlers (EventBridge schedules in AWS, the pump's clock locally)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from chalice.app import CloudWatchEvent

from chalicelib.bootstrap import services
from chalicelib.service.inventory import stock_report as build_stock_report
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


def stock_report(event: CloudWatchEvent) -> dict[str, Any]:
    """The daily stock report to operations: stock-outs, low stock, days of cover, overstock."""
    svc = services()
    report = build_stock_report(svc.uow_factory, svc.stock, clock=svc.clock)
    notifier = svc.notification_context().notifier
    summary = {
        "type": "stock.report",
        "generated_at": report.generated_at.isoformat(),
        "stock_outs": [f"{ln.warehouse_id}/{ln.sku}" for ln in report.stock_outs],
        "low_stock": [f"{ln.warehouse_id}/{ln.sku} ({ln.available} left)" for ln in report.low_stock],
        "overstock": [f"{ln.warehouse_id}/{ln.sku} ({ln.on_hand} on hand)" for ln in report.overstock],
        "lowest_cover": [f"{ln.warehouse_id}/{ln.sku}: {ln.days_of_cover} days" for ln in report.cover[:20]],
    }
    notifier.publish_operations(subject="Daily stock report", message=summary)
    logger.info(
        "stock report sent", extra={"stock_outs": len(report.stock_outs), "low": len(report.low_stock)}
    )
    return {
        "stock_outs": len(report.stock_outs),
        "low_stock": len(report.low_stock),
        "overstock": len(report.overstock),
    }
