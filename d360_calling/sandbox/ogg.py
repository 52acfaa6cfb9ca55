"""Stereo OGG/Opus files made with PyAV, as Meta's call recordings are: channel 0 the business,
channel 1 the user (the transcript's channels, API reference §11.1).

Imported only when a recording is made (PyAV comes with the `[media]` extra). The objects here
are not thread-safe: the sandbox uses each from one worker thread.
"""

from __future__ import annotations

import fractions
import io
import sys
from array import array
from typing import Final

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer

RATE: Final = 48_000
"""Samples per second in and out (Opus always decodes at 48 kHz)."""
BIT_RATE: Final = 32_000
"""Bits per second of the stereo Opus stream."""
_TIME_BASE: Final = fractions.Fraction(1, RATE)


def _open() -> tuple[io.BytesIO, OutputContainer]:
    buffer = io.BytesIO()
    return buffer, av.open(buffer, "w", format="ogg")


def _stream(container: OutputContainer, options: dict[str, str] | None = None) -> AudioStream:
    stream = container.add_stream("libopus", rate=RATE, layout="stereo", options=options or {})
    stream.bit_rate = BIT_RATE
    return stream


def _frame(interleaved: bytes, pts: int) -> av.AudioFrame:
    samples = len(interleaved) // 4
    frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
    frame.planes[0].update(interleaved)
    frame.sample_rate = RATE
    frame.time_base = _TIME_BASE
    frame.pts = pts
    return frame


def interleave(left: bytes, right: bytes) -> bytes:
    """Two equally long mono int16 PCM buffers as one stereo buffer (left first)."""
    pair = array("h", bytes(len(left) * 2))
    pair[0::2] = array("h", left)
    pair[1::2] = array("h", right)
    return pair.tobytes()


class StereoOggWriter:
    """Encodes chunks of both sides as they come, into a file kept in memory."""

    def __init__(self) -> None:
        self._buffer, self._container = _open()
        self._stream = _stream(self._container)
        self._pts = 0

    @property
    def seconds(self) -> float:
        """How much audio was written so far."""
        return self._pts / RATE

    def write(self, business: bytes, user: bytes) -> None:
        """One chunk: 48 kHz mono int16 of each side, equally long."""
        if sys.byteorder == "big":  # pragma: no cover - PCM is little-endian everywhere here
            raise RuntimeError("recordings need a little-endian machine")
        if not business:
            return
        frame = _frame(interleave(business, user), self._pts)
        self._pts += frame.samples
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> bytes:
        """Flush the encoder, close the file and return its bytes."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._buffer.getvalue()

    def abandon(self) -> None:
        """Close without keeping anything."""
        self._container.close()


def silent_ogg(seconds: float) -> bytes:
    """`seconds` of stereo silence (at least 60 ms).

    The first second goes through the encoder; the rest repeats the encoder's own 60 ms
    digital-silence packet, so an hour takes a fraction of a second rather than ten.
    """
    total = max(2880, round(seconds * RATE))
    head = min(total, RATE)
    buffer, container = _open()
    with container:
        stream = _stream(container, {"frame_duration": "60"})
        packets = list(stream.encode(_frame(bytes(head * 4), 0)))
        if total == head:
            packets += stream.encode(None)
        for packet in packets:
            container.mux(packet)
        if total > head and packets:
            last = packets[-1]
            step = last.duration or 2880
            silence = bytes(last)
            pts = (last.pts or 0) + step
            while pts < total:
                copy = av.Packet(silence)
                copy.pts = copy.dts = pts
                copy.duration = step
                copy.time_base = last.time_base
                copy.stream = stream
                container.mux(copy)
                pts += step
    return buffer.getvalue()
