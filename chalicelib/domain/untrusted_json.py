"""Reading untrusted JSON: a webhook's decoded body, field by field, with the path in every error.

Store order mappers (``domain.channels``) and carrier tracking parsers (``domain.tracking``) read
payloads they do not control. Each reader below takes a JSON value (what ``json.loads`` returns:
dict, list, str, int, float, bool, None) and either returns a value of the type it promises or
raises ``JsonShapeError`` naming where in the payload the value is and what is wrong with it. No
other exception escapes, whatever the input: no ``KeyError``, ``TypeError``, ``OverflowError``.

A path is a tuple of keys and list indexes from the top of the payload, ``("line_items", 0,
"sku")``, shown as ``line_items[0].sku`` (``body`` for the payload itself). Callers turn a
``JsonShapeError`` into their own error type with ``reported_as``, so that an API answer names the
kind of payload that was wrong.

Conventions every reader keeps:

- ``null`` and an absent key are the same (stores and providers send both for "not set").
- Strings are stripped; an empty string is absent where the reader returns ``None``.
- Integers are Python ints, never bools (``True`` is an ``int`` in Python, never in JSON's sense).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NoReturn

from .errors import DomainError, FieldError

#: Keys and list indexes from the top of the payload to one value.
JsonPath = tuple[str | int, ...]

#: Ids are digits; the bound keeps ``str(int)`` away from Python's 4300-digit conversion limit.
_DIGITS = re.compile(r"^[0-9]{1,64}$", re.ASCII)


class JsonShapeError(DomainError, ValueError):
    """A value in the payload that is not what the reader asked for, and where it is."""

    def __init__(self, path: JsonPath, msg: str) -> None:
        self.path = path
        self.msg = msg
        self.errors = [FieldError(loc=list(path), msg=msg)]
        super().__init__(f"{where(path)}: {msg}")


@contextmanager
def reported_as(error: Callable[[str, list[FieldError]], Exception]) -> Iterator[None]:
    """Within the block, a ``JsonShapeError`` is raised again as ``error(detail, field_errors)``
    (for example ``ChannelPayloadError``), with the same text and location."""
    try:
        yield
    except JsonShapeError as exc:
        raise error(str(exc), exc.errors) from exc


def where(path: JsonPath) -> str:
    """The path as people read it: ``line_items[0].sku``; ``body`` for the payload itself."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def fail(path: JsonPath, msg: str) -> NoReturn:
    raise JsonShapeError(path, msg)


def shown(value: object) -> str:
    """A value quoted in an error message, cut short: a payload may carry megabytes in one field."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Objects and lists
# --------------------------------------------------------------------------------------------


def as_object(value: object, path: JsonPath) -> Mapping[str, object]:
    """``value`` itself, which must be a JSON object."""
    if not isinstance(value, Mapping):
        fail(path, "is missing" if value is None else f"must be an object, not {_kind(value)}")
    return value


def optional_object(obj: Mapping[str, object], key: str, path: JsonPath) -> Mapping[str, object] | None:
    value = obj.get(key)
    return None if value is None else as_object(value, (*path, key))


def required_list(obj: Mapping[str, object], key: str, path: JsonPath) -> list[object]:
    value = obj.get(key)
    if not isinstance(value, list):
        fail((*path, key), "is missing" if value is None else f"must be a list, not {_kind(value)}")
    return value


def optional_list(obj: Mapping[str, object], key: str, path: JsonPath) -> list[object]:
    """The list, or an empty one when the key is absent."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        fail((*path, key), f"must be a list, not {_kind(value)}")
    return value


# --------------------------------------------------------------------------------------------
# Text and numbers
# --------------------------------------------------------------------------------------------


def optional_text(obj: Mapping[str, object], key: str, path: JsonPath) -> str | None:
    """A string, stripped; None when absent or empty."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        fail((*path, key), f"must be a string, not {_kind(value)}")
    return value.strip() or None


def required_text(obj: Mapping[str, object], key: str, path: JsonPath) -> str:
    """A string, stripped, that must be there and not be blank."""
    value = obj.get(key)
    if value is None:
        fail((*path, key), "is missing")
    if not isinstance(value, str):
        fail((*path, key), f"must be a string, not {_kind(value)}")
    if not value.strip():
        fail((*path, key), "must not be empty")
    return value.strip()


def display_text(obj: Mapping[str, object], key: str) -> str | None:
    """A field only shown to people (titles, order numbers): a string, or an integer written out;
    any other type is None rather than an error, since an odd label is no reason to refuse a
    payload."""
    value = obj.get(key)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**64:
        return str(value)
    return None


def required_int(obj: Mapping[str, object], key: str, path: JsonPath) -> int:
    """An integer that fits in 64 bits (no count in a payload is larger, and the bound keeps
    ``str(value)`` cheap)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        fail((*path, key), "is missing" if value is None else f"must be an integer, not {_kind(value)}")
    if value.bit_length() > 63:
        fail((*path, key), "is out of range")
    return value


def digit_string(obj: Mapping[str, object], key: str, path: JsonPath, *, what: str) -> str:
    """An id made of digits, as a string, exactly: an integer (``json.loads`` keeps big ones
    exact) or a string of digits. A float is refused: above 2**53 it has already lost digits.
    ``what`` names the id in the error for a negative or absurdly long integer ("an order id")."""
    value = obj.get(key)
    at = (*path, key)
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value.bit_length() > 200:
            fail(at, f"is not {what}")
        text = str(value)
    elif value is None:
        fail(at, "is missing")
    else:
        fail(at, f"must be an integer or a string of digits, not {_kind(value)}")
    if not _DIGITS.match(text):
        fail(at, "must be digits")
    return text


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------


def iso_time(obj: Mapping[str, object], key: str, path: JsonPath) -> datetime | None:
    """An ISO 8601 time in UTC; None when absent or empty. Anything else that cannot be read is
    an error. A time without an offset is taken as UTC: carriers' local times reach us through
    the providers without a zone to recover them from, and UTC keeps them ordered within a few
    hours of the truth, where rejecting them would lose the payload altogether."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    at = (*path, key)
    if not isinstance(value, str):
        fail(at, f"must be an ISO 8601 time string, not {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(at, f"is not an ISO 8601 time: {shown(value)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC time
        fail(at, f"is outside the range of representable times: {shown(value)}")


def iso_time_if_readable(
    obj: Mapping[str, object], key: str, path: JsonPath, *, naive_is_utc: bool
) -> datetime | None:
    """An ISO 8601 time in UTC, or None when absent or unreadable (only a value that is not a
    string is an error). A time without an offset is UTC only where the sender says so
    (``naive_is_utc``, e.g. WooCommerce's ``*_gmt`` fields), never guessed; otherwise None."""
    text = optional_text(obj, key, path)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        if not naive_is_utc:
            return None
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC time
        return None


def unix_time(value: object, path: JsonPath) -> datetime:
    """``value`` itself as Unix seconds (an integer), in UTC."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, f"must be unix seconds, not {_kind(value)}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        fail(path, f"is not a representable time: {shown(value)}")
