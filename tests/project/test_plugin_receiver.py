"""The plugin's `d360_receiver` in this suite: the router from an overridden `d360_router`, served
where the sandbox posts, answering through `d360_client`; the handlers run under the test."""

from __future__ import annotations

import asyncio

import pytest

from d360_calling import Client
from d360_calling.sandbox import ANSWER_SDP, CallState, Sandbox
from d360_calling.webhooks import CallTerminate, IncomingCall, Receiver, Router


class Seen:
    def __init__(self) -> None:
        self.answered: list[str] = []
        self.ended: asyncio.Queue[CallTerminate] = asyncio.Queue()


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def d360_router(seen: Seen) -> Router:
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        await call.pre_accept(ANSWER_SDP)
        await call.accept(ANSWER_SDP)
        seen.answered.append(call.call_id)

    @router.on_terminate
    async def ended(event: CallTerminate) -> None:
        await seen.ended.put(event)

    return router


async def test_the_router_answers_through_the_client_and_hears_the_end(
    d360_sandbox: Sandbox,
    d360_receiver: Receiver,
    d360_client: Client,
    d360_router: Router,
    seen: Seen,
) -> None:
    assert d360_receiver.client is d360_client
    assert d360_receiver.router is d360_router
    call_id = await d360_sandbox.ring("14155550123")
    for _ in range(250):
        if d360_sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.02)
    assert seen.answered == [call_id]
    await d360_sandbox.user_hangs_up(call_id)
    async with asyncio.timeout(10):
        ended = await seen.ended.get()
    assert ended.call_id == call_id
    assert not d360_sandbox.webhook_failures


async def test_without_d360_receiver_the_sandbox_posts_nowhere(
    d360_sandbox: Sandbox, d360_webhook_url: str | None
) -> None:
    assert d360_webhook_url is None
    await d360_sandbox.ring("14155550123")
    assert not d360_sandbox.webhook_failures


async def test_the_readme_pattern_delivered_then_handled_with_no_polling(
    d360_sandbox: Sandbox, d360_receiver: Receiver, seen: Seen
) -> None:
    call_id = await d360_sandbox.ring("14155550123")
    await d360_sandbox.webhooks_idle()  # the connect was delivered
    await d360_receiver.aclose()  # and the handlers it started have finished
    assert d360_sandbox.calls[call_id].state is CallState.ACCEPTED
    assert seen.answered == [call_id]
