"""Whole calls with audio on loopback: the sandbox's user is a real peer, the bot answers through
the SDK (receiver, router, client) with `CallAudio`, and the pitch each side hears is checked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("aiortc")


from d360_calling import SessionDescription
from d360_calling.media import CallAudio, dominant_frequency, tone
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0


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
