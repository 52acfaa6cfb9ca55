"""int16 mono PCM between sample rates (PyAV's `AudioResampler`) and cut into 20 ms frames.

The writer resamples what a bot speaks (say 24 kHz) to the call's 48 kHz; `frames()` resamples
the caller to the rate a speech model wants (say 16 kHz). PyAV keeps a few samples inside its
filter between chunks, so chunks join without clicks; a matching rate passes through untouched.
"""

from __future__ import annotations

from typing import Final

from av import AudioFrame, AudioResampler

from d360_calling.errors import ValidationError

LOWEST_RATE: Final = 8_000
HIGHEST_RATE: Final = 192_000
FRAMES_PER_SECOND: Final = 50
"""20 ms frames."""


def check_rate(field: str, rate: object) -> int:
    """A sample rate in Hz: an int from 8000 to 192000 holding whole 20 ms frames."""
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise ValidationError(field, f"must be an int number of Hz, got {type(rate).__name__}")
    if not LOWEST_RATE <= rate <= HIGHEST_RATE or rate % FRAMES_PER_SECOND:
        raise ValidationError(
            field,
            f"must be {LOWEST_RATE} to {HIGHEST_RATE} Hz in steps of 50 "
            f"(whole 20 ms frames), got {rate!r}",
        )
    return rate


def frame_bytes(rate: int) -> int:
    """Bytes in one 20 ms frame of int16 mono at `rate` (640 at 16 kHz, 1920 at 48 kHz)."""
    return rate // FRAMES_PER_SECOND * 2


class Resampler:
    """int16 mono PCM from `source` Hz to `target` Hz; a pass-through when they match."""

    def __init__(self, source: int, target: int) -> None:
        self._source = source
        self._target = target
        self._resampler: AudioResampler | None = None

    def convert(self, pcm: bytes) -> bytes:
        """`pcm` (whole samples) at the target rate; the filter may hold a few samples back."""
        if self._source == self._target or not pcm:
            return pcm
        frame = AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = self._source
        return self._run(frame)

    def flush(self) -> bytes:
        """The samples still inside the filter; the next `convert` starts afresh."""
        if self._resampler is None:
            return b""
        try:
            return self._run(None)
        finally:
            self._resampler = None

    def reset(self) -> None:
        """Forget the samples inside the filter (an interruption)."""
        self._resampler = None

    def _run(self, frame: AudioFrame | None) -> bytes:
        if self._resampler is None:
            if frame is None:
                return b""
            self._resampler = AudioResampler(format="s16", layout="mono", rate=self._target)
        out = bytearray()
        for piece in self._resampler.resample(frame):
            out += bytes(piece.planes[0])[: piece.samples * 2]
        return bytes(out)


class Framer:
    """Cuts a stream of int16 PCM into frames of `size` bytes, keeping the remainder."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending = bytearray()

    @property
    def pending(self) -> int:
        """Bytes waiting for the rest of their frame."""
        return len(self._pending)

    def push(self, pcm: bytes) -> list[bytes]:
        """The whole frames `pcm` completes, in order."""
        self._pending += pcm
        size, whole = self.size, len(self._pending) // self.size * self.size
        frames = [bytes(self._pending[i : i + size]) for i in range(0, whole, size)]
        del self._pending[:whole]
        return frames

    def rest(self) -> bytes | None:
        """The remainder padded with silence to a whole frame, or None; the framer is empty."""
        if not self._pending:
            return None
        last = bytes(self._pending.ljust(self.size, b"\0"))
        self._pending.clear()
        return last

    def reset(self) -> None:
        """Drop the remainder."""
        self._pending.clear()
