"""The local stack at volume: placements one after another, as a store's checkout sends them.

``python -m bench.volume [--orders 2000] [--config .oms/local.json] [--budget 600]`` places
orders over HTTP against a running local stack (``make run``; the one ``--config`` names, or one
it starts itself on free ports with a temporary state folder) and reports:

* the floor: a raw 6-item ``TransactWriteItems`` to the same moto endpoint, and the ratio of the
  first 100 placements' median to it;
* placed -> confirmed through the event pump, p50 and p99 (orders placed one by one, each read
  back until it is confirmed);
* flatness: the median of placements 1,901-2,000 over that of placements 1-100 (with fewer orders,
  the last 100 over the first 100);
* the stack process's resident memory after the orders, and its CPU at rest (before any order,
  and once the pump has drained after the orders).

The run stops by itself: after ``--orders`` placements, or when ``--budget`` seconds of placing
have passed (then it says how many it placed). The result is printed, and with ``--json`` also
written as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    local_stack,
    order_body,
    percentile,
    process_cpu_seconds,
    process_rss_mib,
    stop_on_sigterm,
)

SKU = "TEE-ORG-BLK-M"
CONFIRM_SAMPLES = 20
RAW_SAMPLES = 50
WINDOW = 100  # placements in each end of the flatness ratio
IDLE_SECONDS = 10.0
#: The pump works through 2,000 orders' events in about 8 minutes on 2 cores: the idle CPU after
#: the orders is only measured once it has (a measurement taken while draining is not "idle").
DRAIN_LIMIT = 900.0


def _dynamodb(endpoint: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 1}),
    )


def _table(dynamodb: Any) -> str:
    names = [n for n in dynamodb.list_tables()["TableNames"] if n.startswith("oms-")]
    if len(names) != 1:
        raise RuntimeError(f"expected one oms-* table at the endpoint, found {names}")
    return str(names[0])


def _plenty_of_stock(dynamodb: Any, table: str, warehouses: list[str]) -> None:
    """Enough stock for every order of the run, so each placement takes the same path."""
    from chalicelib.adapters.reference import ReferenceData

    reference = ReferenceData(dynamodb, table)
    for warehouse in warehouses:
        reference.put_stock(warehouse, SKU, 10**7)


def raw_transaction_ms(dynamodb: Any, table: str, samples: int = RAW_SAMPLES) -> list[float]:
    """A 6-item TransactWriteItems like a placement's (conditional puts of ~300-byte items)."""
    times = []
    for n in range(samples):
        run = uuid.uuid4().hex
        items = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": f"BENCH#{run}"},
                        "sk": {"S": f"ITEM#{k}"},
                        "entity": {"S": "bench"},
                        "doc": {"S": "x" * 250},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for k in range(6)
        ]
        started = time.perf_counter()
        dynamodb.transact_write_items(TransactItems=items)
        times.append((time.perf_counter() - started) * 1000)
        del n
    return times


def _cpu_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over the next ``seconds``."""
    before = process_cpu_seconds(pid)
    time.sleep(seconds)
    return (process_cpu_seconds(pid) - before) / seconds


def run(orders: int, budget: float, config: Path | None) -> dict[str, Any]:
    import requests

    with local_stack(config) as stack:
        http = requests.Session()
        web = {"content-type": "application/json", "x-api-key": stack.channel_key("web")}
        admin = {"x-api-key": stack.admin_key}
        dynamodb = _dynamodb(stack.endpoint_url, stack.config.get("region", "us-east-1"))
        table = _table(dynamodb)
        _plenty_of_stock(dynamodb, table, [w["id"] for w in stack.config.get("warehouses", [])])
        result: dict[str, Any] = {"orders_asked": orders, "budget_seconds": budget, "pid": stack.pid}
        if stack.pid is not None:
            time.sleep(2)  # start-up's own work settles
            result["idle_cpu_fresh"] = _cpu_share(stack.pid, IDLE_SECONDS)
            result["rss_fresh_mib"] = process_rss_mib(stack.pid)

        retried: list[int] = []
        result["retried"] = retried

        def place(n: int) -> tuple[float, str]:
            body = json.dumps(order_body(f"VOL-{n}-{uuid.uuid4().hex[:6]}", sku=SKU)).encode()
            started = time.perf_counter()
            for attempt in range(4):
                response = http.post(stack.api_url + "/v1/orders", data=body, headers=web, timeout=120)
                if response.status_code == 201 or (attempt and response.status_code == 200):
                    break  # 200: the replay of the order a lost answer had created
                # The same body again is a replay (same external id), as a store's client retries.
                if response.status_code == 409 and response.json().get("retryable") and attempt < 3:
                    retried.append(n)
                    continue
                raise RuntimeError(f"placement {n}: {response.status_code} {response.text}")
            elapsed = (time.perf_counter() - started) * 1000
            return elapsed, str(response.json()["id"])

        raw = raw_transaction_ms(dynamodb, table)
        result["raw_transaction_ms"] = raw

        confirm_ms = []
        for n in range(CONFIRM_SAMPLES):
            _, order_id = place(-1 - n)
            placed_at = time.perf_counter()
            while True:
                status = http.get(f"{stack.api_url}/v1/orders/{order_id}", headers=admin, timeout=60).json()
                if status.get("status") not in {"placed", None}:
                    break
                if time.perf_counter() - placed_at > 60:
                    raise RuntimeError(f"order {order_id} was not confirmed within 60 s")
                time.sleep(0.02)
            confirm_ms.append((time.perf_counter() - placed_at) * 1000)
            print(f"  placed -> confirmed {confirm_ms[-1]:.0f} ms", file=sys.stderr, flush=True)
        result["confirm_ms"] = confirm_ms

        placements: list[float] = []
        started = time.monotonic()
        for n in range(orders):
            if time.monotonic() - started > budget:
                break
            placements.append(place(n)[0])
            if (n + 1) % 100 == 0:
                recent = percentile(placements[-100:], 0.5)
                print(
                    f"  {n + 1} orders placed, median of the last 100 {recent:.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        result["placement_ms"] = placements
        result["placing_seconds"] = time.monotonic() - started
        if stack.pid is not None:
            result["rss_after_mib"] = process_rss_mib(stack.pid)
            drain_started = time.monotonic()
            drained = False
            while not drained and time.monotonic() - drain_started < DRAIN_LIMIT:
                drained = _cpu_share(stack.pid, 2.0) < 0.10
            result["drain_seconds"] = time.monotonic() - drain_started
            result["drained"] = drained
            result["idle_cpu_after"] = _cpu_share(stack.pid, IDLE_SECONDS) if drained else None
            result["rss_drained_mib"] = process_rss_mib(stack.pid)
        return result


def summary(result: dict[str, Any]) -> dict[str, float | int | None]:
    """The figures the report shows, from :func:`run`'s result."""
    placements = result["placement_ms"]
    first = placements[:WINDOW]
    last = placements[-WINDOW:] if len(placements) >= 2 * WINDOW else []
    raw_p50 = percentile(result["raw_transaction_ms"], 0.5)
    first_p50 = percentile(first, 0.5)
    return {
        "placed": len(placements),
        "retried_409": len(result.get("retried", [])),
        "raw_p50_ms": raw_p50,
        "first_p50_ms": first_p50,
        "last_p50_ms": percentile(last, 0.5) if last else None,
        "placement_ratio": first_p50 / raw_p50 if raw_p50 else None,
        "flatness": percentile(last, 0.5) / first_p50 if last else None,
        "confirm_p50_ms": percentile(result["confirm_ms"], 0.5),
        "confirm_p99_ms": percentile(result["confirm_ms"], 0.99),
        "rss_after_mib": result.get("rss_after_mib"),
        "rss_drained_mib": result.get("rss_drained_mib"),
        "idle_cpu_fresh": result.get("idle_cpu_fresh"),
        "idle_cpu_after": result.get("idle_cpu_after"),
        "drain_seconds": result.get("drain_seconds"),
        "drained": result.get("drained"),
        "placing_seconds": result.get("placing_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="placements to make (2000)")
    parser.add_argument(
        "--budget", type=float, default=600.0, help="stop placing after this many seconds (600)"
    )
    parser.add_argument("--config", type=Path, help="local.json of a running stack (default: start one)")
    parser.add_argument("--json", type=Path, help="also write the raw result here")
    args = parser.parse_args()
    stop_on_sigterm()
    result = run(args.orders, args.budget, args.config)
    if args.json:
        args.json.write_text(json.dumps(result), encoding="utf-8")
    for name, value in summary(result).items():
        print(f"{name:<20} {value if not isinstance(value, float) else round(value, 3)}")


if __name__ == "__main__":
    main()
