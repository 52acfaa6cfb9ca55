"""Readers of a permission reply (`messages[]`, or 360dialog's `calls[]` item) and of settings.

Package-private: `parse` hands them each `messages` and `account_settings_update` change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from d360_calling.models.converter import converter
from d360_calling.models.settings import CallingSettings

from .events import Event
from .events_account import PermissionReply, SettingsUpdate
from .events_shared import PermissionResponse, ResponseSource, SettingsUpdateType
from .parse_items import _Value
from .parse_values import (
    _bool,
    _enum,
    _fail,
    _mapping,
    _required_enum,
    _required_str,
    _required_time,
    _str,
    _time,
)


def _permission_reply(item: Mapping[str, Any], at: str, value: _Value) -> Event:
    interactive = item.get("interactive")
    reply = None
    if isinstance(interactive, Mapping) and interactive.get("type") == "call_permission_reply":
        reply = interactive.get("call_permission_reply")
    if not isinstance(reply, Mapping):
        return value.unknown(item, "messages")
    reply_at = f"{at}.interactive.call_permission_reply"
    context = _mapping(item, "context", at) or {}
    from_, from_user_id = _str(item, "from", at), _str(item, "from_user_id", at)
    return PermissionReply(
        message_id=_required_str(item, "id", at),
        timestamp=_required_time(item, "timestamp", at),
        response=_required_enum(PermissionResponse, reply, "response", reply_at),
        from_=from_,
        from_user_id=from_user_id,
        from_parent_user_id=_str(item, "from_parent_user_id", at),
        is_permanent=_bool(reply, "is_permanent", reply_at),
        expiration=_time(reply, "expiration_timestamp", reply_at),
        response_source=_enum(ResponseSource, reply, "response_source", reply_at),
        context_id=_str(context, "id", f"{at}.context"),
        context_from=_str(context, "from", f"{at}.context"),
        contact=value.contact_for(from_, from_user_id),
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


_PERMISSION_WORDS: Final = {
    "granted": PermissionResponse.ACCEPT,
    "rejected": PermissionResponse.REJECT,
    "revoked": PermissionResponse.REJECT,
}
"""360dialog's permission status words as the reply they amount to (a revoke ends the
permission as a reject does); another word is kept as an unknown `PermissionResponse`."""


def _permission_status(item: Mapping[str, Any], at: str, value: _Value) -> PermissionReply:
    """360dialog's `call_permission_status` calls item as the permission reply it reports."""
    word = _required_str(item, "status", at)
    from_, from_user_id = _str(item, "from", at), _str(item, "from_user_id", at)
    return PermissionReply(
        message_id=_required_str(item, "id", at),
        timestamp=_required_time(item, "timestamp", at),
        response=_PERMISSION_WORDS.get(word.casefold()) or PermissionResponse(word),
        from_=from_,
        from_user_id=from_user_id,
        from_parent_user_id=_str(item, "from_parent_user_id", at),
        contact=value.contact_for(from_, from_user_id),
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


def _messages(raw: Mapping[str, Any], value: _Value) -> list[Event]:
    return value.each(
        raw, "messages", lambda item, at: _permission_reply(item, at, value)
    ) + value.each(raw, "statuses", lambda item, _: value.unknown(item, "statuses"))


def _settings(raw: Mapping[str, Any], value: _Value) -> list[Event]:
    where = value.where
    settings = _mapping(raw, "phone_number_settings", where) or {}
    settings_at = f"{where}.phone_number_settings"
    calling_raw = _mapping(settings, "calling", settings_at)
    calling = None
    if calling_raw is not None:
        try:
            calling = converter.structure(calling_raw, CallingSettings)
        except Exception as exc:  # cattrs raises whatever the bad value provokes
            _fail(f"{settings_at}.calling", f"not calling settings ({type(exc).__name__})")
    update = SettingsUpdate(
        type=_required_enum(SettingsUpdateType, raw, "type", where),
        timestamp=_required_time(raw, "timestamp", where),
        phone_number_id=_str(settings, "phone_number_id", settings_at),
        calling=calling,
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=raw,
    )
    return [update]
