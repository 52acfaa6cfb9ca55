"""The /phone page's WebSocket protocol without a browser: an aiohttp client plays the page, a
plain receiver plays the bot, and raw API requests are the bot's answers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from d360_calling.sandbox import Limits, Sandbox
from tests.support.sandbox import (
    KEY,
    USER,
    Receiver,
    action_body,
    calls_value,
    event_of,
    permission_request_body,
)

from ..support.phone_samples import BROWSER_ANSWER, BROWSER_OFFER, KEPT_CANDIDATE

BOUND = 5.0


class Page:
    """The page's end of the socket: send requests, wait for a message of a given type."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.socket.send_json(message)

    async def next(self, kind: str, **match: Any) -> dict[str, Any]:
        """The next message of type `kind` whose fields include `match`."""
        async with asyncio.timeout(BOUND):
            while True:
                message = await self.socket.receive_json()
                self.seen.append(message)
                if message["type"] == kind and match.items() <= message.items():
                    return dict(message)

    def logged(self) -> list[str]:
        return [
            f"{m['direction']} {m['operation']} {m['status']}"
            for m in self.seen
            if m["type"] == "log"
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.close()


@pytest.fixture
async def sandbox(receiver: Receiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(api_key=KEY, webhook_url=receiver.url, phone=True) as box:
        yield box


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=sandbox.base_url, headers={"D360-API-KEY": KEY}
    ) as session:
        yield session


@pytest.fixture
async def page(sandbox: Sandbox, http: aiohttp.ClientSession) -> AsyncIterator[Page]:
    async with http.ws_connect("/phone/ws", origin=sandbox.base_url) as socket:
        opened = Page(socket)
        hello = await opened.next("hello")
        assert hello == {
            "type": "hello",
            "wa_id": USER,
            "name": "Sandbox User",
            "business": "15550001234",
        }
        yield opened


async def post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(path, json=body) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def webhook(receiver: Receiver, event: str, count: int = 1) -> dict[str, Any]:
    """The `count`-th webhook named `event` (connect, terminate, RINGING, ...), once it came."""
    async with asyncio.timeout(BOUND):
        while True:
            found = [item.payload for item in receiver.received if event_of(item.payload) == event]
            if len(found) >= count:
                return found[count - 1]
            await asyncio.sleep(0.01)


def candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_the_page_and_its_files_are_served(http: aiohttp.ClientSession) -> None:
    for path, content_type in [
        ("/phone", "text/html"),
        ("/phone/phone.js", "text/javascript"),
        ("/phone/phone.css", "text/css"),
    ]:
        async with http.get(path) as response:
            assert response.status == 200
            assert response.content_type == content_type
            assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert len(await response.text()) > 500
    async with http.get("/phone/../server.py") as response:
        assert response.status == 404
    async with http.get("/phone/hub.py") as response:
        assert response.status == 404


async def test_a_sandbox_without_phone_has_no_page() -> None:
    async with Sandbox() as box, aiohttp.ClientSession() as http:
        async with http.get(f"{box.base_url}/phone") as response:
            assert response.status == 404
        with pytest.raises(RuntimeError, match="phone=True"):
            _ = box.phone_url


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin: not a browser page
        {"Origin": "http://evil.example"},  # another site the browser visits
        {"Origin": "http://evil.example:PORT", "Host": "evil.example:PORT"},  # DNS rebinding
    ],
)
async def test_only_the_page_itself_may_open_the_socket(
    sandbox: Sandbox, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    headers = {k: v.replace("PORT", str(sandbox.port)) for k, v in headers.items()}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with http.ws_connect("/phone/ws", headers=headers):
            pass
    assert refused.value.status == 403


async def test_a_call_from_the_page_relays_loopback_sdp_both_ways_then_hangs_up(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession, page: Page
) -> None:
    await page.send(type="call", sdp=BROWSER_OFFER)
    placed = await page.next("call", direction="outgoing", state="ringing")
    call_id = placed["call_id"]
    assert placed["sdp"] is None
    connect = calls_value(await webhook(receiver, "connect"))["calls"][0]
    assert connect["id"] == call_id
    assert connect["from"] == USER
    assert candidates(connect["session"]["sdp"]) == [KEPT_CANDIDATE]

    bot_answer = BROWSER_ANSWER  # the bot's SDP may list other interfaces too
    await post(http, "/calling/calls", action_body("pre_accept", call_id, bot_answer))
    answered = await page.next("call", call_id=call_id, state="pre_accepted")
    assert candidates(answered["sdp"]) == [KEPT_CANDIDATE]
    await post(http, "/calling/calls", action_body("accept", call_id, bot_answer))
    accepted = await page.next("call", call_id=call_id, state="accepted")
    assert accepted["sdp"] is None  # the answer goes to the page once

    await page.send(type="hangup", call_id=call_id)
    ended = await page.next("call", call_id=call_id, state="terminated")
    assert ended["duration"] == 0
    terminate = calls_value(await webhook(receiver, "terminate"))["calls"][0]
    assert terminate["id"] == call_id
    assert terminate["duration"] == 0
    await page.next("log", operation="calls terminate COMPLETED 0 s", status="200")
    assert page.logged()[:4] == [
        "sandbox → bot calls connect 200",
        "bot → sandbox calls.pre_accept 200",
        "bot → sandbox calls.accept 200",
        "sandbox → bot calls terminate COMPLETED 0 s 200",
    ]
    assert sandbox.calls[call_id].state.value == "terminated"


async def test_an_offer_the_sandbox_will_not_relay_is_an_error_on_the_page(
    receiver: Receiver, page: Page
) -> None:
    mdns_only = BROWSER_OFFER.replace(KEPT_CANDIDATE + "\r\n", "")
    await page.send(type="call", sdp=mdns_only)
    error = await page.next("error")
    assert "no 127.0.0.1 candidate" in error["message"]
    assert "--allow-loopback-in-peer-connection" in error["message"]
    await page.send(type="call", sdp=BROWSER_OFFER + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
    assert "exactly one m-line" in (await page.next("error"))["message"]
    await asyncio.sleep(0.05)
    assert receiver.received == []


async def test_the_page_answers_the_business_call(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession, page: Page
) -> None:
    sandbox.set_permission(USER, "permanent")
    body = {
        "messaging_product": "whatsapp",
        "to": USER,
        "action": "connect",
        "session": {"sdp_type": "offer", "sdp": BROWSER_OFFER},
    }
    call_id = (await post(http, "/calling/calls", body))["calls"][0]["id"]
    ringing = await page.next("call", call_id=call_id)
    assert ringing["direction"] == "incoming"
    assert ringing["state"] == "ringing"
    assert candidates(ringing["sdp"]) == [KEPT_CANDIDATE]

    await page.send(type="answer", call_id=call_id, sdp=BROWSER_ANSWER)
    accepted = await page.next("call", call_id=call_id, state="accepted")
    assert accepted["sdp"] is None
    connect = calls_value(await webhook(receiver, "connect"))["calls"][0]
    assert connect["session"]["sdp_type"] == "answer"
    assert candidates(connect["session"]["sdp"]) == [KEPT_CANDIDATE]
    assert (await webhook(receiver, "ACCEPTED")) is not None

    await post(http, "/calling/calls", action_body("terminate", call_id))
    assert (await page.next("call", call_id=call_id))["state"] == "terminated"

    second = (await post(http, "/calling/calls", body))["calls"][0]["id"]
    await page.next("call", call_id=second, state="ringing")
    await page.send(type="decline", call_id=second)
    assert (await page.next("call", call_id=second))["state"] == "rejected"
    assert (await webhook(receiver, "REJECTED")) is not None


async def test_permission_requests_and_call_buttons_reach_the_page(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession, page: Page
) -> None:
    sent = await post(http, "/messages", permission_request_body())
    request_id = sent["messages"][0]["id"]
    shown = await page.next("message")
    assert shown == {
        "type": "message",
        "message_id": request_id,
        "kind": "call_permission_request",
        "text": "May we call you?",
        "button": None,
    }
    await page.send(type="permission", accept=True, permanent=False)
    reply = calls_value(await webhook(receiver, "call_permission_reply"))["messages"][0]
    assert reply["context"]["id"] == request_id
    assert reply["interactive"]["call_permission_reply"]["response"] == "accept"
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert (await response.json())["permission"]["status"] == "temporary"

    button = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "voice_call",
            "body": {"text": "Talk to us"},
            "action": {
                "name": "voice_call",
                "parameters": {"display_text": "Call support", "payload": "ticket-9"},
            },
        },
    }
    button_id = (await post(http, "/messages", button))["messages"][0]["id"]
    shown = await page.next("message", message_id=button_id)
    assert (shown["kind"], shown["text"], shown["button"]) == (
        "voice_call",
        "Talk to us",
        "Call support",
    )
    await page.send(type="tap", message_id=button_id, sdp=BROWSER_OFFER)
    await page.next("call", direction="outgoing", state="ringing")
    connect = calls_value(await webhook(receiver, "connect"))["calls"][0]
    assert connect["cta_payload"] == "ticket-9"
    assert candidates(connect["session"]["sdp"]) == [KEPT_CANDIDATE]

    other = dict(button, to="14155550999")
    other_id = (await post(http, "/messages", other))["messages"][0]["id"]
    await page.send(type="tap", message_id=other_id, sdp=BROWSER_OFFER)
    assert "not a message to" in (await page.next("error"))["message"]


@pytest.mark.parametrize(
    "interactive",
    [
        {"type": "button", "action": "not an object"},
        {"type": "button", "body": "not an object"},
        {"type": "list", "body": ["text"], "action": {"parameters": "p"}},
    ],
    ids=["action", "body", "both"],
)
async def test_a_message_the_sandbox_takes_reaches_the_page_whatever_its_parts(
    http: aiohttp.ClientSession, page: Page, interactive: dict[str, Any]
) -> None:
    """The sandbox checks only calling messages in full; a page must not turn another one it
    took (200 without a page) into a 500 by reading parts that are not objects."""
    body = {"messaging_product": "whatsapp", "to": USER, "type": "interactive"}
    sent = await post(http, "/messages", {**body, "interactive": interactive})
    shown = await page.next("message", message_id=sent["messages"][0]["id"])
    assert (shown["kind"], shown["text"], shown["button"]) == ("other", "", None)


async def test_a_page_opened_later_sees_the_recent_log_and_messages(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    await post(http, "/messages", permission_request_body())
    await post(http, "/messages", permission_request_body("14155550999"))  # another user's
    async with http.ws_connect("/phone/ws", origin=sandbox.base_url) as socket:
        page = Page(socket)
        await page.next("hello")
        assert (await page.next("message"))["kind"] == "call_permission_request"
        assert (await page.next("log"))["operation"] == "messages.send"
        await page.next("log", operation="messages.send")
        assert [m["type"] for m in page.seen] == ["hello", "message", "log", "log"]


async def test_an_unanswered_call_from_the_page_times_out_in_real_time(
    receiver: Receiver,
) -> None:
    async with (
        Sandbox(
            webhook_url=receiver.url, phone=True, limits=Limits(ring_timeout_seconds=0.3)
        ) as box,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{box.phone_url}/ws", origin=box.base_url) as socket,
    ):
        page = Page(socket)
        await page.send(type="call", sdp=BROWSER_OFFER)
        call_id = (await page.next("call", state="ringing"))["call_id"]
        assert (await page.next("call", call_id=call_id))["state"] == "timed_out"
        assert calls_value(await webhook(receiver, "terminate"))["calls"][0]["id"] == call_id


async def test_bad_requests_are_errors_and_change_nothing(sandbox: Sandbox, page: Page) -> None:
    await page.socket.send_str("not json")
    assert (await page.next("error"))["message"]
    await page.send(type="dance")
    assert "not a phone request" in (await page.next("error"))["message"]
    await page.send(type="hangup", call_id="wacid.someone-else")
    assert "not an ongoing call" in (await page.next("error"))["message"]
    await page.socket.send_str("[" * 100_000 + "]" * 100_000)
    assert (await page.next("error"))["message"]
    assert sandbox.calls == {}


async def test_when_the_last_page_leaves_its_call_ends(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect("/phone/ws", origin=sandbox.base_url) as socket:
        page = Page(socket)
        await page.send(type="call", sdp=BROWSER_OFFER)
        call_id = (await page.next("call", state="ringing"))["call_id"]
        await post(http, "/calling/calls", action_body("accept", call_id, BROWSER_ANSWER))
        await page.next("call", state="accepted")
    terminate = calls_value(await webhook(receiver, "terminate"))["calls"][0]
    assert terminate["id"] == call_id


async def test_closing_the_sandbox_closes_the_page_socket(receiver: Receiver) -> None:
    box = Sandbox(webhook_url=receiver.url, phone=True)
    await box.start()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{box.phone_url}/ws", origin=box.base_url) as socket:
            assert json.loads((await socket.receive()).data)["type"] == "hello"
            async with asyncio.timeout(BOUND):
                await box.close()
                closing = await socket.receive()
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_the_command_line_prints_the_page_url() -> None:
    command = [sys.executable, "-m", "d360_calling", "sandbox", "--port", "0", "--phone"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert "serving the Calling API at http://127.0.0.1:" in lines[0]
    assert lines[1] == "API key: sandbox-key\n"
    assert lines[2].startswith("phone page (you are WhatsApp user 14155550123): http://127.0.0.1:")
    assert lines[2].rstrip().endswith("/phone")
    assert "no --webhook-url" in lines[3]
    assert "--allow-loopback-in-peer-connection" in lines[4]
