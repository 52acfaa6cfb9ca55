"""Request checks written from the API reference (§1.1, §1.4, §10), independent of the SDK.

Each parser takes the decoded JSON body and returns the few values the state needs, or raises
the HTTP 400 code 100 error whose `details` name the field and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Any, Final, Literal, TypeGuard

import attrs

from d360_calling.sandbox.errors import JsonObject, invalid_parameter
from d360_calling.sandbox.operations import CALL_ACTIONS, INVALID_CALL_ACTION
from d360_calling.sandbox.sdp_rules import refusal_reason

_WA_ID = re.compile(r"[0-9]{1,20}")
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3])[0-5][0-9]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")

MAX_OPAQUE_DATA = 512
"""Longest `biz_opaque_callback_data` and voice_call `payload` (§1.1, §10)."""
MAX_HOLIDAYS = 20
"""Longest `holiday_schedule` (§1.4)."""

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
ENABLED_DISABLED = ("ENABLED", "DISABLED")

_CALL_FIELDS = frozenset(
    {
        "messaging_product",
        "action",
        "call_id",
        "to",
        "session",
        "biz_opaque_callback_data",
        "recording",
        "transcription",
    }
)
_SETTINGS_FIELDS = frozenset(
    {
        "status",
        "call_icon_visibility",
        "call_icons",
        "call_hours",
        "callback_permission_status",
        "sip",
        "srtp_key_exchange_protocol",
        "audio",
        "voicemail",
    }
)


@attrs.frozen
class CallAction:
    """A checked `POST /calling/calls` body."""

    action: str
    call_id: str = ""
    """The call acted on; empty for connect."""
    to: str = ""
    """The user called; set for connect only."""
    sdp: str = ""
    """The session's SDP; empty for reject and terminate."""
    biz_opaque_callback_data: str | None = None


@attrs.frozen
class OutboundMessage:
    """A checked `POST /messages` body: who it goes to and what the calling flow cares about."""

    to: str
    kind: str
    """"call_permission_request", "voice_call" or "other"."""
    payload: str | None = None
    ttl_minutes: int = 10080


def is_wa_id(value: object) -> TypeGuard[str]:
    """ASCII digits only: `str.isdigit()` takes other scripts and `$` a trailing newline."""
    return isinstance(value, str) and _WA_ID.fullmatch(value) is not None


def call_operation(body: object) -> str:
    """The operation name of a calls request, known before validation ("calls.accept")."""
    action = body.get("action") if isinstance(body, dict) else None
    return f"calls.{action}" if action in CALL_ACTIONS else INVALID_CALL_ACTION


def _object(value: object, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}: must be a JSON object")
    return value


def _string(value: object, path: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"{path}: must be a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise invalid_parameter(f"{path}: at most {max_length} characters, got {len(value)}")
    return value


def _choice(value: object, path: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise invalid_parameter(f"{path}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_parameter(f"{path}: must be an integer from {low} to {high}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_parameter(f"{path}: must be a JSON array")
    return value


def _only(obj: JsonObject, path: str, allowed: Collection[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise invalid_parameter(f"{path}.{key}: unknown field")


def _whatsapp(body: JsonObject) -> None:
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter('messaging_product: must be "whatsapp"')


def parse_call_action(raw: object) -> CallAction:
    """Check a call action: enum, ids, session type per action, opaque data length."""
    body = _object(raw, "body")
    _whatsapp(body)
    for key in body:
        if key not in _CALL_FIELDS:
            raise invalid_parameter(f"{key}: unknown field")
    action = _choice(body.get("action"), "action", CALL_ACTIONS)
    if action == "connect":
        if "call_id" in body:
            raise invalid_parameter("call_id: not allowed for connect (the API assigns it)")
        to = body.get("to")
        if not is_wa_id(to):
            raise invalid_parameter("to: required for connect, ASCII digits only")
        call_id = ""
    else:
        call_id, to = _string(body.get("call_id"), "call_id"), ""
        if "to" in body:
            raise invalid_parameter(f"to: not allowed for {action}")
    sdp = _session(body.get("session"), action)
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None:
        if action not in ("connect", "accept"):
            raise invalid_parameter(f"biz_opaque_callback_data: not allowed for {action}")
        opaque = _string(opaque, "biz_opaque_callback_data", max_length=MAX_OPAQUE_DATA)
    for key in ("recording", "transcription"):
        if key in body:
            if action not in ("connect", "accept"):
                raise invalid_parameter(f"{key}: not allowed for {action}")
            _media_option(body[key], key)
    return CallAction(
        action,
        call_id=call_id,
        to=to,
        sdp=sdp,
        biz_opaque_callback_data=opaque,
    )


_SDP_TYPES: Final[dict[str, Literal["offer", "answer"]]] = {
    "connect": "offer",
    "pre_accept": "answer",
    "accept": "answer",
}


def _session(raw: object, action: str) -> str:
    """The SDP of a call action, refused as WhatsApp would refuse it (section 6)."""
    expected = _SDP_TYPES.get(action)
    if expected is None:
        if raw is not None:
            raise invalid_parameter(f"session: not allowed for {action}")
        return ""
    if raw is None:
        raise invalid_parameter(f"session: required for {action}")
    session = _object(raw, "session")
    _only(session, "session", ("sdp_type", "sdp"))
    if session.get("sdp_type") != expected:
        raise invalid_parameter(
            f'session.sdp_type: must be "{expected}" for {action}, got {session.get("sdp_type")!r}'
        )
    sdp = _string(session.get("sdp"), "session.sdp")
    refusal = refusal_reason(sdp, expected)
    if refusal is not None:
        raise invalid_parameter(f"session.sdp: {refusal}")
    return sdp


def _media_option(raw: object, path: str) -> None:
    option = _object(raw, path)
    _only(option, path, ("status", "purpose", "announcement_language"))
    if _choice(option.get("status"), f"{path}.status", ENABLED_DISABLED) == "ENABLED":
        _string(option.get("purpose"), f"{path}.purpose", max_length=250)
        _string(option.get("announcement_language"), f"{path}.announcement_language")


def parse_settings(raw: object, today: date) -> JsonObject:
    """Check a settings update and return its `calling` object (dates checked against today)."""
    body = _object(raw, "body")
    if set(body) != {"calling"}:
        raise invalid_parameter("body: send exactly one feature setting, the calling key")
    calling = _object(body["calling"], "calling")
    _only(calling, "calling", _SETTINGS_FIELDS)
    checks = {
        "status": lambda v: _choice(v, "calling.status", ENABLED_DISABLED),
        "call_icon_visibility": lambda v: _choice(
            v, "calling.call_icon_visibility", ("DEFAULT", "DISABLE_ALL")
        ),
        "call_icons": _call_icons,
        "call_hours": lambda v: _call_hours(v, today),
        "callback_permission_status": lambda v: _choice(
            v, "calling.callback_permission_status", ENABLED_DISABLED
        ),
        "sip": _sip,
        "srtp_key_exchange_protocol": lambda v: _choice(
            v, "calling.srtp_key_exchange_protocol", ("DTLS", "SDES")
        ),
        "audio": _audio,
        "voicemail": _voicemail,
    }
    for key, value in calling.items():
        checks[key](value)
    return calling


def _call_icons(raw: object) -> None:
    icons = _object(raw, "calling.call_icons")
    _only(icons, "calling.call_icons", ("restrict_to_user_countries",))
    countries = _list(
        icons.get("restrict_to_user_countries", []), "calling.call_icons.restrict_to_user_countries"
    )
    for country in countries:
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise invalid_parameter(
                f"calling.call_icons.restrict_to_user_countries: {country!r} is not an ISO code"
            )


def _hhmm(value: object, path: str) -> int:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise invalid_parameter(f"{path}: must be HHMM (0000-2359), got {value!r}")
    return int(value[:2]) * 60 + int(value[2:])


def _call_hours(raw: object, today: date) -> None:
    path = "calling.call_hours"
    hours = _object(raw, path)
    _only(hours, path, ("status", "timezone_id", "weekly_operating_hours", "holiday_schedule"))
    _choice(hours.get("status"), f"{path}.status", ENABLED_DISABLED)
    _string(hours.get("timezone_id"), f"{path}.timezone_id")
    weekly = _list(hours.get("weekly_operating_hours"), f"{path}.weekly_operating_hours")
    if not weekly:
        raise invalid_parameter(f"{path}.weekly_operating_hours: must not be empty")
    per_day: dict[str, list[tuple[int, int]]] = {}
    for index, raw_entry in enumerate(weekly):
        at = f"{path}.weekly_operating_hours[{index}]"
        entry = _object(raw_entry, at)
        _only(entry, at, ("day_of_week", "open_time", "close_time"))
        day = _choice(entry.get("day_of_week"), f"{at}.day_of_week", DAYS)
        opens = _hhmm(entry.get("open_time"), f"{at}.open_time")
        closes = _hhmm(entry.get("close_time"), f"{at}.close_time")
        if opens >= closes:
            raise invalid_parameter(f"{at}: open_time must be before close_time")
        per_day.setdefault(day, []).append((opens, closes))
    for day, spans in per_day.items():
        if len(spans) > 2:
            raise invalid_parameter(f"{path}.weekly_operating_hours: more than 2 entries on {day}")
        spans.sort()
        if len(spans) == 2 and spans[1][0] < spans[0][1]:
            raise invalid_parameter(f"{path}.weekly_operating_hours: overlapping entries on {day}")
    holidays = _list(hours.get("holiday_schedule", []), f"{path}.holiday_schedule")
    if len(holidays) > MAX_HOLIDAYS:
        raise invalid_parameter(f"{path}.holiday_schedule: at most {MAX_HOLIDAYS} entries")
    for index, raw_entry in enumerate(holidays):
        at = f"{path}.holiday_schedule[{index}]"
        entry = _object(raw_entry, at)
        _only(entry, at, ("date", "start_time", "end_time"))
        _holiday_date(entry.get("date"), f"{at}.date", today)
        starts = _hhmm(entry.get("start_time"), f"{at}.start_time")
        ends = _hhmm(entry.get("end_time"), f"{at}.end_time")
        if starts >= ends:
            raise invalid_parameter(f"{at}: start_time must be before end_time")


def _holiday_date(value: object, path: str, today: date) -> None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise invalid_parameter(f"{path}: must be YYYY-MM-DD, got {value!r}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise invalid_parameter(f"{path}: {value!r} is not a calendar date") from None
    if day < today:
        raise invalid_parameter(f"{path}: {value} is in the past")


def _sip(raw: object) -> None:
    path = "calling.sip"
    sip = _object(raw, path)
    _only(sip, path, ("status", "servers"))
    _choice(sip.get("status"), f"{path}.status", ENABLED_DISABLED)
    for index, raw_server in enumerate(_list(sip.get("servers", []), f"{path}.servers")):
        at = f"{path}.servers[{index}]"
        server = _object(raw_server, at)
        _only(server, at, ("hostname", "port", "request_uri_user_params"))
        _string(server.get("hostname"), f"{at}.hostname")
        if "port" in server:
            _integer(server["port"], f"{at}.port", 1, 65535)
        params = _object(server.get("request_uri_user_params", {}), f"{at}.request_uri_user_params")
        for key, value in params.items():
            _string(value, f"{at}.request_uri_user_params.{key}")


def _audio(raw: object) -> None:
    path = "calling.audio"
    audio = _object(raw, path)
    _only(audio, path, ("additional_codecs",))
    codecs = _list(audio.get("additional_codecs", []), f"{path}.additional_codecs")
    for codec in codecs:
        _choice(codec, f"{path}.additional_codecs", ("PCMA", "PCMU"))
    if len(set(codecs)) != len(codecs):
        raise invalid_parameter(f"{path}.additional_codecs: duplicate codec")


def _voicemail(raw: object) -> None:
    path = "calling.voicemail"
    voicemail = _object(raw, path)
    _only(voicemail, path, ("status", "triggers", "audio"))
    status = _choice(voicemail.get("status"), f"{path}.status", ENABLED_DISABLED)
    triggers = _list(voicemail.get("triggers", []), f"{path}.triggers")
    for trigger in triggers:
        _choice(trigger, f"{path}.triggers", ("REJECT", "TIMEOUT"))
    if status == "ENABLED" and not triggers:
        raise invalid_parameter(f"{path}.triggers: at least one trigger when ENABLED")
    if "audio" in voicemail:
        audio = _object(voicemail["audio"], f"{path}.audio")
        _only(audio, f"{path}.audio", ("default",))
        default = _object(audio.get("default"), f"{path}.audio.default")
        _only(default, f"{path}.audio.default", ("announcement_media_id", "timeout_seconds"))
        if "announcement_media_id" in default:
            _integer(
                default["announcement_media_id"],
                f"{path}.audio.default.announcement_media_id",
                1,
                2**63 - 1,
            )
        if "timeout_seconds" in default:
            _integer(default["timeout_seconds"], f"{path}.audio.default.timeout_seconds", 0, 30)


def parse_message(raw: object) -> OutboundMessage:
    """Check a `POST /messages` body; interactive permission requests and call buttons in full."""
    body = _object(raw, "body")
    _whatsapp(body)
    to = body.get("to")
    if not is_wa_id(to):
        raise invalid_parameter("to: required, ASCII digits only")
    if body.get("recipient_type", "individual") != "individual":
        raise invalid_parameter('recipient_type: must be "individual"')
    kind = _string(body.get("type"), "type")
    if kind == "template":
        template = _object(body.get("template"), "template")
        _string(template.get("name"), "template.name")
        components = _list(template.get("components", []), "template.components")
        asks = any(
            isinstance(c, dict) and c.get("type") == "call_permission_request" for c in components
        )
        return OutboundMessage(to, "call_permission_request" if asks else "other")
    if kind != "interactive":
        return OutboundMessage(to, "other")
    interactive = _object(body.get("interactive"), "interactive")
    itype = _string(interactive.get("type"), "interactive.type")
    if itype == "call_permission_request":
        return _permission_request(to, interactive)
    if itype == "voice_call":
        return _voice_call(to, interactive)
    return OutboundMessage(to, "other")


def _body_text(interactive: JsonObject) -> None:
    if "body" in interactive:
        body = _object(interactive["body"], "interactive.body")
        _string(body.get("text"), "interactive.body.text", max_length=1024)


def _permission_request(to: str, interactive: JsonObject) -> OutboundMessage:
    _only(interactive, "interactive", ("type", "action", "body"))
    action = _object(interactive.get("action"), "interactive.action")
    if action != {"name": "call_permission_request"}:
        raise invalid_parameter('interactive.action: must be {"name": "call_permission_request"}')
    _body_text(interactive)
    return OutboundMessage(to, "call_permission_request")


def _voice_call(to: str, interactive: JsonObject) -> OutboundMessage:
    _only(interactive, "interactive", ("type", "action", "body"))
    _body_text(interactive)
    action = _object(interactive.get("action"), "interactive.action")
    _only(action, "interactive.action", ("name", "parameters"))
    if action.get("name") != "voice_call":
        raise invalid_parameter('interactive.action.name: must be "voice_call"')
    params = _object(action.get("parameters", {}), "interactive.action.parameters")
    at = "interactive.action.parameters"
    _only(params, at, ("display_text", "ttl_minutes", "payload"))
    if "display_text" in params:
        _string(params["display_text"], f"{at}.display_text", max_length=20)
    ttl = _integer(params.get("ttl_minutes", 10080), f"{at}.ttl_minutes", 1, 43200)
    payload = params.get("payload")
    if payload is not None:
        payload = _string(payload, f"{at}.payload", max_length=MAX_OPAQUE_DATA)
    return OutboundMessage(to, "voice_call", payload=payload, ttl_minutes=ttl)
