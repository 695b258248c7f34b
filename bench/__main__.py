"""Benchmarks (``make bench``): how long the hot paths take, measured, never asserted.

- packing: the 3D box recommendation for small, typical and large fulfillments;
- sourcing: the warehouse plan for an order of many SKUs across many warehouses;
- placement: ``POST /v1/orders`` through the app against the infra stack in moto
  (moto's speed dominates: read it as the service's own overhead plus an
  in-memory DynamoDB, not as AWS latency);
- memory: the peak Python heap of placing those orders (tracemalloc).

Each figure is the median and the 95th percentile of repeated runs, printed as a table.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal

os.environ.update(
    {
        "OMS_STAGE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def measure(name: str, run: Callable[[], object], repeat: int) -> None:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{name:<52} median {statistics.median(samples):8.2f} ms   p95 {p95:8.2f} ms   (n={repeat})")


def bench_packing() -> None:
    from chalicelib.domain.packing import BoxSpec, ItemSpec, recommend_packing

    rng = random.Random(7)
    boxes = [
        BoxSpec(
            code=f"B{n}",
            inner_length_mm=150 + 60 * n,
            inner_width_mm=120 + 40 * n,
            inner_height_mm=80 + 30 * n,
            max_weight_grams=2000 + 2500 * n,
            cost=Decimal("0.40") + n,
        )
        for n in range(12)
    ]

    def items(units: int) -> list[ItemSpec]:
        return [
            ItemSpec(
                sku=f"SKU-{n}",
                length_mm=rng.randint(20, 300),
                width_mm=rng.randint(20, 200),
                height_mm=rng.randint(10, 120),
                weight_grams=rng.randint(50, 2000),
                quantity=1,
            )
            for n in range(units)
        ]

    for units in (3, 12, 50):
        orders = [items(units) for _ in range(20)]
        it = iter(orders * 5)
        measure(f"packing: {units} units, 12 boxes", lambda it=it: recommend_packing(next(it), boxes), 100)


def bench_sourcing() -> None:
    from chalicelib.domain.models import Warehouse
    from chalicelib.domain.sourcing import plan_sourcing

    rng = random.Random(3)
    warehouses = [
        Warehouse(id=f"wh-{n}", name=f"W{n}", priority=n, timezone="UTC", country="US") for n in range(8)
    ]
    demand = {f"SKU-{n}": rng.randint(1, 5) for n in range(80)}
    available = {(w.id, sku): rng.randint(0, 6) for w in warehouses for sku in demand}
    measure("sourcing: 80 SKUs, 8 warehouses", lambda: plan_sourcing(demand, warehouses, available), 200)


def bench_placement() -> None:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from tests.integration.conftest import STOCK, Stack, order_body, seed

    with mock_aws():
        from app import app
        from chalicelib.bootstrap import reset_services
        from infra.stack import app_environment, deploy_stack

        outputs = deploy_stack(boto3.client("cloudformation", region_name="us-east-1"), "bench")
        env = app_environment(outputs, "bench")
        os.environ.update(env)
        reset_services()
        stack = Stack(outputs=outputs, table=outputs["TableName"], env=env)
        seed(stack, extra_skus={f"BENCH-{n}": {"wh-east": 10**6, "wh-west": 10**6} for n in range(20)})
        del STOCK  # only the seed's catalogue is used
        counter = iter(range(10**6))
        headers = {"Content-Type": "application/json", "x-api-key": stack.keys["web"]}
        with Client(app, stage_name="bench") as client:

            def place() -> None:
                n = next(counter)
                lines = [
                    {"sku": f"BENCH-{(n + k) % 20}", "quantity": 1, "unit_price": "9.99"} for k in range(3)
                ]
                response = client.http.post(
                    "/v1/orders", headers=headers, body=json.dumps(order_body(f"B-{n}", lines=lines))
                )
                assert response.status_code == 201, response.body

            measure("placement: POST /v1/orders, 3 lines (moto)", place, 200)
            tracemalloc.start()
            for _ in range(50):
                place()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{'placement: peak Python heap over 50 orders':<52} {peak / 2**20:8.2f} MiB")


def main() -> None:
    print("OMS benchmarks (lower is better)\n")
    bench_packing()
    bench_sourcing()
    bench_placement()


if __name__ == "__main__":
    main()
