"""Reading import files (tools/catalog): line numbers, CSV and JSON, and the store exports.

The Shopify and WooCommerce samples under tests/fixtures are written from each platform's
documented product export columns; each is checked against the drafts it must become."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.catalog.drafts import Draft, Skipped, parse_decimal
from tools.catalog.progress import MIN_ROWS, Progress
from tools.catalog.readers import FileProblem, read_csv, read_json, read_json_lines, read_rows
from tools.catalog.stock import read_receipts
from tools.catalog.stores import Dimensions, parse_dimensions, shopify_drafts, woocommerce_drafts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHOPIFY = FIXTURES / "shopify" / "products_export.csv"
WOOCOMMERCE = FIXTURES / "woocommerce" / "wc-product-export.csv"


def drafts_by_sku(items: list[Draft | Skipped]) -> dict[str, Draft]:
    return {item.sku: item for item in items if isinstance(item, Draft)}


# --- CSV and JSON readers -------------------------------------------------------------------------


def test_a_csv_row_is_numbered_by_the_line_its_record_starts_on_even_after_a_multiline_cell() -> None:
    text = 'sku,name\nA,"two\nlines"\nB,plain\n\nC,after a blank line\n'
    rows = list(read_csv(text))
    assert [(r.line, r.values["sku"]) for r in rows] == [(2, "A"), (4, "B"), (6, "C")]
    assert rows[0].values["name"] == "two\nlines"


def test_a_csv_row_with_more_cells_than_columns_carries_a_problem_and_a_short_row_is_padded() -> None:
    rows = list(read_csv("a,b\n1,2,3\n4\n"))
    assert rows[0].problems == ("3 cells but the header has 2 columns",)
    assert rows[1].values == {"a": "4", "b": ""}


def test_a_csv_file_without_a_header_or_with_a_column_named_twice_is_refused() -> None:
    with pytest.raises(FileProblem, match="empty"):
        list(read_csv(""))
    with pytest.raises(FileProblem, match="named twice: sku"):
        list(read_csv("sku,name,sku\n"))


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffsku,name\nA,Ä\n".encode())
    assert [r.values for r in read_rows(path)] == [{"sku": "A", "name": "Ä"}]


def test_each_json_object_is_numbered_by_the_line_of_its_opening_brace() -> None:
    text = '[\n  {"sku": "A"},\n  {\n    "sku": "B"\n  }, {"sku": "C"},\n  7\n]\n'
    rows = list(read_json(text))
    assert [r.line for r in rows] == [2, 3, 5, 6]
    assert rows[3].problems == ("an object is expected, not int",)


def test_broken_json_is_refused_naming_its_line() -> None:
    with pytest.raises(FileProblem, match="line 3"):
        list(read_json('[\n {"sku": "A"},\n {"sku": }\n]'))
    with pytest.raises(FileProblem, match="array"):
        list(read_json('{"sku": "A"}'))


def test_json_lines_are_numbered_one_per_line() -> None:
    rows = list(read_json_lines('{"sku": "A"}\n\n{"sku": "B"}\nnot json\n'))
    assert [(r.line, r.values.get("sku"), r.problems) for r in rows][:2] == [(1, "A", ()), (3, "B", ())]
    assert rows[2].line == 4 and rows[2].problems


def test_an_unknown_file_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match=r"\.csv, \.json or \.jsonl"):
        read_rows(tmp_path / "products.xlsx")


_CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=8)


@given(st.lists(st.tuples(_CELL, _CELL), max_size=10))
def test_whatever_the_cells_hold_every_written_row_reads_back_numbered_by_its_first_line(
    cells: list[tuple[str, str]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b"])
    expected, line = [], 2
    for a, b in cells:
        writer.writerow([a, b])
        if (a + b).strip():
            expected.append((line, a.strip(), b.strip()))
        line += (a + b).count("\n") + 1
    rows = list(read_csv(out.getvalue()))
    assert [(r.line, r.values["a"], r.values["b"]) for r in rows] == expected


# --- Shopify --------------------------------------------------------------------------------------


def test_the_shopify_sample_becomes_one_draft_per_variant_named_by_title_and_options() -> None:
    items = list(shopify_drafts(read_rows(SHOPIFY), default_dimensions_mm=Dimensions(300, 200, 100)))
    drafts = drafts_by_sku(items)
    assert set(drafts) == {"TEE-CL-S", "TEE-CL-M", "TEE-CL-L", "MUG-CER", "POSTER-A2"}
    assert drafts["TEE-CL-M"].fields == {
        "sku": "TEE-CL-M",
        "name": "Classic Tee - M",
        "weight_grams": 200,
        "length_mm": 300,
        "width_mm": 200,
        "height_mm": 100,
    }
    # A single "Default Title" variant is named by the title alone; Variant Grams is grams even
    # when the admin shows kilograms (Variant Weight Unit kg).
    assert drafts["MUG-CER"].fields["name"] == "Ceramic Mug"
    assert drafts["MUG-CER"].fields["weight_grams"] == 350
    assert drafts["POSTER-A2"].fields["active"] is False  # Status draft
    assert all(not d.problems for d in drafts.values())


def test_shopify_rows_are_numbered_by_their_line_in_the_file_past_a_multiline_description() -> None:
    items = list(shopify_drafts(read_rows(SHOPIFY), default_dimensions_mm=Dimensions(1, 1, 1)))
    lines = {item.sku if isinstance(item, Draft) else item.reason: item.line for item in items}
    assert lines["TEE-CL-S"] == 2 and lines["TEE-CL-L"] == 4
    assert lines["MUG-CER"] == 6  # its description spans lines 6 and 7
    assert lines["POSTER-A2"] == 9


def test_shopify_image_rows_and_gift_cards_are_skipped_with_a_reason() -> None:
    items = list(shopify_drafts(read_rows(SHOPIFY), default_dimensions_mm=Dimensions(1, 1, 1)))
    skipped = [(s.line, s.reason) for s in items if isinstance(s, Skipped)]
    assert skipped == [(5, "an image row (no variant)"), (8, "a gift card")]


def test_without_default_dimensions_every_shopify_product_row_says_dimensions_are_missing() -> None:
    drafts = drafts_by_sku(list(shopify_drafts(read_rows(SHOPIFY))))
    assert len(drafts) == 5
    for draft in drafts.values():
        assert any("no dimensions" in p and "--default-dimensions" in p for p in draft.problems)


def test_shopify_s_newer_column_names_are_read_as_well() -> None:
    text = (
        "URL handle,Title,SKU,Weight value (grams),Requires shipping,Option1 value,Status\n"
        "mug,Mug,MUG-1,310,TRUE,Default Title,active\n"
    )
    (draft,) = shopify_drafts(read_csv(text), default_dimensions_mm=Dimensions(90, 90, 100))
    assert isinstance(draft, Draft)
    assert draft.fields["sku"] == "MUG-1" and draft.fields["weight_grams"] == 310 and not draft.problems


def test_a_shopify_variant_without_sku_or_weight_is_a_row_problem() -> None:
    text = "Handle,Title,Variant SKU,Variant Grams\ntee,Tee,,\n"
    (draft,) = shopify_drafts(read_csv(text), default_dimensions_mm=Dimensions(1, 1, 1))
    assert isinstance(draft, Draft)
    assert draft.problems == [
        "Variant SKU is empty (the service knows products by SKU)",
        "Variant Grams is empty (weight in grams)",
    ]


def test_a_file_that_is_not_a_shopify_export_is_refused_as_a_whole() -> None:
    with pytest.raises(FileProblem, match="Handle and Title"):
        list(shopify_drafts(read_csv("sku,name\nA,B\n")))


# --- WooCommerce ----------------------------------------------------------------------------------


def test_the_woocommerce_sample_becomes_simple_products_and_variations_in_grams_and_millimetres() -> None:
    drafts = drafts_by_sku(list(woocommerce_drafts(read_rows(WOOCOMMERCE))))
    assert set(drafts) == {"woo-hoodie-blue", "woo-hoodie-red", "woo-beanie", "woo-cap"}
    assert drafts["woo-beanie"].fields == {
        "sku": "woo-beanie",
        "name": "Beanie",
        "weight_grams": 200,
        "length_mm": 200,
        "width_mm": 150,
        "height_mm": 30,
    }
    assert drafts["woo-cap"].fields["height_mm"] == 104  # 10.4 cm
    assert drafts["woo-cap"].fields["active"] is False  # Published 0: private
    assert all(not d.problems for d in drafts.values())


def test_a_woocommerce_variation_takes_its_parent_s_weight_and_dimensions_where_it_has_none() -> None:
    drafts = drafts_by_sku(list(woocommerce_drafts(read_rows(WOOCOMMERCE))))
    blue, red = drafts["woo-hoodie-blue"].fields, drafts["woo-hoodie-red"].fields
    assert (blue["weight_grams"], blue["length_mm"], blue["width_mm"], blue["height_mm"]) == (
        500,
        300,
        250,
        50,
    )
    assert red["weight_grams"] == 550 and red["length_mm"] == 300


def test_woocommerce_parents_grouped_external_and_virtual_products_are_skipped() -> None:
    items = list(woocommerce_drafts(read_rows(WOOCOMMERCE)))
    assert [(s.line, s.reason) for s in items if isinstance(s, Skipped)] == [
        (2, "a variable product (not goods on a shelf)"),
        (6, "a virtual product (not goods on a shelf)"),
        (8, "a grouped product (not goods on a shelf)"),
        (9, "a external product (not goods on a shelf)"),
    ]


def test_woocommerce_units_are_read_from_the_headers() -> None:
    text = "Type,SKU,Name,Weight (lbs),Length (in),Width (in),Height (in)\nsimple,BOOT,Boot,2,12,4.5,5\n"
    (draft,) = woocommerce_drafts(read_csv(text))
    assert isinstance(draft, Draft)
    assert draft.fields["weight_grams"] == 907  # 2 lb
    assert (draft.fields["length_mm"], draft.fields["width_mm"], draft.fields["height_mm"]) == (305, 114, 127)


def test_a_woocommerce_row_with_an_unreadable_or_missing_measure_names_the_column() -> None:
    text = "Type,SKU,Name,Weight (kg),Length (cm)\nsimple,A,A,heavy,\n"
    (draft,) = woocommerce_drafts(read_csv(text))
    assert isinstance(draft, Draft)
    assert draft.problems == [
        "Weight (kg): 'heavy' is not a number",
        "Length (cm) is empty",
        "the export has no column for height_mm",
        "the export has no column for width_mm",
    ]


def test_an_unknown_woocommerce_unit_refuses_the_file() -> None:
    with pytest.raises(FileProblem, match="unknown unit 'stone'"):
        list(woocommerce_drafts(read_csv("Type,SKU,Name,Weight (stone)\nsimple,A,A,1\n")))


# --- small parsers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5", Decimal("1.5")), ("1,5", Decimal("1.5")), ("", None), ("-2", Decimal(-2))],
)
def test_decimals_are_read_with_a_point_or_a_decimal_comma(text: str, expected: Decimal | None) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["1,000.5", "abc", "NaN", "inf"])
def test_anything_else_is_not_a_decimal(text: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal(text)


def test_default_dimensions_are_three_whole_millimetre_figures() -> None:
    assert parse_dimensions("300x200x100") == Dimensions(300, 200, 100)
    assert parse_dimensions("30 \u00d7 20 \u00d7 10") == Dimensions(30, 20, 10)
    for text in ("300x200", "0x1x1", "1.5x1x1", "axbxc"):
        with pytest.raises(ValueError, match="LENGTHxWIDTHxHEIGHT"):
            parse_dimensions(text)


# --- stock rows -----------------------------------------------------------------------------------


def test_stock_rows_are_checked_by_the_goods_receipt_body_and_every_bad_row_is_named() -> None:
    receipts, problems = read_receipts(read_rows(FIXTURES / "catalog" / "stock-bad.csv"))
    assert [r.line for r in receipts] == [2, 4, 5]
    by_line = {p.line: p.message for p in problems}
    assert sorted(by_line) == [3, 6, 7, 8]
    assert by_line[3].startswith("quantity:")
    assert by_line[6].startswith("quantity:")
    assert "reference is empty" in by_line[7]
    assert by_line[8] == "the same receipt (wh-east, LAMP-DESK, PO-2026-0117) as line 2"


def test_a_stock_row_with_an_unknown_column_is_refused() -> None:
    _, problems = read_receipts(read_csv("warehouse_id,sku,quantity,reference,qty\nwh,A,1,R,1\n"))
    assert [p.message for p in problems] == [
        "unknown column(s) qty (expected warehouse_id, sku, quantity, reference)"
    ]


def test_the_idempotency_key_of_a_receipt_names_its_reference_and_sku() -> None:
    (receipt,), _ = read_receipts(read_csv("warehouse_id,sku,quantity,reference\nwh-east,A,3,PO-1\n"))
    assert receipt.idempotency_key == "catalog-import:PO-1:A"


# --- progress -------------------------------------------------------------------------------------


class _Pipe(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_into_a_pipe_writes_one_line_per_tenth_of_a_large_file() -> None:
    stream = _Pipe(tty=False)
    progress = Progress("products", 1000, stream=stream)
    for _ in range(1000):
        progress.advance()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("products [###...") and "100/1,000 ( 10%)" in lines[0]
    assert "1,000/1,000 (100%)" in lines[-1]


def test_progress_on_a_terminal_redraws_one_line_in_place() -> None:
    stream = _Pipe(tty=True)
    progress = Progress("receipts", 600, stream=stream)
    progress.advance(600)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rreceipts [" + "#" * 30 + "] 600/600 (100%)")
    assert text.endswith("/s\n") and text.count("\n") == 1


def test_small_files_and_no_progress_show_nothing() -> None:
    for progress in (
        Progress("p", MIN_ROWS - 1, stream=_Pipe(tty=True)),
        Progress("p", 5000, stream=_Pipe(tty=False), enabled=False),
    ):
        progress.advance(progress.total)
        progress.close()
        assert isinstance(progress.stream, _Pipe) and progress.stream.getvalue() == ""


def test_json_stock_rows_are_refused_in_the_model_s_words_when_a_value_has_the_wrong_type() -> None:
    rows = read_json('[{"warehouse_id": "wh", "sku": "A", "quantity": 2.5, "reference": 17}]')
    receipts, problems = read_receipts(rows)
    assert receipts == []
    assert [p.message.split(":")[0] for p in problems] == ["quantity", "reference"]
