"""Readers of a `calls` change: its `calls[]` and `statuses[]` items, each to its event.

A `calls[]` item is a connect, a terminate, a recording or transcript ready to fetch, or
360dialog's permission status (read by `parse_account`); a `statuses[]` item is a
business-initiated call's progress.

Package-private: `parse` hands them each `calls` change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, TypedDict

from d360_calling.models.calls import SdpType, SessionDescription
from d360_calling.models.media import MediaRef

from .events import Event
from .events_account import PERMISSION_STATUS_EVENT
from .events_calls import (
    CallConnect,
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
)
from .events_shared import CallDirection, CallOutcome, CallProgress, Contact, WebhookErrorDetail
from .parse_account import _permission_status
from .parse_items import _errors, _Value
from .parse_values import (
    _enum,
    _fail,
    _int,
    _mapping,
    _required_enum,
    _required_str,
    _required_time,
    _str,
    _time,
)


def _session(item: Mapping[str, Any], where: str) -> SessionDescription | None:
    session = _mapping(item, "session", where)
    if session is None:
        return None
    at = f"{where}.session"
    sdp_type = _required_enum(SdpType, session, "sdp_type", at)
    sdp = _str(session, "sdp", at)
    if sdp is None:
        _fail(f"{at}.sdp", "missing")
    return SessionDescription(sdp_type, sdp)


class _Parties(TypedDict):
    """The fields a connect and a terminate share about the call's two ends."""

    direction: CallDirection | None
    from_: str | None
    to: str | None
    from_user_id: str | None
    from_parent_user_id: str | None
    to_user_id: str | None
    to_parent_user_id: str | None
    contact: Contact | None


_Ends: TypeAlias = tuple[str | None, str | None, str | None, str | None]


def _ends(item: Mapping[str, Any], at: str) -> _Ends:
    """`from`, `to`, `from_user_id` and `to_user_id`, read before the rest of the item (so,
    of several bad values, one of these is the error named)."""
    return (
        _str(item, "from", at),
        _str(item, "to", at),
        _str(item, "from_user_id", at),
        _str(item, "to_user_id", at),
    )


def _parties(item: Mapping[str, Any], at: str, value: _Value, ends: _Ends) -> _Parties:
    """The item's `_Parties`: `ends`, then its direction and parent ids, read in that order."""
    from_, to, from_user_id, to_user_id = ends
    return _Parties(
        direction=_enum(CallDirection, item, "direction", at),
        from_=from_,
        to=to,
        from_user_id=from_user_id,
        from_parent_user_id=_str(item, "from_parent_user_id", at),
        to_user_id=to_user_id,
        to_parent_user_id=_str(item, "to_parent_user_id", at),
        contact=value.contact_for(*ends),
    )


def _connect(item: Mapping[str, Any], at: str, value: _Value) -> CallConnect:
    ends = _ends(item, at)
    return CallConnect(
        call_id=_required_str(item, "id", at),
        timestamp=_required_time(item, "timestamp", at),
        **_parties(item, at, value, ends),
        session=_session(item, at),
        deeplink_payload=_str(item, "deeplink_payload", at),
        cta_payload=_str(item, "cta_payload", at),
        biz_opaque_callback_data=_str(item, "biz_opaque_callback_data", at),
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


def _terminate(
    item: Mapping[str, Any], at: str, value: _Value, value_errors: tuple[WebhookErrorDetail, ...]
) -> CallTerminate:
    ends = _ends(item, at)
    return CallTerminate(
        call_id=_required_str(item, "id", at),
        timestamp=_required_time(item, "timestamp", at),
        status=_enum(CallOutcome, item, "status", at),
        **_parties(item, at, value, ends),
        start_time=_time(item, "start_time", at),
        end_time=_time(item, "end_time", at),
        duration=_int(item, "duration", at),
        deeplink_payload=_str(item, "deeplink_payload", at),
        cta_payload=_str(item, "cta_payload", at),
        biz_opaque_callback_data=_str(item, "biz_opaque_callback_data", at),
        errors=_errors(item, at) if "errors" in item else value_errors,
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


_MediaEvent: TypeAlias = type[CallRecordingAvailable] | type[CallTranscriptionAvailable]
_MEDIA_EVENTS: dict[str, _MediaEvent] = {
    CallRecordingAvailable._event: CallRecordingAvailable,
    CallTranscriptionAvailable._event: CallTranscriptionAvailable,
}


def _media_ref(item: Mapping[str, Any], holder: str, key: str, at: str) -> MediaRef:
    """The media object at `item[holder][key]`; its absence fails naming the missing part.
    (Problems name kinds only, never values: an id or URL fetches the file.)"""
    outer = _mapping(item, holder, at)
    where = f"{at}.{holder}"
    if outer is None:
        _fail(where, "missing")
    media = _mapping(outer, key, where)
    where = f"{where}.{key}"
    if media is None:
        _fail(where, "missing")
    return MediaRef(
        id=_required_str(media, "id", where),
        sha256=_str(media, "sha256", where),
        mime_type=_str(media, "mime_type", where),
        url=_str(media, "url", where),
    )


def _media_available(
    item: Mapping[str, Any], at: str, value: _Value, cls: _MediaEvent
) -> CallRecordingAvailable | CallTranscriptionAvailable:
    ends = _ends(item, at)
    return cls(
        call_id=_required_str(item, "id", at),
        media=_media_ref(item, cls._holder, cls._media_key, at),
        timestamp=_time(item, "timestamp", at),
        **_parties(item, at, value, ends),
        biz_opaque_callback_data=_str(item, "biz_opaque_callback_data", at),
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


def _status(
    item: Mapping[str, Any], at: str, value: _Value, value_errors: tuple[WebhookErrorDetail, ...]
) -> Event:
    if item.get("type", "call") != "call":
        return value.unknown(item, "statuses")
    recipient_id = _str(item, "recipient_id", at)
    recipient_user_id = _str(item, "recipient_user_id", at)
    return CallStatus(
        call_id=_required_str(item, "id", at),
        status=_required_enum(CallProgress, item, "status", at),
        timestamp=_required_time(item, "timestamp", at),
        recipient_id=recipient_id,
        recipient_user_id=recipient_user_id,
        recipient_parent_user_id=_str(item, "recipient_parent_user_id", at),
        biz_opaque_callback_data=_str(item, "biz_opaque_callback_data", at),
        errors=_errors(item, at) if "errors" in item else value_errors,
        contact=value.contact_for(recipient_id, recipient_user_id),
        metadata=value.metadata,
        waba_id=value.waba_id,
        raw=item,
    )


def _calls(raw: Mapping[str, Any], value: _Value) -> list[Event]:
    value_errors = _errors(raw, value.where)

    def call(item: Mapping[str, Any], at: str) -> Event:
        kind = item.get("event")
        kind = kind.casefold() if isinstance(kind, str) else kind
        if kind == "connect":
            return _connect(item, at, value)
        if kind == "terminate":
            return _terminate(item, at, value, value_errors)
        if kind == PERMISSION_STATUS_EVENT:
            return _permission_status(item, at, value)
        media_event = _MEDIA_EVENTS.get(kind) if isinstance(kind, str) else None
        if media_event is not None:
            return _media_available(item, at, value, media_event)
        return value.unknown(item, "calls")

    return value.each(raw, "calls", call) + value.each(
        raw, "statuses", lambda item, at: _status(item, at, value, value_errors)
    )
