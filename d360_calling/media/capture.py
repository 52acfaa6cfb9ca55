"""Reading the caller's audio: `frames` at any rate (what `CallAudio.frames()` returns), the
next seconds of it (`listen`) and a WAV recording (`record`), their lengths checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import wave
from collections.abc import AsyncGenerator

from d360_calling import validation
from d360_calling._pcm import SAMPLE_RATE
from d360_calling.media.resample import Framer, Resampler, frame_bytes
from d360_calling.media.sink import Sink


async def frames(sink: Sink, rate: int) -> AsyncGenerator[bytes, None]:
    """The caller's 20 ms frames from `sink` at `rate` Hz, from the first iteration on."""
    queue = sink.subscribe()
    resampler, framer = Resampler(SAMPLE_RATE, rate), Framer(frame_bytes(rate))
    try:
        while (chunk := await queue.get()) is not None:
            if rate == SAMPLE_RATE:
                yield chunk
            else:
                for frame in framer.push(resampler.convert(chunk)):
                    yield frame
    finally:
        sink.unsubscribe(queue)


async def listen(frames: AsyncGenerator[bytes, None], seconds: float, skip: float) -> bytes:
    """The next `seconds` of `frames` after `skip` seconds; shorter if they end first."""
    try:
        validation.seconds("seconds", seconds)
        validation.seconds("skip", skip, allow_zero=True)
        wanted = round((seconds + skip) * SAMPLE_RATE) * 2
        pcm = bytearray()
        async for frame in frames:
            pcm += frame
            if len(pcm) >= wanted:
                break
    finally:
        await frames.aclose()
    return bytes(pcm[round(skip * SAMPLE_RATE) * 2 : wanted])


async def record(
    frames: AsyncGenerator[bytes, None], path: str | os.PathLike[str], duration: float | None
) -> None:
    """`frames` into a mono 16-bit WAV file at `path` until `duration` passes or they end; the
    file is complete when cancelled too."""
    try:
        if duration is not None:
            validation.seconds("duration", duration)
        with wave.open(os.fspath(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration):
                    async for chunk in frames:
                        out.writeframes(chunk)
    finally:
        await frames.aclose()
