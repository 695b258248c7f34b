"""Export: every product with its bins, in the native import format (CSV or JSON).

An exported file imported again changes nothing: the columns are the import's, the values the
stored ones. Products are read a page at a time in SKU order, through the service's listing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from chalicelib.domain.reference import ProductRecord
from chalicelib.service.reference import ReferenceRepository, list_products
from tools.catalog.products import BIN_PREFIX, COLUMNS

__all__ = ["all_products", "write_csv", "write_json"]

PAGE = 200


def all_products(repo: ReferenceRepository) -> Iterator[ProductRecord]:
    cursor: str | None = None
    while True:
        page, cursor = list_products(repo, cursor, PAGE)
        for record in page:
            yield record.value
        if cursor is None:
            return


def _flag(value: bool) -> str:
    return "true" if value else "false"


def write_csv(records: list[ProductRecord], out: TextIO) -> None:
    warehouses = sorted({wh for record in records for wh in record.bins})
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *(BIN_PREFIX + wh for wh in warehouses)])
    for record in records:
        values: dict[str, Any] = record.model_dump(mode="json")
        cells = [_flag(values[c]) if isinstance(values[c], bool) else values[c] for c in COLUMNS]
        writer.writerow([*cells, *(record.bins.get(wh, "") for wh in warehouses)])


def write_json(records: list[ProductRecord], out: TextIO) -> None:
    documents = []
    for record in records:
        document = {name: getattr(record, name) for name in COLUMNS}
        if record.bins:
            document["bins"] = dict(sorted(record.bins.items()))
        documents.append(document)
    json.dump(documents, out, indent=1, ensure_ascii=False)
    out.write("\n")
