"""Whole calls and permission flows, checked through the webhooks a receiver gets."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from d360_calling.sandbox import ANSWER_SDP, OFFER_SDP, Limits, Sandbox
from tests.support.sandbox import (
    ANSWER,
    KEY,
    USER,
    Receiver,
    action_body,
    calls_value,
    connect_body,
    permission_request_body,
)

BUSINESS = "15550001234"


async def post(http: aiohttp.ClientSession, path: str, body: object) -> dict[str, object]:
    async with http.post(path, json=body) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def test_inbound_call_pre_accept_accept_business_terminate(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    call_id = await sandbox.ring(USER, cta_payload="order-1", name="Alice")
    # ring() returns only after the connect webhook was delivered
    [connect] = [item.payload for item in receiver.received]
    assert connect["object"] == "whatsapp_business_account"
    [entry] = connect["entry"]
    assert entry["id"] == "200000000000001"
    [change] = entry["changes"]
    assert change["field"] == "calls"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": BUSINESS,
        "phone_number_id": "100000000000001",
    }
    assert value["contacts"] == [{"profile": {"name": "Alice"}, "wa_id": USER}]
    [call] = value["calls"]
    started = int(sandbox.clock.now())
    assert call["id"] == call_id
    assert call["from"] == USER
    assert call["to"] == BUSINESS
    assert call["event"] == "connect"
    assert call["direction"] == "USER_INITIATED"
    assert call["cta_payload"] == "order-1"
    assert "deeplink_payload" not in call
    assert call["session"] == {"sdp_type": "offer", "sdp": OFFER_SDP}
    assert isinstance(call["timestamp"], str)
    assert abs(int(call["timestamp"]) - started) <= 1

    await post(http, "/calling/calls", action_body("pre_accept", call_id, ANSWER))
    assert sandbox.calls[call_id].state == "pre_accepted"
    accept = action_body("accept", call_id, ANSWER, biz_opaque_callback_data="t-42")
    await post(http, "/calling/calls", accept)
    assert sandbox.calls[call_id].state == "accepted"
    sandbox.clock.advance(42)
    await post(http, "/calling/calls", action_body("terminate", call_id))
    await sandbox.webhooks_idle()
    assert sandbox.calls[call_id].state == "terminated"

    assert receiver.events() == ["connect", "terminate"]
    [end] = calls_value(receiver.received[-1].payload)["calls"]
    assert end["status"] == "COMPLETED"
    assert end["biz_opaque_callback_data"] == "t-42"
    assert end["duration"] == 42
    assert int(end["end_time"]) - int(end["start_time"]) == 42
    assert end["timestamp"] == end["end_time"]
    assert sandbox.webhooks == [item.payload for item in receiver.received]


async def test_outbound_call_ringing_answer_hang_up(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    sandbox.set_permission(USER, "temporary")
    body = await post(http, "/calling/calls", connect_body(biz_opaque_callback_data="c-7"))
    call_id = body["calls"][0]["id"]  # type: ignore[index]
    await sandbox.webhooks_idle()
    [ringing] = calls_value(receiver.received[0].payload)["statuses"]
    assert ringing["id"] == call_id
    assert ringing["type"] == "call"
    assert ringing["status"] == "RINGING"
    assert ringing["recipient_id"] == USER
    assert ringing["biz_opaque_callback_data"] == "c-7"

    await sandbox.user_answers(call_id)
    assert receiver.events() == ["RINGING", "ACCEPTED", "connect"]
    [answer] = calls_value(receiver.received[2].payload)["calls"]
    assert answer["direction"] == "BUSINESS_INITIATED"
    assert answer["from"] == BUSINESS
    assert answer["to"] == USER
    assert answer["session"] == {"sdp_type": "answer", "sdp": ANSWER_SDP}
    assert answer["biz_opaque_callback_data"] == "c-7"

    sandbox.clock.advance(120)
    await sandbox.user_hangs_up(call_id)
    assert receiver.events()[-1] == "terminate"
    [end] = calls_value(receiver.received[-1].payload)["calls"]
    assert end["duration"] == 120
    assert int(end["end_time"]) - int(end["start_time"]) == 120
    assert end["status"] == "COMPLETED"
    assert sandbox.calls[call_id].state == "terminated"


async def test_user_rejects_outbound_call(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    sandbox.set_permission(USER, "permanent")
    call_id = (await post(http, "/calling/calls", connect_body()))["calls"][0]["id"]  # type: ignore[index]
    await sandbox.user_rejects(call_id)
    assert receiver.events() == ["RINGING", "REJECTED", "terminate"]
    [end] = calls_value(receiver.received[-1].payload)["calls"]
    assert end["status"] == "COMPLETED"
    assert "duration" not in end
    assert "start_time" not in end
    assert sandbox.calls[call_id].state == "rejected"
    with pytest.raises(ValueError, match="not a ringing business-initiated call"):
        await sandbox.user_answers(call_id)


async def test_business_rejects_inbound_call(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    call_id = await sandbox.ring(USER, deeplink_payload="from-site")
    assert calls_value(receiver.received[0].payload)["calls"][0]["deeplink_payload"] == "from-site"
    await post(http, "/calling/calls", action_body("reject", call_id))
    await sandbox.webhooks_idle()
    assert receiver.events() == ["connect", "terminate"]
    assert "duration" not in calls_value(receiver.received[-1].payload)["calls"][0]
    assert sandbox.calls[call_id].state == "rejected"


async def test_ringing_call_times_out_on_clock_advance(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    call_id = await sandbox.ring(USER)
    sandbox.clock.advance(59)
    assert sandbox.calls[call_id].state == "ringing"
    sandbox.clock.advance(1)
    assert sandbox.calls[call_id].state == "timed_out"
    await sandbox.webhooks_idle()
    assert receiver.events() == ["connect", "terminate"]
    async with http.post("/calling/calls", json=action_body("accept", call_id, ANSWER)) as r:
        assert r.status == 400
        assert "timed_out" in (await r.json())["error"]["error_data"]["details"]


async def test_timeout_is_checked_lazily_when_touched(receiver: Receiver) -> None:
    # real time passes (no advance() to react to): the next request notices the timeout
    async with Sandbox(webhook_url=receiver.url, limits=Limits(ring_timeout_seconds=0.05)) as box:
        call_id = await box.ring(USER)
        await asyncio.sleep(0.06)
        async with (
            aiohttp.ClientSession(base_url=box.base_url, headers={"D360-API-KEY": KEY}) as http,
            http.post("/calling/calls", json=action_body("pre_accept", call_id, ANSWER)) as r,
        ):
            assert r.status == 400
            assert "timed_out" in (await r.json())["error"]["error_data"]["details"]
        await box.webhooks_idle()
    assert receiver.events() == ["connect", "terminate"]


async def test_permission_request_and_reply(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    sent = await post(http, "/messages", permission_request_body())
    request_id = sent["messages"][0]["id"]  # type: ignore[index]
    await sandbox.user_answers_permission(USER, accept=True, permanent=False)
    [message] = calls_value(receiver.received[0].payload)["messages"]
    assert receiver.received[0].payload["entry"][0]["changes"][0]["field"] == "messages"
    assert message["from"] == USER
    assert message["id"].startswith("wamid.")
    assert message["type"] == "interactive"
    assert message["context"] == {"from": BUSINESS, "id": request_id}
    reply = message["interactive"]
    assert reply["type"] == "call_permission_reply"
    expires = int(sandbox.clock.now()) + 7 * 24 * 3600
    assert reply["call_permission_reply"]["response"] == "accept"
    assert reply["call_permission_reply"]["is_permanent"] is False
    assert reply["call_permission_reply"]["response_source"] == "user_action"
    assert abs(int(reply["call_permission_reply"]["expiration_timestamp"]) - expires) <= 1
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert (await response.json())["permission"]["status"] == "temporary"

    await sandbox.user_answers_permission(USER, accept=False)
    reject = calls_value(receiver.received[1].payload)["messages"][0]["interactive"]
    assert reject["call_permission_reply"] == {
        "response": "reject",
        "response_source": "user_action",
    }
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert (await response.json())["permission"] == {"status": "no_permission"}

    await sandbox.user_answers_permission(USER, accept=True, permanent=True)
    permanent = calls_value(receiver.received[2].payload)["messages"][0]["interactive"]
    assert permanent["call_permission_reply"] == {
        "response": "accept",
        "is_permanent": True,
        "response_source": "user_action",
    }
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert (await response.json())["permission"] == {"status": "permanent"}


async def test_call_button_carries_its_payload(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    button = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "voice_call",
            "body": {"text": "Need help? Call us."},
            "action": {
                "name": "voice_call",
                "parameters": {
                    "display_text": "Call support",
                    "ttl_minutes": 60,
                    "payload": "o-4471",
                },
            },
        },
    }
    message_id = (await post(http, "/messages", button))["messages"][0]["id"]  # type: ignore[index]
    call_id = await sandbox.user_taps_call_button(message_id)
    [call] = calls_value(receiver.received[0].payload)["calls"]
    assert call["id"] == call_id
    assert call["cta_payload"] == "o-4471"
    assert call["from"] == USER
    sandbox.clock.advance(3600)
    with pytest.raises(ValueError, match="expired"):
        await sandbox.user_taps_call_button(message_id)
    with pytest.raises(ValueError, match="not a voice_call"):
        await sandbox.user_taps_call_button("wamid.unknown")


async def test_callback_permission_is_granted_automatically(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    await post(http, "/calling/settings", {"calling": {"callback_permission_status": "ENABLED"}})
    call_id = await sandbox.ring(USER)
    assert receiver.events() == ["connect", "call_permission_reply"]
    [message] = calls_value(receiver.received[1].payload)["messages"]
    assert message["context"]["id"] == call_id
    assert message["interactive"]["call_permission_reply"]["response_source"] == "automatic"
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert (await response.json())["permission"]["status"] == "temporary"
