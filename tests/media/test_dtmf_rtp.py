"""RFC 4733 packets in `_dtmf_rtp`: payloads, renumbering across the 16-bit wrap, dedupe, and
Opus packets rewritten into event packets."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiortc")

from aiortc.rtp import RtpPacket

from d360_calling import _dtmf_rtp
from d360_calling._dtmf_rtp import Inbound, Outbound, build_event, parse_event

SSRC = 0x0A0B0C0D


def _collector() -> tuple[Inbound, list[tuple[str, int]]]:
    keys: list[tuple[str, int]] = []
    inbound = Inbound()
    inbound.on_key = lambda digit, ms: keys.append((digit, ms))
    return inbound, keys


def test_payloads_round_trip_and_short_ones_are_none() -> None:
    assert parse_event(build_event(11, end=True, duration=4800)) == (11, True, 10, 4800)
    assert parse_event(build_event(3, end=False, duration=1 << 20)) == (3, False, 10, 0xFFFF)
    assert parse_event(b"\x01\x02\x03") is None
    assert parse_event(b"") is None


def test_renumbering_across_the_uint16_wrap() -> None:
    inbound, keys = _collector()
    assert inbound.renumber(SSRC, 65533) == 65533  # nothing removed yet
    for sequence in (65534, 65535, 0):
        inbound.take_event(SSRC, sequence, 1000, build_event(1, end=False, duration=960))
    assert inbound.renumber(SSRC, 1) == 65534  # the next audio packet follows 65533
    assert inbound.renumber(SSRC, 2) == 65535
    assert inbound.renumber(SSRC, 3) == 0
    assert inbound.renumber(SSRC, 65533) == 65533  # a late packet from before the key
    assert inbound.renumber(SSRC + 1, 7) == 7  # other streams are untouched
    assert keys == [("1", 20)]


def test_duplicates_count_once_and_three_end_copies_make_one_key() -> None:
    inbound, keys = _collector()
    for sequence in (10, 11, 11, 12, 13, 14):
        end = sequence >= 12
        inbound.take_event(SSRC, sequence, 5000, build_event(11, end=end, duration=4800))
    assert inbound.renumber(SSRC, 15) == 10
    assert keys == [("#", 100)]  # the first packet announced 4800 ticks


def test_end_only_events_lost_ends_and_bad_payloads() -> None:
    inbound, keys = _collector()
    inbound.take_event(SSRC, 1, 100, build_event(5, end=True, duration=960))  # only end packets
    inbound.take_event(SSRC, 2, 200, build_event(7, end=False, duration=960))  # end lost
    inbound.take_event(SSRC, 3, 300, build_event(9, end=False, duration=960))
    inbound.take_event(SSRC, 4, 400, b"\x01")  # short
    inbound.take_event(SSRC, 5, 500, build_event(200, end=True, duration=960))  # not a key
    inbound.take_event(SSRC, 6, 600, build_event(16, end=True, duration=960))  # flash
    assert [digit for digit, _ in keys] == ["5", "7", "9"]
    assert inbound.renumber(SSRC, 7) == 1  # every removed packet counts, bad or not


def test_a_raising_callback_is_contained() -> None:
    inbound = Inbound()

    def boom(digit: str, ms: int) -> None:
        raise RuntimeError("consumer bug")

    inbound.on_key = boom
    inbound.take_event(SSRC, 1, 100, build_event(1, end=False, duration=960))


def _opus(sequence: int, timestamp: int) -> bytes:
    packet = RtpPacket(
        payload_type=111,
        marker=1,
        sequence_number=sequence & 0xFFFF,
        timestamp=timestamp & 0xFFFFFFFF,
    )
    packet.ssrc = SSRC
    packet.payload = b"\xfc" * 40
    return packet.serialize()


async def test_opus_packets_become_one_tone_with_three_ends_then_the_gap() -> None:
    outbound = Outbound(opus_pt=111, te_pt=126)
    done = outbound.queue([1, 11], tone_ms=100, gap_ms=60)
    sent = [
        RtpPacket.parse(outbound.rewrite(_opus(65530 + i, 4_294_967_000 + 960 * i)))
        for i in range(30)
    ]
    assert done.done()
    kinds = ["e" if p.payload_type == 126 else "o" for p in sent]
    # 100 ms = 4800 ticks: 4 packets E=0, then 3 E=1; the 60 ms gap is 3 Opus packets
    assert "".join(kinds[:10]) == "eeeeeeeooo"
    assert "".join(kinds[10:17]) == "eeeeeee"
    first = sent[:7]
    assert [p.sequence_number for p in first] == [(65530 + i) & 0xFFFF for i in range(7)]
    assert {p.timestamp for p in first} == {4_294_967_000}
    assert [p.marker for p in first] == [1, 0, 0, 0, 0, 0, 0]
    events = [parse_event(p.payload) for p in first]
    assert [e[1] for e in events if e] == [False] * 4 + [True] * 3
    assert [e[3] for e in events if e] == [960, 1920, 2880, 3840, 4800, 4800, 4800]
    assert {e[0] for e in events if e} == {1}
    second = [parse_event(p.payload) for p in sent[10:17]]
    assert {e[0] for e in second if e} == {11}
    assert {p.timestamp for p in sent[10:17]} == {(4_294_967_000 + 960 * 10) & 0xFFFFFFFF}
    assert all(p.payload_type == 111 for p in sent[17:])


async def test_other_payload_types_pass_and_cancel_drops_the_queue() -> None:
    outbound = Outbound(opus_pt=111, te_pt=126)
    done = outbound.queue([1], tone_ms=100, gap_ms=100)
    other = _opus(1, 1)
    pcmu = bytes([other[0], 0x80]) + other[2:]
    assert outbound.rewrite(pcmu) == pcmu
    assert outbound.rewrite(b"\x80") == b"\x80"
    outbound.cancel()
    await asyncio.sleep(0)
    assert done.cancelled()
    assert outbound.rewrite(_opus(2, 960)) == _opus(2, 960)


def test_register_and_unregister_a_sender() -> None:
    outbound = _dtmf_rtp.register_sender(SSRC, 111, 126)
    assert _dtmf_rtp._OUTBOUND[SSRC] is outbound
    _dtmf_rtp.unregister_sender(SSRC)
    _dtmf_rtp.unregister_sender(SSRC)
    assert SSRC not in _dtmf_rtp._OUTBOUND
