"""The caller's audio: read from aiortc's remote track, resampled, fanned out to listeners."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from d360_calling._opus import mono_pcm
from d360_calling._pcm import FRAME_BYTES, SAMPLE_RATE

logger = logging.getLogger(__name__)

_BACKLOG: Final = 250
"""Frames (5 s) a listener may fall behind before its oldest frames are dropped."""


class Sink:
    """Turns decoded frames into 20 ms frames of 48 kHz mono int16 bytes: as they are when
    decoded that way (`_inline_decode`), else through a resampler."""

    def __init__(self) -> None:
        self._resampler: AudioResampler | None = None
        self._pending = bytearray()
        self._listeners: set[asyncio.Queue[bytes | None]] = set()
        self._ended = False
        self._lagging: set[int] = set()

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        """A queue of the frames from now on; `None` marks the end of the call's audio."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_BACKLOG + 1)
        if self._ended:
            queue.put_nowait(None)
        else:
            self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._listeners.discard(queue)

    async def run(self, track: MediaStreamTrack) -> None:
        """Read `track` until it ends, then tell every listener."""
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame):
                    self._feed(frame)
        except MediaStreamError:
            pass
        finally:
            self.end()

    def end(self) -> None:
        """No more audio: every listener gets `None`."""
        if self._ended:
            return
        self._ended = True
        for queue in self._listeners:
            self._offer(queue, None)
        self._listeners.clear()

    def _feed(self, frame: AudioFrame) -> None:
        pcm = mono_pcm(frame)
        if pcm is not None and not self._pending and len(pcm) == FRAME_BYTES:
            for queue in self._listeners:
                self._offer(queue, pcm)
            return
        if pcm is not None:
            self._pending += pcm
        else:
            if self._resampler is None:
                self._resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for piece in self._resampler.resample(frame):
                self._pending += bytes(piece.planes[0])[: piece.samples * 2]
        while len(self._pending) >= FRAME_BYTES:
            chunk = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            for queue in self._listeners:
                self._offer(queue, chunk)

    def _offer(self, queue: asyncio.Queue[bytes | None], item: bytes | None) -> None:
        if queue.full():
            queue.get_nowait()
            if id(queue) not in self._lagging:
                self._lagging.add(id(queue))
                logger.warning("a frames() reader fell 5 s behind: dropping its oldest audio")
        queue.put_nowait(item)
