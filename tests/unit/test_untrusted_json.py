"""The shared reader of untrusted JSON (chalicelib/domain/untrusted_json.py).

Examples pin each reader's answers and messages; properties throw any JSON value at every reader:
each one returns a value of the type it promises or raises ``JsonShapeError`` located under the
path it was given, and nothing else ever escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import DomainError, FieldError
from chalicelib.domain.untrusted_json import (
    JsonPath,
    JsonShapeError,
    as_object,
    digit_string,
    display_text,
    iso_time,
    iso_time_if_readable,
    optional_list,
    optional_object,
    optional_text,
    reported_as,
    required_int,
    required_list,
    required_text,
    shown,
    unix_time,
    where,
)

PROPERTY = settings(max_examples=200, deadline=None)
AT: JsonPath = ("msg", 2)


def failure(read: Callable[[], object]) -> JsonShapeError:
    with pytest.raises(JsonShapeError) as raised:
        read()
    return raised.value


# -- Paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "body"),
        (("id",), "id"),
        (("line_items", 0, "sku"), "line_items[0].sku"),
        ((3,), "[3]"),
        (("msg", "checkpoints", 1, "tag"), "msg.checkpoints[1].tag"),
    ],
)
def test_a_path_reads_as_keys_joined_by_dots_and_indexes_in_brackets(path: JsonPath, text: str) -> None:
    assert where(path) == text


def test_an_error_names_the_path_and_carries_it_as_a_field_error() -> None:
    error = failure(lambda: required_text({"tag": 7}, "tag", ("msg", "checkpoints", 1)))

    assert str(error) == "msg.checkpoints[1].tag: must be a string, not int"
    assert error.path == ("msg", "checkpoints", 1, "tag")
    assert error.msg == "must be a string, not int"
    assert error.errors == [FieldError(loc=["msg", "checkpoints", 1, "tag"], msg="must be a string, not int")]
    assert isinstance(error, DomainError) and isinstance(error, ValueError)


def test_a_long_value_is_shown_cut_short_in_a_message() -> None:
    assert shown("x" * 1000) == "'" + "x" * 56 + "..."
    assert shown("short") == "'short'"


# -- reported_as ---------------------------------------------------------------------------------


class PayloadError(DomainError):
    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        self.errors = errors or []
        super().__init__(detail)


def test_reported_as_raises_the_callers_error_with_the_same_text_and_location() -> None:
    with pytest.raises(PayloadError) as raised, reported_as(PayloadError):
        required_list({}, "line_items", ())

    assert str(raised.value) == "line_items: is missing"
    assert raised.value.errors == [FieldError(loc=["line_items"], msg="is missing")]
    assert isinstance(raised.value.__cause__, JsonShapeError)


def test_reported_as_lets_every_other_exception_through_unchanged() -> None:
    with pytest.raises(KeyError), reported_as(PayloadError):
        raise KeyError("not a reading error")


def test_reported_as_changes_nothing_when_the_block_reads_well() -> None:
    with reported_as(PayloadError):
        value = required_text({"id": " 42 "}, "id", ())

    assert value == "42"


# -- Examples: what each reader answers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "is missing"), ([], "must be an object, not list"), ("x", "must be an object, not str")],
)
def test_as_object_refuses_anything_but_an_object(value: object, message: str) -> None:
    assert failure(lambda: as_object(value, AT)).msg == message
    assert as_object({"a": 1}, AT) == {"a": 1}


def test_an_absent_optional_object_or_list_is_none_or_empty_and_a_wrong_type_is_an_error() -> None:
    assert optional_object({"customer": None}, "customer", ()) is None
    assert optional_list({}, "scans", ()) == []
    assert failure(lambda: optional_object({"customer": "Ada"}, "customer", ())).path == ("customer",)
    assert failure(lambda: optional_list({"scans": {}}, "scans", ())).msg == "must be a list, not dict"


def test_a_required_list_must_be_there() -> None:
    assert required_list({"line_items": [1]}, "line_items", ()) == [1]
    assert failure(lambda: required_list({}, "line_items", ())).msg == "is missing"
    assert (
        failure(lambda: required_list({"line_items": "x"}, "line_items", ())).msg == "must be a list, not str"
    )


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("  ", None), (" MUG ", "MUG")])
def test_optional_text_is_stripped_and_empty_is_absent(value: object, expected: str | None) -> None:
    assert optional_text({"sku": value}, "sku", ()) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "is missing"), (5, "must be a string, not int"), ("  ", "must not be empty")],
)
def test_required_text_must_be_a_non_blank_string(value: object, message: str) -> None:
    assert failure(lambda: required_text({"tag": value}, "tag", ())).msg == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#1001", "#1001"), (5127, "5127"), (True, None), (1.5, None), ({"x": 1}, None), (10**64, None)],
)
def test_display_text_tolerates_any_type(value: object, expected: str | None) -> None:
    assert display_text({"name": value}, "name") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is missing"),
        (True, "must be an integer, not bool"),
        (2.0, "must be an integer, not float"),
        ("2", "must be an integer, not str"),
        (2**63, "is out of range"),
    ],
)
def test_required_int_is_a_64_bit_integer_and_never_a_bool(value: object, message: str) -> None:
    assert failure(lambda: required_int({"quantity": value}, "quantity", ())).msg == message


def test_required_int_reads_an_integer() -> None:
    assert required_int({"quantity": -3}, "quantity", ()) == -3


@pytest.mark.parametrize(
    ("value", "expected"),
    [(820982911946154508, "820982911946154508"), (" 5127 ", "5127"), (2**70, str(2**70))],
)
def test_digit_string_keeps_every_digit(value: object, expected: str) -> None:
    assert digit_string({"id": value}, "id", (), what="an order id") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is missing"),
        (-5, "is not an order id"),
        (5127.0, "must be an integer or a string of digits, not float"),
        (True, "must be an integer or a string of digits, not bool"),
        ("51a", "must be digits"),
        ("1" * 65, "must be digits"),
    ],
)
def test_digit_string_refuses_what_could_have_lost_or_invented_digits(value: object, message: str) -> None:
    assert failure(lambda: digit_string({"id": value}, "id", (), what="an order id")).msg == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2024-09-12T10:21:09-04:00", datetime(2024, 9, 12, 14, 21, 9, tzinfo=UTC)),
        # No offset: taken as UTC (a carrier's local time, with no zone to recover it from).
        ("2024-09-12T10:21:09", datetime(2024, 9, 12, 10, 21, 9, tzinfo=UTC)),
        ("2024-09-12", datetime(2024, 9, 12, tzinfo=UTC)),
    ],
)
def test_iso_time_reads_a_time_in_utc(value: object, expected: datetime | None) -> None:
    assert iso_time({"at": value}, "at", ()) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1726150869, "must be an ISO 8601 time string, not int"),
        ("yesterday", "is not an ISO 8601 time: 'yesterday'"),
        ("0001-01-01T00:00:00+01:00", "is outside the range of representable times"),
    ],
)
def test_iso_time_refuses_what_it_cannot_read(value: object, message: str) -> None:
    assert failure(lambda: iso_time({"at": value}, "at", ())).msg.startswith(message)


@pytest.mark.parametrize(
    ("value", "naive_is_utc", "expected"),
    [
        ("2024-09-12T10:21:09-04:00", False, datetime(2024, 9, 12, 14, 21, 9, tzinfo=UTC)),
        ("2024-09-12T10:21:09", False, None),
        ("2024-09-12T10:21:09", True, datetime(2024, 9, 12, 10, 21, 9, tzinfo=UTC)),
        ("yesterday", True, None),
        ("0001-01-01T00:00:00+01:00", False, None),
        ("9999-12-31T23:59:59-01:00", True, None),
        (None, True, None),
    ],
)
def test_iso_time_if_readable_is_none_for_a_time_it_cannot_read_without_guessing(
    value: object, naive_is_utc: bool, expected: datetime | None
) -> None:
    assert iso_time_if_readable({"at": value}, "at", (), naive_is_utc=naive_is_utc) == expected


def test_iso_time_if_readable_still_refuses_a_value_that_is_not_a_string() -> None:
    error = failure(lambda: iso_time_if_readable({"at": 1726150869}, "at", (), naive_is_utc=True))

    assert error.msg == "must be a string, not int"


def test_unix_time_reads_integer_seconds() -> None:
    assert unix_time(1726150869, ("ts",)) == datetime(2024, 9, 12, 14, 21, 9, tzinfo=UTC)
    assert failure(lambda: unix_time("1726150869", ("ts",))).msg == "must be unix seconds, not str"
    assert failure(lambda: unix_time(True, ("ts",))).msg == "must be unix seconds, not bool"
    assert failure(lambda: unix_time(10**20, ("ts",))).msg.startswith("is not a representable time")


# -- Properties: any JSON value in, a value of the promised type or a located error out ------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**53, max_value=2**210)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            "  ",
            "5127",
            "-5",
            "2024-09-12T10:21:09",
            "2024-09-12T10:21:09+02:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-14:00",
            "2024-02-30",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
#: Scalars as often as containers (``st.recursive`` alone draws mostly lists and objects).
any_json = json_scalars | json_values
paths = st.lists(st.text(max_size=6) | st.integers(min_value=0, max_value=99), max_size=3).map(tuple)

#: Each reader of a key, with the types of value it may return.
KEY_READERS: dict[str, tuple[Callable[[Any, str, JsonPath], object], tuple[type, ...]]] = {
    "optional_object": (optional_object, (dict, type(None))),
    "required_list": (required_list, (list,)),
    "optional_list": (optional_list, (list,)),
    "optional_text": (optional_text, (str, type(None))),
    "required_text": (required_text, (str,)),
    "required_int": (required_int, (int,)),
    "digit_string": (lambda o, k, p: digit_string(o, k, p, what="an id"), (str,)),
    "iso_time": (iso_time, (datetime, type(None))),
    "iso_time_if_readable (naive is UTC)": (
        lambda o, k, p: iso_time_if_readable(o, k, p, naive_is_utc=True),
        (datetime, type(None)),
    ),
    "iso_time_if_readable (naive unknown)": (
        lambda o, k, p: iso_time_if_readable(o, k, p, naive_is_utc=False),
        (datetime, type(None)),
    ),
}


@pytest.mark.parametrize("name", list(KEY_READERS))
@PROPERTY
@given(value=any_json, present=st.booleans(), path=paths)
def test_any_json_value_under_a_key_reads_as_the_promised_type_or_a_located_error(
    name: str, value: Any, present: bool, path: JsonPath
) -> None:
    read, types = KEY_READERS[name]
    obj = {"key": value} if present else {}
    try:
        result = read(obj, "key", path)
    except JsonShapeError as exc:
        assert exc.path == (*path, "key")
        assert str(exc).startswith(where(exc.path) + ": ") and exc.msg
        assert json.dumps(exc.errors[0].as_dict())  # the problem document can carry it
        return
    assert isinstance(result, types)
    if isinstance(result, datetime):
        assert result.tzinfo is UTC
    if name in ("required_text", "digit_string") or (name == "optional_text" and result is not None):
        assert isinstance(result, str) and result == result.strip() and result
    if name == "digit_string":
        assert isinstance(result, str) and result.isdigit()


@PROPERTY
@given(value=any_json, path=paths)
def test_any_json_value_reads_as_an_object_or_a_located_error(value: Any, path: JsonPath) -> None:
    try:
        result = as_object(value, path)
    except JsonShapeError as exc:
        assert exc.path == path
        return
    assert result is value


@PROPERTY
@given(value=any_json, path=paths)
def test_any_json_value_reads_as_unix_time_or_a_located_error(value: Any, path: JsonPath) -> None:
    try:
        result = unix_time(value, path)
    except JsonShapeError as exc:
        assert exc.path == path
        return
    assert result.tzinfo is UTC


@PROPERTY
@given(value=any_json)
def test_display_text_never_raises_and_is_never_blank(value: Any) -> None:
    result = display_text({"name": value}, "name")

    assert result is None or (result.strip() == result and result)
