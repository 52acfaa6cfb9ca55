"""Streaming audio both ways on sandbox calls with loopback media: a writer at another rate is
heard at its pitch, `clear()` is barge-in that keeps the stream, writes after the end raise,
`frames()` at 16 kHz, and `close(drain=True)` lets the last words be heard."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from d360_calling.media import MediaError, dominant_frequency, tone

from ..support.bots import Bot
from .streaming import answered, loud_runs, pcm_tone, peak, until

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 20.0
"""Seconds any one test may take."""
FRAME = 960
"""Samples in a 20 ms frame at 48 kHz: a lost frame shortens a tone by this much."""
SLACK = 240
"""Samples a tone's measured length may fall short by (its edges, the codec): a quarter frame."""


def _near(pitch: float | None, expected: float) -> bool:
    return pitch is not None and abs(pitch - expected) <= 5.0


@pytest.mark.parametrize("rate", [24_000, 48_000])
async def test_a_writer_at_any_rate_is_heard_at_its_pitch(bot: Bot, rate: int) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await answered(bot)
        writer = audio.writer(sample_rate=rate)
        assert writer.sample_rate == rate
        await writer.write(pcm_tone(700.0, 1.0, rate))
        await writer.drain()
        assert writer.queued_seconds == 0
        voice = bot.sandbox.voice(call_id)
        assert dominant_frequency(voice.heard_pcm(1.0)) == pytest.approx(700.0, abs=5.0)


async def test_clear_is_silence_at_once_and_the_next_write_is_heard_from_its_start(
    bot: Bot,
) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await answered(bot)
        voice = bot.sandbox.voice(call_id)
        writer = audio.writer(sample_rate=24_000)
        speaking = asyncio.create_task(writer.write(pcm_tone(600.0, 5.0, 24_000)))
        assert await until(lambda: _near(voice.dominant_frequency(0.2), 600.0))
        assert not speaking.done(), "a 5 s write paces itself at real time"

        writer.clear()
        await speaking  # returns: what it had left is dropped, not an error
        assert writer.queued_seconds == 0
        assert await until(lambda: peak(voice.heard_pcm(0.1)) < 300, tries=25), "still talking"

        burst = pcm_tone(900.0, 0.3, 24_000)
        await writer.write(burst)
        await writer.drain()
        assert await until(lambda: peak(voice.heard_pcm(0.1)) < 300, tries=25)
        heard = voice.heard_pcm(1.5)
        first, last = loud_runs(heard)[-1]
        assert dominant_frequency(heard[first * 2 : last * 2]) == pytest.approx(900.0, abs=5.0)
        assert last - first >= 0.3 * 48_000 - SLACK, "the burst lost its first or last frame"


async def test_a_write_waiting_when_the_call_ends_raises_and_later_ones_too(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await answered(bot)
        writer = audio.writer(sample_rate=16_000)
        waiting = asyncio.create_task(writer.write(pcm_tone(500.0, 5.0, 16_000)))
        assert await until(lambda: writer.queued_seconds >= 0.15)
        assert not waiting.done()
        await bot.sandbox.user_hangs_up(call_id)
        with pytest.raises(MediaError):
            await waiting
        assert audio.ended
        with pytest.raises(MediaError):
            await writer.write(pcm_tone(500.0, 0.1, 16_000))
        with pytest.raises(MediaError):
            await writer.drain()
        with pytest.raises(MediaError):
            audio.writer()
        writer.clear()  # harmless once ended


async def test_frames_at_16_khz_are_640_bytes_at_the_callers_pitch(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        _, audio = await answered(bot, user_hz=440.0)
        frames = audio.frames(sample_rate=16_000)
        got: list[bytes] = []
        try:
            async for frame in frames:
                got.append(frame)
                if len(got) == 40:
                    break
        finally:
            await frames.aclose()
        assert {len(frame) for frame in got} == {640}
        # 16 kHz samples read as 48 kHz ones sound three times higher.
        pitch = dominant_frequency(b"".join(got[10:]))
        assert pitch is not None
        assert pitch / 3 == pytest.approx(440.0, abs=2.0)


@pytest.mark.parametrize("speaker", ["writer", "play"])
async def test_close_with_drain_lets_the_user_hear_the_whole_last_tone(
    bot: Bot, speaker: str
) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await answered(bot)
        voice = bot.sandbox.voice(call_id)
        if speaker == "writer":
            writer = audio.writer()
            await writer.write(pcm_tone(800.0, 0.4, 48_000))
            assert writer.queued_seconds > 0.1, "the writer returns with audio still queued"
        else:
            assert await audio.play(tone(800.0, seconds=0.4)) is True
        await audio.close(drain=True)
        assert await until(lambda: voice.connection_state == "closed")
        runs = loud_runs(voice.heard_pcm(2.0))
        assert len(runs) == 1
        first, last = runs[0]
        assert last - first >= 0.4 * 48_000 - SLACK, f"heard {(last - first) / FRAME:.1f} frames"
