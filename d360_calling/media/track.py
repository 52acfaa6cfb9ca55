"""The audio we send: frames queued by `play`, silence when none, paced at real time."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from d360_calling._pcm import FRAME_SAMPLES, SAMPLE_RATE, SILENCE

_TIME_BASE: Final = fractions.Fraction(1, SAMPLE_RATE)
_QUEUED: Final = 5
"""Frames queued ahead of the encoder (100 ms): the most an interrupt lets through."""


class OutgoingTrack(MediaStreamTrack):
    """Sends queued 20 ms frames of 48 kHz mono int16, and silence whenever the queue is empty.

    Silence keeps RTP flowing from the moment DTLS connects, so WhatsApp's 20 s no-media drop
    never hits a call that has nothing to say yet.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_QUEUED)
        self._start: float | None = None
        self._pts = 0

    async def put(self, frame: bytes) -> None:
        """Queue one frame; waits while the queue is full, which paces the player."""
        await self._queue.put(frame)

    async def drained(self) -> None:
        """Return once every queued frame went to the encoder (or was cleared)."""
        await self._queue.join()

    def clear(self) -> None:
        """Drop the queued frames: what was playing stops within one frame."""
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            await asyncio.sleep(self._start + self._pts / SAMPLE_RATE - now)
        if self._queue.empty():
            pcm = SILENCE
        else:
            pcm = self._queue.get_nowait()
            self._queue.task_done()
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        return frame
