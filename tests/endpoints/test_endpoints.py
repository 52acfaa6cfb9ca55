"""Every endpoint and action: the exact request sent, and each documented response shape
structured into the right model. Runs against the scripted server and against aioresponses."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from d360_calling import (
    ActionLimit,
    AudioCodec,
    AudioSettings,
    CallActionResult,
    CallHours,
    CallIcons,
    CallIconVisibility,
    CallingSettings,
    CallPermissions,
    ConnectResult,
    FeatureStatus,
    HolidaySchedule,
    OperatingHours,
    Permission,
    PermissionAction,
    PermissionActionName,
    PermissionStatus,
    PhoneNumberSettings,
    RequestTimeoutError,
    Restriction,
    Restrictions,
    RestrictionType,
    SessionDescription,
    SettingsUpdateResult,
    SipServer,
    SipSettings,
    SrtpKeyExchangeProtocol,
    Timeout,
    VoicemailAnnouncement,
    VoicemailAudio,
    VoicemailSettings,
    VoicemailTrigger,
    Weekday,
)
from d360_calling.models.converter import converter

from ..support import samples
from ..support.backends import Backend, Seen
from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, WA_ID
from ..support.server import ScriptedServer, delay, reply

CALLS = "/calling/calls"
SETTINGS = "/calling/settings"


def only_request(backend: Backend) -> Seen:
    seen = backend.seen()
    assert len(seen) == 1, seen
    return seen[0]


def assert_headers(seen: Seen, *, with_body: bool) -> None:
    assert seen.headers.getall("D360-API-KEY") == [API_KEY]
    assert "Authorization" not in seen.headers
    if with_body:
        assert seen.headers.getall("Content-Type") == ["application/json"]
    else:
        assert "Content-Type" not in seen.headers
        assert not seen.body


# --- POST /calling/calls -------------------------------------------------------------------


async def test_connect_sends_reference_body(backend: Backend) -> None:
    backend.respond("POST", CALLS, json=samples.CONNECT_RESPONSE)

    result = await backend.client.calls.connect(
        "14085551234", SessionDescription.offer(OFFER_SDP), biz_opaque_callback_data="0fS5cePMok"
    )

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("POST", CALLS, {})
    assert_headers(seen, with_body=True)
    assert seen.json == {
        "messaging_product": "whatsapp",
        "to": "14085551234",
        "action": "connect",
        "session": {"sdp_type": "offer", "sdp": OFFER_SDP},
        "biz_opaque_callback_data": "0fS5cePMok",
    }
    assert result == ConnectResult(
        call_id="wacid.ABGGFjFVU2AfAgo6V", success=None, messaging_product="whatsapp"
    )


async def test_connect_without_callback_data_omits_it(backend: Backend) -> None:
    backend.respond("POST", CALLS, json=samples.CONNECT_RESPONSE_WITH_SUCCESS)

    result = await backend.client.calls.connect(WA_ID, SessionDescription.offer(OFFER_SDP))

    assert only_request(backend).json == {
        "messaging_product": "whatsapp",
        "to": WA_ID,
        "action": "connect",
        "session": {"sdp_type": "offer", "sdp": OFFER_SDP},
    }
    assert result == ConnectResult(
        call_id="wacid.ABGGFjFVU2AfAgo6V", success=True, messaging_product="whatsapp"
    )


async def test_pre_accept_sends_reference_body(backend: Backend) -> None:
    backend.respond("POST", CALLS, json=samples.SUCCESS)

    result = await backend.client.calls.pre_accept(CALL_ID, SessionDescription.answer(ANSWER_SDP))

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("POST", CALLS, {})
    assert_headers(seen, with_body=True)
    assert seen.json == {
        "messaging_product": "whatsapp",
        "call_id": CALL_ID,
        "action": "pre_accept",
        "session": {"sdp_type": "answer", "sdp": ANSWER_SDP},
    }
    assert result == CallActionResult(success=True, messaging_product="whatsapp")


async def test_accept_sends_reference_body(backend: Backend) -> None:
    backend.respond("POST", CALLS, json=samples.SUCCESS)

    result = await backend.client.calls.accept(
        CALL_ID, SessionDescription.answer(ANSWER_SDP), biz_opaque_callback_data="random_string"
    )

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("POST", CALLS, {})
    assert_headers(seen, with_body=True)
    assert seen.json == {
        "messaging_product": "whatsapp",
        "call_id": CALL_ID,
        "action": "accept",
        "session": {"sdp_type": "answer", "sdp": ANSWER_SDP},
        "biz_opaque_callback_data": "random_string",
    }
    assert result == CallActionResult(success=True, messaging_product="whatsapp")


@pytest.mark.parametrize("action", ["reject", "terminate"])
async def test_reject_and_terminate_send_reference_body(backend: Backend, action: str) -> None:
    backend.respond("POST", CALLS, json=samples.SUCCESS)

    result = await getattr(backend.client.calls, action)(CALL_ID)

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("POST", CALLS, {})
    assert_headers(seen, with_body=True)
    assert seen.json == {"messaging_product": "whatsapp", "call_id": CALL_ID, "action": action}
    assert result == CallActionResult(success=True, messaging_product="whatsapp")


@pytest.mark.parametrize("action", ["pre_accept", "accept", "reject", "terminate"])
async def test_bare_success_without_messaging_product(backend: Backend, action: str) -> None:
    backend.respond("POST", CALLS, json=samples.BARE_SUCCESS)
    method = getattr(backend.client.calls, action)
    args: tuple[Any, ...] = (CALL_ID,)
    if action in ("pre_accept", "accept"):
        args += (SessionDescription.answer(ANSWER_SDP),)

    result = await method(*args)

    assert result == CallActionResult(success=True, messaging_product=None)
    assert len(backend.seen()) == 1


# --- GET /calling/permissions/{wa_id} ------------------------------------------------------

EXPECTED_PERMISSIONS = CallPermissions(
    permission=Permission(
        status=PermissionStatus.TEMPORARY,
        expiration_time=datetime(2025, 4, 22, 17, 37, 59, tzinfo=UTC),
    ),
    actions=(
        PermissionAction(
            action_name=PermissionActionName.SEND_CALL_PERMISSION_REQUEST,
            can_perform_action=True,
            limits=(
                ActionLimit(time_period="PT24H", max_allowed=1, current_usage=0),
                ActionLimit(time_period="P7D", max_allowed=2, current_usage=1),
            ),
        ),
        PermissionAction(
            action_name=PermissionActionName.START_CALL,
            can_perform_action=False,
            limits=(
                ActionLimit(
                    time_period="PT24H",
                    max_allowed=5,
                    current_usage=5,
                    limit_expiration_time=datetime.fromtimestamp(1745622600, tz=UTC),
                ),
            ),
        ),
    ),
    messaging_product="whatsapp",
)


async def test_permissions_get_sample(backend: Backend) -> None:
    path = f"/calling/permissions/{WA_ID}"
    backend.respond("GET", path, json=samples.PERMISSIONS)

    perms = await backend.client.permissions.get(WA_ID)

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("GET", path, {})
    assert_headers(seen, with_body=False)
    assert perms == EXPECTED_PERMISSIONS
    assert perms.expires_at == datetime.fromtimestamp(1745343479, tz=UTC)
    assert perms.can_start_call is False
    assert perms.can_request_permission is True
    assert perms.next_call_allowed_at == datetime.fromtimestamp(1745622600, tz=UTC)
    assert perms.next_permission_request_allowed_at is None


async def test_permissions_expiration_alias_and_absent_limits(backend: Backend) -> None:
    body = {
        "permission": {"status": "temporary", "expiration": 1745343479},
        "actions": [
            {"action_name": "start_call", "can_perform_action": True},
            {"action_name": "send_call_permission_request", "can_perform_action": False},
        ],
    }
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=body)

    perms = await backend.client.permissions.get(WA_ID)

    assert perms == CallPermissions(
        permission=Permission(
            PermissionStatus.TEMPORARY, datetime.fromtimestamp(1745343479, tz=UTC)
        ),
        actions=(
            PermissionAction(PermissionActionName.START_CALL, True, ()),
            PermissionAction(PermissionActionName.SEND_CALL_PERMISSION_REQUEST, False, ()),
        ),
        messaging_product=None,
    )
    assert perms.can_start_call is True
    assert perms.next_call_allowed_at is None


async def test_permissions_permanent_and_unknown_values(backend: Backend) -> None:
    body = {
        "messaging_product": "whatsapp",
        "permission": {"status": "permanent"},
        "actions": [{"action_name": "start_video_call", "can_perform_action": True}],
        "brand_new_key": {"x": 1},
    }
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=body)

    perms = await backend.client.permissions.get(WA_ID)

    assert perms.status is PermissionStatus.PERMANENT
    assert perms.expires_at is None
    (action,) = perms.actions
    assert action.action_name.value == "start_video_call"
    assert not action.action_name.is_known
    assert perms.can_start_call is False
    assert converter.unstructure(perms) == {
        "messaging_product": "whatsapp",
        "permission": {"status": "permanent"},
        "actions": [{"action_name": "start_video_call", "can_perform_action": True, "limits": []}],
    }


# --- GET /calling/settings -----------------------------------------------------------------

EXPECTED_SETTINGS = PhoneNumberSettings(
    calling=CallingSettings(
        status=FeatureStatus.ENABLED,
        call_icon_visibility=CallIconVisibility.DEFAULT,
        callback_permission_status=FeatureStatus.ENABLED,
        call_hours=CallHours(
            status=FeatureStatus.ENABLED,
            timezone_id="America/Manaus",
            weekly_operating_hours=(OperatingHours(Weekday.MONDAY, "0400", "1020"),),
            holiday_schedule=(HolidaySchedule(date(2026, 1, 1), "0000", "2359"),),
        ),
        sip=SipSettings(
            status=FeatureStatus.ENABLED,
            servers=(
                SipServer(hostname="sip.example.com", sip_user_password=samples.SIP_PASSWORD),
            ),
        ),
        audio=AudioSettings((AudioCodec.PCMA, AudioCodec.PCMU)),
        voicemail=VoicemailSettings(
            status=FeatureStatus.ENABLED,
            triggers=(VoicemailTrigger.REJECT, VoicemailTrigger.TIMEOUT),
            audio=VoicemailAudio(
                VoicemailAnnouncement(announcement_media_id=123, timeout_seconds=20)
            ),
        ),
        restrictions=Restrictions(
            (
                Restriction(
                    type=RestrictionType.RESTRICTED_BUSINESS_INITIATED_CALLING,
                    reason="temporarily disabled due to high negative feedback",
                    expiration=datetime.fromtimestamp(1754072386, tz=UTC),
                ),
            )
        ),
    ),
    payload_encryption={"status": "disabled"},
)


@pytest.mark.parametrize(
    ("include", "query"), [(False, {}), (True, {"include_sip_credentials": "true"})]
)
async def test_settings_get(backend: Backend, include: bool, query: dict[str, str]) -> None:
    backend.respond("GET", SETTINGS, json=samples.SETTINGS)

    settings = await backend.client.settings.get(include_sip_credentials=include)

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("GET", SETTINGS, query)
    assert_headers(seen, with_body=False)
    assert settings == EXPECTED_SETTINGS
    assert converter.unstructure(settings) == samples.SETTINGS


async def test_settings_get_aliases_and_unknown_keys(backend: Backend) -> None:
    body: dict[str, Any] = copy.deepcopy(samples.SETTINGS)
    calling = body["calling"]
    server = calling["sip"]["servers"][0]
    server["password"] = server.pop("sip_user_password")
    server["app_id"] = "123456"
    calling["restrictions"] = {"restrictions": calling["restrictions"]["restrictions_list"]}
    calling["ip_addresses"] = {"default": ["157.240.0.1"]}
    calling["video"] = {"status": "enabled"}
    calling["call_hours"]["day_of_week_start"] = "MONDAY"
    body["storage_configuration"] = {"status": "default"}
    body["something_new"] = {"a": 1}
    backend.respond("GET", SETTINGS, json=body)

    settings = await backend.client.settings.get(include_sip_credentials=True)

    (sip_server,) = settings.calling.sip.servers  # type: ignore[union-attr,misc]
    assert sip_server == SipServer(
        hostname="sip.example.com", sip_user_password=samples.SIP_PASSWORD, app_id="123456"
    )
    assert settings.calling.restrictions == EXPECTED_SETTINGS.calling.restrictions
    assert settings.calling.call_hours == EXPECTED_SETTINGS.calling.call_hours
    assert settings.storage_configuration == {"status": "default"}
    assert not hasattr(settings, "something_new")


async def test_settings_get_unknown_enum_values_round_trip(backend: Backend) -> None:
    body: dict[str, Any] = {
        "calling": {
            "status": "PAUSED_BY_META",
            "call_icon_visibility": "HIDE_IN_CHAT",
            "callback_permission_status": "ENABLED",
            "srtp_key_exchange_protocol": "DTLS-SRTP",
            "call_hours": {
                "status": "ENABLED",
                "timezone_id": "Asia/Singapore",
                "weekly_operating_hours": [
                    {"day_of_week": "FUNDAY", "open_time": "0900", "close_time": "1700"}
                ],
            },
            "sip": {"status": "ENABLED", "servers": [], "webhook_delivery": "SOMETIMES"},
            "audio": {"additional_codecs": ["PCMA", "G722"]},
            "voicemail": {"status": "DISABLED", "triggers": ["BUSY"]},
            "restrictions": {
                "restrictions_list": [{"type": "RESTRICTED_EVERYTHING", "expiration": 1754072386}]
            },
        }
    }
    backend.respond("GET", SETTINGS, json=body)

    settings = await backend.client.settings.get()

    calling = settings.calling
    assert calling.status is not None
    assert calling.status.value == "PAUSED_BY_META"
    assert calling.status.is_known is False
    assert isinstance(calling.status, FeatureStatus)
    assert calling.call_icon_visibility == "HIDE_IN_CHAT"
    assert calling.srtp_key_exchange_protocol == "DTLS-SRTP"
    assert isinstance(calling.srtp_key_exchange_protocol, SrtpKeyExchangeProtocol)
    assert calling.callback_permission_status is FeatureStatus.ENABLED
    assert converter.unstructure(settings) == body


# --- POST /calling/settings ----------------------------------------------------------------

UPDATE = CallingSettings(
    status=FeatureStatus.ENABLED,
    call_icon_visibility=CallIconVisibility.DEFAULT,
    call_icons=CallIcons(("US", "BR")),
    call_hours=CallHours(
        status=FeatureStatus.ENABLED,
        timezone_id="America/Manaus",
        weekly_operating_hours=(
            OperatingHours(Weekday.MONDAY, "0400", "1020"),
            OperatingHours(Weekday.TUESDAY, "0108", "1020"),
        ),
        holiday_schedule=(HolidaySchedule(date(2026, 1, 1), "0000", "2359"),),
    ),
    callback_permission_status=FeatureStatus.ENABLED,
    sip=SipSettings(
        status=FeatureStatus.ENABLED,
        servers=(
            SipServer(
                hostname="sip.example.com",
                port=5061,
                request_uri_user_params={"KEY1": "VALUE1", "KEY2": "VALUE2"},
            ),
        ),
    ),
    srtp_key_exchange_protocol=SrtpKeyExchangeProtocol.DTLS,
    audio=AudioSettings((AudioCodec.PCMA, AudioCodec.PCMU)),
    voicemail=VoicemailSettings(
        status=FeatureStatus.ENABLED,
        triggers=(VoicemailTrigger.REJECT, VoicemailTrigger.TIMEOUT),
        audio=VoicemailAudio(VoicemailAnnouncement(938884519013664, 20)),
    ),
)


async def test_settings_update_sends_reference_body(backend: Backend) -> None:
    backend.respond("POST", SETTINGS, json={"success": True})

    result = await backend.client.settings.update(UPDATE)

    seen = only_request(backend)
    assert (seen.method, seen.path, seen.query) == ("POST", SETTINGS, {})
    assert_headers(seen, with_body=True)
    assert seen.json == samples.SETTINGS_UPDATE_BODY
    assert result == SettingsUpdateResult(success=True)


async def test_settings_update_sends_only_what_is_set(backend: Backend) -> None:
    backend.respond("POST", SETTINGS, json={"success": True})

    await backend.client.settings.update(CallingSettings(status=FeatureStatus.DISABLED))

    assert only_request(backend).json == {"calling": {"status": "DISABLED"}}


# --- per-call timeout ----------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0.2, Timeout(total=0.2, attempt=0.2)])
async def test_per_call_timeout_override(
    server: ScriptedServer, client: Any, timeout: float | Timeout
) -> None:
    server.script(delay(5, reply(json=samples.PERMISSIONS)))
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(RequestTimeoutError) as info:
        await client.permissions.get(WA_ID, timeout=timeout)

    elapsed = loop.time() - started
    assert 0.15 <= elapsed < 1.0
    assert info.value.operation == "permissions.get"
    assert server.count(f"/calling/permissions/{WA_ID}") == 1


async def test_default_timeout_is_not_hit_by_a_short_delay(
    server: ScriptedServer, client: Any
) -> None:
    server.script(delay(0.1, reply(json=samples.PERMISSIONS)))

    perms = await client.permissions.get(WA_ID)

    assert perms == EXPECTED_PERMISSIONS
