"""The one cattrs converter: Unix-seconds datetimes, API key aliases, `None` fields left out.

Hooks are built once at import so structuring on the hot path is a generated function call.
JSON kinds are strict where a wrong guess would change a decision: a boolean is `true`/`false`
(or those words as strings), never a truthy value, and an array is an array (`null` and `""`
read as empty). `explain` says where and why a payload does not fit, using a second converter
with cattrs' detailed validation that is built only when an answer fails to structure.

The leaf hooks are in `hooks`, the generated fast structure functions in `fast`; this module
assembles them into the converters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import NoneType
from typing import Any, get_args

import attrs
from cattrs import transform_error
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter, make_converter

from ..errors import ValidationError
from .calls import ConnectResult
from .enums import OpenEnum
from .fast import FastHooks, _fast_eligible
from .hooks import (
    ShapeError,
    _array_items,
    _is_homogeneous_tuple,
    _is_optional,
    _kind,
    _structure_bool,
    _structure_date,
    _structure_datetime,
    _structure_float,
    _structure_open_enum,
)
from .media import Transcript
from .permissions import Permission
from .settings import Restrictions, SipServer

_MAX_EXPLAINED = 3


class _Hooks(FastHooks):
    """The hooks of one converter, bound to it (the fast one, or the detailed one used by
    `explain`)."""

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
        if not self.converter.detailed_validation and _fast_eligible(cls):
            return self.fast_attrs(cls, aliases)
        return self._aliased(make_dict_structure_fn(cls, self.converter), aliases)

    def transcript(self) -> Callable[[Any, type], Transcript]:
        """`Transcript` from Meta's document (`{"metadata": ..., "transcript": {...}}`, the
        inner object's fields beside the metadata) or from the model's own flat shape."""
        flat = make_dict_structure_fn(Transcript, self.converter)

        def structure(value: Any, cls: type) -> Transcript:
            if isinstance(value, dict) and "transcript" in value:
                inner = value["transcript"]
                if inner is None:
                    inner = {}
                if not isinstance(inner, dict):
                    raise ShapeError(f"transcript: expected an object, got {_kind(inner)}")
                value = {**inner, "metadata": value.get("metadata")}
            return flat(value, cls)

        return structure

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
    built.register_structure_hook(float, _structure_float)
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
    if not detailed:
        # The SDK's models from API JSON without re-running their construction checks; the
        # detailed converter (`explain`) keeps cattrs' own functions and their error notes.
        built.register_structure_hook_factory(_fast_eligible, hooks.fast_attrs)
    built.register_structure_hook(
        Permission, hooks.with_aliases(Permission, {"expiration": "expiration_time"})
    )
    built.register_structure_hook(Transcript, hooks.transcript())
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
