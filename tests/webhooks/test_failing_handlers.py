"""One bad handler costs only its own event: a handler that raises when called (before it
returns its coroutine) is logged and counted like one whose task failed, the delivery's other
events run, the delivery is answered 200 and recorded, and a `RuntimeError` is not mistaken for
the receiver shutting down. Through a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from d360_calling.webhooks import CallTerminate, IncomingCall, Receiver, Router, sign

from ..support.webhooks import envelope, serve

SECRET = "handler-secret"


def two_calls_body(first: str, second: str) -> bytes:
    """One delivery: a connect for `first`, then a terminate for `second`."""
    stamp = str(int(time.time()))
    common = {"from": "14155550123", "to": "15550001234", "timestamp": stamp}
    connect = {**common, "id": first, "event": "connect", "direction": "USER_INITIATED"}
    connect["session"] = {"sdp_type": "offer", "sdp": "v=0\r\n"}
    terminate = {**common, "id": second, "event": "terminate", "status": "COMPLETED"}
    return envelope("calls", {"messaging_product": "whatsapp", "calls": [connect, terminate]})


async def needs_two(call: IncomingCall, extra: object) -> None:
    """A handler needing an argument the router never passes."""


def sync_wrapper_raising(error: Exception) -> Callable[[IncomingCall], Any]:
    """A plain function registered as a handler that fails before returning a coroutine."""

    def handler(call: IncomingCall) -> Any:
        raise error

    return handler


BAD_HANDLERS = {
    "partial-type-error": functools.partial(needs_two, "one", "too many"),
    "sync-type-error": sync_wrapper_raising(TypeError("bad wrapper")),
    "sync-runtime-error": sync_wrapper_raising(RuntimeError("wrapper state")),
}


class Bot:
    def __init__(self, bad: Any) -> None:
        self.router = Router()
        self.receiver = Receiver(self.router, secret=SECRET)
        self.handled: Counter[str] = Counter()
        self.router.on_connect(bad)

        @self.router.on_connect
        async def good_connect(call: IncomingCall) -> None:
            self.handled[call.call_id] += 1

        @self.router.on_terminate
        async def good_terminate(event: CallTerminate) -> None:
            self.handled[event.call_id] += 1


@pytest.fixture(params=sorted(BAD_HANDLERS))
async def bot(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bot, str]]:
    bot = Bot(BAD_HANDLERS[request.param])
    runner = await serve(bot.receiver)
    try:
        yield bot, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    finally:
        await runner.cleanup()


async def post(url: str, body: bytes) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=sign(body, SECRET)) as response,
    ):
        return response.status


async def test_a_handler_raising_when_called_costs_only_its_own_run(
    bot: tuple[Bot, str], caplog: pytest.LogCaptureFixture
) -> None:
    receiver_bot, url = bot
    body = two_calls_body("wacid.bad-1", "wacid.other-1")
    assert await post(url, body) == 200
    for _ in range(100):  # bounded: handlers run after the answer
        if (
            sum(receiver_bot.handled.values()) == 2
            and receiver_bot.receiver.stats["handler_errors"]
        ):
            break
        await asyncio.sleep(0.02)
    assert receiver_bot.handled == {"wacid.bad-1": 1, "wacid.other-1": 1}
    assert receiver_bot.receiver.stats["handler_errors"] == 1
    assert "webhook handler for CallConnect failed" in caplog.text
    # The receiver is open and the delivery recorded: its redelivery is a duplicate (200).
    assert await post(url, body) == 200
    assert receiver_bot.receiver.stats["duplicates"] == 2
    assert await post(url, two_calls_body("wacid.bad-2", "wacid.other-2")) == 200
