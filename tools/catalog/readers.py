"""Rows of an import file, each with the line it starts on (what every error message names).

CSV: the first line is the header; a quoted cell may span lines, so a row's line is the line its
record *starts* on, as an editor shows it. Blank lines are skipped. A UTF-8 byte order mark (Excel,
Shopify) is dropped.

JSON: a top-level array of objects (``[{...}, {...}]``); each object's line is the line of its
opening brace. JSON Lines (``.jsonl``, one object per line) is read too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileProblem", "Row", "RowProblem", "read_csv", "read_json", "read_rows"]


class FileProblem(ValueError):
    """The file as a whole cannot be read (no header, not JSON, an unknown format...)."""


@dataclass(frozen=True)
class RowProblem:
    """One bad row: its line in the file and what is wrong with it, in words."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Row:
    """One record of the file: its first line and its cells by column name (CSV: all strings)."""

    line: int
    values: dict[str, Any]
    #: Problems found while reading (e.g. more cells than the header has columns).
    problems: tuple[str, ...] = field(default=())


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(f"{path.name} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_csv(text: str) -> Iterator[Row]:
    """Rows of a CSV text with a header line; cells are stripped strings, missing cells empty."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FileProblem("the file is empty (a header line is expected)") from None
    except csv.Error as error:
        raise FileProblem(f"line 1: {error}") from None
    columns = [name.strip() for name in header]
    if not any(columns):
        raise FileProblem("line 1: the header line is empty")
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if repeated:
        raise FileProblem(f"line 1: column(s) named twice: {', '.join(repeated)}")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileProblem(f"line {start}: {error}") from None
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        problems: tuple[str, ...] = ()
        if len(cells) > len(columns):
            problems = (f"{len(cells)} cells but the header has {len(columns)} columns",)
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(columns) if name
        }
        yield Row(line=line, values=values, problems=problems)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def read_json(text: str) -> Iterator[Row]:
    """Objects of a top-level JSON array, each with the line its opening brace is on."""
    decoder = json.JSONDecoder()
    at = _skip_space(text, 0)
    if at >= len(text) or text[at] != "[":
        raise FileProblem("line 1: a JSON array of objects is expected ([{...}, ...])")
    at = _skip_space(text, at + 1)
    if at < len(text) and text[at] == "]":
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as error:
            raise FileProblem(f"line {error.lineno}: not JSON ({error.msg})") from None
        yield _json_row(_line_of(text, at), value)
        at = _skip_space(text, end)
        if at < len(text) and text[at] == ",":
            at = _skip_space(text, at + 1)
            continue
        if at < len(text) and text[at] == "]":
            if _skip_space(text, at + 1) != len(text):
                raise FileProblem(f"line {_line_of(text, at)}: text after the closing ]")
            return
        raise FileProblem(f"line {_line_of(text, at)}: , or ] expected after an object")


def read_json_lines(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield Row(line=number, values={}, problems=(f"not JSON ({error.msg})",))
            continue
        yield _json_row(number, value)


def _json_row(line: int, value: Any) -> Row:
    if not isinstance(value, dict):
        return Row(line=line, values={}, problems=(f"an object is expected, not {type(value).__name__}",))
    return Row(line=line, values=value)


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of ``path`` by its suffix: ``.csv``, ``.json`` or ``.jsonl``."""
    suffix = path.suffix.lower()
    readers = {".csv": read_csv, ".json": read_json, ".jsonl": read_json_lines}
    if suffix not in readers:
        raise FileProblem(f"{path.name}: unknown format {suffix or '(no suffix)'}; use .csv, .json or .jsonl")
    return readers[suffix](_text(path))
