"""An audio jitter buffer that loses only what the network lost.

aiortc 1.16's `JitterBuffer(capacity=16, prefetch=4)` stops at a missing packet until 16 have
piled up behind it, and then makes room by dropping packets it never played: 5 % packet loss
became about 25 % of frames lost (`python -m benchmarks.media_chaos`). For Opus, one packet is
one frame, so this buffer plays frames in order as soon as they are next, waits for a missing
one only while fewer than `PATIENCE` later packets have arrived (a late packet still gets its
turn), then skips it; a frame whose turn has passed is dropped. Frames freed together leave
together, so a gap never leaves latency behind. It keeps `add(packet) -> (pli, frame)`, the
shape aiortc's receiver calls; `Frames` carries the frames freed by one packet.
"""

from __future__ import annotations

from typing import Any, Final

from aiortc.jitterbuffer import JitterFrame

PATIENCE: Final = 4
"""Later packets (80 ms of audio) after which a missing one is given up: 30 ms of jitter passes."""
RESTART: Final = 100
"""A packet this far from the next expected, ahead or behind, starts the stream afresh; one
less far behind is late."""
_WRAP: Final = 0x10000


class Frames(JitterFrame):
    """The first frame one packet freed (what aiortc maps and queues), and the ones after it."""

    def __init__(self, data: bytes, timestamp: int, rest: list[JitterFrame]) -> None:
        super().__init__(data, timestamp)
        self.rest = rest
        self.rtp_timestamp = timestamp
        """The first frame's own RTP timestamp (aiortc rewrites `timestamp` to start at 0)."""

    def later(self) -> list[JitterFrame]:
        """The frames after the first, their timestamps on the first one's (rewritten) scale."""
        shift = self.timestamp - self.rtp_timestamp
        return [JitterFrame(f.data, (f.timestamp + shift) & 0xFFFFFFFF) for f in self.rest]


class AudioJitterBuffer:
    """Frames by RTP sequence number, released in order; gaps skipped after `PATIENCE`."""

    def __init__(self) -> None:
        self._next: int | None = None
        self._held: dict[int, Any] = {}
        self.skipped = 0
        """Sequence numbers given up as lost."""
        self.late = 0
        """Packets that came after their turn, dropped."""

    def add(self, packet: Any) -> tuple[bool, Frames | None]:
        """Hold `packet`; the frames now next in order (never a picture loss: audio)."""
        sequence = packet.sequence_number
        if self._next is None:
            self._next = sequence
        ahead = (sequence - self._next) & 0xFFFF
        if ahead >= RESTART:
            if _WRAP - ahead <= RESTART:  # just behind: its turn has passed
                self.late += 1
                return False, None
            self._held.clear()
            self._next = sequence
        self._held[sequence] = packet
        freed = list(self._release())
        if not freed:
            return False, None
        first, rest = freed[0], freed[1:]
        return False, Frames(first.data, first.timestamp, rest)

    def _release(self) -> Any:
        assert self._next is not None
        while self._held:
            packet = self._held.pop(self._next, None)
            if packet is None:
                if len(self._held) < PATIENCE:
                    return
                start = self._next
                self._next = min(self._held, key=lambda s: (s - start) & 0xFFFF)
                self.skipped += (self._next - start) & 0xFFFF
                continue
            self._next = (self._next + 1) & 0xFFFF
            yield JitterFrame(packet._data, packet.timestamp)
