"""Plain PCM helpers (48 kHz mono int16) shared by the media layer and the sandbox's peer.

Pure Python: a phase-continuous tone, a dominant-frequency estimate (Goertzel scans, no numpy)
and a file decoder that imports PyAV only when called.
"""

from __future__ import annotations

import math
import os
import sys
from array import array
from typing import Final

SAMPLE_RATE: Final = 48_000
FRAME_SAMPLES: Final = 960
"""Samples in one 20 ms frame."""
FRAME_BYTES: Final = FRAME_SAMPLES * 2
SILENCE: Final = bytes(FRAME_BYTES)


class Tone:
    """A sine wave cut into 20 ms frames, phase-continuous from one frame to the next.

    A whole number of Hz repeats within a second, so its frames repeat too: the first cycle is
    computed and kept (at most 50 frames), then replayed, which keeps a playing tone off the CPU.
    """

    def __init__(self, frequency_hz: float, *, amplitude: float = 0.3) -> None:
        self._step = 2 * math.pi * frequency_hz / SAMPLE_RATE
        self._scale = amplitude * 32767
        self._index = 0
        self._cycle = _cycle_frames(frequency_hz)
        self._made: list[bytes] = []

    def next_frame(self) -> bytes:
        number = self._index // FRAME_SAMPLES
        start = self._index
        self._index += FRAME_SAMPLES
        if self._cycle and len(self._made) == self._cycle:
            return self._made[number % self._cycle]
        step, scale = self._step, self._scale
        samples = array("h", (int(scale * math.sin(step * n)) for n in range(start, self._index)))
        frame = _little_endian(samples)
        if self._cycle:
            self._made.append(frame)
        return frame


def _cycle_frames(frequency_hz: float) -> int:
    """Frames after which a tone of `frequency_hz` repeats exactly; 0 when it never does."""
    if frequency_hz != int(frequency_hz) or frequency_hz <= 0:
        return 0
    period = SAMPLE_RATE // math.gcd(SAMPLE_RATE, int(frequency_hz))
    return math.lcm(period, FRAME_SAMPLES) // FRAME_SAMPLES


def samples_of(pcm: bytes) -> array[int]:
    """The int16 samples of little-endian PCM (a trailing odd byte is dropped)."""
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _little_endian(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def _power(samples: array[int], frequency_hz: float) -> float:
    """Goertzel: the power of one frequency in `samples`."""
    coeff = 2 * math.cos(2 * math.pi * frequency_hz / SAMPLE_RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _loudest(samples: array[int], size: int) -> array[int]:
    """The `size`-sample block of `samples` with the most energy (blocks start every size/2)."""
    if len(samples) <= size:
        return samples
    hop = size // 2
    starts = range(0, len(samples) - size + 1, hop)
    best = max(starts, key=lambda s: sum(x * x for x in samples[s : s + size : 4]))
    return samples[best : best + size]


def dominant_frequency(pcm: bytes, *, min_hz: float = 50.0, max_hz: float = 4000.0) -> float | None:
    """The strongest frequency in 48 kHz mono int16 PCM, to about 1 Hz; None for silence.

    A coarse 20 Hz scan over 20 ms finds the peak, a 0.5 Hz scan over the loudest 200 ms
    refines it: about 0.1 s of CPU whatever the length of `pcm`.
    """
    window = _loudest(samples_of(pcm), SAMPLE_RATE // 5)
    if len(window) < FRAME_SAMPLES or not any(window):
        return None
    short = window[:FRAME_SAMPLES]
    coarse = max(_frange(min_hz, max_hz, 20.0), key=lambda f: _power(short, f))
    low, high = max(min_hz, coarse - 30.0), min(max_hz, coarse + 30.0)
    return max(_frange(low, high, 0.5), key=lambda f: _power(window, f))


def _frange(start: float, stop: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step) + 1)]


def decode_file(path: str | os.PathLike[str]) -> bytes:
    """Decode an audio file (WAV or anything FFmpeg reads) to 48 kHz mono int16 PCM."""
    import av

    out = bytearray()
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    with av.open(os.fspath(path)) as container:
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out += bytes(piece.planes[0])[: piece.samples * 2]
        for piece in resampler.resample(None):
            out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)
