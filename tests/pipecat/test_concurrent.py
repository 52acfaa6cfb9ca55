"""Ten pipeline calls at once in one process: each user hears only their own bot, answering
their own pitch at 1.5 times it."""

from __future__ import annotations

import asyncio

import pytest

from d360_calling.pipecat import D360Transport
from d360_calling.webhooks import IncomingCall

from ..support.bots import Bot
from .tones import PitchAnswerer, eventually, hearing, start, worker_for

pytestmark = pytest.mark.usefixtures("no_leaks")

CALLS = 10
PITCHES = [300.0 + 60.0 * n for n in range(CALLS)]
"""The users' pitches: 300 to 840 Hz, so the answers (450 to 1260 Hz) are all distinct."""


async def test_ten_concurrent_pipeline_calls_have_no_crosstalk(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    answerers: dict[str, PitchAnswerer] = {}

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, loopback=True)
        answerers[call.call_id] = PitchAnswerer()
        start(worker_for(transport, answerers[call.call_id]), tasks)

    def answered(call_id: str, hz: float) -> bool:
        return hearing(bot.sandbox.voice(call_id).heard_pcm(0.4), 1.5 * hz)

    async with asyncio.timeout(30.0):
        users = [f"1415555{n:04d}" for n in range(CALLS)]
        calls = await asyncio.gather(
            *(
                bot.sandbox.ring(u, media=True, tone_hz=hz)
                for u, hz in zip(users, PITCHES, strict=True)
            )
        )
        await eventually(
            lambda: all(answered(c, hz) for c, hz in zip(calls, PITCHES, strict=True)), 10.0
        )
        for call_id, hz in zip(calls, PITCHES, strict=True):
            voice = bot.sandbox.voice(call_id)
            assert voice.dominant_frequency(0.3) == pytest.approx(1.5 * hz, abs=5.0), call_id
            assert answerers[call_id].heard == pytest.approx(hz, abs=2.0), call_id
        await asyncio.gather(*(bot.sandbox.user_hangs_up(c) for c in calls))
        await asyncio.gather(*tasks)
    assert len(tasks) == CALLS
