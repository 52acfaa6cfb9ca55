"""Barge-in with pipecat's Silero VAD on real speech: the user speaks over the bot, and the bot's
audio at the user stops within 300 ms of the VAD firing, however much the bot had queued.

`hello.wav` is "hello, can you hear me" (16 kHz mono), made once with espeak-ng:
`espeak-ng -w speech.wav "hello, can you hear me"`, resampled to 16 kHz with PyAV.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.turns.user_start.vad_user_turn_start_strategy import VADUserTurnStartStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_processor import UserTurnProcessor
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from d360_calling.pipecat import D360Transport
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot
from .tones import Talker, eventually, loud, start, worker_for

pytestmark = pytest.mark.usefixtures("no_leaks")

SPEECH = Path(__file__).with_name("hello.wav")
SILENT_WITHIN = 0.3
"""Seconds from the VAD firing to the user hearing the bot no more."""


async def test_the_bot_is_silent_within_300_ms_of_the_user_speaking_over_it(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    talker = Talker(hz=700.0, seconds=6.0)  # a long reply, queued at once as a TTS does

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, loopback=True)
        turns = UserTurnStrategies(
            start=[VADUserTurnStartStrategy()],
            stop=[SpeechTimeoutUserTurnStopStrategy(wait_for_transcript=False)],
        )
        vad = VADProcessor(vad_analyzer=SileroVADAnalyzer())
        worker = worker_for(transport, vad, UserTurnProcessor(user_turn_strategies=turns), talker)
        start(worker, tasks)

    loop = asyncio.get_running_loop()
    async with asyncio.timeout(15.0):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=None)
        user = bot.sandbox.voice(call_id)
        await eventually(lambda: loud(user.heard_pcm(0.2)))
        await asyncio.sleep(0.5)  # the bot talks on, with seconds of its reply still queued
        await user.play_file(SPEECH)
        spoke_at = loop.time()
        await eventually(lambda: talker.interrupted_at is not None, 3.0)
        assert talker.interrupted_at is not None
        silent_at: float | None = None
        while loop.time() < talker.interrupted_at + 1.0:
            quiet = not loud(user.heard_pcm(0.04))
            silent_at = (silent_at or loop.time()) if quiet else None  # None: heard again
            await asyncio.sleep(0.005)
        await bot.sandbox.user_hangs_up(call_id)
        await asyncio.gather(*tasks)
    assert silent_at is not None, "the bot kept talking over the user"
    assert talker.interrupted_at - spoke_at < 1.5, "the VAD took too long to hear the speech"
    assert silent_at - talker.interrupted_at < SILENT_WITHIN
