"""The benchmark's arithmetic: list prices per million orders, Lambda billing, usage per order."""

from __future__ import annotations

import importlib

import pytest

from bench.breakdown import counted, usage_of
from bench.cost import MILLION, PRICES, Usage, gb_seconds, price, total


def test_every_bench_module_imports() -> None:
    for name in (
        "bench.breakdown",
        "bench.common",
        "bench.cost",
        "bench.imports",
        "bench.journey",
        "bench.package",
        "bench.packing",
        "bench.report",
        "bench.volume",
        "bench.__main__",
    ):
        importlib.import_module(name)


def test_lambda_bills_each_invocation_rounded_up_to_the_millisecond_times_its_memory() -> None:
    # 10.2 ms -> 11 ms, 0.1 ms -> 1 ms: 12 ms at 512 MB is 0.006 GB-s.
    assert gb_seconds([10.2, 0.1], 512) == pytest.approx(0.012 * 0.5)


def test_a_usage_is_priced_line_by_line_per_million_orders() -> None:
    usage = Usage(
        http_requests=7,
        lambda_invocations={"api": 7, "kpi_worker": 2},
        lambda_gb_seconds={"api": 0.5, "kpi_worker": 0.25},
        dynamodb_read_units=10,
        dynamodb_write_units=20,
        sqs_requests=30,
        eventbridge_events=4,
        sns_publishes=2,
    )
    lines = {line.component: line.dollars_per_million_orders for line in price(usage)}
    assert lines["API Gateway REST API"] == pytest.approx(7 * 3.50)
    assert lines["Lambda api requests"] == pytest.approx(7 * 0.20)
    assert lines["Lambda kpi_worker duration"] == pytest.approx(0.25 * PRICES.lambda_gb_second * MILLION)
    assert lines["DynamoDB writes"] == pytest.approx(20 * 0.625)
    assert lines["DynamoDB reads"] == pytest.approx(10 * 0.125)
    assert lines["SQS"] == pytest.approx(30 * 0.40)
    assert lines["EventBridge"] == pytest.approx(4 * 1.00)
    assert lines["SNS"] == pytest.approx(2 * 0.50)
    assert total(price(usage)) == pytest.approx(sum(lines.values()))
    http_api = {line.component: line.dollars_per_million_orders for line in price(usage, http_api=True)}
    assert http_api["API Gateway HTTP API"] == pytest.approx(7 * 1.00)


def test_only_the_calls_aws_would_see_are_counted() -> None:
    assert counted("api|dynamodb.GetItem")
    assert counted("kpi_worker|dynamodb.TransactWriteItems")
    assert counted("-|sqs.ReceiveMessage")  # the event source mapping's receive of a batch
    assert not counted("-|sqs.GetQueueAttributes")  # the local pump's own bookkeeping
    assert not counted("-|dynamodb.DescribeTable")


def test_usage_per_order_counts_each_received_message_as_one_send_and_divides_by_the_orders() -> None:
    counts = {
        "calls": {
            "api|dynamodb.TransactWriteItems": 2,
            "-|sqs.ReceiveMessage": 4,
            "-|sqs.DeleteMessageBatch": 4,
            "notify_worker|sqs.SendMessage": 1,
            "notify_worker|sns.Publish": 2,
            "-|sqs.GetQueueAttributes": 50,
        },
        "write_units": {"api|dynamodb.TransactWriteItems": 12, "-|dynamodb.PutItem": 99},
        "read_units": {"api|dynamodb.GetItem": 3},
        "entries": {"-|sqs.ReceiveMessage": 6, "outbox_relay|events.PutEvents": 8},
    }
    usage = usage_of(
        counts,
        http_requests=2,
        api_ms=[100, 100],
        handler_ms={"notify_worker": [50, 50]},
        memory_mb=1024,
        orders=2,
        measured_durations=True,
    )
    assert usage.http_requests == 1
    assert usage.dynamodb_write_units == 6  # the untagged PutItem is not the app's
    assert usage.dynamodb_read_units == 1.5
    # 1 SendMessage by the app + 8 receive/delete calls + (6 received - 1 sent by the app) sends.
    assert usage.sqs_requests == (1 + 8 + 5) / 2
    assert usage.eventbridge_events == 4
    assert usage.sns_publishes == 1
    assert usage.lambda_invocations == {"api": 1, "notify_worker": 1}
    assert usage.lambda_gb_seconds == {"api": pytest.approx(0.1), "notify_worker": pytest.approx(0.05)}


def test_lambda_time_is_estimated_from_each_functions_own_invocations_and_calls_unless_measured() -> None:
    counts = {
        "calls": {
            "api|dynamodb.TransactWriteItems": 2,
            "notify_worker|sqs.SendMessage": 1,
            "notify_worker|sns.Publish": 2,
        }
    }
    usage = usage_of(
        counts,
        http_requests=2,
        api_ms=[900, 900],
        handler_ms={"notify_worker": [700, 700]},
        memory_mb=1024,
        orders=2,
    )
    # api: 2 invocations x 10 ms + 2 transactions x 15 ms; notify: 2 x 10 + 8 + 2 x 20 (ms, two orders).
    assert usage.lambda_gb_seconds == {
        "api": pytest.approx(0.050 / 2),
        "notify_worker": pytest.approx(0.068 / 2),
    }
