"""The value readers of webhook parsing: one payload value to a Python one, or a `WebhookError`.

Each reader takes the object, the key and where the object is in the body (`entry[0]...`), so a
value that is not the documented type fails with the exact path and problem, never with a
`KeyError` or `TypeError`. Package-private: the names are for `parse_items` and `parse`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from d360_calling.models.enums import OpenEnum

from .errors import WebhookError

_E = TypeVar("_E", bound=OpenEnum)
_SEQUENCES = (list, tuple)
_INTEGRAL = re.compile(r"[0-9]{1,19}(?:\.0*)?")
"""An integer as a string, also in the integral-float spelling some senders use (`"20.0"`)."""
_MILLISECONDS_FROM = 100_000_000_000
"""Unix times at or above this (year 5138 in seconds) are taken as milliseconds."""


def _fail(where: str, problem: str) -> NoReturn:
    raise WebhookError(f"{where}: {problem}", path=where, problem=problem)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    _fail(f"{where}.{key}", f"expected a string, got {_kind(value)}")


def _required_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    problem = "missing" if value in (None, "") else f"expected a string, got {_kind(value)}"
    _fail(f"{where}.{key}", problem)


def _mapping(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    _fail(f"{where}.{key}", f"expected an object, got {_kind(value)}")


def _items(obj: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """The objects of the list at `key` (none if absent); anything else in it is an error."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, _SEQUENCES):
        _fail(f"{where}.{key}", f"expected a list, got {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            _fail(f"{where}.{key}[{index}]", f"expected an object, got {_kind(item)}")
    return list(value)


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The list at `key` (empty if absent), items unchecked: each is read on its own."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, _SEQUENCES):
        _fail(f"{where}.{key}", f"expected a list, got {_kind(value)}")
    return list(value)


def _object(item: object, where: str) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    _fail(where, f"expected an object, got {_kind(item)}")


def _time(obj: Mapping[str, Any], key: str, where: str) -> datetime | None:
    """Unix seconds as a string or a number (Meta's docs use both) to an aware UTC datetime;
    a value in milliseconds (some senders use them) is read as such."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            seconds = float(value)
            if seconds >= _MILLISECONDS_FROM:
                seconds /= 1000
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError):
            pass
    _fail(f"{where}.{key}", f"expected Unix seconds, got {_kind(value)}")


def _required_time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    moment = _time(obj, key, where)
    if moment is None:
        _fail(f"{where}.{key}", "missing")
    return moment


def _enum(cls: type[_E], obj: Mapping[str, Any], key: str, where: str) -> _E | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        member = cls._value2member_map_.get(value)
        return member if member is not None else cls(value)  # type: ignore[return-value]
    _fail(f"{where}.{key}", f"expected a string, got {_kind(value)}")


def _required_enum(cls: type[_E], obj: Mapping[str, Any], key: str, where: str) -> _E:
    member = _enum(cls, obj, key, where)
    if member is None:
        _fail(f"{where}.{key}", "missing")
    return member


def _int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    """An integer, also spelled as a string or as an integral float (`31.0`, `"20.0"`)."""
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGRAL.fullmatch(value):
        return int(value.partition(".")[0])
    _fail(f"{where}.{key}", f"expected an integer, got {_kind(value)}")


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    _fail(f"{where}.{key}", f"expected true or false, got {_kind(value)}")
