"""Webhook shapes seen in the wild (API reference §4.5, §9, §11): 360dialog's
`call_permission_status` event, recording and transcription items (`CallRecordingAvailable`,
`CallTranscriptionAvailable`), and users known only by their BSUID (`from_user_id`, no
`from`). Each reads as a known event or an `UnknownEvent`, never a `MalformedEvent`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import pytest

from d360_calling.webhooks import (
    CallConnect,
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
    Event,
    MalformedEvent,
    PermissionReply,
    PermissionResponse,
    UnknownEvent,
    parse,
    to_envelope,
)

STAMP: Final = 1767168000
T0: Final = datetime.fromtimestamp(STAMP, tz=UTC)
BSUID: Final = "US.13491208655302741918"
USER: Final = "16315551234"


def envelope(field: str, key: str, *items: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "16505553602", "phone_number_id": "5553602"},
        "contacts": [{"user_id": BSUID, "profile": {"name": "Zoë"}}],
        key: list(items),
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


def permission_status(status: str, **fields: Any) -> dict[str, Any]:
    """360dialog's permission webhook item (partner docs, "Business-Initiated Calls")."""
    return {
        "id": "wacid.HBgLMTYzMTU1NTEyMzQVAgARGBIwRjQ2",
        "from": USER,
        "from_user_id": BSUID,
        "timestamp": str(STAMP),
        "event": "call_permission_status",
        "status": status,
        **fields,
    }


@pytest.mark.parametrize(
    ("status", "response"),
    [
        ("GRANTED", PermissionResponse.ACCEPT),
        ("REJECTED", PermissionResponse.REJECT),
        ("REVOKED", PermissionResponse.REJECT),
        ("granted", PermissionResponse.ACCEPT),
    ],
)
def test_call_permission_status_is_a_permission_reply(
    status: str, response: PermissionResponse
) -> None:
    body = envelope("calls", "calls", permission_status(status))
    (event,) = parse(json.dumps(body), strict=True)
    assert isinstance(event, PermissionReply)
    assert event.response is response
    assert event.message_id == "wacid.HBgLMTYzMTU1NTEyMzQVAgARGBIwRjQ2"
    assert event.from_ == USER
    assert event.from_user_id == BSUID
    assert event.timestamp == T0
    assert event.contact is not None
    assert event.contact.name == "Zoë"
    assert (event.field, event.item_key) == ("calls", "calls")
    assert event.is_permanent is None
    assert event.expiration is None
    assert to_envelope([event]) == body


def test_an_unknown_permission_status_word_is_kept() -> None:
    (event,) = parse(envelope("calls", "calls", permission_status("PAUSED")), strict=True)
    assert isinstance(event, PermissionReply)
    assert event.response.is_known is False
    assert event.response.value == "PAUSED"


def test_a_call_permission_status_without_a_status_is_malformed_alone() -> None:
    item = permission_status("GRANTED")
    del item["status"]
    first, second = parse(envelope("calls", "calls", item, permission_status("REVOKED")))
    assert isinstance(first, MalformedEvent)
    assert first.path == "entry[0].changes[0].value.calls[0].status"
    assert isinstance(second, PermissionReply)


RECORDING: Final = {
    "id": "wacid.rec",
    "event": "call_recording_available",
    "from": USER,
    "from_user_id": BSUID,
    "timestamp": str(STAMP),
    "call_recording": {
        "type": "audio",
        "audio": {
            "id": "1113001110239481",
            "sha256": "uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU=",
            "mime_type": "audio/ogg; codecs=opus",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113",
        },
    },
}
TRANSCRIPTION: Final = {
    "id": "wacid.rec",
    "event": "call_transcription_available",
    "from_user_id": BSUID,
    "timestamp": STAMP,
    "call_transcript": {
        "document": {
            "id": "1113001110239482",
            "sha256": "2jbnYj5JNlUuJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL=",
            "mime_type": "application/json",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1114",
        }
    },
}


def without_from(item: dict[str, Any]) -> dict[str, Any]:
    """The item as sent for a user known only by BSUID: `from_user_id`, no `from`."""
    return {key: value for key, value in item.items() if key != "from"} | {"from_user_id": BSUID}


CONNECT: Final = {
    "id": "wacid.c",
    "from": USER,
    "to": "16505553602",
    "event": "connect",
    "timestamp": str(STAMP),
    "direction": "USER_INITIATED",
    "session": {"sdp_type": "offer", "sdp": "v=0\r\n"},
}
TERMINATE: Final = {
    "id": "wacid.c",
    "from": USER,
    "to": "16505553602",
    "event": "terminate",
    "timestamp": str(STAMP),
    "direction": "USER_INITIATED",
    "status": "Completed",
    "duration": 31,
}
REPLY: Final = {
    "from": USER,
    "id": "wamid.sH0kFlaCGg0xcvZbgmg90lHrg2dL",
    "timestamp": str(STAMP),
    "type": "interactive",
    "interactive": {
        "type": "call_permission_reply",
        "call_permission_reply": {"response": "accept", "is_permanent": True},
    },
}
STATUS: Final = {
    "id": "wacid.b",
    "type": "call",
    "status": "RINGING",
    "timestamp": str(STAMP),
    "recipient_user_id": BSUID,
}

ITEMS: Final = [
    ("recording", "calls", "calls", RECORDING, CallRecordingAvailable),
    ("transcription", "calls", "calls", TRANSCRIPTION, CallTranscriptionAvailable),
    ("recording-bsuid-only", "calls", "calls", without_from(RECORDING), CallRecordingAvailable),
    ("connect-bsuid-only", "calls", "calls", without_from(CONNECT), CallConnect),
    ("terminate-bsuid-only", "calls", "calls", without_from(TERMINATE), CallTerminate),
    ("status-bsuid-only", "calls", "statuses", STATUS, CallStatus),
    ("reply-bsuid-only", "messages", "messages", without_from(REPLY), PermissionReply),
    (
        "permission-status-bsuid-only",
        "calls",
        "calls",
        without_from(permission_status("GRANTED")),
        PermissionReply,
    ),
    (
        "call-created",
        "calls",
        "calls",
        {**without_from(CONNECT), "event": "call_created"},
        UnknownEvent,
    ),
]


@pytest.mark.parametrize(
    ("field", "key", "item", "kind"),
    [case[1:] for case in ITEMS],
    ids=[case[0] for case in ITEMS],
)
def test_items_seen_in_the_wild_are_never_malformed(
    field: str, key: str, item: dict[str, Any], kind: type[Event]
) -> None:
    (event,) = parse(json.dumps(envelope(field, key, item)), strict=True)
    assert type(event) is kind
    assert not isinstance(event, MalformedEvent)
    assert event.contact is not None
    assert event.contact.user_id == BSUID
    if not isinstance(event, UnknownEvent):
        assert getattr(event, "from_", None) == item.get("from")
        assert event.timestamp == T0
    else:
        assert event.raw == item
        assert event.timestamp == T0
    assert parse(json.dumps(to_envelope([event])), strict=True) == [event]
