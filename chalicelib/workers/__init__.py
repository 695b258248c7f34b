"""Queue, stream and schedule handlers: thin adapters from Lambda events to use cases.

The decorators need literal queue names and stream ARNs at import time; they
come from the stage's environment (see ``chalicelib.config``) and
``infra/build_merge.py`` points the deployed event sources at the template's own
resources.
"""

from __future__ import annotations

from chalice import Chalice

from chalicelib.config import settings
from chalicelib.workers import (
    allocation,
    intake,
    kpi,
    notify,
    receipt,
    relay,
    schedules,
    tracking,
    webhooks_out,
)


def register_workers(app: Chalice) -> None:
    cfg = settings()
    app.on_dynamodb_record(
        stream_arn=cfg.table_stream_arn,
        batch_size=100,
        starting_position="TRIM_HORIZON",
        name="outbox_relay",
    )(relay.handle_stream_batch)
    app.on_sqs_message(queue=cfg.receipt_queue, batch_size=10, name="receipt_worker")(receipt.handle_batch)
    app.on_sqs_message(queue=cfg.notify_queue, batch_size=10, name="notify_worker")(notify.handle_batch)
    app.schedule("rate(5 minutes)", name="stuck_order_sweeper", description="alert on orders never received")(
        schedules.stuck_order_sweeper
    )
    app.on_sqs_message(queue=cfg.allocation_queue, batch_size=10, name="allocation_worker")(
        allocation.handle_batch
    )
    app.on_sqs_message(queue=cfg.tracking_queue, batch_size=10, name="tracking_worker")(tracking.handle_batch)
    app.on_sqs_message(queue=cfg.webhooks_queue, batch_size=10, name="webhooks_out_worker")(
        webhooks_out.handle_batch
    )
    app.on_sqs_message(queue=cfg.intake_queue, batch_size=10, name="intake_worker")(intake.handle_batch)
    app.on_sqs_message(queue=cfg.kpi_queue, batch_size=10, name="kpi_worker")(kpi.handle_batch)
    app.schedule("cron(0 6 * * ? *)", name="stock_report", description="daily stock report to operations")(
        schedules.stock_report
    )
    app.schedule("rate(15 minutes)", name="sla_sweeper", description="record work past its ship-by promise")(
        schedules.sla_sweeper
    )
