"""Store catalogues: a Shopify or WooCommerce product export CSV, read into product drafts.

**Shopify** (Products > Export, "CSV for Excel, Numbers, or other spreadsheet programs"): one row
per variant, rows of one product sharing its ``Handle``; the product's ``Title`` is on its first
row only; rows with only an image (``Image Src``, no variant) follow. The service's product is the
*variant*: its SKU is ``Variant SKU``, its weight ``Variant Grams`` (always grams: ``Variant Weight
Unit`` is only the unit the admin displays), its name the title plus the option values unless the
product has the single ``Default Title`` variant. ``Status`` ``draft`` or ``archived`` makes an
inactive product. Rows that ship nothing (``Variant Requires Shipping`` FALSE, gift cards) are
skipped. Shopify's newer export names some columns differently (``URL handle``, ``SKU``, ``Weight
value (grams)``, ``Requires shipping``, ``Option1 value``): both spellings are read.

Shopify exports carry **no dimensions**. Without ``default_dimensions_mm`` every product row is an
error that says so; with it (``--default-dimensions 300x200x100`` on the command line) every product
gets those dimensions, and the import's summary says how many did.

**WooCommerce** (Products > Export): one row per product or variation, columns ``ID``, ``Type``,
``SKU``, ``Name``, ``Published``, ``Weight (kg)``, ``Length (cm)``, ``Width (cm)``, ``Height
(cm)``, ``Parent``, ... The units in the headers are the store's settings (``Weight (lbs)``,
``Length (in)``...): they are read from the header and converted to grams and millimetres, rounded
to the nearest whole unit. ``variable``, ``grouped`` and ``external`` rows, and ``virtual`` ones,
are skipped: only simple products and variations are goods on a shelf. A variation with an empty
weight or dimension takes its parent's (``Parent`` is ``id:<ID>`` or the parent's SKU), as
WooCommerce itself does. ``Published`` other than ``1`` (private, draft) makes an inactive product.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tools.catalog.drafts import Draft, Skipped, parse_bool, parse_decimal
from tools.catalog.readers import FileProblem, Row

__all__ = ["Dimensions", "parse_dimensions", "shopify_drafts", "woocommerce_drafts"]

DIMENSION_FIELDS = ("length_mm", "width_mm", "height_mm")


@dataclass(frozen=True)
class Dimensions:
    length_mm: int
    width_mm: int
    height_mm: int

    def as_fields(self) -> dict[str, int]:
        return {"length_mm": self.length_mm, "width_mm": self.width_mm, "height_mm": self.height_mm}


def parse_dimensions(text: str) -> Dimensions:
    """``300x200x100`` (millimetres, length x width x height)."""
    parts = re.split(r"\s*[xX*\u00d7]\s*", text.strip())
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{text!r}: expected LENGTHxWIDTHxHEIGHT in whole millimetres, e.g. 300x200x100")
    length, width, height = (int(p) for p in parts)
    return Dimensions(length, width, height)


def _column(header: Iterable[str], *names: str) -> str | None:
    present = set(header)
    return next((name for name in names if name in present), None)


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- Shopify ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ShopifyColumns:
    handle: str
    title: str
    sku: str | None
    grams: str | None
    requires_shipping: str | None
    gift_card: str | None
    status: str | None
    options: tuple[str, ...]

    @classmethod
    def of(cls, header: Sequence[str]) -> _ShopifyColumns:
        handle = _column(header, "Handle", "URL handle")
        title = _column(header, "Title")
        if handle is None or title is None:
            raise FileProblem(
                "line 1: not a Shopify product export (the columns Handle and Title are expected)"
            )
        options = tuple(
            name
            for n in (1, 2, 3)
            if (name := _column(header, f"Option{n} Value", f"Option{n} value")) is not None
        )
        return cls(
            handle=handle,
            title=title,
            sku=_column(header, "Variant SKU", "SKU"),
            grams=_column(header, "Variant Grams", "Weight value (grams)"),
            requires_shipping=_column(header, "Variant Requires Shipping", "Requires shipping"),
            gift_card=_column(header, "Gift Card", "Gift card"),
            status=_column(header, "Status"),
            options=options,
        )


def shopify_drafts(
    rows: Iterable[Row], *, default_dimensions_mm: Dimensions | None = None
) -> Iterator[Draft | Skipped]:
    columns: _ShopifyColumns | None = None
    titles: dict[str, str] = {}
    statuses: dict[str, str] = {}
    for row in rows:
        if columns is None:
            columns = _ShopifyColumns.of(list(row.values))
            if columns.sku is None:
                raise FileProblem("line 1: the Shopify export has no Variant SKU column")
        yield from _shopify_row(row, columns, titles, statuses, default_dimensions_mm)


def _shopify_skip_reason(
    row: Row, columns: _ShopifyColumns, sku: str, option_values: list[str], title: str
) -> str | None:
    """Why a row of the export is no product to import, or None when it is one."""
    cell = row.values.get
    if not sku and not any(option_values) and not title:
        return "an image row (no variant)"
    if columns.gift_card and parse_bool(str(cell(columns.gift_card, ""))) is True:
        return "a gift card"
    if columns.requires_shipping and parse_bool(str(cell(columns.requires_shipping, ""))) is False:
        return "ships nothing (Variant Requires Shipping is FALSE)"
    return None


def _shopify_weight(row: Row, columns: _ShopifyColumns, fields: dict[str, Any], problems: list[str]) -> None:
    if columns.grams is None:
        problems.append("the export has no Variant Grams column (weight)")
        return
    try:
        grams = parse_decimal(str(row.values.get(columns.grams, "")))
    except ValueError as error:
        problems.append(f"{columns.grams}: {error}")
        return
    if grams is None:
        problems.append(f"{columns.grams} is empty (weight in grams)")
    else:
        fields["weight_grams"] = _whole(grams)


def _shopify_row(
    row: Row,
    columns: _ShopifyColumns,
    titles: dict[str, str],
    statuses: dict[str, str],
    default_dimensions_mm: Dimensions | None,
) -> Iterator[Draft | Skipped]:
    cell = row.values.get
    handle = str(cell(columns.handle, ""))
    title = str(cell(columns.title, ""))
    if handle and title:
        titles[handle] = title  # the product's first row; its variants follow with Title empty
    status = str(cell(columns.status, "")) if columns.status else ""
    if handle and status:
        statuses[handle] = status.lower()
    sku = str(cell(columns.sku or "", ""))
    option_values = [str(cell(name, "")) for name in columns.options]
    skipped = _shopify_skip_reason(row, columns, sku, option_values, title)
    if skipped is not None:
        yield Skipped(row.line, skipped)
        return
    problems = list(row.problems)
    if not handle:
        problems.append(f"{columns.handle} is empty")
    name = titles.get(handle, "")
    if not name:
        problems.append(f"no {columns.title} for handle {handle!r} on this or an earlier row")
    shown = [v for v in option_values if v and v != "Default Title"]
    if shown:
        name = f"{name} - {' / '.join(shown)}"
    fields: dict[str, Any] = {"sku": sku, "name": name}
    if not sku:
        problems.append(f"{columns.sku} is empty (the service knows products by SKU)")
    _shopify_weight(row, columns, fields, problems)
    if default_dimensions_mm is None:
        problems.append(
            "no dimensions: Shopify exports have none; give --default-dimensions LxWxH (mm) "
            "or import them from a products file"
        )
    else:
        fields.update(default_dimensions_mm.as_fields())
    if statuses.get(handle) in ("draft", "archived"):
        fields["active"] = False
    yield Draft(line=row.line, fields=fields, problems=problems)


# --- WooCommerce --------------------------------------------------------------------------------

#: Factors to grams and millimetres of the units WooCommerce offers (Settings > Products).
_GRAMS = {"kg": Decimal(1000), "g": Decimal(1), "lbs": Decimal("453.59237"), "oz": Decimal("28.349523125")}
_MILLIMETRES = {
    "m": Decimal(1000),
    "cm": Decimal(10),
    "mm": Decimal(1),
    "in": Decimal("25.4"),
    "yd": Decimal("914.4"),
}
_UNIT_COLUMN = re.compile(r"^(Weight|Length|Width|Height) \(([a-z]+)\)$")
_NOT_GOODS = {"variable", "grouped", "external", "virtual"}
_MEASURES = {"Weight": "weight_grams", "Length": "length_mm", "Width": "width_mm", "Height": "height_mm"}


@dataclass(frozen=True)
class _Measure:
    column: str
    field: str
    factor: Decimal


def _woo_measures(header: Sequence[str]) -> list[_Measure]:
    measures: list[_Measure] = []
    for column in header:
        match = _UNIT_COLUMN.match(column)
        if match is None:
            continue
        quantity, unit = match.groups()
        factors = _GRAMS if quantity == "Weight" else _MILLIMETRES
        if unit not in factors:
            raise FileProblem(f"line 1: column {column!r}: unknown unit {unit!r} ({', '.join(factors)})")
        measures.append(_Measure(column, _MEASURES[quantity], factors[unit]))
    return measures


def woocommerce_drafts(rows: Iterable[Row]) -> Iterator[Draft | Skipped]:
    """Two passes (a variation may come before its parent): all rows are read first."""
    listed = list(rows)
    if not listed:
        return
    header = list(listed[0].values)
    for required in ("Type", "SKU", "Name"):
        if required not in header:
            raise FileProblem(f"line 1: not a WooCommerce product export (no column {required!r})")
    measures = _woo_measures(header)
    missing = sorted(set(_MEASURES.values()) - {m.field for m in measures})
    by_reference: dict[str, Row] = {}
    for row in listed:
        if row.values.get("ID"):
            by_reference[f"id:{row.values['ID']}"] = row
        if row.values.get("SKU"):
            by_reference.setdefault(str(row.values["SKU"]), row)
    for row in listed:
        yield _woo_row(row, measures, missing, by_reference)


def _woo_row(
    row: Row, measures: list[_Measure], missing: list[str], by_reference: Mapping[str, Row]
) -> Draft | Skipped:
    types = {t.strip().lower() for t in str(row.values.get("Type", "")).split(",") if t.strip()}
    not_goods = sorted(types & _NOT_GOODS)
    if not_goods:
        return Skipped(row.line, f"a {', '.join(not_goods)} product (not goods on a shelf)")
    problems = list(row.problems)
    sku = str(row.values.get("SKU", ""))
    if not sku:
        problems.append("SKU is empty (the service knows products by SKU)")
    fields: dict[str, Any] = {"sku": sku, "name": str(row.values.get("Name", ""))}
    parent = by_reference.get(str(row.values.get("Parent", ""))) if "variation" in types else None
    for measure in measures:
        text = str(row.values.get(measure.column, ""))
        if text == "" and parent is not None:
            text = str(parent.values.get(measure.column, ""))  # a variation inherits its parent's
        try:
            value = parse_decimal(text)
        except ValueError as error:
            problems.append(f"{measure.column}: {error}")
            continue
        if value is None:
            problems.append(f"{measure.column} is empty")
        else:
            fields[measure.field] = _whole(value * measure.factor)
    problems += [f"the export has no column for {name}" for name in missing]
    published = str(row.values.get("Published", ""))
    if published not in ("", "1"):
        fields["active"] = False
    return Draft(line=row.line, fields=fields, problems=problems)
