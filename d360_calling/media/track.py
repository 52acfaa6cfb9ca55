"""The audio we send: one queue of 20 ms frames (what `play` and writers queue), silence when
it is empty, paced at real time (`_pacing`: one clock for every call), and marks that tell when
a queued frame has been sent. Frames leave as Opus packets encoded here (`_opus`), so aiortc
only packs them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from d360_calling._opus import EncodedPacket, OpusPackets
from d360_calling._pacing import frame_clock
from d360_calling._pcm import FRAME_SAMPLES, SAMPLE_RATE

FRAME_SECONDS: Final = FRAME_SAMPLES / SAMPLE_RATE
SPARE: Final = 2.0
"""Seconds `let_heard` waits beyond the length of what is queued."""
TAIL: Final = 0.12
"""Seconds the far end needs after our last frame left to play it (its jitter buffer)."""


class OutgoingTrack(MediaStreamTrack):
    """Sends queued 20 ms frames of 48 kHz mono int16, and silence whenever the queue is empty.

    Each frame is encoded here, once (silence is one packet made once per process). Silence
    keeps RTP flowing from the moment DTLS connects, so WhatsApp's 20 s no-media drop
    never hits a call that has nothing to say yet. Each queued frame gets a mark (1, 2, ...);
    `sent(mark)` returns once aiortc's sender came back for the next frame, which it does only
    after encoding and sending the previous one. `clear()` drops the queue and starts a new
    epoch, so a producer that was waiting for room learns its audio was interrupted.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[tuple[int, bytes]] = deque()
        self._last_mark = 0
        self._in_flight: int | None = None
        self._ended = False
        self._waiters: list[asyncio.Future[None]] = []
        self._start: float | None = None
        self._pts = 0
        self._opus = OpusPackets()
        self.epoch = 0
        """Bumped by every `clear()` and by `end()`."""
        self.audio_sent_at: float | None = None
        """`time.monotonic()` when the last queued frame (not silence) was sent."""

    @property
    def last_mark(self) -> int:
        """The mark of the last frame queued so far (0 before any)."""
        return self._last_mark

    @property
    def queued_seconds(self) -> float:
        """Seconds of audio queued and not yet handed to the encoder."""
        return len(self._frames) * FRAME_SECONDS

    async def put(self, frame: bytes, ahead: int, epoch: int) -> int | None:
        """Queue one frame once fewer than `ahead` wait (which paces the producer); its mark.

        None, with nothing queued, when the queue was cleared since `epoch` or the track ended.
        """
        while len(self._frames) >= ahead and self.epoch == epoch and not self._ended:
            await self._changed()
        if self.epoch != epoch or self._ended:
            return None
        self._last_mark += 1
        self._frames.append((self._last_mark, frame))
        return self._last_mark

    def done(self, mark: int) -> bool:
        """Whether the frame of `mark` was sent or dropped (or the track ended)."""
        if self._ended:
            return True
        if mark == self._in_flight:
            return False
        return not self._frames or mark < self._frames[0][0]

    async def sent(self, mark: int) -> None:
        """Return once the frame of `mark` was sent, or dropped by `clear()` or `end()`."""
        while not self.done(mark):
            await self._changed()

    def clear(self) -> None:
        """Drop the queued frames: what was playing stops within one frame; a new epoch."""
        self.epoch += 1
        self._frames.clear()
        self._signal()

    def end(self) -> None:
        """The call's audio ended: nothing more is queued and every waiter returns."""
        self._ended = True
        self.clear()

    def stop(self) -> None:
        super().stop()
        self.end()

    async def recv(self) -> EncodedPacket:
        if self.readyState != "live":
            raise MediaStreamError
        if self._in_flight is not None:  # aiortc sent the frame we handed it last time
            self._in_flight = None
            self.audio_sent_at = time.monotonic()
            self._signal()
        clock = frame_clock()
        if self._start is None:
            self._start = clock.grid(asyncio.get_running_loop().time())
        else:
            await clock.until(self._start + self._pts / SAMPLE_RATE)
        pcm = None
        if self._frames:
            self._in_flight, pcm = self._frames.popleft()
            self._signal()
        packet = self._opus.packet(pcm, self._pts)
        self._pts += FRAME_SAMPLES
        return packet

    async def _changed(self) -> None:
        """Wait for the next change: a frame taken or sent, a clear, the end."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _signal(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


async def let_heard(track: OutgoingTrack, ended: asyncio.Future[Any]) -> None:
    """Wait until what `track` has queued now was sent and the far end had `TAIL` seconds to
    play it; at most `SPARE` seconds beyond its length, and no longer than until `ended`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SPARE + track.queued_seconds + TAIL):
            await track.sent(track.last_mark)
            if track.audio_sent_at is not None and not ended.done():
                tail = track.audio_sent_at + TAIL - time.monotonic()
                if tail > 0:
                    await asyncio.wait([ended], timeout=tail)
