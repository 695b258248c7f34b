"""Runtime configuration, read once from the Lambda environment.

Every AWS resource name reaches the code through an environment variable set
per stage in `.chalice/config.json` (and overridden with the template's own
references by `infra/build_merge.py` when packaged). The defaults are the names
the infra template gives a stage called ``dev`` so that a bare import works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

#: Environment variables the handlers' decorators read at import time.
ENV_STAGE = "OMS_STAGE"
ENV_TABLE_NAME = "OMS_TABLE_NAME"
ENV_TABLE_STREAM_ARN = "OMS_TABLE_STREAM_ARN"
ENV_EVENT_BUS_NAME = "OMS_EVENT_BUS_NAME"
ENV_RECEIPT_QUEUE = "OMS_RECEIPT_QUEUE"
ENV_NOTIFY_QUEUE = "OMS_NOTIFY_QUEUE"
ENV_ALLOCATION_QUEUE = "OMS_ALLOCATION_QUEUE"
ENV_TRACKING_QUEUE = "OMS_TRACKING_QUEUE"
ENV_WEBHOOKS_QUEUE = "OMS_WEBHOOKS_QUEUE"
ENV_INTAKE_QUEUE = "OMS_INTAKE_QUEUE"
ENV_KPI_QUEUE = "OMS_KPI_QUEUE"
ENV_WRITEBACK_QUEUE = "OMS_WRITEBACK_QUEUE"
ENV_STOCK_SYNC_QUEUE = "OMS_STOCK_SYNC_QUEUE"
ENV_STOCK_SYNC_DELAY_SECONDS = "OMS_STOCK_SYNC_DELAY_SECONDS"
ENV_RETURN_WINDOW_DAYS = "OMS_RETURN_WINDOW_DAYS"
ENV_ALLOW_LOOPBACK_WEBHOOKS = "OMS_ALLOW_LOOPBACK_WEBHOOKS"
ENV_SECRETS_PREFIX = "OMS_SECRETS_PREFIX"
ENV_DIMENSIONAL_DIVISORS = "OMS_DIMENSIONAL_DIVISORS"
ENV_WAREHOUSE_TOPIC_ARN = "OMS_WAREHOUSE_TOPIC_ARN"
ENV_OPERATIONS_TOPIC_ARN = "OMS_OPERATIONS_TOPIC_ARN"
ENV_SENDER_EMAIL = "OMS_SENDER_EMAIL"
ENV_FRAUD_REVIEW_THRESHOLD = "OMS_FRAUD_REVIEW_THRESHOLD"
ENV_API_KEY_CACHE_SECONDS = "OMS_API_KEY_CACHE_SECONDS"
ENV_PUBLIC_BASE_URL = "OMS_PUBLIC_BASE_URL"
ENV_MAX_LINE_QUANTITY = "OMS_MAX_LINE_QUANTITY"


def _default_stream_arn(stage: str) -> str:
    # Only a placeholder for `chalice package`: infra/build_merge.py replaces the
    # event source with the table's own StreamArn.
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/oms-{stage}/stream/1970-01-01T00:00:00.000"


@dataclass(frozen=True)
class Settings:
    stage: str
    table_name: str
    table_stream_arn: str
    event_bus_name: str
    receipt_queue: str
    notify_queue: str
    allocation_queue: str
    tracking_queue: str
    webhooks_queue: str
    intake_queue: str
    kpi_queue: str
    writeback_queue: str
    stock_sync_queue: str
    #: Seconds between the first stock change of a burst and its push to the stores (0-900).
    stock_sync_delay_seconds: int
    #: Days after the last delivery during which a return is approved automatically.
    return_window_days: int
    #: Only for the local stack and tests: let outbound webhooks and store API calls reach 127.0.0.1.
    allow_loopback_webhooks: bool
    #: SSM Parameter Store path of this stage's secrets (see chalicelib/adapters/secrets.py).
    secrets_prefix: str
    #: Dimensional-weight divisors (cm³/kg) per carrier, e.g. "default=5000;usps=5454".
    dimensional_divisors: str
    warehouse_topic_arn: str
    operations_topic_arn: str
    sender_email: str
    fraud_review_threshold: str
    api_key_cache_seconds: int
    public_base_url: str
    max_line_quantity: int

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        stage = env.get(ENV_STAGE, "dev")
        prefix = f"oms-{stage}"
        topic_base = "arn:aws:sns:us-east-1:123456789012"
        return cls(
            stage=stage,
            table_name=env.get(ENV_TABLE_NAME, prefix),
            table_stream_arn=env.get(ENV_TABLE_STREAM_ARN, _default_stream_arn(stage)),
            event_bus_name=env.get(ENV_EVENT_BUS_NAME, prefix),
            receipt_queue=env.get(ENV_RECEIPT_QUEUE, f"{prefix}-receipt"),
            notify_queue=env.get(ENV_NOTIFY_QUEUE, f"{prefix}-notify"),
            allocation_queue=env.get(ENV_ALLOCATION_QUEUE, f"{prefix}-allocation"),
            tracking_queue=env.get(ENV_TRACKING_QUEUE, f"{prefix}-tracking"),
            webhooks_queue=env.get(ENV_WEBHOOKS_QUEUE, f"{prefix}-webhooks-out"),
            intake_queue=env.get(ENV_INTAKE_QUEUE, f"{prefix}-intake"),
            kpi_queue=env.get(ENV_KPI_QUEUE, f"{prefix}-kpi"),
            writeback_queue=env.get(ENV_WRITEBACK_QUEUE, f"{prefix}-writeback"),
            stock_sync_queue=env.get(ENV_STOCK_SYNC_QUEUE, f"{prefix}-stock-sync"),
            stock_sync_delay_seconds=min(900, max(0, int(env.get(ENV_STOCK_SYNC_DELAY_SECONDS, "5")))),
            return_window_days=int(env.get(ENV_RETURN_WINDOW_DAYS, "30")),
            allow_loopback_webhooks=env.get(ENV_ALLOW_LOOPBACK_WEBHOOKS, "false").lower() == "true",
            secrets_prefix=env.get(ENV_SECRETS_PREFIX, f"/oms/{stage}"),
            dimensional_divisors=env.get(ENV_DIMENSIONAL_DIVISORS, "default=5000"),
            warehouse_topic_arn=env.get(ENV_WAREHOUSE_TOPIC_ARN, f"{topic_base}:{prefix}-warehouse"),
            operations_topic_arn=env.get(ENV_OPERATIONS_TOPIC_ARN, f"{topic_base}:{prefix}-operations"),
            sender_email=env.get(ENV_SENDER_EMAIL, "orders@example.com"),
            fraud_review_threshold=env.get(ENV_FRAUD_REVIEW_THRESHOLD, "2000"),
            api_key_cache_seconds=int(env.get(ENV_API_KEY_CACHE_SECONDS, "60")),
            public_base_url=env.get(ENV_PUBLIC_BASE_URL, "http://127.0.0.1:8000"),
            max_line_quantity=int(env.get(ENV_MAX_LINE_QUANTITY, "10000")),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings; tests call ``settings.cache_clear()``."""
    return Settings.from_env()
