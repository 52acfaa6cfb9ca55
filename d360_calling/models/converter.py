"""The one cattrs converter: Unix-seconds datetimes, API key aliases, `None` fields left out.

Hooks are built once at import so structuring on the hot path is a generated function call.
JSON kinds are strict where a wrong guess would change a decision: a boolean is `true`/`false`
(or those words as strings), never a truthy value, and an array is an array (`null` reads as
empty). `explain` says where and why a payload does not fit, using a second converter with
cattrs' detailed validation that is built only when an answer fails to structure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import attrs
from cattrs import transform_error
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter, make_converter

from ..errors import ValidationError
from .calls import ConnectResult
from .enums import OpenEnum
from .permissions import Permission
from .settings import Restrictions, SipServer

_MAX_EXPLAINED = 3


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
    """The items of a JSON array; `null` is an empty one (Meta's "Granted Permission" example
    has `"limits": null`); any other kind is refused rather than iterated (a string would
    become its characters)."""
    if value is None:
        return ()
    if value.__class__ is list or isinstance(value, list | tuple):
        return value
    raise ShapeError(f"expected an array, got {_kind(value)}")


class _Hooks:
    """The hooks of one converter, bound to it (the fast one, or the detailed one used by
    `explain`)."""

    def __init__(self, converter: JsonConverter) -> None:
        self.converter = converter

    def homogeneous_tuple(self, cls: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        """`tuple[X, ...]` with X's hook looked up once, not on every call as cattrs' does."""
        item_type = get_args(cls)[0]
        item = self.converter.get_structure_hook(item_type)

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if value.__class__ is not list:
                value = _array_items(value)
            return tuple([item(element, item_type) for element in value])

        def structure_detailed(value: Any, _: Any) -> tuple[Any, ...]:
            out, errors = [], []
            for index, element in enumerate(_array_items(value)):
                try:
                    out.append(item(element, item_type))
                except Exception as error:
                    note = IterableValidationNote(f"@ index {index}", index, item_type)
                    error.__notes__ = [*getattr(error, "__notes__", []), note]
                    errors.append(error)
            if errors:
                raise IterableValidationError(f"While structuring {cls!r}", errors, cls)
            return tuple(out)

        return structure_detailed if self.converter.detailed_validation else structure

    def optional(self, cls: Any) -> Callable[[Any, Any], Any]:
        """`X | None` with X's hook looked up once."""
        inner_type = next(arg for arg in get_args(cls) if arg is not NoneType)
        inner = self.converter.get_structure_hook(inner_type)

        def structure(value: Any, _: Any) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure

    def omit_none_fields(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        overrides = {
            field.name: override(omit_if_default=True)
            for field in attrs.fields(cls)
            if field.default is None
        }
        return make_dict_unstructure_fn(cls, self.converter, **overrides)  # type: ignore[arg-type]

    def with_aliases(self, cls: type, aliases: Mapping[str, str]) -> Callable[[Any, type], Any]:
        """Structure `cls` from a dict that may spell some keys the other documented way."""
        structure: Callable[[Any, type], Any] = make_dict_structure_fn(cls, self.converter)

        def structure_aliased(value: Any, target: type) -> Any:
            if isinstance(value, dict):
                for alias, name in aliases.items():
                    if alias in value and name not in value:
                        value = {**value, name: value[alias]}
            return structure(value, target)

        return structure_aliased

    def connect_result(self, value: Any, _: type) -> ConnectResult:
        if not isinstance(value, dict):
            raise ShapeError(f"expected an object, got {_kind(value)}")
        calls = _array_items(value.get("calls"))
        if not calls or not isinstance(calls[0], dict) or "id" not in calls[0]:
            raise ShapeError("expected calls[0].id, the new call's id")
        optional_bool = self.converter.get_structure_hook(bool | None)
        optional_str = self.converter.get_structure_hook(str | None)
        try:
            success = optional_bool(value.get("success"), bool | None)
        except ShapeError as error:
            raise ShapeError(f"success: {error}") from None
        return ConnectResult(
            call_id=str(calls[0]["id"]),
            success=success,
            messaging_product=optional_str(value.get("messaging_product"), str | None),
        )


def _unstructure_connect_result(result: ConnectResult) -> dict[str, Any]:
    body: dict[str, Any] = {"calls": [{"id": result.call_id}]}
    if result.messaging_product is not None:
        body["messaging_product"] = result.messaging_product
    if result.success is not None:
        body["success"] = result.success
    return body


def _build(*, detailed: bool) -> JsonConverter:
    built = make_converter(detailed_validation=detailed)
    hooks = _Hooks(built)
    # Hot-path hooks first, so the attrs hooks generated below (and lazily) bind to them.
    built.register_structure_hook(OpenEnum, _structure_open_enum)
    built.register_structure_hook(bool, _structure_bool)
    built.register_structure_hook_factory(_is_homogeneous_tuple, hooks.homogeneous_tuple)
    built.register_structure_hook_factory(_is_optional, hooks.optional)
    built.register_structure_hook(datetime, _structure_datetime)
    built.register_unstructure_hook(datetime, lambda moment: int(moment.timestamp()))
    built.register_structure_hook(date, _structure_date)
    built.register_unstructure_hook(date, date.isoformat)
    built.register_unstructure_hook_factory(attrs.has, hooks.omit_none_fields)
    built.register_unstructure_hook(OpenEnum, lambda member: member.value)
    built.register_structure_hook(ConnectResult, hooks.connect_result)
    built.register_unstructure_hook(ConnectResult, _unstructure_connect_result)
    built.register_structure_hook(
        Permission, hooks.with_aliases(Permission, {"expiration": "expiration_time"})
    )
    built.register_structure_hook(
        SipServer, hooks.with_aliases(SipServer, {"password": "sip_user_password"})
    )
    built.register_structure_hook(
        Restrictions, hooks.with_aliases(Restrictions, {"restrictions": "restrictions_list"})
    )
    return built


converter: JsonConverter = _build(detailed=False)
"""Structures API JSON into the SDK's attrs models and back."""


@functools.cache
def _detailed_converter() -> JsonConverter:
    return _build(detailed=True)


def _describe(error: BaseException, expected: type | None) -> str:
    """One failure, in words that never quote the value."""
    if isinstance(error, ShapeError):
        return str(error)
    if isinstance(error, ValidationError):
        return error.message
    if isinstance(error, KeyError):
        return "required field missing"
    if expected is None:
        return f"invalid value ({type(error).__name__})"
    return f"invalid value, expected {getattr(expected, '__name__', expected)}"


def explain(payload: Any, model: type) -> str:
    """Where and why `payload` does not structure as `model`, e.g.
    `expected a boolean, got a number @ $.actions[0].can_perform_action`; values are never
    quoted. Meant for the failure path: it structures the payload again, in detail."""
    try:
        _detailed_converter().structure(payload, model)
    except Exception as error:
        messages = transform_error(error, format_exception=_describe)
        more = len(messages) - _MAX_EXPLAINED
        return "; ".join(messages[:_MAX_EXPLAINED]) + (f" (and {more} more)" if more > 0 else "")
    return "it structures when retried in detail"
