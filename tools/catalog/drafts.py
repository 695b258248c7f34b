"""What every product reader produces: one draft per product, in the API's field names.

A draft is not yet a product: it holds what the file says (converted to numbers and flags where
the cell clearly is one) and the line it came from. The service's product model validates it
(``tools.catalog.products``), so the import refuses exactly what ``PUT /v1/products/{sku}`` refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Draft", "Skipped", "parse_bool", "parse_decimal", "parse_int"]


@dataclass
class Draft:
    line: int
    fields: dict[str, Any]
    #: What the reader already knows is wrong (a missing column, an unreadable number...).
    problems: list[str] = field(default_factory=list)

    @property
    def sku(self) -> str:
        value = self.fields.get("sku")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Skipped:
    """A row the import leaves out on purpose (an image-only row, a virtual product...)."""

    line: int
    reason: str


_INTEGER = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def parse_int(text: str) -> int | str | None:
    """An integer cell: ``None`` when empty, the text unchanged when it is not a whole number (the
    model's validation then names the field and says what is wrong)."""
    if text == "":
        return None
    return int(text) if _INTEGER.match(text) else text


def parse_bool(text: str) -> bool | str | None:
    if text == "":
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text


def parse_decimal(text: str) -> Decimal | None:
    """A decimal number as stores export them: ``1.5``, or ``1,5`` where the comma is the
    decimal separator. ``None`` for an empty cell; ``ValueError`` for anything else."""
    if text == "":
        return None
    cleaned = text.replace(",", ".") if "," in text and "." not in text else text
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value
