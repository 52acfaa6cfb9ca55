"""`AudioWriter`: stream int16 mono PCM at any rate into a call, the way a voice bot speaks.

Writes are resampled to 48 kHz by PyAV (untouched at 48 kHz), cut into 20 ms frames and queued
on the call's one outgoing queue, shared with `CallAudio.play()` in the order queued. A write
waits while more than `AHEAD` frames are queued, so a producer runs at real-time pace; `clear()`
is barge-in: the queue empties at once and the stream goes on from the next write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from d360_calling._pcm import FRAME_BYTES, SAMPLE_RATE
from d360_calling.media.errors import MediaError
from d360_calling.media.ownership import check_loop
from d360_calling.media.resample import Framer, Resampler
from d360_calling.media.track import OutgoingTrack

AHEAD: Final = 10
"""Frames (200 ms) a writer keeps queued ahead of the encoder: what `clear()` throws away."""


class AudioWriter:
    """A stream of int16 mono PCM at `sample_rate` into the call; made by `CallAudio.writer()`.

    `await write(pcm)` queues audio, waiting while more than 200 ms is queued (real-time pace),
    and raises `MediaError` at once when the call's audio has ended. `clear()` drops everything
    queued (a `play()` in progress stops too) without ending the stream: the next write plays
    from its first sample. `await drain()` returns once every queued frame has been sent.
    """

    def __init__(
        self,
        track: OutgoingTrack,
        turn: asyncio.Lock,
        sample_rate: int,
        loop: asyncio.AbstractEventLoop,
        ended_error: Callable[[], MediaError | None],
    ) -> None:
        self._track = track
        self._turn = turn
        self._loop = loop
        self._ended_error = ended_error
        self._resampler = Resampler(sample_rate, SAMPLE_RATE)
        self._framer = Framer(FRAME_BYTES)
        self._odd = b""
        self._epoch = track.epoch
        self.sample_rate: Final = sample_rate
        """The rate `write` takes, in Hz."""

    @property
    def queued_seconds(self) -> float:
        """Seconds of audio queued on the call and not yet sent (the writer's and a `play()`'s)."""
        return self._track.queued_seconds + self._framer.pending / (SAMPLE_RATE * 2)

    async def write(self, pcm: bytes) -> None:
        """Queue `pcm` (int16 mono, little-endian, at `sample_rate`); any length, an odd byte
        is kept for the next write.

        Waits while more than 200 ms is queued; audio that a `clear()` or `interrupt()` overtook
        (while this write waited) is dropped. `MediaError` once the call's audio has ended.
        """
        self._check("write()")
        epoch = self._track.epoch
        async with self._turn:
            self._check("write()")
            if self._track.epoch != epoch:
                return  # cleared while this write waited for its turn
            self._follow(epoch)
            data = self._odd + bytes(pcm)
            whole = len(data) // 2 * 2
            self._odd = data[whole:]
            for frame in self._framer.push(self._resampler.convert(data[:whole])):
                if await self._track.put(frame, AHEAD, epoch) is None:
                    self._check("write()")
                    return  # cleared: the rest of this write is not heard

    async def drain(self) -> None:
        """Return once all queued audio has been sent (a part-frame is padded with silence).

        `MediaError` if the call's audio ended first. Unbounded before the audio connects:
        wrap it in `asyncio.timeout()` when that matters.
        """
        self._check("drain()")
        epoch = self._track.epoch
        async with self._turn:
            self._check("drain()")
            if self._track.epoch == epoch:
                self._follow(epoch)
                tail = self._framer.push(self._resampler.flush())
                last = self._framer.rest()
                for frame in [*tail, *([last] if last is not None else [])]:
                    if await self._track.put(frame, AHEAD, epoch) is None:
                        break
        await self._track.sent(self._track.last_mark)
        self._check("drain()")

    def clear(self) -> None:
        """Barge-in: drop all queued audio now (silence within one frame) and keep streaming."""
        check_loop(self._loop, "clear()")
        self._track.clear()
        self._follow(self._track.epoch)

    def _follow(self, epoch: int) -> None:
        """Forget what was buffered for an epoch that a clear ended."""
        if self._epoch != epoch:
            self._epoch = epoch
            self._resampler.reset()
            self._framer.reset()
            self._odd = b""

    def _check(self, action: str) -> None:
        check_loop(self._loop, action)
        if (error := self._ended_error()) is not None:
            raise error

    def __repr__(self) -> str:
        queued = self.queued_seconds
        return f"AudioWriter({self.sample_rate} Hz, {queued:.2f} s queued)"
