"""`webhooks.parse`: every documented example (API reference §4) to the right event and back."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_calling.errors import D360Error
from d360_calling.models.calls import SessionDescription
from d360_calling.models.media import MediaRef
from d360_calling.models.settings import CallingSettings, Restriction, Restrictions, SipServer
from d360_calling.webhooks.errors import WebhookError
from d360_calling.webhooks.events import (
    CallConnect,
    CallDirection,
    CallOutcome,
    CallProgress,
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
    Contact,
    MalformedEvent,
    Metadata,
    PermissionReply,
    PermissionResponse,
    ResponseSource,
    SettingsUpdate,
    SettingsUpdateType,
    UnknownEvent,
    WebhookErrorDetail,
)
from d360_calling.webhooks.parse import parse, to_envelope

WABA_ID = "102290129340398"
PNID = "106540352242922"
METADATA = Metadata(display_phone_number="16315553601", phone_number_id=PNID)
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
T0 = datetime(2022, 12, 21, 17, 47, 4, tzinfo=UTC)  # 1671644824


def envelope(field: str, value: dict[str, Any]) -> dict[str, Any]:
    """§4.1: the Cloud API envelope around one change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "16315553601",
                                "phone_number_id": PNID,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def only(body: Any) -> Any:
    """The single event of `body`."""
    events = parse(body)
    assert len(events) == 1
    return events[0]


# §4.2, user-initiated connect, every optional field filled in.
UIC_CONTACT = {
    "profile": {"name": "Pablo Morales", "username": "pablo.m"},
    "wa_id": "16315553602",
    "user_id": "US.13491208655302741918",
    "parent_user_id": "US.ENT.11815799212886844830",
}
CONNECT_USER_INITIATED = envelope(
    "calls",
    {
        "calls": [
            {
                "id": "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
                "from": "16315553602",
                "to": "16315553601",
                "event": "connect",
                "timestamp": "1671644824",
                "direction": "USER_INITIATED",
                "deeplink_payload": "promo-2026",
                "cta_payload": "call-button-7",
                "session": {"sdp_type": "offer", "sdp": SDP},
            }
        ],
        "contacts": [UIC_CONTACT],
    },
)

# §4.2, business-initiated connect: the user's SDP answer.
CONNECT_BUSINESS_INITIATED = envelope(
    "calls",
    {
        "calls": [
            {
                "id": "wacid.HBgLMTYzMTU1NTM2MDIVAgARGBI",
                "from": "16315553601",
                "to": "16315553602",
                "to_user_id": "US.13491208655302741918",
                "to_parent_user_id": "US.ENT.11815799212886844830",
                "event": "connect",
                "timestamp": "1671644824",
                "direction": "BUSINESS_INITIATED",
                "biz_opaque_callback_data": "ticket-42",
                "session": {"sdp_type": "answer", "sdp": SDP},
            }
        ],
        "contacts": [{"profile": {"name": "Pablo Morales"}, "wa_id": "16315553602"}],
    },
)

# §4.3, verbatim.
STATUS_RINGING = envelope(
    "calls",
    {
        "statuses": [
            {
                "id": "wacid.ABGGFjFVU2AfAgo6V",
                "timestamp": "1671644824",
                "type": "call",
                "status": "RINGING",
                "recipient_id": "163155536021",
                "recipient_user_id": "US.13491208655302741918",
                "recipient_parent_user_id": "US.ENT.11815799212886844830",
                "biz_opaque_callback_data": "random_string",
            }
        ]
    },
)

# §4.4, verbatim, with the contact filled in.
TERMINATE = envelope(
    "calls",
    {
        "calls": [
            {
                "id": "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
                "from": "16315553602",
                "to": "16315553601",
                "to_user_id": "US.13491208655302741918",
                "event": "terminate",
                "direction": "BUSINESS_INITIATED",
                "biz_opaque_callback_data": "random_string",
                "timestamp": "1671644824",
                "status": "COMPLETED",
                "start_time": "1671644824",
                "end_time": "1671644944",
                "duration": 120,
            }
        ],
        "errors": [
            {
                "code": 138021,
                "message": "ERROR_TITLE",
                "href": "ERROR_HREF",
                "error_data": {"details": "ERROR_DETAILS"},
            }
        ],
        "contacts": [{"profile": {"name": "Pablo Morales"}, "wa_id": "16315553602"}],
    },
)

# §4.6, verbatim.
PERMISSION_REPLY = envelope(
    "messages",
    {
        "messages": [
            {
                "from": "16315551234",
                "from_user_id": "US.13491208655302741918",
                "id": "wamid.sH0kFlaCGg0xcvZbgmg90lHrg2dL",
                "timestamp": "1767168000",
                "type": "interactive",
                "context": {"from": "16315551234", "id": "wamid.gBGGFlaCmZ9plHrf2Mh-o"},
                "interactive": {
                    "type": "call_permission_reply",
                    "call_permission_reply": {
                        "response": "accept",
                        "is_permanent": False,
                        "expiration_timestamp": "1768550400",
                        "response_source": "user_action",
                    },
                },
            }
        ]
    },
)

# §4.7, verbatim, with `calling` in the shape of GET settings (§3).
CALLING = {
    "status": "ENABLED",
    "call_icon_visibility": "DEFAULT",
    "callback_permission_status": "ENABLED",
    "call_hours": {
        "status": "ENABLED",
        "timezone_id": "Europe/Berlin",
        "weekly_operating_hours": [
            {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"}
        ],
        "holiday_schedule": [{"date": "2026-01-01", "start_time": "0000", "end_time": "2359"}],
    },
    "sip": {
        "status": "ENABLED",
        "servers": [{"hostname": "sip.example.com", "sip_user_password": "s3cret"}],
    },
    "audio": {"additional_codecs": ["PCMA", "PCMU"]},
    "voicemail": {
        "status": "ENABLED",
        "triggers": ["REJECT", "TIMEOUT"],
        "audio": {"default": {"announcement_media_id": 123, "timeout_seconds": 20}},
    },
    "restrictions": {
        "restrictions_list": [
            {
                "type": "RESTRICTED_BUSINESS_INITIATED_CALLING",
                "reason": "temporarily disabled due to high negative feedback",
                "expiration": 1754072386,
            }
        ]
    },
}
SETTINGS_UPDATE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": WABA_ID,
            "changes": [
                {
                    "field": "account_settings_update",
                    "value": {
                        "messaging_product": "whatsapp",
                        "timestamp": "1671644824",
                        "type": "PHONE_NUMBER_SETTINGS",
                        "phone_number_settings": {"phone_number_id": PNID, "calling": CALLING},
                    },
                }
            ],
        }
    ],
}

# §11.1 / §4.5, a call's recording ready to fetch (a BSUID user may come without `from`).
RECORDING_ITEM = {
    "id": "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
    "event": "call_recording_available",
    "from": "16315553602",
    "from_user_id": "US.13491208655302741918",
    "timestamp": "1671644824",
    "call_recording": {
        "type": "audio",
        "audio": {
            "id": "1113001110239481",
            "sha256": "uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU=",
            "mime_type": "audio/ogg; codecs=opus",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113001110239481",
        },
    },
}
RECORDING_AVAILABLE = envelope("calls", {"calls": [RECORDING_ITEM], "contacts": [UIC_CONTACT]})

# §11.1 / §4.5, the call's transcript ready to fetch.
TRANSCRIPTION_AVAILABLE = envelope(
    "calls",
    {
        "calls": [
            {
                "id": "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
                "event": "call_transcription_available",
                "from": "16315553602",
                "from_user_id": "US.13491208655302741918",
                "timestamp": "1671644824",
                "call_transcript": {
                    "document": {
                        "id": "1113001110239482",
                        "sha256": "2jbnYj5JNlUuJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL=",
                        "mime_type": "application/json",
                        "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113001110239482",
                    }
                },
            }
        ],
        "contacts": [UIC_CONTACT],
    },
)

DOCUMENTED = {
    "connect_user_initiated": CONNECT_USER_INITIATED,
    "connect_business_initiated": CONNECT_BUSINESS_INITIATED,
    "status_ringing": STATUS_RINGING,
    "terminate": TERMINATE,
    "permission_reply": PERMISSION_REPLY,
    "settings_update": SETTINGS_UPDATE,
    "recording_available": RECORDING_AVAILABLE,
    "transcription_available": TRANSCRIPTION_AVAILABLE,
}


def test_user_initiated_connect_has_every_field() -> None:
    assert only(CONNECT_USER_INITIATED) == CallConnect(
        call_id="wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
        timestamp=T0,
        direction=CallDirection.USER_INITIATED,
        from_="16315553602",
        to="16315553601",
        session=SessionDescription.offer(SDP),
        deeplink_payload="promo-2026",
        cta_payload="call-button-7",
        contact=Contact(
            wa_id="16315553602",
            user_id="US.13491208655302741918",
            parent_user_id="US.ENT.11815799212886844830",
            name="Pablo Morales",
            username="pablo.m",
        ),
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_business_initiated_connect_has_every_field() -> None:
    assert only(CONNECT_BUSINESS_INITIATED) == CallConnect(
        call_id="wacid.HBgLMTYzMTU1NTM2MDIVAgARGBI",
        timestamp=T0,
        direction=CallDirection.BUSINESS_INITIATED,
        from_="16315553601",
        to="16315553602",
        to_user_id="US.13491208655302741918",
        to_parent_user_id="US.ENT.11815799212886844830",
        session=SessionDescription.answer(SDP),
        biz_opaque_callback_data="ticket-42",
        contact=Contact(wa_id="16315553602", name="Pablo Morales"),
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_status_has_every_field() -> None:
    assert only(STATUS_RINGING) == CallStatus(
        call_id="wacid.ABGGFjFVU2AfAgo6V",
        status=CallProgress.RINGING,
        timestamp=T0,
        recipient_id="163155536021",
        recipient_user_id="US.13491208655302741918",
        recipient_parent_user_id="US.ENT.11815799212886844830",
        biz_opaque_callback_data="random_string",
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_terminate_has_every_field() -> None:
    assert only(TERMINATE) == CallTerminate(
        call_id="wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
        timestamp=T0,
        status=CallOutcome.COMPLETED,
        direction=CallDirection.BUSINESS_INITIATED,
        from_="16315553602",
        to="16315553601",
        to_user_id="US.13491208655302741918",
        start_time=T0,
        end_time=T0 + timedelta(seconds=120),
        duration=120,
        biz_opaque_callback_data="random_string",
        errors=(
            WebhookErrorDetail(
                code=138021, message="ERROR_TITLE", href="ERROR_HREF", details="ERROR_DETAILS"
            ),
        ),
        contact=Contact(wa_id="16315553602", name="Pablo Morales"),
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_recording_available_has_every_field() -> None:
    assert only(RECORDING_AVAILABLE) == CallRecordingAvailable(
        call_id="wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh",
        media=MediaRef(
            id="1113001110239481",
            sha256="uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU=",
            mime_type="audio/ogg; codecs=opus",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113001110239481",
        ),
        timestamp=T0,
        from_="16315553602",
        from_user_id="US.13491208655302741918",
        contact=Contact(
            wa_id="16315553602",
            user_id="US.13491208655302741918",
            parent_user_id="US.ENT.11815799212886844830",
            name="Pablo Morales",
            username="pablo.m",
        ),
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_transcription_available_has_every_field() -> None:
    event = only(TRANSCRIPTION_AVAILABLE)
    assert isinstance(event, CallTranscriptionAvailable)
    assert (event.call_id, event.timestamp) == ("wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh", T0)
    assert event.media == MediaRef(
        id="1113001110239482",
        sha256="2jbnYj5JNlUuJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL=",
        mime_type="application/json",
        url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113001110239482",
    )
    assert (event.from_, event.from_user_id) == ("16315553602", "US.13491208655302741918")
    assert event.contact is not None
    assert event.contact.name == "Pablo Morales"
    assert (event.metadata, event.waba_id) == (METADATA, WABA_ID)


def test_permission_reply_has_every_field() -> None:
    assert only(PERMISSION_REPLY) == PermissionReply(
        message_id="wamid.sH0kFlaCGg0xcvZbgmg90lHrg2dL",
        timestamp=datetime(2025, 12, 31, 8, tzinfo=UTC),
        response=PermissionResponse.ACCEPT,
        from_="16315551234",
        from_user_id="US.13491208655302741918",
        is_permanent=False,
        expiration=datetime(2026, 1, 16, 8, tzinfo=UTC),
        response_source=ResponseSource.USER_ACTION,
        context_id="wamid.gBGGFlaCmZ9plHrf2Mh-o",
        context_from="16315551234",
        metadata=METADATA,
        waba_id=WABA_ID,
    )


def test_settings_update_has_every_field() -> None:
    event = only(SETTINGS_UPDATE)
    assert isinstance(event, SettingsUpdate)
    assert event.type is SettingsUpdateType.PHONE_NUMBER_SETTINGS
    assert event.timestamp == T0
    assert event.phone_number_id == PNID
    assert event.waba_id == WABA_ID
    assert event.metadata is None
    calling = event.calling
    assert isinstance(calling, CallingSettings)
    assert calling.status == "ENABLED"
    assert calling.call_hours is not None
    assert calling.call_hours.weekly_operating_hours is not None
    assert calling.call_hours.weekly_operating_hours[0].open_time == "0400"
    assert calling.sip is not None
    assert calling.sip.servers == (
        SipServer(hostname="sip.example.com", sip_user_password="s3cret"),
    )
    assert calling.restrictions == Restrictions(
        (
            Restriction(
                type="RESTRICTED_BUSINESS_INITIATED_CALLING",  # type: ignore[arg-type]
                reason="temporarily disabled due to high negative feedback",
                expiration=datetime.fromtimestamp(1754072386, tz=UTC),
            ),
        )
    )
    assert "s3cret" not in repr(event)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_examples_round_trip(name: str) -> None:
    body = DOCUMENTED[name]
    assert to_envelope(parse(json.dumps(body))) == body


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_bytes_str_and_mapping_bodies_agree(name: str) -> None:
    body = DOCUMENTED[name]
    text = json.dumps(body)
    assert parse(text.encode()) == parse(text) == parse(body)


def test_to_dict_gives_the_payload_item() -> None:
    value = CONNECT_USER_INITIATED["entry"][0]["changes"][0]["value"]
    event = only(CONNECT_USER_INITIATED)
    assert event.to_dict() == value["calls"][0]
    assert event.contact.to_dict() == UIC_CONTACT
    assert event.metadata.to_dict() == value["metadata"]
    assert json.loads(json.dumps(event.to_dict())) == value["calls"][0]


def test_events_keep_payload_order_across_entries_and_changes() -> None:
    body = {
        "entry": [
            {"id": "A", "changes": CONNECT_USER_INITIATED["entry"][0]["changes"]},
            {
                "id": "B",
                "changes": STATUS_RINGING["entry"][0]["changes"] + TERMINATE["entry"][0]["changes"],
            },
        ]
    }
    events = parse(body)
    assert [type(event) for event in events] == [CallConnect, CallStatus, CallTerminate]
    assert [event.waba_id for event in events] == ["A", "B", "B"]


def test_several_calls_in_one_change_match_their_contacts() -> None:
    value = {
        "calls": [
            {"id": "wacid.1", "from": "111", "event": "connect", "timestamp": "1"},
            {"id": "wacid.2", "from_user_id": "US.2", "event": "connect", "timestamp": "2"},
            {"id": "wacid.3", "from": "333", "event": "connect", "timestamp": 3},
        ],
        "contacts": [
            {"profile": {"name": "Two"}, "user_id": "US.2"},
            {"profile": {"name": "One"}, "wa_id": "111"},
        ],
    }
    body = envelope("calls", value)
    events = parse(body)
    assert [event.contact.name if event.contact else None for event in events] == [
        "One",
        "Two",
        None,
    ]
    rebuilt = to_envelope(events)["entry"][0]["changes"][0]["value"]
    assert rebuilt["calls"] == value["calls"]
    assert rebuilt["contacts"] == value["contacts"][::-1]  # in the order of their events


# ---- unknown parts are kept, never dropped ------------------------------------------------

CALL_CREATED = {
    "id": "wacid.SIP",
    "from": "16315553602",
    "to": "16315553601",
    "event": "call_created",
    "timestamp": "1671644824",
    "direction": "USER_INITIATED",
}
TEXT_MESSAGE = {
    "from": "16315553602",
    "id": "wamid.text",
    "timestamp": "1671644824",
    "type": "text",
    "text": {"body": "hi"},
}
VOICEMAIL = {
    "from": "16315553602",
    "id": "wacid.voicemail",
    "timestamp": "1671644824",
    "type": "audio",
    "audio": {"id": "77", "mime_type": "audio/ogg"},
}
MESSAGE_STATUS = {
    "id": "wamid.request",
    "status": "delivered",
    "timestamp": "1671644824",
    "recipient_id": "16315553602",
}
ACCOUNT_UPDATE_VALUE = {
    "event": "ACCOUNT_VIOLATION",
    "violation_info": {"violation_type": "LOW_USER_INITIATED_CALLING_QUALITY"},
}


@pytest.mark.parametrize(
    ("field", "item_key", "item"),
    [
        ("calls", "calls", CALL_CREATED),
        ("calls", "statuses", {**MESSAGE_STATUS, "type": "message"}),
        ("messages", "messages", TEXT_MESSAGE),
        ("messages", "messages", VOICEMAIL),
        ("messages", "statuses", MESSAGE_STATUS),
    ],
)
def test_unknown_items_become_unknown_events(
    field: str, item_key: str, item: dict[str, Any]
) -> None:
    contacts = [{"profile": {"name": "Pablo"}, "wa_id": "16315553602"}]
    body = envelope(field, {item_key: [item], "contacts": contacts})
    event = only(body)
    assert isinstance(event, UnknownEvent)
    assert (event.field, event.item_key, event.raw) == (field, item_key, item)
    assert event.timestamp == T0
    assert event.contact == Contact(wa_id="16315553602", name="Pablo")
    assert event.metadata == METADATA
    assert event.age(T0 + timedelta(seconds=5)) == timedelta(seconds=5)
    assert to_envelope([event]) == body


def test_unknown_field_keeps_the_whole_value() -> None:
    body = envelope("account_update", ACCOUNT_UPDATE_VALUE)
    event = only(body)
    assert isinstance(event, UnknownEvent)
    assert event.field == "account_update"
    assert event.item_key is None
    assert event.raw == body["entry"][0]["changes"][0]["value"]
    assert event.timestamp is None
    assert event.age() is None
    assert to_envelope([event]) == body


def test_value_with_only_errors_is_kept() -> None:
    body = envelope("messages", {"errors": [{"code": 131000, "title": "Something"}]})
    event = only(body)
    assert isinstance(event, UnknownEvent)
    assert event.raw["errors"] == [{"code": 131000, "title": "Something"}]


def test_known_and_unknown_items_keep_their_order() -> None:
    value = copy.deepcopy(TERMINATE["entry"][0]["changes"][0]["value"])
    value["calls"] = [RECORDING_ITEM, *value["calls"], CALL_CREATED]
    events = parse(envelope("calls", value))
    kinds = [type(event) for event in events]
    assert kinds == [CallRecordingAvailable, CallTerminate, UnknownEvent]


def test_unknown_fields_are_ignored_and_kept_in_raw() -> None:
    body = copy.deepcopy(CONNECT_BUSINESS_INITIATED)
    item = body["entry"][0]["changes"][0]["value"]["calls"][0]
    item["connection"] = {"webrtc": {"sdp": json.dumps({"sdp": SDP, "type": "answer"})}}
    item["brand_new"] = {"nested": [1, 2]}
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["extra"] = True
    body["entry"][0]["brand_new"] = 1
    event = only(body)
    assert event == only(CONNECT_BUSINESS_INITIATED)
    assert event.raw["connection"]["webrtc"]["sdp"]
    assert "brand_new" not in event.to_dict()


def test_unknown_enum_values_are_kept() -> None:
    body = copy.deepcopy(STATUS_RINGING)
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "ON_HOLD"
    event = only(body)
    assert event.status == "ON_HOLD"
    assert not event.status.is_known
    assert event.to_dict()["status"] == "ON_HOLD"
    assert to_envelope([event]) == body


def test_unknown_direction_and_outcome_are_kept() -> None:
    item = {
        "id": "wacid.1",
        "event": "terminate",
        "timestamp": "1",
        "direction": "PARTNER_INITIATED",
        "status": "TRANSFERRED",
    }
    event = only(envelope("calls", {"calls": [item]}))
    assert isinstance(event, CallTerminate)
    assert (event.direction, event.status) == ("PARTNER_INITIATED", "TRANSFERRED")
    assert event.to_dict() == item


# ---- spelling variants -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("COMPLETED", CallOutcome.COMPLETED),
        ("Completed", CallOutcome.COMPLETED),
        ("completed", CallOutcome.COMPLETED),
        ("Failed", CallOutcome.FAILED),
        ("FAILED", CallOutcome.FAILED),
    ],
)
def test_terminate_status_is_case_insensitive(spelled: str, expected: CallOutcome) -> None:
    body = copy.deepcopy(TERMINATE)
    body["entry"][0]["changes"][0]["value"]["calls"][0]["status"] = spelled
    event = only(body)
    assert event.status is expected
    assert event.status.is_known


@pytest.mark.parametrize(
    "spelled", ["PHONE_NUMBER_SETTINGS", "phone_number_settings", "[phone_number_settings]"]
)
def test_settings_update_type_variants(spelled: str) -> None:
    body = copy.deepcopy(SETTINGS_UPDATE)
    body["entry"][0]["changes"][0]["value"]["type"] = spelled
    assert only(body).type is SettingsUpdateType.PHONE_NUMBER_SETTINGS


def test_settings_update_with_null_calling() -> None:
    body = copy.deepcopy(SETTINGS_UPDATE)
    body["entry"][0]["changes"][0]["value"]["phone_number_settings"]["calling"] = None
    event = only(body)
    assert event.calling is None
    assert event.phone_number_id == PNID


def test_settings_update_keeps_unknown_enum_values() -> None:
    body = copy.deepcopy(SETTINGS_UPDATE)
    calling = body["entry"][0]["changes"][0]["value"]["phone_number_settings"]["calling"]
    calling["call_icon_visibility"] = "visible"
    calling["srtp_key_exchange_protocol"] = "DTLS-SRTP"
    calling["ip_addresses"] = {"default": ["1.2.3.4"]}
    event = only(body)
    assert event.calling.call_icon_visibility == "visible"
    assert event.calling.srtp_key_exchange_protocol == "DTLS-SRTP"


def test_event_name_is_case_insensitive() -> None:
    body = copy.deepcopy(CONNECT_USER_INITIATED)
    body["entry"][0]["changes"][0]["value"]["calls"][0]["event"] = "CONNECT"
    assert isinstance(only(body), CallConnect)


# ---- timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["1671644824", 1671644824, 1671644824.0])
def test_timestamps_as_string_or_number(stamp: object) -> None:
    body = copy.deepcopy(CONNECT_USER_INITIATED)
    body["entry"][0]["changes"][0]["value"]["calls"][0]["timestamp"] = stamp
    event = only(body)
    assert event.timestamp == T0
    assert event.timestamp.tzinfo is UTC


def test_integer_timestamps_re_serialise_as_integers() -> None:
    body = copy.deepcopy(TERMINATE)
    item = body["entry"][0]["changes"][0]["value"]["calls"][0]
    item.update(timestamp=1671644824, start_time=1671644824, end_time="1671644944")
    assert to_envelope(parse(body)) == body


@pytest.mark.parametrize("expiration", ["1768550400", 1768550400])
def test_permission_expiration_as_string_or_integer(expiration: object) -> None:
    body = copy.deepcopy(PERMISSION_REPLY)
    reply = body["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]
    reply["call_permission_reply"]["expiration_timestamp"] = expiration
    event = only(body)
    assert event.expiration == datetime(2026, 1, 16, 8, tzinfo=UTC)
    assert to_envelope([event]) == body


def test_events_built_by_hand_serialise_timestamps_as_strings() -> None:
    event = CallConnect(call_id="wacid.1", timestamp=T0)
    assert event.to_dict() == {"id": "wacid.1", "event": "connect", "timestamp": "1671644824"}


def test_age_is_measured_from_the_event_timestamp() -> None:
    event = only(CONNECT_USER_INITIATED)
    assert event.age(T0 + timedelta(seconds=45)) == timedelta(seconds=45)
    assert event.age() > timedelta(days=365)
    fresh = CallConnect(call_id="wacid.1", timestamp=datetime.now(UTC))
    assert fresh.age() < timedelta(seconds=5)


# ---- permission reply scenarios (§4.6) ----------------------------------------------------


def reply_body(reply: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "from": "16315551234",
        "id": "wamid.reply",
        "timestamp": "1767168000",
        "type": "interactive",
        "interactive": {"type": "call_permission_reply", "call_permission_reply": reply},
    }
    if context is not None:
        message["context"] = context
    return envelope(
        "messages",
        {"messages": [message], "contacts": [{"profile": {"name": "A"}, "wa_id": "16315551234"}]},
    )


@pytest.mark.parametrize(
    ("reply", "context", "expected"),
    [
        (
            {"response": "accept", "is_permanent": True, "response_source": "user_action"},
            None,
            (PermissionResponse.ACCEPT, True, None, ResponseSource.USER_ACTION, None),
        ),
        (
            {"response": "reject", "response_source": "user_action"},
            {"from": "16315551234", "id": "wamid.request"},
            (PermissionResponse.REJECT, None, None, ResponseSource.USER_ACTION, "wamid.request"),
        ),
        (
            {"response": "reject", "response_source": "automatic"},
            None,
            (PermissionResponse.REJECT, None, None, ResponseSource.AUTOMATIC, None),
        ),
        (
            {
                "response": "accept",
                "is_permanent": False,
                "expiration_timestamp": 1768550400,
                "response_source": "automatic",
            },
            {"id": "wacid.callback"},
            (
                PermissionResponse.ACCEPT,
                False,
                datetime(2026, 1, 16, 8, tzinfo=UTC),
                ResponseSource.AUTOMATIC,
                "wacid.callback",
            ),
        ),
    ],
)
def test_permission_reply_scenarios(
    reply: dict[str, Any], context: dict[str, Any] | None, expected: tuple[Any, ...]
) -> None:
    body = reply_body(reply, context)
    event = only(body)
    assert isinstance(event, PermissionReply)
    got = (
        event.response,
        event.is_permanent,
        event.expiration,
        event.response_source,
        event.context_id,
    )
    assert got == expected
    assert event.contact == Contact(wa_id="16315551234", name="A")
    assert to_envelope([event]) == body


# ---- contacts and identities -------------------------------------------------------------


@pytest.mark.parametrize("contacts", [None, []])
def test_missing_or_empty_contacts(contacts: list[Any] | None) -> None:
    body = copy.deepcopy(CONNECT_USER_INITIATED)
    value = body["entry"][0]["changes"][0]["value"]
    if contacts is None:
        del value["contacts"]
    else:
        value["contacts"] = contacts
    assert only(body).contact is None


def test_username_user_has_only_bsuid_fields() -> None:
    item = {
        "id": "wacid.user",
        "from_user_id": "US.999",
        "event": "connect",
        "timestamp": "1671644824",
        "direction": "USER_INITIATED",
        "session": {"sdp_type": "offer", "sdp": SDP},
    }
    contacts = [{"profile": {"username": "cool.user"}, "user_id": "US.999"}]
    body = envelope("calls", {"calls": [item], "contacts": contacts})
    event = only(body)
    assert (event.from_, event.to, event.from_user_id) == (None, None, "US.999")
    assert event.contact == Contact(user_id="US.999", username="cool.user")
    assert to_envelope([event]) == body


def test_missing_metadata_and_waba_id() -> None:
    body = {"entry": [{"changes": [{"field": "calls", "value": {"statuses": [
        {"id": "wacid.1", "status": "ACCEPTED", "timestamp": "1"}
    ]}}]}]}  # fmt: skip
    event = only(body)
    assert (event.metadata, event.waba_id, event.contact) == (None, None, None)


def test_status_errors_inside_the_item() -> None:
    body = copy.deepcopy(STATUS_RINGING)
    item = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(status="REJECTED", errors=[{"code": 138006, "title": "No permission"}])
    event = only(body)
    assert event.errors == (WebhookErrorDetail(code=138006, title="No permission"),)
    assert to_envelope([event]) == body


# ---- dedupe keys -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_dedupe_key_is_equal_for_repeated_deliveries(name: str) -> None:
    text = json.dumps(DOCUMENTED[name])
    assert only(text).dedupe_key == only(text).dedupe_key


def test_dedupe_key_is_equal_for_unknown_events_delivered_twice() -> None:
    body = envelope("account_update", ACCOUNT_UPDATE_VALUE)
    assert only(json.dumps(body)).dedupe_key == only(copy.deepcopy(body)).dedupe_key


def test_dedupe_keys_differ_per_event_of_a_call() -> None:
    connect = only(CONNECT_USER_INITIATED)
    terminate = only(TERMINATE)
    assert connect.call_id == terminate.call_id
    assert connect.dedupe_key != terminate.dedupe_key
    statuses = []
    for status in ("RINGING", "ACCEPTED", "REJECTED"):
        body = copy.deepcopy(STATUS_RINGING)
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = status
        statuses.append(only(body).dedupe_key)
    assert len(set(statuses)) == 3


def test_dedupe_key_ignores_delivery_details_but_not_the_change() -> None:
    first = only(SETTINGS_UPDATE)
    body = copy.deepcopy(SETTINGS_UPDATE)
    body["entry"][0]["changes"][0]["value"]["phone_number_settings"]["calling"]["status"] = (
        "DISABLED"
    )
    assert first.dedupe_key != only(body).dedupe_key


# ---- malformed bodies --------------------------------------------------------------------


def calls_body(*items: Any) -> dict[str, Any]:
    return envelope("calls", {"calls": list(items)})


CONNECT_ITEM = {"id": "wacid.1", "event": "connect", "timestamp": "1"}


MALFORMED: list[tuple[Any, str]] = [
    (b"not json", "not JSON"),
    (b"\xff\xfe\x00", "not JSON"),
    (b"", "not JSON"),
    ("[" * 100_000, "nested too deeply"),
    ('{"entry": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    (b"[]", "expected a JSON object, got list"),
    (b'"entry"', "expected a JSON object, got str"),
    (b"null", "expected a JSON object, got null"),
    ({}, "body.entry: missing"),
    ({"entry": {}}, "body.entry: expected a list, got dict"),
    ({"entry": "x"}, "body.entry: expected a list, got str"),
    ({"entry": [1]}, "entry[0]: expected an object, got int"),
    ({"entry": [{"changes": {}}]}, "entry[0].changes: expected a list"),
    ({"entry": [{"id": 5, "changes": []}]}, "entry[0].id: expected a string, got int"),
    ({"entry": [{"changes": [{"value": {}}]}]}, "entry[0].changes[0].field: missing"),
    ({"entry": [{"changes": [{"field": "calls"}]}]}, "changes[0].value: missing"),
    ({"entry": [{"changes": [{"field": "calls", "value": []}]}]}, "expected an object"),
    (envelope("calls", {"calls": {}}), "value.calls: expected a list, got dict"),
    (calls_body("x"), "value.calls[0]: expected an object, got str"),
    (calls_body({"event": "connect", "timestamp": "1"}), "value.calls[0].id: missing"),
    (calls_body({**CONNECT_ITEM, "id": ""}), "value.calls[0].id: missing"),
    (calls_body({**CONNECT_ITEM, "id": 7}), "calls[0].id: expected a string, got int"),
    (calls_body({"id": "wacid.1", "event": "connect"}), "calls[0].timestamp: missing"),
    (calls_body({**CONNECT_ITEM, "timestamp": "soon"}), "timestamp: expected Unix seconds"),
    (calls_body({**CONNECT_ITEM, "timestamp": True}), "timestamp: expected Unix seconds"),
    (calls_body({**CONNECT_ITEM, "timestamp": "1e400"}), "timestamp: expected Unix"),
    (calls_body({**CONNECT_ITEM, "timestamp": 10**400}), "timestamp: expected Unix"),
    (calls_body({**CONNECT_ITEM, "timestamp": [1]}), "timestamp: expected Unix"),
    (calls_body({**CONNECT_ITEM, "session": "v=0"}), "session: expected an object"),
    (calls_body({**CONNECT_ITEM, "session": {"sdp_type": "offer"}}), "session.sdp: missing"),
    (calls_body({**CONNECT_ITEM, "session": {"sdp": "v=0"}}), "session.sdp_type: missing"),
    (calls_body({**CONNECT_ITEM, "direction": 1}), "direction: expected a string"),
    (calls_body({**CONNECT_ITEM, "event": "terminate", "duration": "2m"}), "duration"),
    (calls_body({**CONNECT_ITEM, "event": "terminate", "duration": 1.5}), "duration"),
    (envelope("calls", {"contacts": "Bob"}), "value.contacts: expected a list"),
    (envelope("calls", {"contacts": [{"profile": "Bob"}]}), "contacts[0].profile"),
    (envelope("calls", {"metadata": []}), "value.metadata: expected an object"),
    (envelope("calls", {"statuses": [{"id": "wacid.1", "timestamp": "1"}]}), "status: miss"),
    (envelope("calls", {"errors": [{"code": "x"}], "calls": []}), "errors[0].code"),
    (envelope("calls", {"errors": [{"error_data": 5}]}), "errors[0].error_data"),
    (reply_body({"is_permanent": True}, None), "call_permission_reply.response: missing"),
    (reply_body({"response": "accept", "is_permanent": "yes"}, None), "is_permanent"),
    (reply_body({"response": "accept"}, {"id": 5}), "context.id: expected a string"),
]


@pytest.mark.parametrize(("body", "says"), MALFORMED)
def test_malformed_bodies_raise_webhook_error(body: Any, says: str) -> None:
    text = body if isinstance(body, bytes | str) else json.dumps(body)
    with pytest.raises(WebhookError) as caught:
        parse(text, strict=True)
    assert says in str(caught.value)
    assert isinstance(caught.value, D360Error)
    assert str(caught.value) == f"{caught.value.path}: {caught.value.problem}"


@pytest.mark.parametrize(("body", "says"), MALFORMED)
def test_malformed_part_costs_only_itself(body: Any, says: str) -> None:
    """Without strict, only a body that is not an envelope raises; any other bad part becomes
    one `MalformedEvent` naming it."""
    text = body if isinstance(body, bytes | str) else json.dumps(body)
    with pytest.raises(WebhookError) as strict:
        parse(text, strict=True)
    if strict.value.path.startswith("body"):  # not an envelope: nothing in it can be read
        with pytest.raises(WebhookError) as caught:
            parse(text)
        assert str(caught.value) == str(strict.value)
        return
    events = parse(text)
    malformed = [event for event in events if isinstance(event, MalformedEvent)]
    assert len(malformed) == 1
    assert says in str(malformed[0].error)
    assert malformed[0].path.startswith("entry[")


@pytest.mark.parametrize(
    ("calling", "says"),
    [
        ({"status": 5}, "calling: not calling settings"),
        ({"call_hours": []}, "calling: not calling settings"),
        ("ENABLED", "calling: expected an object"),
    ],
)
def test_malformed_settings_raise_webhook_error(calling: object, says: str) -> None:
    body = copy.deepcopy(SETTINGS_UPDATE)
    body["entry"][0]["changes"][0]["value"]["phone_number_settings"]["calling"] = calling
    with pytest.raises(WebhookError, match=says):
        parse(body, strict=True)


def test_settings_update_without_type_or_timestamp() -> None:
    for key in ("type", "timestamp"):
        body = copy.deepcopy(SETTINGS_UPDATE)
        del body["entry"][0]["changes"][0]["value"][key]
        with pytest.raises(WebhookError, match=f"value.{key}: missing"):
            parse(body, strict=True)


def test_nan_is_not_json() -> None:
    """NaN is not JSON: the body is refused whole, whichever JSON backend reads it."""
    text = json.dumps(calls_body(CONNECT_ITEM)).replace('"timestamp": "1"', '"timestamp": NaN')
    with pytest.raises(WebhookError, match="not JSON"):
        parse(text)


# ---- property: only WebhookError, whatever arrives ----------------------------------------

KEYS = st.sampled_from(
    [
        "object", "entry", "id", "changes", "field", "value", "calls", "statuses", "messages",
        "contacts", "errors", "metadata", "event", "timestamp", "from", "to", "session",
        "sdp_type", "sdp", "status", "type", "interactive", "call_permission_reply", "response",
        "context", "profile", "wa_id", "user_id", "duration", "start_time", "error_data",
        "phone_number_settings", "calling", "expiration_timestamp", "is_permanent", "direction",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["calls", "messages", "account_settings_update", "connect", "terminate", "call",
         "interactive", "call_permission_reply", "accept", "offer", "1671644824", "ENABLED"]
    ),
)  # fmt: skip
JSON_ISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=40,
)
ENVELOPES = st.fixed_dictionaries(
    {
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": SCALARS,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.sampled_from(
                                    ["calls", "messages", "account_settings_update", "other"]
                                ),
                                "value": st.dictionaries(KEYS, JSON_ISH, max_size=6),
                            }
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=2,
        )
    }
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON_ISH, ENVELOPES))
def test_parse_raises_nothing_but_webhook_error(document: Any) -> None:
    for body in (document, json.dumps(document)):
        try:
            events = parse(body)
        except WebhookError:
            continue
        for event in events:
            assert event.dedupe_key
            event.to_dict()
        to_envelope(events)
