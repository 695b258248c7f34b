"""What free text may contain: no control characters, no bidirectional controls.

A NUL truncates a string in some consumers (C libraries, label printers); C0/C1
controls and ANSI escapes rewrite terminals and log viewers; Unicode's
bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)
make a name or an address display as something other than what it is ("Trojan
Source"). None of them belongs in a name, an address, a reason or a note, so the
API refuses them (422) instead of storing, e-mailing and printing them.

The implicit directional marks (U+200E LRM, U+200F RLM, U+061C ALM) are accepted: they
change no character's order beyond the neighbouring neutral ones, and keyboards and
stores put them into Hebrew and Arabic names and addresses as a matter of course.

Two shapes of text: a *line* (names, address lines, ids, reasons) refuses every
C0 control including tab and line breaks; *multi-line* text (notes and comments a
person types into a box) also accepts tab, line feed and carriage return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

#: C0 controls other than tab, LF and CR; DEL; C1 controls; Unicode's bidirectional embeddings,
#: overrides and isolates; U+2028/U+2029 (line and paragraph separators break JSON-in-HTML and
#: log lines).
_NEVER = (
    "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
)
_LINE_BREAKS = "\\u0009\\u000a\\u000d"

#: The characters refused anywhere in a request's text, as a regular-expression class body
#: (written with four-hex-digit \\u escapes, which Python, JSON Schema (ECMA 262) and Rust's regex all read).
NEVER_IN_TEXT = _NEVER
#: Patterns the OpenAPI document states for the two shapes of text.
LINE_PATTERN = f"^[^{_NEVER}{_LINE_BREAKS}]*$"
MULTILINE_PATTERN = f"^[^{_NEVER}]*$"

_never = re.compile(f"[{_NEVER}]")
_never_in_line = re.compile(f"[{_NEVER}{_LINE_BREAKS}]")


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character ``value`` may not contain, named like ``U+202E``; None when it is clean."""
    found = (_never if multiline else _never_in_line).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check_line(value: str) -> str:
    bad = forbidden_character(value)
    if bad is not None:
        raise ValueError(
            f"must be one line without control or bidirectional-control characters (found {bad})"
        )
    return value


def check_multiline(value: str) -> str:
    bad = forbidden_character(value, multiline=True)
    if bad is not None:
        raise ValueError(f"must not contain control or bidirectional-control characters (found {bad})")
    return value


@dataclass(frozen=True)
class DocumentedPattern:
    """Annotated metadata: states ``pattern`` in the JSON schema (validation is the AfterValidator's)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = handler(schema)
        json_schema.setdefault("pattern", self.pattern)
        return json_schema
