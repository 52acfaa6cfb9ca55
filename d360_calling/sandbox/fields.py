"""The field checkers the sandbox's request parsers share: each returns the value or raises.

What they raise is the API's HTTP 400 code 100 error, whose `details` name the field's path and
what is wrong with it; they are written from the API reference, independent of the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Final, TypeGuard

from d360_calling.sandbox.errors import JsonObject, invalid_parameter

_WA_ID: Final = re.compile(r"[0-9]{1,20}")

ENABLED_DISABLED: Final = ("ENABLED", "DISABLED")


def is_wa_id(value: object) -> TypeGuard[str]:
    """ASCII digits only: `str.isdigit()` takes other scripts and `$` a trailing newline."""
    return isinstance(value, str) and _WA_ID.fullmatch(value) is not None


def require_object(value: object, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}: must be a JSON object")
    return value


def require_string(value: object, path: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"{path}: must be a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise invalid_parameter(f"{path}: at most {max_length} characters, got {len(value)}")
    return value


def require_choice(value: object, path: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise invalid_parameter(f"{path}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def require_integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_parameter(f"{path}: must be an integer from {low} to {high}")
    return value


def require_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_parameter(f"{path}: must be a JSON array")
    return value


def only_fields(obj: JsonObject, path: str, allowed: Collection[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise invalid_parameter(f"{path}.{key}: unknown field")


def require_whatsapp(body: JsonObject) -> None:
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter('messaging_product: must be "whatsapp"')
