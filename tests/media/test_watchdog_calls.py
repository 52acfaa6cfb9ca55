"""The silence watchdog in a whole call: the sandbox's user goes quiet without hanging up, the
bot's audio fails with `MediaSilenceError`, `on_failed` runs once, and the router ends the call
through the API with exactly one terminate; a bad `no_media_timeout` sends nothing."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError
from d360_calling.media import MediaError, MediaSilenceError
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0
"""Seconds any one test may take."""


async def test_a_user_who_goes_quiet_gets_the_call_ended_once(bot: Bot) -> None:
    failures: list[MediaError] = []

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        audio = await call.answer_with_audio(
            loopback=True, no_media_timeout=1.0, on_failed=failures.append
        )
        await bot.audio.put(audio)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        audio = await bot.audio.get()
        await audio.wait_connected(timeout=5.0)
        await asyncio.sleep(1.5)  # the user speaks for longer than the timeout: no failure
        assert failures == []
        bot.sandbox.go_quiet(call_id)
        failure = await audio.wait_ended()
        ended = await bot.ended.get()  # the sandbox's terminate webhook for our terminate
        assert ended.call_id == call_id
        assert bot.sandbox.voice(call_id).network_stats.muted > 0
        await asyncio.sleep(0.3)  # room for a second terminate, were one sent
    assert isinstance(failure, MediaSilenceError)
    assert failures == [failure]
    assert bot.sandbox.stats.requests["calls.terminate"] == 1
    assert bot.sandbox.calls[call_id].state.value == "terminated"
    assert bot.router.media_of(call_id) is None
    assert repr(audio).endswith("closed)")


async def test_a_bad_timeout_is_refused_before_anything_is_sent(bot: Bot) -> None:
    refused: asyncio.Queue[ValidationError] = asyncio.Queue()

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        try:
            await call.answer_with_audio(loopback=True, no_media_timeout=-1.0)
        except ValidationError as error:
            await refused.put(error)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True)
        error = await refused.get()
        await bot.sandbox.user_hangs_up(call_id)
        await bot.ended.get()
    assert error.field == "no_media_timeout"
    assert bot.sandbox.stats.requests["calls.pre_accept"] == 0
    assert bot.sandbox.stats.requests["calls.accept"] == 0
    assert bot.router.media_of(call_id) is None
