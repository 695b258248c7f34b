"""What free text may contain (chalicelib/domain/text.py)."""

from __future__ import annotations

import re

import pytest

from chalicelib.domain.text import check_line, check_multiline, forbidden_character


@pytest.mark.parametrize(
    "name",
    [
        "\u05d3\u05e0\u05d4 \u05db\u05d4\u05df\u200f",  # Hebrew name closed by a right-to-left mark
        "\u200e+972 3 123 4567",  # left-to-right mark before a number in RTL text
        "\u0634\u0627\u0631\u0639 \u061c12",  # Arabic letter mark
    ],
)
def test_names_with_implicit_directional_marks_are_accepted(name: str) -> None:
    assert check_line(name) == name


@pytest.mark.parametrize(
    ("text", "code_point"),
    [
        ("Ada \u202eecalevoL", "U+202E"),  # right-to-left override
        ("Ada \u202aLovelace", "U+202A"),  # left-to-right embedding
        ("Ada\u2067x\u2069", "U+2067"),  # right-to-left isolate
        ("Ada\x00Lovelace", "U+0000"),
        ("Ada\u2028Lovelace", "U+2028"),
    ],
)
def test_overrides_isolates_and_controls_are_named_as_refused(text: str, code_point: str) -> None:
    assert forbidden_character(text) == code_point
    with pytest.raises(ValueError, match=re.escape(code_point)):
        check_multiline(text)


def test_a_line_refuses_line_breaks_that_multiline_text_keeps() -> None:
    assert forbidden_character("two\nlines") == "U+000A"
    assert check_multiline("two\nlines") == "two\nlines"
