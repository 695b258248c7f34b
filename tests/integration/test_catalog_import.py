"""``python -m tools.catalog`` against the stack in moto: products, stock, store exports, export.

Every run goes through the tool's command line (``main``) on stage ``itest``, as an operator
would run it. "Nothing written" and "changes nothing" are checked on the whole table: every item,
before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import STAGE, Stack, order_body, order_of, place
from tools.catalog.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CATALOG = FIXTURES / "catalog"


def table_items(stack: Stack) -> list[dict[str, Any]]:
    """Every item of the table, in key order (a test-only scan)."""
    paginator = stack.client("dynamodb").get_paginator("scan")
    items = [item for page in paginator.paginate(TableName=stack.table) for item in page["Items"]]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def catalog(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["--stage", STAGE, *argv])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def product_item(stack: Stack, sku: str) -> dict[str, Any] | None:
    found = [i for i in stack.items(f"SKU#{sku}") if i["sk"]["S"] == "PRODUCT"]
    return found[0] if found else None


def audit_events(stack: Stack, event_type: str) -> list[dict[str, Any]]:
    return [
        item
        for item in table_items(stack)
        if item.get("type", {}).get("S") == event_type and item["sk"]["S"].startswith("EVENT#")
    ]


def test_a_product_file_is_imported_once_and_a_second_run_changes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = catalog(capsys, "import", "--no-progress", str(CATALOG / "products.csv"))
    assert status == 0, report
    assert "4 product(s) created, 0 changed, 0 unchanged (1 transaction(s))" in report
    lamp = product_item(stack, "LAMP-DESK")
    assert lamp is not None and lamp["version"]["N"] == "1"
    assert json.loads(json.dumps(lamp["doc"]["M"]["keep_upright"])) == {"BOOL": True}
    east_bin = [i for i in stack.items("SKU#LAMP-DESK") if i["sk"]["S"] == "WH#wh-east"]
    assert east_bin and east_bin[0]["bin"]["S"] == "C-01-1"
    assert len(audit_events(stack, "product.changed")) == 4

    before = table_items(stack)
    status, report = catalog(capsys, "import", "--no-progress", str(CATALOG / "products.json"))
    assert status == 0, report
    assert "0 product(s) created, 0 changed, 4 unchanged (0 transaction(s))" in report
    assert table_items(stack) == before


def test_a_file_with_bad_rows_names_each_by_line_and_writes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table_items(stack)
    status, report = catalog(capsys, "import", str(CATALOG / "products-bad.csv"))
    assert status == 1
    assert report.strip().splitlines()[-1] == "5 bad row(s): nothing written"
    named = {line.split(":")[0] for line in report.splitlines() if line.startswith("line ")}
    assert named == {"line 3", "line 4", "line 5", "line 6", "line 7"}
    assert table_items(stack) == before


def test_a_dry_run_reports_and_writes_nothing(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    before = table_items(stack)
    status, report = catalog(capsys, "import", "--dry-run", str(CATALOG / "products.csv"))
    assert status == 0
    assert "dry run: 4 product(s) would be created" in report
    status, report = catalog(capsys, "import-stock", "--dry-run", str(CATALOG / "stock.csv"))
    assert status == 1  # the products are not there: every row says so, and nothing is written
    assert report.count("unknown SKU") == 4
    assert table_items(stack) == before


def test_the_shopify_and_woocommerce_samples_import_and_import_again_without_change(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    shopify = str(FIXTURES / "shopify" / "products_export.csv")
    woo = str(FIXTURES / "woocommerce" / "wc-product-export.csv")
    status, report = catalog(capsys, "import", "--from", "shopify", shopify)
    assert status == 1 and "no dimensions" in report  # Shopify exports have none
    status, report = catalog(
        capsys, "import", "--from", "shopify", "--default-dimensions", "300x200x100", shopify
    )
    assert status == 0, report
    assert "5 product(s) created" in report
    status, report = catalog(capsys, "import", "--from", "woocommerce", woo)
    assert status == 0, report
    assert "4 product(s) created" in report
    before = table_items(stack)
    catalog(capsys, "import", "--from", "shopify", "--default-dimensions", "300x200x100", shopify)
    catalog(capsys, "import", "--from", "woocommerce", woo)
    assert table_items(stack) == before
    hoodie = product_item(stack, "woo-hoodie-blue")
    assert hoodie is not None and hoodie["doc"]["M"]["weight_grams"]["N"] == "500"


def test_stock_is_booked_as_goods_receipts_once_and_serves_a_waiting_backorder(
    stack: Stack, client: Client, pump: EventPump, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    order = place(client, stack, order_body(lines=[{"sku": "SOLD-OUT", "quantity": 3, "unit_price": "5.00"}]))
    pump.run_until_idle(timeout=20)
    assert order_of(client, stack, order["id"])["lines"][0]["backordered"] == 3
    stock = tmp_path / "stock.csv"
    stock.write_text(
        "warehouse_id,sku,quantity,reference\nwh-east,SOLD-OUT,10,PO-5001\nwh-west,MUG,4,PO-5001\n"
    )

    status, report = catalog(capsys, "import", "--kind", "stock", str(stock))
    assert status == 0, report
    assert "2 receipt(s) booked, 0 booked already" in report
    receipts = [i for i in table_items(stack) if i.get("type", {}).get("S") == "inventory.received"]
    assert len(receipts) == 2
    pump.run_until_idle(timeout=20)
    after = order_of(client, stack, order["id"])
    assert after["lines"][0]["backordered"] == 0
    assert {f["warehouse_id"] for f in after["fulfillments"]} == {"wh-east"}

    before = table_items(stack)
    status, report = catalog(capsys, "import-stock", str(stock))
    assert status == 0 and "0 receipt(s) booked, 2 booked already" in report
    assert table_items(stack) == before


def test_export_writes_every_product_and_importing_it_changes_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalog(capsys, "import", "--no-progress", str(CATALOG / "products.csv"))
    out = tmp_path / "export.csv"
    status, _ = catalog(capsys, "export", "--out", str(out))
    assert status == 0
    skus = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert {"LAMP-DESK", "BATTERY-AA4", "SCARF-WOOL", "KETTLE-OLD", "TSHIRT-M", "MUG"} <= set(skus)
    assert skus == sorted(skus)
    before = table_items(stack)
    status, report = catalog(capsys, "import", str(out))
    assert status == 0 and " 0 changed" in report and "0 product(s) created" in report
    assert table_items(stack) == before
