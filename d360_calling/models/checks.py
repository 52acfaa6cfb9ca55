"""Construction checks: every model field is converted or refused according to its annotation.

`checked` is the attrs `field_transformer` of every model, so a new field is covered without
writing its check: an enum field takes its documented string, a wrong type is a
`ValidationError` naming the field, and nothing reaches the converter that it cannot send.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Final, Union, get_args, get_origin, get_type_hints

import attrs

from ..errors import ValidationError
from .enums import OpenEnum

Check = Callable[[Any], Any]

_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_JSON_DEPTH: Final = 64


def checked(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """Give each field a converter built from its annotation.

    A declared converter is allowed only on enum fields, where it tells type checkers that
    `__init__` takes the documented string; the check built here does that conversion too,
    and names the field when it refuses a value.
    """
    hints = get_type_hints(cls)
    out = []
    for field in fields:
        annotation = hints[field.name]
        if field.converter is not None and not _mentions_enum(annotation):
            raise TypeError(f"{cls.__name__}.{field.name}: only enum fields declare a converter")
        out.append(field.evolve(converter=_check(annotation, field.name)))
    return out


def _mentions_enum(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, OpenEnum):
        return True
    return any(_mentions_enum(arg) for arg in get_args(annotation))


def _type_name(value: object) -> str:
    return type(value).__name__


def _check(annotation: Any, path: str, *, optional: bool = False) -> Check:
    """The check for `annotation`; `path` names the field in errors. `None` passes only when
    `optional` (the annotation was `X | None`)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        inner = [arg for arg in args if arg is not NoneType]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"{path}: no check for {annotation!r}")
        return _check(inner[0], path, optional=True)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple(args[0], path, optional)
    if origin is dict and args[0] is str:
        return _dict(args[1], path, optional)
    if annotation is Any:
        return _json(path, optional)
    if not isinstance(annotation, type):
        raise TypeError(f"{path}: no check for {annotation!r}")
    if issubclass(annotation, OpenEnum):
        return _enum(annotation, path, optional)
    if attrs.has(annotation):
        return _instance(annotation, annotation.__name__, path, optional)
    if annotation is bool:
        return _bool(path, optional)
    if annotation is int:
        return _int(path, optional)
    if annotation is str:
        return _instance(str, "a string", path, optional)
    if annotation is datetime:
        return _datetime(path, optional)
    if annotation is date:
        return _date(path, optional)
    raise TypeError(f"{path}: no check for {annotation!r}")


def _refuse(path: str, expected: str, value: object, optional: bool) -> ValidationError:
    """The error for a value of the wrong type; it names the type, never the value (which may
    be a secret)."""
    also = " or None" if optional else ""
    return ValidationError(path, f"must be {expected}{also}, got {_type_name(value)}")


def _enum(cls: type[OpenEnum], path: str, optional: bool) -> Check:
    expected = f"{cls.__name__} or one of the strings " + ", ".join(
        repr(member.value) for member in cls
    )

    def check(value: Any) -> Any:
        if value.__class__ is cls or (value is None and optional):
            return value
        if isinstance(value, str):
            return cls(value)  # known values (any case) or a pseudo-member keeping the text
        raise _refuse(path, expected, value, optional)

    return check


def _instance(cls: type, expected: str, path: str, optional: bool) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, cls) or (value is None and optional):
            return value
        raise _refuse(path, expected, value, optional)

    return check


def _bool(path: str, optional: bool) -> Check:
    def check(value: Any) -> Any:
        if value is True or value is False or (value is None and optional):
            return value
        raise _refuse(path, "True or False", value, optional)

    return check


def _int(path: str, optional: bool) -> Check:
    def check(value: Any) -> Any:
        if value.__class__ is int or (value is None and optional):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        raise _refuse(path, "a whole number (int)", value, optional)

    return check


def _datetime(path: str, optional: bool) -> Check:
    def check(value: Any) -> Any:
        if value.__class__ is datetime and value.tzinfo is UTC:
            return value  # what the converter builds
        if value is None and optional:
            return value
        if not isinstance(value, datetime):
            raise _refuse(path, "a timezone-aware datetime", value, optional)
        if value.utcoffset() is None:
            raise ValidationError(path, "must be timezone-aware (it is sent as Unix seconds)")
        return value

    return check


def _date(path: str, optional: bool) -> Check:
    def check(value: Any) -> Any:
        if (value is None and optional) or (
            isinstance(value, date) and not isinstance(value, datetime)
        ):
            return value
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValidationError(path, "is not a valid calendar date") from None
        raise _refuse(path, "a datetime.date or a 'YYYY-MM-DD' string", value, optional)

    return check


def _reindexed(error: ValidationError, prefix: str, index: object) -> ValidationError:
    """`error` from an item check (its field is `prefix[]...`) with the real index filled in."""
    rest = error.field[len(prefix) + 2 :]
    return ValidationError(f"{prefix}[{index!r}]{rest}", error.problem)


def _tuple(item_type: Any, path: str, optional: bool) -> Check:
    item = _check(item_type, f"{path}[]")
    # Items of exactly this class pass unchanged, so a tuple of them is kept as it is (what
    # the converter builds: checking it costs one loop, not a rebuilt tuple).
    exact = item_type if isinstance(item_type, type) and item_type not in (int, bool) else None

    def check(value: Any) -> Any:
        if value.__class__ is tuple and exact is not None:
            for element in value:
                if element.__class__ is not exact:
                    break
            else:
                return value
        if value is None and optional:
            return value
        if not isinstance(value, list | tuple):
            raise _refuse(path, "a list or tuple", value, optional)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except ValidationError as error:
                raise _reindexed(error, path, index) from None
        return tuple(out)

    return check


def _dict(value_type: Any, path: str, optional: bool) -> Check:
    item = _json(f"{path}[]", True) if value_type is Any else _check(value_type, f"{path}[]")

    def check(value: Any) -> Any:
        if value is None and optional:
            return value
        if not isinstance(value, dict):
            raise _refuse(path, "a dict with string keys", value, optional)
        out = {}
        for key, element in value.items():
            if not isinstance(key, str):
                raise ValidationError(path, f"keys must be strings, got {_type_name(key)}")
            try:
                out[key] = item(element)
            except ValidationError as error:
                raise _reindexed(error, path, key) from None
        return out

    return check


def _json(path: str, optional: bool) -> Check:
    """Any JSON value: what `json.dumps` writes as valid JSON (finite numbers, string keys)."""

    def walk(value: Any, depth: int) -> None:
        if depth > _MAX_JSON_DEPTH:
            raise ValidationError(path, f"nested deeper than {_MAX_JSON_DEPTH} levels")
        if value is None or isinstance(value, str | bool | int):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError(path, "must not contain NaN or infinity")
            return
        if isinstance(value, list | tuple):
            for element in value:
                walk(element, depth + 1)
            return
        if isinstance(value, dict):
            for key, element in value.items():
                if not isinstance(key, str):
                    raise ValidationError(path, f"keys must be strings, got {_type_name(key)}")
                walk(element, depth + 1)
            return
        raise ValidationError(path, f"must be a JSON value, got {_type_name(value)}")

    def check(value: Any) -> Any:
        if value is None and not optional:
            raise _refuse(path, "a JSON value", value, optional)
        walk(value, 0)
        return value

    return check
