"""Importing products and stock (tools/catalog) through the service's use cases, with fakes.

What the tool promises: a good file writes each product once with its event; a file with bad rows
names every bad row by line and writes nothing; a dry run writes nothing; a file imported again
changes nothing (no event, no version bump); the store exports import like the native format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chalicelib.domain.models import Product, Warehouse
from chalicelib.domain.reference import Versioned
from tests.unit.fake_reference import FakeReferenceRepository
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory
from tools.catalog.cli import export_products, import_products, import_stock
from tools.catalog.readers import FileProblem
from tools.catalog.stores import Dimensions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CATALOG = FIXTURES / "catalog"


def warehouse(warehouse_id: str) -> Warehouse:
    return Warehouse(id=warehouse_id, name=warehouse_id, priority=1, timezone="UTC", country="US")


@pytest.fixture
def repo() -> FakeReferenceRepository:
    repository = FakeReferenceRepository()
    for warehouse_id in ("wh-east", "wh-west"):
        repository.warehouses[warehouse_id] = Versioned(warehouse(warehouse_id), 1)
    return repository


def run_import(repo: FakeReferenceRepository, path: Path, **options: object) -> tuple[int, str]:
    out = io.StringIO()
    status = import_products(repo, path, show_progress=False, out=out, **options)  # type: ignore[arg-type]
    return status, out.getvalue()


@pytest.mark.parametrize("name", ["products.csv", "products.json"])
def test_a_good_file_creates_each_product_at_version_one_with_its_event(
    repo: FakeReferenceRepository, name: str
) -> None:
    status, report = run_import(repo, CATALOG / name)
    assert status == 0, report
    assert "4 product(s) created, 0 changed, 0 unchanged (1 transaction(s))" in report
    assert {sku: v.version for sku, v in repo.products.items()} == {
        "LAMP-DESK": 1,
        "BATTERY-AA4": 1,
        "SCARF-WOOL": 1,
        "KETTLE-OLD": 1,
    }
    lamp = repo.products["LAMP-DESK"].value
    assert (lamp.keep_upright, lamp.hazmat, lamp.active) == (True, False, True)
    assert repo.products["BATTERY-AA4"].value.hazmat is True
    assert repo.products["KETTLE-OLD"].value.active is False
    assert repo.bins == {
        ("LAMP-DESK", "wh-east"): "C-01-1",
        ("BATTERY-AA4", "wh-east"): "C-02-4",
        ("BATTERY-AA4", "wh-west"): "D-01-1",
        ("SCARF-WOOL", "wh-west"): "D-07-2",
    }
    assert [e.type for e in repo.events] == ["product.changed"] * 4
    assert {e.actor for e in repo.events} == {"system:catalog-import"}


def test_the_same_file_imported_again_changes_nothing(repo: FakeReferenceRepository) -> None:
    run_import(repo, CATALOG / "products.csv")
    events, commits = list(repo.events), repo.commits
    status, report = run_import(repo, CATALOG / "products.csv")
    assert status == 0
    assert "0 product(s) created, 0 changed, 4 unchanged (0 transaction(s))" in report
    assert repo.events == events and repo.commits == commits
    assert {v.version for v in repo.products.values()} == {1}


def test_the_json_file_after_the_csv_file_of_the_same_products_changes_nothing(
    repo: FakeReferenceRepository,
) -> None:
    run_import(repo, CATALOG / "products.csv")
    status, report = run_import(repo, CATALOG / "products.json")
    assert status == 0 and "4 unchanged" in report


def test_one_changed_row_writes_one_change_with_a_new_version(
    repo: FakeReferenceRepository, tmp_path: Path
) -> None:
    run_import(repo, CATALOG / "products.csv")
    changed = tmp_path / "products.csv"
    changed.write_text((CATALOG / "products.csv").read_text().replace(",1450,", ",1500,"))
    status, report = run_import(repo, changed)
    assert status == 0 and "0 product(s) created, 1 changed, 3 unchanged" in report
    assert repo.products["LAMP-DESK"].version == 2
    assert repo.products["LAMP-DESK"].value.weight_grams == 1500
    assert len(repo.events) == 5


def test_bad_rows_are_each_reported_by_line_and_nothing_is_written(repo: FakeReferenceRepository) -> None:
    status, report = run_import(repo, CATALOG / "products-bad.csv")
    assert status == 1
    lines = report.splitlines()
    assert lines[-1] == "5 bad row(s): nothing written"
    by_line: dict[int, list[str]] = {}
    for text in lines[:-1]:
        number, message = text.removeprefix("line ").split(": ", 1)
        by_line.setdefault(int(number), []).append(message)
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert any(m.startswith("sku: 'BAD SKU' is not a SKU") for m in by_line[3])
    assert by_line[4] == ["weight_grams: Field required"]
    assert by_line[5] == ["weight_grams: Input should be greater than 0"]
    assert by_line[6] == ["sku LAMP-DESK is on line 2 already"]
    assert {m.split(":")[0] for m in by_line[7]} == {"length_mm", "keep_upright"}
    assert repo.products == {} and repo.events == [] and repo.commits == 0


def test_a_bin_in_an_unknown_warehouse_is_a_bad_row_found_by_the_service(
    repo: FakeReferenceRepository, tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,name,length_mm,width_mm,height_mm,weight_grams,bin:wh-north\n"
        "A,A,1,1,1,1,\n"
        "B,B,1,1,1,1,X-1\n"
        "C,C,1,1,1,1,X-2\n"
    )
    status, report = run_import(repo, path)
    assert status == 1
    assert report.splitlines() == [
        "line 3: bins.wh-north: warehouse wh-north does not exist",
        "line 4: bins.wh-north: warehouse wh-north does not exist",
        "2 bad row(s): nothing written",
    ]
    assert repo.products == {}


def test_a_dry_run_reports_what_would_change_and_writes_nothing(repo: FakeReferenceRepository) -> None:
    status, report = run_import(repo, CATALOG / "products.csv", dry_run=True)
    assert status == 0
    assert "dry run: 4 product(s) would be created, 0 changed, 0 unchanged; nothing written" in report
    assert repo.products == {} and repo.events == []


def test_the_shopify_sample_imports_its_variants_with_the_default_dimensions(
    repo: FakeReferenceRepository,
) -> None:
    path = FIXTURES / "shopify" / "products_export.csv"
    status, report = run_import(repo, path, source="shopify", default_dimensions=Dimensions(300, 200, 100))
    assert status == 0, report
    assert "skipped 2 row(s): 1 an image row (no variant), 1 a gift card" in report
    assert "5 product(s) given the default dimensions 300x200x100 mm" in report
    assert set(repo.products) == {"TEE-CL-S", "TEE-CL-M", "TEE-CL-L", "MUG-CER", "POSTER-A2"}
    tee = repo.products["TEE-CL-L"].value
    assert (tee.name, tee.weight_grams, tee.length_mm, tee.width_mm, tee.height_mm) == (
        "Classic Tee - L",
        220,
        300,
        200,
        100,
    )
    assert repo.products["POSTER-A2"].value.active is False
    status, report = run_import(repo, path, source="shopify", default_dimensions=Dimensions(300, 200, 100))
    assert "0 changed, 5 unchanged" in report


def test_the_shopify_sample_without_default_dimensions_names_every_product_row_and_writes_nothing(
    repo: FakeReferenceRepository,
) -> None:
    status, report = run_import(repo, FIXTURES / "shopify" / "products_export.csv", source="shopify")
    assert status == 1
    dimension_lines = [line for line in report.splitlines() if "no dimensions" in line]
    assert [line.split(":")[0] for line in dimension_lines] == [
        "line 2",
        "line 3",
        "line 4",
        "line 6",
        "line 9",
    ]
    assert repo.products == {}


def test_the_woocommerce_sample_imports_simple_products_and_variations(repo: FakeReferenceRepository) -> None:
    path = FIXTURES / "woocommerce" / "wc-product-export.csv"
    status, report = run_import(repo, path, source="woocommerce")
    assert status == 0, report
    assert "skipped 4 row(s)" in report
    assert set(repo.products) == {"woo-hoodie-blue", "woo-hoodie-red", "woo-beanie", "woo-cap"}
    blue = repo.products["woo-hoodie-blue"].value
    assert (blue.weight_grams, blue.length_mm, blue.width_mm, blue.height_mm) == (500, 300, 250, 50)
    assert repo.products["woo-cap"].value.active is False
    status, report = run_import(repo, path, source="woocommerce")
    assert "0 changed, 4 unchanged" in report


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_export_imported_again_changes_nothing(
    repo: FakeReferenceRepository, tmp_path: Path, fmt: str
) -> None:
    run_import(repo, CATALOG / "products.csv")
    path = tmp_path / f"export.{fmt}"
    assert export_products(repo, path, fmt=None, out=io.StringIO()) == 0
    if fmt == "json":
        assert [p["sku"] for p in json.loads(path.read_text())] == sorted(repo.products)
    status, report = run_import(repo, path)
    assert status == 0 and "0 product(s) created, 0 changed, 4 unchanged" in report


# --- stock ----------------------------------------------------------------------------------------


@pytest.fixture
def stock_store(clock: FakeClock) -> FakeStore:
    store = FakeStore(clock=clock)
    for warehouse_id in ("wh-east", "wh-west"):
        store.add_warehouse(warehouse(warehouse_id))
    for sku in ("LAMP-DESK", "BATTERY-AA4", "SCARF-WOOL"):
        store.add_product(Product(sku=sku, name=sku, weight_grams=1, length_mm=1, width_mm=1, height_mm=1))
    return store


def run_stock(store: FakeStore, path: Path, **options: object) -> tuple[int, str]:
    out = io.StringIO()
    status = import_stock(FakeUnitOfWorkFactory(store), path, show_progress=False, out=out, **options)  # type: ignore[arg-type]
    return status, out.getvalue()


def on_hand(store: FakeStore) -> dict[tuple[str, str], int]:
    return {key: row.on_hand for key, row in store.stock.items()}


def test_a_stock_file_books_each_row_as_a_goods_receipt_with_its_event(stock_store: FakeStore) -> None:
    status, report = run_stock(stock_store, CATALOG / "stock.csv")
    assert status == 0, report
    assert "4 receipt(s) booked, 0 booked already" in report
    assert on_hand(stock_store) == {
        ("wh-east", "LAMP-DESK"): 40,
        ("wh-east", "BATTERY-AA4"): 200,
        ("wh-west", "BATTERY-AA4"): 120,
        ("wh-west", "SCARF-WOOL"): 35,
    }
    events = list(stock_store.inventory_events.values())
    assert len(events) == 4
    assert {e["type"] for e in events} == {"inventory.received"}
    assert {e["data"]["reference"] for e in events} == {"PO-2026-0117", "PO-2026-0118"}


def test_the_same_stock_file_imported_again_books_nothing(stock_store: FakeStore) -> None:
    run_stock(stock_store, CATALOG / "stock.csv")
    levels, events, commits = on_hand(stock_store), dict(stock_store.inventory_events), stock_store.commits
    status, report = run_stock(stock_store, CATALOG / "stock.csv")
    assert status == 0 and "0 receipt(s) booked, 4 booked already" in report
    assert on_hand(stock_store) == levels
    assert stock_store.inventory_events == events and stock_store.commits == commits


def test_a_receipt_imported_before_with_another_quantity_is_refused_before_anything_is_written(
    stock_store: FakeStore, tmp_path: Path
) -> None:
    run_stock(stock_store, CATALOG / "stock.csv")
    levels = on_hand(stock_store)
    path = tmp_path / "stock.csv"
    path.write_text(
        "warehouse_id,sku,quantity,reference\nwh-west,SCARF-WOOL,5,PO-9\nwh-east,LAMP-DESK,41,PO-2026-0117\n"
    )
    status, report = run_stock(stock_store, path)
    assert status == 1
    assert report.splitlines()[0].startswith(
        "line 3: reference PO-2026-0117 was imported for LAMP-DESK in wh-east with quantity 40, not 41"
    )
    assert on_hand(stock_store) == levels


def test_bad_stock_rows_are_all_reported_by_line_and_nothing_is_booked(stock_store: FakeStore) -> None:
    status, report = run_stock(stock_store, CATALOG / "stock-bad.csv")
    assert status == 1
    lines = report.splitlines()
    assert lines[-1] == "6 bad row(s): nothing written"
    assert sorted({int(line.split(":")[0].removeprefix("line ")) for line in lines[:-1]}) == [
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    assert "line 4: unknown warehouse wh-north" in lines
    assert "line 5: unknown SKU NO-SUCH-SKU (import the product first)" in lines
    assert stock_store.stock == {} and stock_store.inventory_events == {}


def test_a_stock_dry_run_says_what_it_would_book_and_books_nothing(stock_store: FakeStore) -> None:
    status, report = run_stock(stock_store, CATALOG / "stock.csv", dry_run=True)
    assert status == 0
    assert "dry run: 4 receipt(s) of 395 unit(s) would be booked, 0 booked already; nothing written" in report
    assert stock_store.stock == {}


# --- command line ---------------------------------------------------------------------------------


def test_the_command_line_refuses_bad_default_dimensions_and_product_options_for_stock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tools.catalog.cli import main

    target = ["--stage", "unit", "--region", "us-east-1"]
    with pytest.raises(SystemExit) as exit_info:
        main([*target, "import", "--from", "shopify", "--default-dimensions", "30x20", "x.csv"])
    assert exit_info.value.code == 2
    assert "LENGTHxWIDTHxHEIGHT" in capsys.readouterr().err
    stock = str(CATALOG / "stock.csv")
    assert main([*target, "import", "--kind", "stock", "--from", "shopify", stock]) == 1
    assert "--from and --default-dimensions are for products" in capsys.readouterr().err
    assert main([*target, "import-stock", str(CATALOG / "missing.csv")]) == 1
    assert "missing.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sample", "option"),
    [
        ("shopify/products_export.csv", "--from shopify"),
        ("woocommerce/wc-product-export.csv", "--from woocommerce"),
    ],
)
def test_a_store_export_imported_as_the_native_format_is_refused_naming_the_option(
    repo: FakeReferenceRepository, sample: str, option: str
) -> None:
    with pytest.raises(FileProblem, match=option):
        run_import(repo, FIXTURES / sample)
    assert repo.products == {}
