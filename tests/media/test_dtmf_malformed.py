"""Bad RFC 4733 packets reach a live CallAudio's receiver: no raise, no key, audio goes on."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

pytest.importorskip("aiortc")

from aiortc.rtp import RtpPacket

from d360_calling._dtmf_rtp import build_event
from d360_calling._inline_decode import InlineDecoding
from d360_calling.media import CallAudio, DtmfKey, dominant_frequency
from d360_calling.sandbox.peer import UserPeer

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0
CRAFTED_SSRC = 0x5EED


def _packet(payload_type: int, sequence: int, timestamp: int, payload: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=payload_type, sequence_number=sequence, timestamp=timestamp)
    packet.ssrc = CRAFTED_SSRC
    packet.payload = payload
    return packet


BAD = [
    _packet(126, 1, 100, b"\x01"),  # short payload
    _packet(126, 2, 200, b""),  # empty payload
    _packet(126, 3, 300, build_event(200, end=True, duration=960)),  # event 200
    _packet(126, 4, 400, build_event(16, end=False, duration=960)),  # flash, not a key
    _packet(126, 5, 500, build_event(5, end=False, duration=960)),  # a key whose ends are lost
    _packet(126, 6, 600, build_event(7, end=False, duration=960)),  # the next key
]


async def _pair(offer_edit: str | None = None) -> tuple[UserPeer, CallAudio]:
    user = await UserPeer.offer(tone_hz=440.0)
    offer = user.sdp
    if offer_edit == "no telephone-event":
        offer = re.sub(r"a=(rtpmap|fmtp):126 [^\r\n]*\r\n", "", offer.replace(" 96 126", " 96"))
    audio = await CallAudio.answer(offer, loopback=True)
    await user.apply_answer(audio.sdp)
    await audio.wait_connected(timeout=5.0)
    return user, audio


async def _feed(audio: CallAudio, packets: list[RtpPacket]) -> None:
    receiver = audio._pc.getTransceivers()[0].receiver
    for packet in packets:
        await receiver._handle_rtp_packet(packet, arrival_time_ms=int(time.time() * 1000))


async def _still_hears_440(audio: CallAudio) -> None:
    receiver = audio._pc.getTransceivers()[0].receiver
    decoding = receiver._RTCRtpReceiver__decoder_queue  # decodes on the loop, events taken out
    assert isinstance(decoding, InlineDecoding)
    heard = await audio.listen(0.4, skip=0.1)
    assert dominant_frequency(heard) == pytest.approx(440.0, abs=5.0)


async def _collect(audio: CallAudio, into: list[DtmfKey]) -> None:
    async for key in audio.dtmf:
        into.append(key)


async def test_bad_event_packets_give_no_key_and_audio_goes_on() -> None:
    async with asyncio.timeout(BOUND):
        user, audio = await _pair()
        keys: list[DtmfKey] = []
        reader = asyncio.create_task(_collect(audio, keys))
        try:
            await asyncio.sleep(0)
            await _feed(audio, BAD)
            await _still_hears_440(audio)
            assert [k.digit for k in keys] == ["5", "7"]
        finally:
            await audio.close()
            await user.close()
            await reader


async def test_126_without_negotiation_is_ignored_and_audio_goes_on() -> None:
    async with asyncio.timeout(BOUND):
        user, audio = await _pair("no telephone-event")
        keys: list[DtmfKey] = []
        reader = asyncio.create_task(_collect(audio, keys))
        try:
            assert "telephone-event" not in audio.sdp
            await asyncio.sleep(0)
            await _feed(audio, BAD)
            await _still_hears_440(audio)
            assert keys == []
        finally:
            await audio.close()
            await user.close()
            await reader


async def test_crafted_packets_sent_over_the_wire_by_the_test_peer() -> None:
    """The user's DTLS transport sends the bad packets (SRTP-protected) beside its Opus."""
    async with asyncio.timeout(BOUND):
        user, audio = await _pair()
        keys: list[DtmfKey] = []
        reader = asyncio.create_task(_collect(audio, keys))
        try:
            await asyncio.sleep(0)
            transport = user._transceiver.sender.transport
            for packet in BAD:
                await transport._send_rtp(packet.serialize())
            for _ in range(100):
                if len(keys) == 2:
                    break
                await asyncio.sleep(0.02)
            assert [k.digit for k in keys] == ["5", "7"]
            await _still_hears_440(audio)
        finally:
            await audio.close()
            await user.close()
            await reader
