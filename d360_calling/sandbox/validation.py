"""Call-action and message request checks written from the API reference (§1.1, §10).

Each parser takes the decoded JSON body and returns the few values the state needs, or raises
the HTTP 400 code 100 error whose `details` name the field and what is wrong with it; the
settings body has its own module (`validation_settings`), and both are independent of the SDK.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from d360_calling.sandbox.errors import JsonObject, invalid_parameter
from d360_calling.sandbox.fields import (
    ENABLED_DISABLED,
    is_wa_id,
    only_fields,
    require_choice,
    require_integer,
    require_list,
    require_object,
    require_string,
    require_whatsapp,
)
from d360_calling.sandbox.operations import CALL_ACTIONS, INVALID_CALL_ACTION
from d360_calling.sandbox.records import MediaOption
from d360_calling.sandbox.sdp_rules import refusal_reason

MAX_OPAQUE_DATA = 512
"""Longest `biz_opaque_callback_data` and voice_call `payload` (§1.1, §10)."""

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
    recording: MediaOption | None = None
    """Set when `recording.status` is ENABLED (connect and accept only)."""
    transcription: MediaOption | None = None


@attrs.frozen
class OutboundMessage:
    """A checked `POST /messages` body: who it goes to and what the calling flow cares about."""

    to: str
    kind: str
    """"call_permission_request", "voice_call" or "other"."""
    payload: str | None = None
    ttl_minutes: int = 10080


def call_operation(body: object) -> str:
    """The operation name of a calls request, known before validation ("calls.accept")."""
    action = body.get("action") if isinstance(body, dict) else None
    return f"calls.{action}" if action in CALL_ACTIONS else INVALID_CALL_ACTION


def parse_call_action(raw: object) -> CallAction:
    """Check a call action: enum, ids, session type per action, opaque data length."""
    body = require_object(raw, "body")
    require_whatsapp(body)
    for key in body:
        if key not in _CALL_FIELDS:
            raise invalid_parameter(f"{key}: unknown field")
    action = require_choice(body.get("action"), "action", CALL_ACTIONS)
    if action == "connect":
        if "call_id" in body:
            raise invalid_parameter("call_id: not allowed for connect (the API assigns it)")
        to = body.get("to")
        if not is_wa_id(to):
            raise invalid_parameter("to: required for connect, ASCII digits only")
        call_id = ""
    else:
        call_id, to = require_string(body.get("call_id"), "call_id"), ""
        if "to" in body:
            raise invalid_parameter(f"to: not allowed for {action}")
    sdp = _session(body.get("session"), action)
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None:
        if action not in ("connect", "accept"):
            raise invalid_parameter(f"biz_opaque_callback_data: not allowed for {action}")
        opaque = require_string(opaque, "biz_opaque_callback_data", max_length=MAX_OPAQUE_DATA)
    options: dict[str, MediaOption | None] = {}
    for key in ("recording", "transcription"):
        if key in body:
            if action not in ("connect", "accept"):
                raise invalid_parameter(f"{key}: not allowed for {action}")
            options[key] = _media_option(body[key], key)
    return CallAction(
        action,
        call_id=call_id,
        to=to,
        sdp=sdp,
        biz_opaque_callback_data=opaque,
        recording=options.get("recording"),
        transcription=options.get("transcription"),
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
    session = require_object(raw, "session")
    only_fields(session, "session", ("sdp_type", "sdp"))
    if session.get("sdp_type") != expected:
        raise invalid_parameter(
            f'session.sdp_type: must be "{expected}" for {action}, got {session.get("sdp_type")!r}'
        )
    sdp = require_string(session.get("sdp"), "session.sdp")
    refusal = refusal_reason(sdp, expected)
    if refusal is not None:
        raise invalid_parameter(f"session.sdp: {refusal}")
    return sdp


def _media_option(raw: object, path: str) -> MediaOption | None:
    """A checked `recording`/`transcription` object; None when its status is DISABLED."""
    option = require_object(raw, path)
    only_fields(option, path, ("status", "purpose", "announcement_language"))
    if require_choice(option.get("status"), f"{path}.status", ENABLED_DISABLED) != "ENABLED":
        return None
    purpose = require_string(option.get("purpose"), f"{path}.purpose", max_length=250)
    language = option.get("announcement_language")
    return MediaOption(purpose, require_string(language, f"{path}.announcement_language"))


def parse_message(raw: object) -> OutboundMessage:
    """Check a `POST /messages` body; interactive permission requests and call buttons in full."""
    body = require_object(raw, "body")
    require_whatsapp(body)
    to = body.get("to")
    if not is_wa_id(to):
        raise invalid_parameter("to: required, ASCII digits only")
    if body.get("recipient_type", "individual") != "individual":
        raise invalid_parameter('recipient_type: must be "individual"')
    kind = require_string(body.get("type"), "type")
    if kind == "template":
        template = require_object(body.get("template"), "template")
        require_string(template.get("name"), "template.name")
        components = require_list(template.get("components", []), "template.components")
        asks = any(
            isinstance(c, dict) and c.get("type") == "call_permission_request" for c in components
        )
        return OutboundMessage(to, "call_permission_request" if asks else "other")
    if kind != "interactive":
        return OutboundMessage(to, "other")
    interactive = require_object(body.get("interactive"), "interactive")
    itype = require_string(interactive.get("type"), "interactive.type")
    if itype == "call_permission_request":
        return _permission_request(to, interactive)
    if itype == "voice_call":
        return _voice_call(to, interactive)
    return OutboundMessage(to, "other")


def _body_text(interactive: JsonObject) -> None:
    if "body" in interactive:
        body = require_object(interactive["body"], "interactive.body")
        require_string(body.get("text"), "interactive.body.text", max_length=1024)


def _permission_request(to: str, interactive: JsonObject) -> OutboundMessage:
    only_fields(interactive, "interactive", ("type", "action", "body"))
    action = require_object(interactive.get("action"), "interactive.action")
    if action != {"name": "call_permission_request"}:
        raise invalid_parameter('interactive.action: must be {"name": "call_permission_request"}')
    _body_text(interactive)
    return OutboundMessage(to, "call_permission_request")


def _voice_call(to: str, interactive: JsonObject) -> OutboundMessage:
    only_fields(interactive, "interactive", ("type", "action", "body"))
    _body_text(interactive)
    action = require_object(interactive.get("action"), "interactive.action")
    only_fields(action, "interactive.action", ("name", "parameters"))
    if action.get("name") != "voice_call":
        raise invalid_parameter('interactive.action.name: must be "voice_call"')
    params = require_object(action.get("parameters", {}), "interactive.action.parameters")
    at = "interactive.action.parameters"
    only_fields(params, at, ("display_text", "ttl_minutes", "payload"))
    if "display_text" in params:
        require_string(params["display_text"], f"{at}.display_text", max_length=20)
    ttl = require_integer(params.get("ttl_minutes", 10080), f"{at}.ttl_minutes", 1, 43200)
    payload = params.get("payload")
    if payload is not None:
        payload = require_string(payload, f"{at}.payload", max_length=MAX_OPAQUE_DATA)
    return OutboundMessage(to, "voice_call", payload=payload, ttl_minutes=ttl)
