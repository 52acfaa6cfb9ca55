"""Our own Opus path (`_opus`, `_inline_decode`): what it sends, what it decodes, and the aiortc
internals it relies on being where aiortc 1.16 keeps them."""

from __future__ import annotations

import inspect
import math
from array import array

import pytest

pytest.importorskip("aiortc")

from aiortc import rtcrtpreceiver
from aiortc.rtcrtpsender import RTCRtpSender

from d360_calling import _inline_decode, _opus
from d360_calling._audio_jitter import AudioJitterBuffer
from d360_calling._pcm import FRAME_SAMPLES, SILENCE, Tone, dominant_frequency, samples_of


def _decoded(packets: list[bytes]) -> bytes:
    decoder = _opus.OpusDecoder()
    out = bytearray()
    for index, payload in enumerate(packets):
        for frame in decoder.decode(payload, index * FRAME_SAMPLES):
            pcm = _opus.mono_pcm(frame)
            assert pcm is not None, "decoded frames are 48 kHz mono s16, no resampling after"
            out += pcm
    return bytes(out)


def test_a_tone_encoded_and_decoded_keeps_its_pitch_and_length() -> None:
    tone, packets = Tone(660.0), _opus.OpusPackets()
    sent = [bytes(packets.packet(tone.next_frame(), n * FRAME_SAMPLES)) for n in range(50)]
    heard = _decoded(sent)
    assert len(heard) == 50 * FRAME_SAMPLES * 2
    assert dominant_frequency(heard[9600:]) == pytest.approx(660.0, abs=2.0)
    assert max(len(p) for p in sent) < 120, "mono at 20 kbit/s: about 50 bytes a packet"


def test_silence_is_one_packet_made_once_and_a_burst_keeps_its_tail() -> None:
    packets = _opus.OpusPackets()
    quiet = [packets.packet(None, n * FRAME_SAMPLES) for n in range(3)]
    assert {bytes(p) for p in quiet} == {_opus.silence_payload()}
    assert _opus.silence_payload() is _opus.silence_payload()
    assert [p.pts for p in quiet] == [0, 960, 1920]
    burst = Tone(900.0)
    sent = [bytes(p) for p in quiet]
    sent += [bytes(packets.packet(burst.next_frame(), (3 + n) * 960)) for n in range(10)]
    encodes = 0
    encode = packets._encode

    def counted(pcm: bytes) -> bytes:
        nonlocal encodes
        encodes += 1
        return encode(pcm)

    packets._encode = counted  # type: ignore[method-assign]
    after = [bytes(packets.packet(SILENCE, (13 + n) * 960)) for n in range(_opus.QUIET_FRAMES + 5)]
    assert after[0] != _opus.silence_payload(), "the encoder's look-ahead is sent first"
    assert encodes == _opus.QUIET_FRAMES, "encoded for 0.5 s of quiet, then the cached packet"
    loud = [i for i, s in enumerate(samples_of(_decoded(sent + after))) if abs(s) > 2000]
    assert loud[-1] - loud[0] >= 10 * FRAME_SAMPLES - 240, "the burst lost its last samples"


def test_a_whole_hertz_tone_replays_its_cycle_exactly() -> None:
    tone = Tone(440.0)
    made = b"".join(tone.next_frame() for _ in range(12))
    scale, step = 0.3 * 32767, 2 * math.pi * 440.0 / 48_000
    expected = array("h", (int(scale * math.sin(step * n)) for n in range(12 * FRAME_SAMPLES)))
    assert made == expected.tobytes()
    assert len(tone._made) == 5  # 440 Hz repeats every 5 frames (1200 samples, 4800 per cycle)


def test_the_internals_the_inline_decoder_relies_on_are_there() -> None:
    try:
        _inline_decode.check_internals()
    except RuntimeError as exc:  # pragma: no cover - only on an aiortc whose internals moved
        pytest.fail(str(exc))
    assert _inline_decode.install()
    worker = rtcrtpreceiver.decoder_worker
    assert getattr(worker, "_d360_inline", False)
    _inline_decode.check_internals()  # still passes once patched
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame), (
        "aiortc no longer packs a track's pre-encoded av.Packet: OutgoingTrack needs it"
    )


def test_a_moved_worker_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def moved(loop: object, input_q: object) -> None:
        return None

    monkeypatch.setattr(rtcrtpreceiver, "decoder_worker", moved)
    with pytest.raises(RuntimeError, match=r"decoder_worker\(loop.*aiortc 1\.16"):
        _inline_decode.check_internals()


def test_inline_decoding_puts_frames_and_the_end_on_the_track_queue() -> None:
    class Receiver:
        _track: object

    class Queue:
        def __init__(self) -> None:
            self.items: list[object] = []

        def put_nowait(self, item: object) -> None:
            self.items.append(item)

    class Codec:
        name = "opus"

    class Encoded:
        def __init__(self, data: bytes, timestamp: int) -> None:
            self.data, self.timestamp = data, timestamp

    receiver = Receiver()
    queue = Queue()
    receiver._track = type("T", (), {"_queue": queue})()
    assert _inline_decode.inline(receiver)
    decoding = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
    assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, AudioJitterBuffer)  # type: ignore[attr-defined]
    tone, packets = Tone(500.0), _opus.OpusPackets()
    for n in range(5):
        decoding.put((Codec(), Encoded(bytes(packets.packet(tone.next_frame(), n * 960)), n * 960)))
    decoding.put((Codec(), Encoded(b"\xff\xff\xff\xff garbage", 5 * 960)))  # logged, skipped
    decoding.put(None)
    frames, end = queue.items[:-1], queue.items[-1]
    assert end is None
    assert [f.pts for f in frames] == [0, 960, 1920, 2880, 3840]
    assert all(_opus.mono_pcm(f) is not None for f in frames)
