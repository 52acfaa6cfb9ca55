"""The built-in phone bot's bounds, with the sandbox's own WebRTC user calling it
(`sandbox.ring(media=True)`): a call over its time limit is hung up after a goodbye, a caller
who presses nothing hears the menu a few times and then the bot hangs up, and calls beyond
`MAX_CALLS` are declined."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from d360_calling import Client
from d360_calling.phone_bot import MAX_CALLS, PhoneBot
from d360_calling.phone_bot_menu import GOODBYE, GREETING_HZ, MENU_HZ, Timing
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import CallTerminate, Receiver

from .test_phone_bot import hears

pytestmark = pytest.mark.usefixtures("no_leaks")

SECRET = "limits-secret"
USER = "14155550123"
BOUND = 40.0


class Served:
    """A `PhoneBot` behind a receiver, its sandbox, and what it said and saw end."""

    def __init__(self, bot: PhoneBot, sandbox: Sandbox, said: list[str]) -> None:
        self.bot = bot
        self.sandbox = sandbox
        self.said = said
        self.ended: asyncio.Queue[CallTerminate] = asyncio.Queue()

    async def said_lines(self, text: str, count: int = 1) -> list[str]:
        """The lines the bot said containing `text`, once there are `count` of them."""
        async with asyncio.timeout(BOUND):
            while len(found := [line for line in self.said if text in line]) < count:
                await asyncio.sleep(0.02)
        return found

    async def said_line(self, text: str) -> str:
        """The first line the bot said containing `text`, once it said it."""
        return (await self.said_lines(text))[0]


@contextlib.asynccontextmanager
async def served(timing: Timing) -> AsyncIterator[Served]:
    said: list[str] = []
    bot = PhoneBot(said.append, timing)
    receiver = Receiver(bot.router, secret=SECRET)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    try:  # torn down as `serve_phone` does: calls hung up, webhooks delivered, media closed
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
        try:
            async with (
                Sandbox(webhook_url=url, webhook_secret=SECRET) as sandbox,
                Client(sandbox.api_key, base_url=sandbox.base_url) as client,
            ):
                receiver.client = client
                running = Served(bot, sandbox, said)
                bot.router.on_terminate(running.ended.put)
                try:
                    yield running
                finally:
                    await bot.stop()
        finally:
            await receiver.aclose()
    finally:
        await runner.cleanup()


async def test_a_call_over_its_time_limit_gets_a_goodbye_and_is_hung_up() -> None:
    async with asyncio.timeout(BOUND), served(Timing(call_seconds=4.0)) as bot:
        call_id = await bot.sandbox.ring(USER, media=True)
        voice = bot.sandbox.voice(call_id)
        await hears(voice, GREETING_HZ)
        ended = await bot.ended.get()
        assert ended.call_id == call_id
        assert bot.sandbox.calls[call_id].state.value == "terminated"
        assert "over the 4 s limit" in await bot.said_line("ended")
        assert bot.bot.calls == 0


async def test_a_caller_who_presses_nothing_hears_the_menu_then_a_goodbye() -> None:
    timing = Timing(menu_wait=0.3, menu_repeats=2)
    async with asyncio.timeout(BOUND), served(timing) as bot:
        call_id = await bot.sandbox.ring(USER, media=True)
        voice = bot.sandbox.voice(call_id)
        await hears(voice, MENU_HZ)
        await hears(voice, GOODBYE[-1][0])
        assert (await bot.ended.get()).call_id == call_id
        assert "no key after 2 menus" in await bot.said_line("ended")


async def test_calls_beyond_the_cap_are_declined() -> None:
    async with asyncio.timeout(BOUND), served(Timing()) as bot:
        callers = [f"1415555{n:04d}" for n in range(MAX_CALLS + 1)]
        call_ids = [await bot.sandbox.ring(caller, media=True) for caller in callers]
        declined = await bot.said_line("declined")
        assert callers[-1] in declined
        assert (await bot.ended.get()).call_id == call_ids[-1]
        answered = await bot.said_lines("answered", MAX_CALLS)
        callers_answered = {line.split(":")[0] for line in answered}
        assert callers_answered == {f"call from +{caller}" for caller in callers[:-1]}
        assert bot.bot.calls == MAX_CALLS
        assert all(bot.sandbox.calls[c].state.value == "accepted" for c in call_ids[:-1])
        for call_id in call_ids[:-1]:  # each greeted (and set up: none is closed mid-handshake)
            await hears(bot.sandbox.voice(call_id), GREETING_HZ)
