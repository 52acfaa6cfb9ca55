"""Each endpoint's response shape, auth, and the validation errors of the sandbox."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from d360_calling.sandbox import OFFER_SDP, Sandbox
from tests.support.sandbox import (
    ANSWER,
    KEY,
    USER,
    action_body,
    connect_body,
    permission_request_body,
)

WEEK = 7 * 24 * 3600


def assert_invalid(body: dict[str, Any], field: str) -> None:
    error = body["error"]
    assert error["message"] == "(#100) Invalid parameter"
    assert error["type"] == "OAuthException"
    assert error["code"] == 100
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"].startswith(field), error["error_data"]["details"]
    assert error["fbtrace_id"].startswith("A")
    assert len(error["fbtrace_id"]) > 10


async def test_connect_answers_with_a_call_id(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "temporary")
    async with http.post("/calling/calls", json=connect_body()) as response:
        body = await response.json()
    assert response.status == 200
    assert set(body) == {"messaging_product", "calls"}
    assert body["messaging_product"] == "whatsapp"
    [call] = body["calls"]
    assert set(call) == {"id"}
    assert call["id"].startswith("wacid.")
    assert sandbox.calls[call["id"]].state == "ringing"


async def test_call_id_actions_answer_success(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    call_id = await sandbox.ring(USER)
    for body in (
        action_body("pre_accept", call_id, ANSWER),
        action_body("accept", call_id, ANSWER),
        action_body("terminate", call_id),
    ):
        async with http.post("/calling/calls", json=body) as response:
            assert response.status == 200
            assert await response.json() == {"messaging_product": "whatsapp", "success": True}


async def test_permissions_shape_temporary(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.set_permission(USER, "temporary")
    granted = sandbox.clock.now()
    async with http.get(f"/calling/permissions/{USER}") as response:
        body = await response.json()
    assert response.status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["permission"]["status"] == "temporary"
    assert body["permission"]["expiration_time"] in (int(granted + WEEK), int(granted + WEEK) + 1)
    assert body["actions"] == [
        {
            "action_name": "send_call_permission_request",
            "can_perform_action": True,
            "limits": [
                {"time_period": "PT24H", "max_allowed": 1, "current_usage": 0},
                {"time_period": "P7D", "max_allowed": 2, "current_usage": 0},
            ],
        },
        {
            "action_name": "start_call",
            "can_perform_action": True,
            "limits": [{"time_period": "PT24H", "max_allowed": 100, "current_usage": 0}],
        },
    ]


async def test_permissions_shape_permanent_and_none(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "permanent")
    async with http.get(f"/calling/permissions/{USER}") as response:
        body = await response.json()
    assert body["permission"] == {"status": "permanent"}
    assert [a["can_perform_action"] for a in body["actions"]] == [False, True]
    async with http.get("/calling/permissions/14155550999") as response:
        body = await response.json()
    assert body["permission"] == {"status": "no_permission"}
    assert [a["can_perform_action"] for a in body["actions"]] == [True, False]


async def test_permissions_path_must_be_ascii_digits(http: aiohttp.ClientSession) -> None:
    for wa_id in ("abc", "\u0661\u0662\u0663", "1415%0A"):
        async with http.get(f"/calling/permissions/{wa_id}") as response:
            assert response.status == 400
            assert_invalid(await response.json(), "consumer_whatsapp_id")


async def test_settings_default_and_round_trip(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get("/calling/settings") as response:
        assert response.status == 200
        assert await response.json() == {
            "calling": {
                "status": "ENABLED",
                "call_icon_visibility": "DEFAULT",
                "callback_permission_status": "DISABLED",
                "srtp_key_exchange_protocol": "DTLS",
                "sip": {"status": "DISABLED", "servers": []},
            }
        }
    calling = {
        "call_icon_visibility": "DISABLE_ALL",
        "call_icons": {"restrict_to_user_countries": ["US", "BR"]},
        "call_hours": {
            "status": "ENABLED",
            "timezone_id": "America/Manaus",
            "weekly_operating_hours": [
                {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"},
                {"day_of_week": "MONDAY", "open_time": "1100", "close_time": "1800"},
            ],
            "holiday_schedule": [{"date": "2099-01-01", "start_time": "0000", "end_time": "2359"}],
        },
        "audio": {"additional_codecs": ["PCMA", "PCMU"]},
        "voicemail": {
            "status": "ENABLED",
            "triggers": ["REJECT", "TIMEOUT"],
            "audio": {"default": {"announcement_media_id": 938884519013664, "timeout_seconds": 20}},
        },
    }
    async with http.post("/calling/settings", json={"calling": calling}) as response:
        assert response.status == 200
        assert await response.json() == {"success": True}
    async with http.get("/calling/settings") as response:
        stored = (await response.json())["calling"]
    assert stored["status"] == "ENABLED"
    for key, value in calling.items():
        assert stored[key] == value


async def test_settings_sip_credentials_only_on_request(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sip = {"status": "DISABLED", "servers": [{"hostname": "sip.example.com"}]}
    async with http.post("/calling/settings", json={"calling": {"sip": sip}}) as response:
        assert response.status == 200
    async with http.get("/calling/settings") as response:
        [server] = (await response.json())["calling"]["sip"]["servers"]
    assert server == {"hostname": "sip.example.com", "port": 5061}
    async with http.get("/calling/settings?include_sip_credentials=true") as response:
        [server] = (await response.json())["calling"]["sip"]["servers"]
    assert server["hostname"] == "sip.example.com"
    assert len(server["sip_user_password"]) >= 16
    password = server["sip_user_password"]
    async with http.post("/calling/settings", json={"calling": {"sip": sip}}) as response:
        assert response.status == 200
    assert sandbox.settings["sip"]["servers"][0]["sip_user_password"] == password


async def test_messages_answer_with_a_wamid(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.post("/messages", json=permission_request_body()) as response:
        body = await response.json()
    assert response.status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": USER, "wa_id": USER}]
    [message] = body["messages"]
    assert message["id"].startswith("wamid.")
    assert sandbox.stats.effects["messages.send"] == 1


@pytest.mark.parametrize("headers", [{}, {"D360-API-KEY": "wrong"}])
async def test_wrong_or_missing_key_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    sandbox.set_permission(USER, "temporary")
    async with (
        aiohttp.ClientSession(base_url=sandbox.base_url, headers=headers) as session,
        session.post("/calling/calls", json=connect_body()) as response,
    ):
        assert response.status == 401
        assert await response.json() == {
            "meta": {"success": False, "http_code": 401, "developer_message": "Invalid api key"}
        }
    assert sandbox.stats.requests["calls.connect"] == 1
    assert sandbox.stats.effects["calls.connect"] == 0
    assert sandbox.calls == {}


BAD_CALLS = [
    ({**connect_body(), "messaging_product": "sms"}, "messaging_product"),
    ({**connect_body(), "action": "dial"}, "action"),
    ({**connect_body(), "to": "+14155550123"}, "to"),
    ({**connect_body(), "to": "\u0661\u0662\u0663"}, "to"),
    ({**connect_body(), "session": {"sdp_type": "answer", "sdp": OFFER_SDP}}, "session.sdp_type"),
    ({**connect_body(), "session": {"sdp_type": "offer", "sdp": ""}}, "session.sdp"),
    ({**connect_body(), "session": None}, "session"),
    (connect_body(biz_opaque_callback_data="x" * 513), "biz_opaque_callback_data"),
    (connect_body(sdp_type="offer"), "sdp_type"),
    (action_body("accept", "wacid.x"), "session"),
    (action_body("pre_accept", "wacid.x", ANSWER) | {"session": {"sdp_type": "offer"}}, "session"),
    ({"messaging_product": "whatsapp", "action": "reject"}, "call_id"),
    (action_body("reject", "wacid.x", ANSWER), "session"),
    (action_body("terminate", "wacid.x", biz_opaque_callback_data="t"), "biz_opaque_callback_data"),
    ([1, 2], "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CALLS)
async def test_invalid_call_actions_are_400(
    sandbox: Sandbox, http: aiohttp.ClientSession, body: Any, field: str
) -> None:
    sandbox.set_permission(USER, "temporary")
    async with http.post("/calling/calls", json=body) as response:
        assert response.status == 400
        assert_invalid(await response.json(), field)
    assert sum(sandbox.stats.effects.values()) == 0


async def test_non_json_body_is_400(http: aiohttp.ClientSession) -> None:
    async with http.post("/calling/calls", data=b"{nope") as response:
        assert response.status == 400
        assert_invalid(await response.json(), "body")


def hours(*entries: tuple[str, str, str], holidays: Any = None, **extra: Any) -> dict[str, Any]:
    call_hours: dict[str, Any] = {
        "status": "ENABLED",
        "timezone_id": "Asia/Singapore",
        "weekly_operating_hours": [
            {"day_of_week": d, "open_time": o, "close_time": c} for d, o, c in entries
        ],
        **extra,
    }
    if holidays is not None:
        call_hours["holiday_schedule"] = holidays
    return {"calling": {"call_hours": call_hours}}


MON = ("MONDAY", "0900", "1700")
BAD_SETTINGS = [
    ({"calling": {"status": "ON"}}, "calling.status"),
    ({"calling": {"call_icon_visibility": "HIDDEN"}}, "calling.call_icon_visibility"),
    ({"calling": {"status": "ENABLED"}, "storage_configuration": {}}, "body"),
    ({"calling": {"colour": "blue"}}, "calling.colour"),
    (hours(), "calling.call_hours.weekly_operating_hours"),
    (hours(("MONDAY", "900", "1700")), "calling.call_hours.weekly_operating_hours[0].open_time"),
    (hours(("MONDAY", "0900", "2400")), "calling.call_hours.weekly_operating_hours[0].close_time"),
    (hours(("MONDAY", "1700", "0900")), "calling.call_hours.weekly_operating_hours[0]"),
    (hours(("FUNDAY", "0900", "1700")), "calling.call_hours.weekly_operating_hours[0].day_of_week"),
    (hours(MON, ("MONDAY", "1600", "1800")), "calling.call_hours.weekly_operating_hours"),
    (hours(MON, ("MONDAY", "0100", "0200"), ("MONDAY", "1800", "1900")), "calling.call_hours"),
    (hours(MON, timezone_id=""), "calling.call_hours.timezone_id"),
    (
        hours(MON, holidays=[{"date": "2000-01-01", "start_time": "0000", "end_time": "2359"}]),
        "calling.call_hours.holiday_schedule[0].date",
    ),
    (
        hours(MON, holidays=[{"date": "2099-13-01", "start_time": "0000", "end_time": "2359"}]),
        "calling.call_hours.holiday_schedule[0].date",
    ),
    (
        hours(MON, holidays=[{"date": "01/01/2099", "start_time": "0000", "end_time": "2359"}]),
        "calling.call_hours.holiday_schedule[0].date",
    ),
    (
        hours(
            MON,
            holidays=[
                {"date": f"2099-01-{d:02}", "start_time": "0000", "end_time": "2359"}
                for d in range(1, 22)
            ],
        ),
        "calling.call_hours.holiday_schedule",
    ),
    ({"calling": {"sip": {"status": "MAYBE"}}}, "calling.sip.status"),
    ({"calling": {"sip": {"status": "ENABLED", "servers": [{"port": 5061}]}}}, "calling.sip"),
    ({"calling": {"audio": {"additional_codecs": ["G729"]}}}, "calling.audio.additional_codecs"),
    ({"calling": {"voicemail": {"status": "ENABLED"}}}, "calling.voicemail.triggers"),
    ({"calling": {"srtp_key_exchange_protocol": "DTLS-SRTP"}}, "calling.srtp_key_exchange"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SETTINGS)
async def test_invalid_settings_are_400(
    sandbox: Sandbox, http: aiohttp.ClientSession, body: Any, field: str
) -> None:
    async with http.post("/calling/settings", json=body) as response:
        assert response.status == 400
        assert_invalid(await response.json(), field)
    assert sandbox.settings["status"] == "ENABLED"
    assert "call_hours" not in sandbox.settings


async def test_holiday_in_the_past_is_judged_by_the_sandbox_clock(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    holiday = [{"date": "2099-01-01", "start_time": "0000", "end_time": "2359"}]
    sandbox.clock.advance(200 * 365 * 24 * 3600)
    async with http.post("/calling/settings", json=hours(MON, holidays=holiday)) as response:
        assert response.status == 400
        assert "in the past" in (await response.json())["error"]["error_data"]["details"]


BAD_MESSAGES = [
    ({**permission_request_body(), "to": "abc"}, "to"),
    (
        permission_request_body() | {"interactive": {"type": "call_permission_request"}},
        "interactive.action",
    ),
    (
        {
            **permission_request_body(),
            "interactive": {
                "type": "voice_call",
                "action": {"name": "voice_call", "parameters": {"display_text": "x" * 21}},
            },
        },
        "interactive.action.parameters.display_text",
    ),
    (
        {
            **permission_request_body(),
            "interactive": {
                "type": "voice_call",
                "action": {"name": "voice_call", "parameters": {"ttl_minutes": 0}},
            },
        },
        "interactive.action.parameters.ttl_minutes",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_MESSAGES)
async def test_invalid_messages_are_400(http: aiohttp.ClientSession, body: Any, field: str) -> None:
    async with http.post("/messages", json=body) as response:
        assert response.status == 400
        assert_invalid(await response.json(), field)


async def test_accept_sdp_must_match_pre_accept(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    call_id = await sandbox.ring(USER)
    async with http.post("/calling/calls", json=action_body("pre_accept", call_id, ANSWER)):
        pass
    other = ANSWER.replace("s=-", "s=other")
    async with http.post("/calling/calls", json=action_body("accept", call_id, other)) as response:
        assert response.status == 400
        assert_invalid(await response.json(), "session.sdp")
    assert sandbox.calls[call_id].state == "pre_accepted"


async def test_unknown_call_and_wrong_state_are_400(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.post("/calling/calls", json=action_body("terminate", "wacid.nope")) as response:
        assert response.status == 400
        body = await response.json()
    assert_invalid(body, "call_id")
    assert "wacid.nope" in body["error"]["error_data"]["details"]

    call_id = await sandbox.ring(USER)
    async with http.post("/calling/calls", json=action_body("reject", call_id)):
        pass
    async with http.post("/calling/calls", json=action_body("accept", call_id, ANSWER)) as response:
        body = await response.json()
    assert response.status == 400
    assert (
        body["error"]["error_data"]["details"] == "call_id: cannot accept a call that is rejected"
    )

    sandbox.set_permission(USER, "temporary")
    async with http.post("/calling/calls", json=connect_body()) as response:
        outbound = (await response.json())["calls"][0]["id"]
    async with http.post("/calling/calls", json=action_body("pre_accept", outbound, ANSWER)) as r:
        details = (await r.json())["error"]["error_data"]["details"]
    assert r.status == 400
    assert "USER_INITIATED" in details


async def test_calling_disabled_is_138000(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.set_permission(USER, "temporary")
    async with http.post("/calling/settings", json={"calling": {"status": "DISABLED"}}):
        pass
    async with http.post("/calling/calls", json=connect_body()) as response:
        body = await response.json()
    assert response.status == 401
    assert body["error"]["code"] == 138000
    assert body["error"]["message"] == "(#138000) Calling is not enabled on this number"
    assert sandbox.stats.effects["calls.connect"] == 0


async def test_a_sandbox_can_start_disabled() -> None:
    async with (
        Sandbox(calling_enabled=False) as box,
        aiohttp.ClientSession(base_url=box.base_url, headers={"D360-API-KEY": KEY}) as http,
        http.get(f"/calling/permissions/{USER}") as response,
    ):
        assert response.status == 401
        assert (await response.json())["error"]["code"] == 138000


async def test_sip_enabled_refuses_graph_calls(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sip = {"status": "ENABLED", "servers": [{"hostname": "sip.example.com", "port": 5061}]}
    async with http.post("/calling/settings", json={"calling": {"sip": sip}}):
        pass
    call_id = await sandbox.ring(USER)
    async with http.post("/calling/calls", json=action_body("reject", call_id)) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == 131055
