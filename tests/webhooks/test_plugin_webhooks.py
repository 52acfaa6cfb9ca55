"""The pytest plugin signs the sandbox's webhooks: a user's receiver, built with the
`d360_webhook_secret` fixture and reached through an overridden `d360_webhook_url`, verifies
them and answers the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from d360_calling import Client
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import IncomingCall, Receiver, Router
from examples import inbound_bot


@pytest.fixture
async def receiver(d360_webhook_secret: str) -> AsyncIterator[Receiver]:
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        sdp = inbound_bot.stand_in_answer(call.event.session)
        await call.pre_accept(sdp)
        await call.accept(sdp)

    receiver = Receiver(router, secret=d360_webhook_secret)
    yield receiver
    await receiver.aclose()


@pytest.fixture
async def d360_webhook_url(receiver: Receiver) -> AsyncIterator[str]:
    """Overrides the plugin's fixture, as a user's conftest would."""
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
    await runner.cleanup()


async def test_plugin_sandbox_signs_what_the_users_receiver_verifies(
    d360_sandbox: Sandbox, d360_client: Client, receiver: Receiver
) -> None:
    receiver.client = d360_client
    call_id = await d360_sandbox.ring("14155550123")
    for _ in range(100):
        if d360_sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.02)
    assert d360_sandbox.calls[call_id].state.value == "accepted"
    assert receiver.stats["bad_signature"] == 0
    assert not d360_sandbox.webhook_failures
