"""The audio jitter buffer loses what the network lost and no more, and adds no latency."""

from __future__ import annotations

import pytest

pytest.importorskip("aiortc")

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from d360_calling._audio_jitter import PATIENCE, AudioJitterBuffer, Frames


def _packet(sequence: int) -> RtpPacket:
    packet = RtpPacket(
        payload_type=111, sequence_number=sequence & 0xFFFF, timestamp=sequence * 960
    )
    packet._data = sequence.to_bytes(4, "big")  # type: ignore[attr-defined]
    return packet


def _played(buffer: AudioJitterBuffer | JitterBuffer, order: list[int]) -> list[int]:
    out: list[int] = []
    for sequence in order:
        _, frame = buffer.add(_packet(sequence))
        if frame is not None:
            out.append(int.from_bytes(frame.data, "big"))
            if isinstance(frame, Frames):
                out += [int.from_bytes(f.data, "big") for f in frame.rest]
    return out


def test_in_order_each_packet_plays_at_once() -> None:
    buffer = AudioJitterBuffer()
    for sequence in range(10):
        _, frame = buffer.add(_packet(sequence))
        assert frame is not None
        assert int.from_bytes(frame.data, "big") == sequence
        assert frame.rest == []


def test_a_lost_packet_is_skipped_after_patience_and_the_rest_leave_together() -> None:
    buffer = AudioJitterBuffer()
    order = [0, 1, 2, *range(4, 4 + PATIENCE + 3)]  # 3 is lost
    played = _played(buffer, order)
    assert played == [n for n in order]
    assert buffer.skipped == 1
    _, frame = buffer.add(_packet(4 + PATIENCE + 3))
    assert frame is not None
    assert frame.rest == [], "no latency left behind the gap"


def test_reordering_within_patience_plays_in_order_and_late_ones_are_dropped() -> None:
    buffer = AudioJitterBuffer()
    assert _played(buffer, [0, 2, 1, 3, 5, 4, 6]) == [0, 1, 2, 3, 4, 5, 6]
    late = AudioJitterBuffer()
    assert _played(late, [0, *range(2, 3 + PATIENCE), 1]) == [0, *range(2, 3 + PATIENCE)]
    assert (late.skipped, late.late) == (1, 1)


def test_sequence_numbers_wrap_and_a_far_jump_restarts() -> None:
    buffer = AudioJitterBuffer()
    assert _played(buffer, [65534, 65535, 65536, 65537]) == [65534, 65535, 65536, 65537]
    assert _played(buffer, [40_000, 40_001]) == [40_000, 40_001]
    assert _played(buffer, [39_999]) == [], "just behind: late"
    assert _played(buffer, [1_000, 1_001]) == [1_000, 1_001], "far behind: a new stream"


def test_five_percent_loss_loses_five_percent_where_aiortcs_buffer_lost_more() -> None:
    lost = set(range(7, 2000, 20))  # one packet in 20
    order = [n for n in range(2000) if n not in lost]
    ours = _played(AudioJitterBuffer(), order)
    theirs = _played(JitterBuffer(capacity=16, prefetch=4), order)
    assert ours == order[: len(ours)]
    assert len(order) - len(ours) <= PATIENCE
    assert len(theirs) < 0.9 * len(order), "aiortc's buffer no longer amplifies loss: recheck"
