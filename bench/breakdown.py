"""From the journey's raw counts (:mod:`bench.journey`) to usage per order and its cost, step by step.

The raw counts are keyed ``caller|service.Operation`` (see :mod:`infra.local.meter`). What counts:

* every call the app made (caller ``api`` or a worker's name);
* of the pump's own calls, only what Lambda's event source mapping does in AWS for a batch: the
  ``ReceiveMessage`` that returned it and the ``DeleteMessageBatch`` that removed it; each message
  received was also *sent* once (by EventBridge's rule target, or by the app), which SQS bills;
* the pump's other calls (queue attributes, stream discovery and reads) are the local emulation of
  Lambda and free or absent in AWS.

Lambda invocations are the API's requests (one each) and the handlers the pump invoked; durations
are the handlers' own, timed in process, and the API requests' as the client saw them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.cost import CostLine, Usage, gb_seconds, price, total

__all__ = ["StepFigures", "api_function", "figures", "usage_of"]

ESM_CALLS = ("sqs.ReceiveMessage", "sqs.DeleteMessage", "sqs.DeleteMessageBatch")
API_FUNCTION = "api"


def api_function() -> str:
    return API_FUNCTION


#: Typical latency of one AWS call from a Lambda function in the same region, in ms, by operation
#: (a model, not a measurement: single-digit ms for DynamoDB, more for a transaction and for the
#: services that fan out), and the function's own work per invocation (parse, validate, render).
CALL_MS = {
    "dynamodb.TransactWriteItems": 15.0,
    "events.PutEvents": 20.0,
    "sns.Publish": 20.0,
    "ses.SendEmail": 30.0,
}
DEFAULT_CALL_MS = 8.0
WORK_MS_PER_INVOCATION = 10.0


def estimated_ms(invocations: float, calls: Mapping[str, float]) -> float:
    """A function's billed milliseconds in AWS, estimated from its invocations and AWS calls."""
    waiting = sum(count * CALL_MS.get(operation, DEFAULT_CALL_MS) for operation, count in calls.items())
    return invocations * WORK_MS_PER_INVOCATION + waiting


def _calls_of(calls: Mapping[str, float], function: str) -> dict[str, float]:
    out: Counter[str] = Counter()
    for name, value in calls.items():
        caller, _, operation = name.partition("|")
        if caller == function:
            out[operation] += value
    return dict(out)


def counted(name: str) -> bool:
    caller, _, operation = name.partition("|")
    return caller != "-" or operation in ESM_CALLS


@dataclass(frozen=True)
class StepFigures:
    step: str
    usage: Usage
    calls: Mapping[str, float]  # per order, by service.Operation (counted calls only)
    read_units: float
    write_units: float
    emails: float
    lines: list[CostLine]

    @property
    def dollars(self) -> float:
        return total(self.lines)


def usage_of(
    counts: Mapping[str, Mapping[str, float]],
    *,
    http_requests: float,
    api_ms: Iterable[float],
    handler_ms: Mapping[str, Iterable[float]],
    memory_mb: int,
    orders: int,
    measured_durations: bool = False,
) -> Usage:
    """One order's usage (everything divided by ``orders``).

    Lambda's GB-seconds are estimated from the calls each function made (:func:`estimated_ms`)
    unless ``measured_durations``: then they are the durations timed here, which include moto's
    own work in the same process and whatever else the machine is doing (an upper bound).
    """
    calls = {k: v for k, v in counts.get("calls", {}).items() if counted(k)}
    entries = counts.get("entries", {})

    def op_total(operation: str, callers: str | None = None) -> float:
        return sum(
            v
            for k, v in calls.items()
            if k.partition("|")[2] == operation and (callers is None or k.partition("|")[0] == callers)
        )

    received = sum(v for k, v in entries.items() if k.endswith("|sqs.ReceiveMessage"))
    app_sqs = sum(
        v for k, v in calls.items() if k.partition("|")[2].startswith("sqs.") and not k.startswith("-|")
    )
    app_sends = sum(
        v for k, v in calls.items() if k.partition("|")[2].startswith("sqs.Send") and not k.startswith("-|")
    )
    esm_sqs = sum(v for k, v in calls.items() if k.startswith("-|sqs."))
    sqs_requests = app_sqs + esm_sqs + max(0.0, received - app_sends)
    invocations: dict[str, float] = {API_FUNCTION: http_requests / orders}
    measured: dict[str, float] = {API_FUNCTION: gb_seconds(api_ms, memory_mb) / orders}
    for function, samples in handler_ms.items():
        samples = list(samples)
        invocations[function] = len(samples) / orders
        measured[function] = gb_seconds(samples, memory_mb) / orders
    if measured_durations:
        seconds = measured
    else:
        seconds = {
            function: estimated_ms(count * orders, _calls_of(calls, function))
            / 1000
            * memory_mb
            / 1024
            / orders
            for function, count in invocations.items()
        }
    return Usage(
        http_requests=http_requests / orders,
        lambda_invocations=invocations,
        lambda_gb_seconds=seconds,
        dynamodb_read_units=sum(v for k, v in counts.get("read_units", {}).items() if counted(k)) / orders,
        dynamodb_write_units=sum(v for k, v in counts.get("write_units", {}).items() if counted(k)) / orders,
        sqs_requests=sqs_requests / orders,
        eventbridge_events=sum(v for k, v in entries.items() if k.endswith("|events.PutEvents")) / orders,
        sns_publishes=op_total("sns.Publish") / orders,
    )


def _per_operation(counts: Mapping[str, Mapping[str, float]], orders: int) -> dict[str, float]:
    by_operation: Counter[str] = Counter()
    for name, value in counts.get("calls", {}).items():
        if counted(name):
            by_operation[name.partition("|")[2]] += value / orders
    return dict(by_operation)


def figures(
    result: Mapping[str, Any], *, http_api: bool = False, measured_durations: bool = False
) -> list[StepFigures]:
    """Per step of the journey, one order's usage and cost (``result`` is bench.journey's JSON)."""
    orders = int(result["orders"])
    memory = int(result["memory_mb"])
    out = []
    for step, raw in result["steps"].items():
        counts = raw["counts"]
        usage = usage_of(
            counts,
            http_requests=raw["http_requests"],
            api_ms=raw["api_ms"],
            handler_ms=raw["handler_ms"],
            memory_mb=memory,
            orders=orders,
            measured_durations=measured_durations,
        )
        calls = _per_operation(counts, orders)
        out.append(
            StepFigures(
                step=step,
                usage=usage,
                calls=calls,
                read_units=usage.dynamodb_read_units,
                write_units=usage.dynamodb_write_units,
                emails=calls.get("ses.SendEmail", 0.0),
                lines=price(usage, http_api=http_api),
            )
        )
    return out


def by_caller(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """DynamoDB units and calls per order by the function that spent them, over the whole journey."""
    orders = int(result["orders"])
    table: dict[str, dict[str, float]] = {}
    for raw in result["steps"].values():
        counts = raw["counts"]
        for kind in ("calls", "read_units", "write_units"):
            for name, value in counts.get(kind, {}).items():
                if not counted(name):
                    continue
                caller, _, operation = name.partition("|")
                caller = "Lambda event source mapping" if caller == "-" else caller
                row = table.setdefault(
                    f"{caller} {operation}", {"calls": 0.0, "read_units": 0.0, "write_units": 0.0}
                )
                row[kind] += value / orders
    return table


def sum_usage(usages: Iterable[Usage]) -> Usage:
    usages = list(usages)
    invocations: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for u in usages:
        invocations.update(u.lambda_invocations)
        seconds.update(u.lambda_gb_seconds)
    return Usage(
        http_requests=sum(u.http_requests for u in usages),
        lambda_invocations=dict(invocations),
        lambda_gb_seconds=dict(seconds),
        dynamodb_read_units=sum(u.dynamodb_read_units for u in usages),
        dynamodb_write_units=sum(u.dynamodb_write_units for u in usages),
        sqs_requests=sum(u.sqs_requests for u in usages),
        eventbridge_events=sum(u.eventbridge_events for u in usages),
        sns_publishes=sum(u.sns_publishes for u in usages),
    )
