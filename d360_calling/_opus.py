"""Opus in our hands: 20 ms of 48 kHz mono int16 in, one RTP-ready `av.Packet` out, and back.

A track that returns packets takes aiortc's pre-encoded path (`Encoder.pack`): no worker-thread
hop per frame, no per-sample audio-level loop in Python, no upmix to stereo. We encode mono,
wideband, at 20 kbit/s, as WhatsApp's offer asks (`maxplaybackrate=16000;
maxaveragebitrate=20000`), at complexity 5, and
silence is one packet encoded once per process. Shared by the media layer and the sandbox's peer.
"""

from __future__ import annotations

import fractions
from typing import Any, Final, Literal, TypeAlias

from av import AudioCodecContext, AudioFrame, CodecContext, Packet

from d360_calling._pcm import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, SILENCE

TIME_BASE: Final = fractions.Fraction(1, SAMPLE_RATE)
BIT_RATE: Final = 20_000
OPTIONS: Final = {"application": "audio", "compression_level": "5", "cutoff": "8000"}
"""CELT, wideband, complexity 5: about half the CPU of aiortc's stereo 96 kbit/s fullband."""
EncodedPacket: TypeAlias = "Packet[Any]"
"""What a track returns to take aiortc's pre-encoded path."""
_SILENT_WARM_UP: Final = 5
QUIET_FRAMES: Final = 25
"""Silent frames (0.5 s) still encoded after audio, before the cached packet takes over: they
carry the encoder's look-ahead, and pauses inside speech keep the codec's state continuous."""
"""Frames of silence encoded before the one kept: the encoder's steady silent packet."""


def _codec(mode: Literal["r", "w"]) -> AudioCodecContext:
    return CodecContext.create("libopus", mode)


def _encoder() -> AudioCodecContext:
    codec = _codec("w")
    codec.bit_rate = BIT_RATE
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = SAMPLE_RATE
    codec.time_base = TIME_BASE
    codec.options = dict(OPTIONS)
    return codec


def _pcm_frame(pcm: bytes) -> AudioFrame:
    frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.planes[0].update(pcm)
    frame.sample_rate = SAMPLE_RATE
    return frame


_silence: bytes | None = None


def silence_payload() -> bytes:
    """One Opus packet of 20 ms silence, encoded once per process."""
    global _silence
    if _silence is None:
        codec = _encoder()
        payloads = [
            bytes(p) for _ in range(_SILENT_WARM_UP) for p in codec.encode(_pcm_frame(SILENCE))
        ]
        _silence = payloads[-1]
    return _silence


class OpusPackets:
    """Encodes one call's outgoing frames. Silence (`None` or zeros) goes through the encoder
    for `QUIET_FRAMES` after audio; from then on, while nothing plays, it is the packet made
    once per process (a bot that listens encodes nothing)."""

    def __init__(self) -> None:
        self._codec: AudioCodecContext | None = None
        self._frame: AudioFrame | None = None
        self._tail = 0

    def packet(self, pcm: bytes | None, pts: int) -> EncodedPacket:
        """The packet for the 20 ms frame starting at `pts` (48 kHz ticks): `pcm`, or silence."""
        if pcm is None or pcm == SILENCE:
            if self._tail:
                self._tail -= 1
                payload = self._encode(SILENCE)
            else:
                payload = silence_payload()
        else:
            self._tail = QUIET_FRAMES
            payload = self._encode(pcm)
        packet = Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    def _encode(self, pcm: bytes) -> bytes:
        if len(pcm) != FRAME_BYTES:
            raise ValueError(f"an Opus frame is {FRAME_BYTES} bytes of PCM, got {len(pcm)}")
        if self._codec is None:
            self._codec = _encoder()
        if self._frame is None:
            self._frame = _pcm_frame(pcm)
        else:  # one frame per call, refilled: libopus has encoded the last one when it returned
            self._frame.planes[0].update(pcm)
        packets = self._codec.encode(self._frame)
        # libopus answers each 20 ms frame with one packet; silence covers a frame it holds.
        return bytes(packets[-1]) if packets else silence_payload()


class OpusDecoder:
    """Decodes one call's Opus straight to 48 kHz mono int16 (no stereo, no resampling after)."""

    def __init__(self) -> None:
        self._codec = _codec("r")
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.sample_rate = SAMPLE_RATE

    def decode(self, payload: bytes, pts: int) -> list[AudioFrame]:
        """The frames of one received packet (`pts` in 48 kHz ticks)."""
        packet = Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return [f for f in self._codec.decode(packet) if isinstance(f, AudioFrame)]


def mono_pcm(frame: AudioFrame) -> bytes | None:
    """The int16 bytes of a 48 kHz mono s16 frame (what `OpusDecoder` makes); None otherwise."""
    if frame.sample_rate != SAMPLE_RATE or frame.format.name != "s16":
        return None
    if frame.layout.name != "mono":
        return None
    return memoryview(frame.planes[0])[: frame.samples * 2].tobytes()
