"""Helpers of the streaming tests: tones at any rate, where a tone starts and ends in what the
user heard, a bot call answered with audio, and a bounded wait for a condition."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable

from d360_calling._pcm import samples_of
from d360_calling.media import CallAudio
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot

LOUD = 1500
"""A sample above this (of a 0.3 full-scale tone, about 9800) is the tone, not silence."""


def pcm_tone(frequency_hz: float, seconds: float, rate: int) -> bytes:
    """`seconds` of a 0.3 full-scale sine at `rate` Hz, int16 mono little-endian."""
    step, count = 2 * math.pi * frequency_hz / rate, round(seconds * rate)
    samples = array("h", (int(0.3 * 32767 * math.sin(step * n)) for n in range(count)))
    return samples.tobytes()


def loud_runs(pcm: bytes, *, gap: int = 480) -> list[tuple[int, int]]:
    """The (first, last + 1) sample indexes of each run of loud samples in 48 kHz PCM, quiet
    stretches shorter than `gap` samples (a sine's zero crossings) inside a run."""
    runs: list[tuple[int, int]] = []
    for index, sample in enumerate(samples_of(pcm)):
        if abs(sample) <= LOUD:
            continue
        if runs and index - runs[-1][1] < gap:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def peak(pcm: bytes) -> int:
    return max(map(abs, samples_of(pcm)), default=0)


async def until(condition: Callable[[], bool], *, tries: int = 150, pause: float = 0.02) -> bool:
    """Whether `condition` held within `tries` checks `pause` seconds apart."""
    for _ in range(tries):
        if condition():
            return True
        await asyncio.sleep(pause)
    return condition()


async def answered(bot: Bot, *, user_hz: float | None = None) -> tuple[str, CallAudio]:
    """A call from the sandbox's user (saying `user_hz`) answered with connected audio."""

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True))

    call_id = await bot.sandbox.ring(USER, media=True, tone_hz=user_hz)
    audio = await bot.audio.get()
    await audio.wait_connected(timeout=5.0)
    await bot.sandbox.voice(call_id).wait_connected(timeout=5.0)
    return call_id, audio
