"""Permission requests, `permissions.ensure` and the call button: exact bodies, refusals, and
the whole permission story against the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from d360_calling import (
    CallPermissionNotFoundError,
    Client,
    EnsureOutcome,
    OutcomeUnknownError,
    PermanentPermissionExistsError,
    PermissionRequestLimitError,
    PermissionStatus,
    SessionDescription,
    ValidationError,
)
from d360_calling.sandbox import OFFER_SDP, Sandbox
from d360_calling.webhooks import CallConnect, PermissionReply, Receiver, Router

from ..support.backends import Backend
from ..support.samples import API_KEY, PERMISSIONS
from ..support.server import ScriptedServer, reply, reset_after_read

WEBHOOK_SECRET = "messages-webhook-secret"
USER = "14155550123"
MESSAGE_RESPONSE = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": USER, "wa_id": USER}],
    "messages": [{"id": "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}],
}


def sent_body(backend: Backend) -> Any:
    seen = backend.seen()
    assert len(seen) == 1
    assert (seen[0].method, seen[0].path) == ("POST", "/messages")
    assert seen[0].headers["D360-API-KEY"] == API_KEY
    return seen[0].json


async def test_free_form_permission_request_body(backend: Backend) -> None:
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    result = await backend.client.permissions.request(USER, "May we call you about your order?")
    assert result.message_id == MESSAGE_RESPONSE["messages"][0]["id"]  # type: ignore[index]
    assert result.contacts[0].wa_id == USER
    assert sent_body(backend) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "call_permission_request",
            "action": {"name": "call_permission_request"},
            "body": {"text": "May we call you about your order?"},
        },
    }


async def test_permission_request_without_body_text(backend: Backend) -> None:
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    await backend.client.permissions.request(USER)
    assert sent_body(backend)["interactive"] == {
        "type": "call_permission_request",
        "action": {"name": "call_permission_request"},
    }


async def test_template_permission_request_body(backend: Backend) -> None:
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    await backend.client.permissions.request_by_template(
        USER, "call_consent", "en_US", body_parameters=["Ada", "#4471"]
    )
    assert sent_body(backend) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "template",
        "template": {
            "name": "call_consent",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ada"},
                        {"type": "text", "text": "#4471"},
                    ],
                },
                {"type": "call_permission_request"},
            ],
        },
    }


async def test_call_button_body(backend: Backend) -> None:
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    await backend.client.messages.send_call_button(
        USER,
        "Need help with your order? Call us.",
        display_text="Call support",
        ttl_minutes=1440,
        payload="order-4471",
    )
    assert sent_body(backend) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "voice_call",
            "body": {"text": "Need help with your order? Call us."},
            "action": {
                "name": "voice_call",
                "parameters": {
                    "display_text": "Call support",
                    "ttl_minutes": 1440,
                    "payload": "order-4471",
                },
            },
        },
    }


async def test_call_button_without_parameters(backend: Backend) -> None:
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    await backend.client.messages.send_call_button(USER, "Call us")
    assert sent_body(backend)["interactive"]["action"] == {"name": "voice_call"}


Send = Callable[[Client], Awaitable[Any]]
BAD_INPUTS: list[tuple[str, Send, str]] = [
    ("wa_id traversal", lambda c: c.permissions.request("../settings"), "wa_id"),
    ("wa_id newline", lambda c: c.messages.send_call_button("123\n", "hi"), "wa_id"),
    ("empty body text", lambda c: c.permissions.request(USER, ""), "body_text"),
    ("long body text", lambda c: c.permissions.request(USER, "x" * 1025), "body_text"),
    ("button no body", lambda c: c.messages.send_call_button(USER, " "), "body_text"),
    (
        "display text 21",
        lambda c: c.messages.send_call_button(USER, "hi", display_text="x" * 21),
        "display_text",
    ),
    ("ttl 0", lambda c: c.messages.send_call_button(USER, "hi", ttl_minutes=0), "ttl_minutes"),
    (
        "ttl 43201",
        lambda c: c.messages.send_call_button(USER, "hi", ttl_minutes=43_201),
        "ttl_minutes",
    ),
    (
        "ttl bool",
        lambda c: c.messages.send_call_button(USER, "hi", ttl_minutes=True),
        "ttl_minutes",
    ),
    (
        "payload 513",
        lambda c: c.messages.send_call_button(USER, "hi", payload="p" * 513),
        "payload",
    ),
    (
        "empty template",
        lambda c: c.permissions.request_by_template(USER, "", "en"),
        "template_name",
    ),
    (
        "bad language",
        lambda c: c.permissions.request_by_template(USER, "t", "english"),
        "language",
    ),
    (
        "empty parameter",
        lambda c: c.permissions.request_by_template(USER, "t", "en", body_parameters=[""]),
        "body_parameters[0]",
    ),
]


@pytest.mark.parametrize(("case", "send", "field"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_refused_before_sending(
    backend: Backend, case: str, send: Send, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await send(backend.client)
    assert caught.value.field == field
    assert backend.seen() == []


async def test_a_lost_permission_request_is_not_resent(server: ScriptedServer) -> None:
    server.script(reset_after_read())
    async with Client(API_KEY, base_url=server.base_url) as client:
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.permissions.request(USER)
    assert caught.value.to == USER
    assert server.count("/messages") == 1


async def test_ensure_sends_nothing_when_granted_or_forbidden(server: ScriptedServer) -> None:
    # Granted means the API's start_call allows a call now (PERMISSIONS' start_call is at its
    # limit: that case is CALLS_LIMITED, see tests/endpoints/test_permission_decisions.py).
    granted = {
        **PERMISSIONS,
        "permission": {"status": "permanent"},
        "actions": [{"action_name": "start_call", "can_perform_action": True}],
    }
    forbidden = {
        **PERMISSIONS,
        "permission": {"status": "no_permission"},
        "actions": [
            {
                "action_name": "send_call_permission_request",
                "can_perform_action": False,
                "limits": [
                    {
                        "time_period": "PT24H",
                        "max_allowed": 1,
                        "current_usage": 1,
                        "limit_expiration_time": 1767225600,
                    }
                ],
            }
        ],
    }
    path = f"/calling/permissions/{USER}"
    async with Client(API_KEY, base_url=server.base_url) as client:
        server.routes[("GET", path)] = reply(json=granted)
        done = await client.permissions.ensure(USER)
        assert done.outcome is EnsureOutcome.ALREADY_GRANTED
        assert done.granted
        server.routes[("GET", path)] = reply(json=forbidden)
        refused = await client.permissions.ensure(USER)
    assert refused.outcome is EnsureOutcome.NOT_ALLOWED
    assert refused.next_request_allowed_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert server.count("/messages") == 0


class Replies:
    """Records permission replies and connects that reach the receiver."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[PermissionReply | CallConnect] = asyncio.Queue()
        self.router = Router()
        self.router.on_permission_reply(self.queue.put)

    async def next(self) -> PermissionReply | CallConnect:
        async with asyncio.timeout(5):
            return await self.queue.get()


@pytest.fixture
async def story() -> AsyncIterator[tuple[Sandbox, Client, Replies]]:
    replies = Replies()
    receiver = Receiver(replies.router, secret=WEBHOOK_SECRET)
    runner = web.AppRunner(receiver.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    try:
        async with (
            Sandbox(api_key="k", webhook_url=url, webhook_secret=WEBHOOK_SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            yield sandbox, client, replies
    finally:
        await runner.cleanup()


async def test_outbound_story_request_accept_connect(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, replies = story
    offer = SessionDescription.offer(OFFER_SDP)
    with pytest.raises(CallPermissionNotFoundError):
        await client.calls.connect(USER, offer)
    ensured = await client.permissions.ensure(USER, "May we call you?")
    assert ensured.outcome is EnsureOutcome.REQUESTED
    assert ensured.message_id is not None
    await sandbox.user_answers_permission(USER, accept=True, permanent=False)
    answer = await replies.next()
    assert isinstance(answer, PermissionReply)
    assert answer.response == "accept"
    assert answer.is_permanent is False
    assert answer.context_id == ensured.message_id
    assert answer.expiration is not None
    perms = await client.permissions.get(USER)
    assert perms.status is PermissionStatus.TEMPORARY
    placed = await client.calls.connect(USER, offer)
    assert placed.call_id.startswith("wacid.")
    assert sandbox.stats.effects["messages.send"] == 1
    assert sandbox.stats.effects["calls.connect"] == 1


async def test_second_request_within_24h_is_refused(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, _ = story
    await client.permissions.request(USER)
    with pytest.raises(PermissionRequestLimitError) as caught:
        await client.permissions.request(USER)
    assert caught.value.code == 138009
    perms = await client.permissions.get(USER)
    assert not perms.can_request_permission
    next_allowed = perms.next_permission_request_allowed_at
    assert next_allowed is not None
    expected = datetime.fromtimestamp(sandbox.clock.now(), UTC) + timedelta(hours=24)
    assert abs((next_allowed - expected).total_seconds()) < 5
    before = sandbox.stats.requests["messages.send"]
    ensured = await client.permissions.ensure(USER)
    assert ensured.outcome is EnsureOutcome.NOT_ALLOWED
    assert ensured.next_request_allowed_at == next_allowed
    assert sandbox.stats.requests["messages.send"] == before
    assert sandbox.stats.effects["messages.send"] == 1


async def test_rejected_request_leaves_no_permission(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, replies = story
    await client.permissions.request(USER)
    await sandbox.user_answers_permission(USER, accept=False)
    answer = await replies.next()
    assert isinstance(answer, PermissionReply)
    assert answer.response == "reject"
    perms = await client.permissions.get(USER)
    assert perms.status is PermissionStatus.NO_PERMISSION
    assert not perms.can_start_call


async def test_permanent_permission_refuses_a_request(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, _ = story
    sandbox.set_permission(USER, "permanent")
    with pytest.raises(PermanentPermissionExistsError):
        await client.permissions.request(USER)
    ensured = await client.permissions.ensure(USER)
    assert ensured.outcome is EnsureOutcome.ALREADY_GRANTED
    assert sandbox.stats.effects["messages.send"] == 0


async def test_temporary_grant_expires_on_the_sandbox_clock(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, _ = story
    await client.permissions.request(USER)
    await sandbox.user_answers_permission(USER, accept=True)
    assert (await client.permissions.get(USER)).can_start_call
    sandbox.clock.advance(7 * 24 * 3600 - 60)
    assert (await client.permissions.get(USER)).status is PermissionStatus.TEMPORARY
    sandbox.clock.advance(120)
    assert (await client.permissions.get(USER)).status is PermissionStatus.NO_PERMISSION


async def test_call_button_tap_starts_a_call_with_its_payload(
    story: tuple[Sandbox, Client, Replies],
) -> None:
    sandbox, client, _ = story
    sent = await client.messages.send_call_button(USER, "Call us", payload="order-4471")
    call_id = await sandbox.user_taps_call_button(sent.message_id)
    connect = next(p for p in sandbox.webhooks if p["entry"][0]["changes"][0]["value"].get("calls"))
    item = connect["entry"][0]["changes"][0]["value"]["calls"][0]
    assert (item["id"], item["cta_payload"]) == (call_id, "order-4471")
