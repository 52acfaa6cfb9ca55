"""The one cattrs converter: Unix-seconds datetimes, API key aliases, `None` fields left out.

Hooks are built once at import so structuring on the hot path is a generated function call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter, make_converter

from .calls import ConnectResult
from .enums import OpenEnum
from .permissions import Permission
from .settings import Restrictions, SipServer


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected Unix seconds, got {type(value).__name__}")
    return datetime.fromtimestamp(float(value), tz=UTC)


def _structure_date(value: Any, _: type) -> date:
    if not isinstance(value, str):
        raise TypeError(f"expected a YYYY-MM-DD date, got {type(value).__name__}")
    return date.fromisoformat(value)


def _structure_open_enum(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    """Known values straight from the member map; `OpenEnum._missing_` handles the rest."""
    member = cls._value2member_map_.get(value)
    return member if member is not None else cls(value)  # type: ignore[return-value]


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _homogeneous_tuple(cls: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
    """`tuple[X, ...]` with X's hook looked up once, not on every call as cattrs' generic does."""
    item_type = get_args(cls)[0]
    item = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        return tuple([item(element, item_type) for element in value])

    return structure


def _is_optional(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) in (Union, UnionType) and len(args) == 2 and NoneType in args


def _optional(cls: Any) -> Callable[[Any, Any], Any]:
    """`X | None` with X's hook looked up once."""
    inner_type = next(arg for arg in get_args(cls) if arg is not NoneType)
    inner = converter.get_structure_hook(inner_type)

    def structure(value: Any, _: Any) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure


def _omit_none_fields(cls: type) -> Callable[[Any], dict[str, Any]]:
    overrides = {
        field.name: override(omit_if_default=True)
        for field in attrs.fields(cls)
        if field.default is None
    }
    return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


def _with_aliases(cls: type, aliases: Mapping[str, str]) -> Callable[[Any, type], Any]:
    """Structure `cls` from a dict that may spell some keys the other documented way."""
    structure: Callable[[Any, type], Any] = make_dict_structure_fn(cls, converter)

    def structure_aliased(value: Any, target: type) -> Any:
        if isinstance(value, dict):
            for alias, name in aliases.items():
                if alias in value and name not in value:
                    value = {**value, name: value[alias]}
        return structure(value, target)

    return structure_aliased


def _structure_connect_result(value: Any, _: type) -> ConnectResult:
    calls = value["calls"]
    return ConnectResult(
        call_id=str(calls[0]["id"]),
        success=value.get("success"),
        messaging_product=value.get("messaging_product"),
    )


def _unstructure_connect_result(result: ConnectResult) -> dict[str, Any]:
    body: dict[str, Any] = {"calls": [{"id": result.call_id}]}
    if result.messaging_product is not None:
        body["messaging_product"] = result.messaging_product
    if result.success is not None:
        body["success"] = result.success
    return body


converter: JsonConverter = make_converter(detailed_validation=False)
"""Structures API JSON into the SDK's attrs models and back."""

# Hot-path hooks first, so the attrs hooks generated below (and lazily) bind to them.
converter.register_structure_hook(OpenEnum, _structure_open_enum)
converter.register_structure_hook_factory(_is_homogeneous_tuple, _homogeneous_tuple)
converter.register_structure_hook_factory(_is_optional, _optional)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, lambda moment: int(moment.timestamp()))
converter.register_structure_hook(date, _structure_date)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook_factory(attrs.has, _omit_none_fields)
converter.register_unstructure_hook(OpenEnum, lambda member: member.value)
converter.register_structure_hook(ConnectResult, _structure_connect_result)
converter.register_unstructure_hook(ConnectResult, _unstructure_connect_result)
converter.register_structure_hook(
    Permission, _with_aliases(Permission, {"expiration": "expiration_time"})
)
converter.register_structure_hook(
    SipServer, _with_aliases(SipServer, {"password": "sip_user_password"})
)
converter.register_structure_hook(
    Restrictions, _with_aliases(Restrictions, {"restrictions": "restrictions_list"})
)
