"""Whole calls with audio on loopback: the sandbox's user is a real peer, the bot answers through
the SDK (receiver, router, client) with `CallAudio`, and the pitch each side hears is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiohttp import web

from d360_calling import Client, SessionDescription
from d360_calling.media import CallAudio, dominant_frequency, tone
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import CallTerminate, IncomingCall, Receiver, Router

pytestmark = pytest.mark.usefixtures("no_leaks")

SECRET = "media-secret"
USER = "14155550123"
BOUND = 15.0


class Bot:
    """A receiver on loopback with a sandbox and a client, torn down in order."""

    def __init__(self) -> None:
        self.router = Router()
        self.receiver = Receiver(self.router, secret=SECRET)
        self.audio: asyncio.Queue[CallAudio] = asyncio.Queue()
        self.ended: asyncio.Queue[CallTerminate] = asyncio.Queue()
        self.sandbox: Sandbox
        self.client: Client

        @self.router.on_terminate
        async def ended(event: CallTerminate) -> None:
            await self.ended.put(event)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    bot = Bot()
    runner = web.AppRunner(bot.receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{bot.receiver.path}"
    async with (
        Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
        Client("k", base_url=sandbox.base_url) as client,
    ):
        bot.sandbox, bot.client = sandbox, client
        bot.receiver.client = client
        yield bot
        await bot.router.aclose()
        await runner.cleanup()


async def both_ways(audio: CallAudio, bot: Bot, call_id: str, user_hz: float) -> None:
    """The bot hears `user_hz`; the user hears the bot's 660 Hz."""
    playing = asyncio.create_task(audio.play(tone(660.0, seconds=5.0)))
    try:
        assert dominant_frequency(await audio.listen(0.5, skip=0.1)) == pytest.approx(
            user_hz, abs=5.0
        )
        for _ in range(50):
            if bot.sandbox.voice(call_id).dominant_frequency(0.3) is not None:
                break
            await asyncio.sleep(0.02)
        assert bot.sandbox.voice(call_id).dominant_frequency(0.3) == pytest.approx(660.0, abs=5.0)
    finally:
        audio.interrupt()
        await playing


async def test_inbound_call_with_audio_both_ways_then_the_user_hangs_up(
    bot: Bot, loopback_guard: list[Any]
) -> None:
    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True))

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        audio = await bot.audio.get()
        await audio.wait_connected(timeout=5.0)
        assert bot.sandbox.calls[call_id].state.value == "accepted"
        await both_ways(audio, bot, call_id, 440.0)
        await bot.sandbox.user_hangs_up(call_id)
        ended = await bot.ended.get()
        assert ended.call_id == call_id
        assert await audio.wait_ended() is None  # closed by the terminate, not failed
        assert bot.router.media_of(call_id) is None
    assert loopback_guard, "no datagram was sent at all"


async def test_outbound_call_with_our_offer_and_the_users_answer(bot: Bot) -> None:
    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        assert not call.inbound
        assert call.media is not None
        assert isinstance(call.media, CallAudio)
        await call.media.apply_answer(call.event.session)

    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        bot.sandbox.set_permission(USER, "permanent")
        placed = await bot.client.calls.connect(USER, SessionDescription.offer(audio.sdp))
        bot.router.attach_media(placed.call_id, audio, bot.client)
        await bot.sandbox.user_answers(placed.call_id, media=True, tone_hz=550.0)
        await audio.wait_connected(timeout=5.0)
        await both_ways(audio, bot, placed.call_id, 550.0)
        await bot.client.calls.terminate(placed.call_id)
        assert (await bot.ended.get()).call_id == placed.call_id
        assert await audio.wait_ended() is None
        user = bot.sandbox.voice(placed.call_id)
        for _ in range(100):  # the sandbox hangs its peer up in the background
            if user.connection_state == "closed":
                break
            await asyncio.sleep(0.02)
    assert user.connection_state == "closed"


async def test_media_that_never_connects_ends_the_call_through_the_api(bot: Bot) -> None:
    """The user's static sample offer points at Meta's address, which loopback mode ignores, so
    ICE cannot complete: at the connect deadline the router terminates the call at once."""

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True, connect_timeout=0.5))

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER)
        audio = await bot.audio.get()
        failure = await audio.wait_ended()
        assert failure is not None
        assert "not connected" in str(failure)
        assert (await bot.ended.get()).call_id == call_id
    assert bot.sandbox.stats.effects["calls.terminate"] == 1
    assert bot.sandbox.calls[call_id].state.value != "accepted"


async def test_a_call_without_media_has_no_voice(bot: Bot) -> None:
    call_id = await bot.sandbox.ring(USER)
    with pytest.raises(KeyError, match="media=True"):
        bot.sandbox.voice(call_id)
