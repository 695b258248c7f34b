"""The list-price infrastructure cost of orders, from the calls an order's journey made.

Pure arithmetic: :func:`price` turns a :class:`Usage` (what one order used, on average) into
:class:`CostLine` s of dollars per million orders. The prices are AWS's public on-demand list prices
in us-east-1 (no free tier, no savings plans); SES's per-mail fee is left apart, as are the fixed
costs that do not grow with orders (Lambda's pollers of empty queues, schedules, stored data).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["PRICES", "CostLine", "Prices", "Usage", "gb_seconds", "price", "total"]

MILLION = 1_000_000


@dataclass(frozen=True)
class Prices:
    """US dollars, us-east-1 list prices."""

    api_rest_per_million: float = 3.50  # API Gateway REST API, first 333 M requests a month
    api_http_per_million: float = 1.00  # API Gateway HTTP API, first 300 M requests a month
    lambda_request_per_million: float = 0.20
    lambda_gb_second: float = 0.0000166667  # x86
    dynamodb_write_unit_per_million: float = 0.625  # on-demand write request units
    dynamodb_read_unit_per_million: float = 0.125  # on-demand read request units
    sqs_request_per_million: float = 0.40  # standard queues, each 64 KiB chunk is a request
    eventbridge_event_per_million: float = 1.00  # custom events put on a bus
    sns_publish_per_million: float = 0.50  # standard topics


PRICES = Prices()


@dataclass(frozen=True)
class Usage:
    """What one order used, on average (fractions are fine: five orders' usage divided by five)."""

    http_requests: float = 0.0
    lambda_invocations: Mapping[str, float] = field(default_factory=dict)  # by function
    lambda_gb_seconds: Mapping[str, float] = field(default_factory=dict)  # by function
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    sqs_requests: float = 0.0
    eventbridge_events: float = 0.0
    sns_publishes: float = 0.0


@dataclass(frozen=True)
class CostLine:
    component: str
    quantity_per_order: float
    unit: str
    dollars_per_million_orders: float


def gb_seconds(durations_ms: Iterable[float], memory_mb: int) -> float:
    """Lambda's billed GB-seconds: each invocation rounded up to the millisecond, times the memory."""
    return sum(math.ceil(ms) for ms in durations_ms) / 1000 * memory_mb / 1024


def price(usage: Usage, prices: Prices = PRICES, *, http_api: bool = False) -> list[CostLine]:
    """Dollars per million orders, line by line (API Gateway as the REST API unless ``http_api``)."""
    api_price = prices.api_http_per_million if http_api else prices.api_rest_per_million
    lines = [
        CostLine(
            "API Gateway " + ("HTTP API" if http_api else "REST API"),
            usage.http_requests,
            "requests",
            usage.http_requests * api_price,
        )
    ]
    for function in sorted(set(usage.lambda_invocations) | set(usage.lambda_gb_seconds)):
        invocations = usage.lambda_invocations.get(function, 0.0)
        seconds = usage.lambda_gb_seconds.get(function, 0.0)
        lines.append(
            CostLine(
                f"Lambda {function} requests",
                invocations,
                "invocations",
                invocations * prices.lambda_request_per_million,
            )
        )
        lines.append(
            CostLine(
                f"Lambda {function} duration", seconds, "GB-s", seconds * prices.lambda_gb_second * MILLION
            )
        )
    lines += [
        CostLine(
            "DynamoDB writes",
            usage.dynamodb_write_units,
            "write units",
            usage.dynamodb_write_units * prices.dynamodb_write_unit_per_million,
        ),
        CostLine(
            "DynamoDB reads",
            usage.dynamodb_read_units,
            "read units",
            usage.dynamodb_read_units * prices.dynamodb_read_unit_per_million,
        ),
        CostLine("SQS", usage.sqs_requests, "requests", usage.sqs_requests * prices.sqs_request_per_million),
        CostLine(
            "EventBridge",
            usage.eventbridge_events,
            "events",
            usage.eventbridge_events * prices.eventbridge_event_per_million,
        ),
        CostLine(
            "SNS", usage.sns_publishes, "publishes", usage.sns_publishes * prices.sns_publish_per_million
        ),
    ]
    return lines


def total(lines: Iterable[CostLine]) -> float:
    return sum(line.dollars_per_million_orders for line in lines)
