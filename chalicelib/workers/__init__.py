"""Queue, stream and schedule handlers: thin adapters from Lambda events to use cases.

The decorators need literal queue names and stream ARNs at import time; they
come from the stage's environment (see ``chalicelib.config``) and
``infra/build_merge.py`` points the deployed event sources at the template's own
resources.

Each handler is registered by name (``lazy_handler``, chalicelib/lazy.py): its module, and what
that module imports, is loaded on the handler's first invocation, so one worker's function does not
import the others, nor the API. The name is the function's name in the packaged template and its
handler there (``app.<name>``, resolved by ``app.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import settings
from chalicelib.lazy import lazy_handler

if TYPE_CHECKING:
    from chalice.app import Chalice


def register_workers(app: Chalice) -> None:
    cfg = settings()
    app.on_dynamodb_record(
        stream_arn=cfg.table_stream_arn,
        batch_size=100,
        starting_position="TRIM_HORIZON",
        name="outbox_relay",
    )(lazy_handler("outbox_relay", "chalicelib.workers.relay:handle_stream_batch"))
    app.on_sqs_message(queue=cfg.receipt_queue, batch_size=10, name="receipt_worker")(
        lazy_handler("receipt_worker", "chalicelib.workers.receipt:handle_batch")
    )
    app.on_sqs_message(queue=cfg.notify_queue, batch_size=10, name="notify_worker")(
        lazy_handler("notify_worker", "chalicelib.workers.notify:handle_batch")
    )
    app.schedule("rate(5 minutes)", name="stuck_order_sweeper", description="alert on orders never received")(
        lazy_handler("stuck_order_sweeper", "chalicelib.workers.schedules:stuck_order_sweeper")
    )
    app.on_sqs_message(queue=cfg.allocation_queue, batch_size=10, name="allocation_worker")(
        lazy_handler("allocation_worker", "chalicelib.workers.allocation:handle_batch")
    )
    app.on_sqs_message(queue=cfg.tracking_queue, batch_size=10, name="tracking_worker")(
        lazy_handler("tracking_worker", "chalicelib.workers.tracking:handle_batch")
    )
    app.on_sqs_message(queue=cfg.webhooks_queue, batch_size=10, name="webhooks_out_worker")(
        lazy_handler("webhooks_out_worker", "chalicelib.workers.webhooks_out:handle_batch")
    )
    app.on_sqs_message(queue=cfg.intake_queue, batch_size=10, name="intake_worker")(
        lazy_handler("intake_worker", "chalicelib.workers.intake:handle_batch")
    )
    app.on_sqs_message(queue=cfg.kpi_queue, batch_size=10, name="kpi_worker")(
        lazy_handler("kpi_worker", "chalicelib.workers.kpi:handle_batch")
    )
    # One message per invocation: a message may make several store calls of up to 10 s each.
    app.on_sqs_message(queue=cfg.writeback_queue, batch_size=1, name="writeback_worker")(
        lazy_handler("writeback_worker", "chalicelib.workers.writeback:handle_batch")
    )
    app.on_sqs_message(queue=cfg.stock_sync_queue, batch_size=10, name="stock_sync_worker")(
        lazy_handler("stock_sync_worker", "chalicelib.workers.stock_sync:handle_batch")
    )
    app.schedule("cron(0 6 * * ? *)", name="stock_report", description="daily stock report to operations")(
        lazy_handler("stock_report", "chalicelib.workers.schedules:stock_report")
    )
    app.schedule("rate(15 minutes)", name="sla_sweeper", description="record work past its ship-by promise")(
        lazy_handler("sla_sweeper", "chalicelib.workers.schedules:sla_sweeper")
    )
