"""The one cattrs converter: Unix-seconds datetimes, API key aliases, `None` fields left out.

Hooks are built once at import so structuring on the hot path is a generated function call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

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


def _open_enum_structure(cls: type[OpenEnum]) -> Callable[[Any, type], OpenEnum]:
    """Look known values up in the member map first; `OpenEnum` handles the rest."""
    members = cls._value2member_map_

    def structure(value: Any, _: type) -> OpenEnum:
        member = members.get(value)
        return member if member is not None else cls(value)  # type: ignore[return-value]

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

converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, lambda moment: int(moment.timestamp()))
converter.register_structure_hook(date, _structure_date)
converter.register_unstructure_hook(date, date.isoformat)
converter.register_unstructure_hook_factory(attrs.has, _omit_none_fields)
converter.register_structure_hook_factory(
    lambda cls: isinstance(cls, type) and issubclass(cls, OpenEnum), _open_enum_structure
)
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
