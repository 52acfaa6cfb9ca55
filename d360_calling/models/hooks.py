"""The converter's leaf hooks: strict JSON kinds, finite floats, Unix-seconds datetimes, dates,
open enums.

A boolean is `true`/`false` (or those words as strings), never a truthy value, and an array is
an array (`null` and `""` read as empty): where a wrong guess would change a decision, the
hook refuses with a `ShapeError` that names the kinds, never the value.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from .enums import OpenEnum


class ShapeError(TypeError):
    """A JSON value of the wrong kind. The message names the kind expected and the kind found,
    never the value, which may be a secret (a SIP password)."""


def _kind(value: object) -> str:
    """The JSON name of a value's kind, for error messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list() | tuple():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _structure_bool(value: Any, _: type) -> bool:
    """`true`/`false`, or the strings "true"/"false" in any case; nothing else is a boolean
    (`bool("false")` is True, and a permission decision must not rest on that)."""
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.isascii():
        word = value.lower()
        if word == "true":
            return True
        if word == "false":
            return False
        raise ShapeError('expected a boolean (true, false, "true" or "false"), got another string')
    raise ShapeError(f"expected a boolean, got {_kind(value)}")


def _structure_float(value: Any, _: type) -> float:
    """A finite number, or a string that spells one (`"0.93"`); never a boolean, NaN or
    infinity (strict JSON has none, and `float(True)` is 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ShapeError(f"expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ShapeError("expected a number, got a string that is not one") from None
    if not math.isfinite(number):
        raise ShapeError("expected a finite number")
    return number


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ShapeError(f"expected Unix seconds, got {_kind(value)}")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ShapeError("expected Unix seconds, got a value that is not a time") from None


def _structure_date(value: Any, _: type) -> date:
    if not isinstance(value, str):
        raise ShapeError(f"expected a YYYY-MM-DD date, got {_kind(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ShapeError("expected a YYYY-MM-DD date, got another string") from None


def _structure_open_enum(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    """Known values straight from the member map; `OpenEnum._missing_` handles the rest."""
    try:
        member = cls._value2member_map_.get(value)
    except TypeError:  # unhashable: an array or an object
        member = None
    if member is not None:
        return member  # type: ignore[return-value]
    if not isinstance(value, str):
        raise ShapeError(f"expected a string, got {_kind(value)}")
    return cls(value)


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_optional(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) in (Union, UnionType) and len(args) == 2 and NoneType in args


def _array_items(value: Any) -> Any:
    """The items of a JSON array; `null` and `""` are an empty one (Meta's OpenAPI permission
    examples have `"limits": null` and `"limits": ""`); any other kind is refused rather than
    iterated (a string would become its characters)."""
    if value is None or value == "":
        return ()
    if value.__class__ is list or isinstance(value, list | tuple):
        return value
    raise ShapeError(f"expected an array, got {_kind(value)}")
