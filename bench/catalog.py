"""A 10,000-product catalogue imported with ``tools.catalog``, against raw writes of the same items.

``python -m bench.catalog [--products 10000]`` runs in its own process, with moto in process (the
local stack's DynamoDB patches applied, the infra template's table deployed) and reports:

* the import of a native CSV file of ``--products`` products (each with a bin in one warehouse):
  reading, validation by the product model, the service's plan (batched reads of what is there)
  and the writes (whole changes packed into transactions of up to 100 items), wall time;
* the floor: the very items the import wrote (products, stock levels with their bins, audit
  events) copied into an empty table of the same definition with raw ``BatchWriteItem`` calls of
  25 items; the ratio of the import to it;
* the same file imported again (nothing to write: only the reads that prove it) and a dry run;
* a stock file of one receipt per tenth of the products (``import-stock``: one goods-receipt
  transaction each, as over the API), and the same file again (nothing booked).

Figures are measured, never asserted. The last line of the output is the JSON result after
``MARKER``, which ``python -m bench`` reads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

MARKER = "BENCH-CATALOG-RESULT "
STAGE = "bench"
REGION = "us-east-1"
WAREHOUSES = ("wh-east", "wh-west")


def write_catalogue(path: Path, products: int) -> None:
    lines = ["sku,name,length_mm,width_mm,height_mm,weight_grams,keep_upright,hazmat,active,bin:wh-east"]
    for n in range(products):
        lines.append(
            f"SKU-{n:06d},Product {n},{100 + n % 400},{80 + n % 300},{20 + n % 200},"
            f"{50 + n % 5000},{'true' if n % 7 == 0 else 'false'},false,true,A-{n % 90:02d}-{n % 9}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_receipts(path: Path, receipts: int) -> None:
    lines = ["warehouse_id,sku,quantity,reference"]
    lines += [f"wh-east,SKU-{n:06d},{1 + n % 50},PO-{n // 100:04d}" for n in range(receipts)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _copy_table(dynamodb: Any, table: str, copy: str) -> None:
    """An empty table with ``table``'s keys, indexes and stream: the floor's writes cost the same."""
    described = dynamodb.describe_table(TableName=table)["Table"]
    request: dict[str, Any] = {
        "TableName": copy,
        "KeySchema": described["KeySchema"],
        "AttributeDefinitions": described["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if described.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in described["GlobalSecondaryIndexes"]
        ]
    if described.get("StreamSpecification"):
        request["StreamSpecification"] = described["StreamSpecification"]
    dynamodb.create_table(**request)


def _all_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    return [
        item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]
    ]


def raw_batch_write_seconds(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            response = dynamodb.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
    return time.perf_counter() - started


def run(products: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config
    from moto import mock_aws

    from infra.local.moto_server import apply_moto_patches
    from infra.stack import deploy_stack

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    apply_moto_patches()
    with mock_aws(), tempfile.TemporaryDirectory(prefix="oms-bench-catalog-") as folder:
        from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWorkFactory
        from chalicelib.adapters.reference import DynamoReferenceStore
        from chalicelib.bootstrap import SystemClock
        from chalicelib.domain.ids import UlidGenerator
        from chalicelib.domain.reference import WarehouseSpec
        from chalicelib.service.reference import Actor, put_warehouse
        from tools.catalog.cli import import_products, import_stock
        from tools.catalog.stock import IMPORT_ACTOR

        outputs = deploy_stack(boto3.client("cloudformation", region_name=REGION), STAGE)
        table = outputs["TableName"]
        dynamodb = boto3.client(
            "dynamodb", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
        )
        repo = DynamoReferenceStore(dynamodb, table)
        actor = Actor(IMPORT_ACTOR, SystemClock(), UlidGenerator())
        for priority, warehouse_id in enumerate(WAREHOUSES, start=1):
            spec = WarehouseSpec(
                name=warehouse_id, country="US", timezone="America/New_York", priority=priority
            )
            put_warehouse(repo, warehouse_id, spec, if_match=None, actor=actor)
        before = {(i["pk"]["S"], i["sk"]["S"]) for i in _all_items(dynamodb, table)}
        path = Path(folder) / "products.csv"
        write_catalogue(path, products)

        def timed(**options: Any) -> tuple[float, str]:
            out = io.StringIO()
            started = time.perf_counter()
            status = import_products(repo, path, show_progress=False, out=out, **options)
            seconds = time.perf_counter() - started
            if status != 0:
                raise RuntimeError(f"the import failed:\n{out.getvalue()[-2000:]}")
            return seconds, out.getvalue().strip().splitlines()[-1]

        dry_seconds, _ = timed(dry_run=True)
        import_seconds, summary = timed()
        rerun_seconds, rerun_summary = timed()
        written = [i for i in _all_items(dynamodb, table) if (i["pk"]["S"], i["sk"]["S"]) not in before]
        _copy_table(dynamodb, table, f"{table}-floor")
        floor_seconds = raw_batch_write_seconds(dynamodb, f"{table}-floor", written)

        receipts = max(1, products // 10)
        stock_path = Path(folder) / "stock.csv"
        write_receipts(stock_path, receipts)
        uow_factory = DynamoUnitOfWorkFactory(dynamodb, table)

        def timed_stock() -> tuple[float, str]:
            out = io.StringIO()
            started = time.perf_counter()
            status = import_stock(uow_factory, stock_path, show_progress=False, out=out)
            seconds = time.perf_counter() - started
            if status != 0:
                raise RuntimeError(f"the stock import failed:\n{out.getvalue()[-2000:]}")
            return seconds, out.getvalue().strip().splitlines()[-1]

        stock_seconds, stock_summary = timed_stock()
        stock_rerun_seconds, _ = timed_stock()
    return {
        "products": products,
        "items_written": len(written),
        "import_s": import_seconds,
        "import_summary": summary,
        "floor_s": floor_seconds,
        "ratio": import_seconds / floor_seconds if floor_seconds else None,
        "rerun_s": rerun_seconds,
        "rerun_summary": rerun_summary,
        "dry_run_s": dry_seconds,
        "receipts": receipts,
        "stock_s": stock_seconds,
        "stock_summary": stock_summary,
        "stock_rerun_s": stock_rerun_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=10_000)
    args = parser.parse_args()
    result = run(args.products)
    print(
        f"{result['products']:,} products: import {result['import_s']:.1f} s ({result['import_summary']}); "
        f"raw BatchWriteItem of the same {result['items_written']:,} items {result['floor_s']:.1f} s "
        f"(ratio {result['ratio']:.1f}); again {result['rerun_s']:.1f} s; "
        f"dry run {result['dry_run_s']:.1f} s; "
        f"{result['receipts']:,} receipts {result['stock_s']:.1f} s, again {result['stock_rerun_s']:.1f} s"
    )
    print(MARKER + json.dumps(result))


if __name__ == "__main__":
    main()
