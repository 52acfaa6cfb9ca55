"""SDP in and out: Meta's sample offer, WhatsApp's rules on our SDP, and bad input refused early."""

from __future__ import annotations

import asyncio
import re

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError
from d360_calling.media import CallAudio
from d360_calling.media.sdp import sha256_fingerprint_only
from d360_calling.sandbox.peer import UserPeer
from d360_calling.sandbox.sdp import OFFER_SDP
from d360_calling.sandbox.sdp_rules import refusal_reason

pytestmark = pytest.mark.usefixtures("no_leaks")


def _m_line_codecs(sdp: str) -> list[str]:
    payload_types = re.search(r"^m=audio \d+ \S+ ([^\r\n]*)", sdp, re.M)
    assert payload_types
    rtpmap = dict(re.findall(r"^a=rtpmap:(\d+) (\S+)", sdp, re.M))
    return [rtpmap[pt].split("/")[0] for pt in payload_types.group(1).split()]


async def test_metas_sample_offer_is_answered_as_whatsapp_expects() -> None:
    async with asyncio.timeout(5.0):
        audio = await CallAudio.answer(OFFER_SDP, loopback=True)
        try:
            answer = audio.sdp
            ice = audio._pc.getTransceivers()[0].receiver.transport.transport
            assert ice.role == "controlling", "full ICE toward Meta's ice-lite"
        finally:
            await audio.close()
    assert "a=setup:active\r\n" in answer
    assert re.findall(r"^a=fingerprint:(\S+) ", answer, re.M) == ["sha-256"]
    assert set(_m_line_codecs(answer)) <= {"opus", "telephone-event"}
    assert "opus" in _m_line_codecs(answer)
    assert "a=rtpmap:111 opus/48000/2" in answer, "answers with the offer's payload type"
    assert "a=group:BUNDLE audio" in answer
    assert "a=rtcp-mux" in answer
    assert answer.count("m=") == 1
    assert re.findall(r"^a=candidate:\S+ \d+ udp \d+ (\S+) ", answer, re.M) == ["127.0.0.1"]
    assert refusal_reason(answer, "answer") is None


async def test_our_offer_passes_whatsapps_rules() -> None:
    async with asyncio.timeout(5.0):
        audio = await CallAudio.offer(loopback=True, codecs=("opus", "PCMA"))
        try:
            offer = audio.sdp
        finally:
            await audio.close()
    assert "a=setup:actpass" in offer
    assert _m_line_codecs(offer) == ["opus", "PCMA", "telephone-event"]  # keys after audio
    assert refusal_reason(offer, "offer") is None


async def test_the_user_peers_sdp_passes_the_sandbox_rules() -> None:
    async with asyncio.timeout(5.0):
        user = await UserPeer.offer()
        try:
            assert refusal_reason(user.sdp, "offer") is None
            assert _m_line_codecs(user.sdp) == ["opus", "telephone-event"]
        finally:
            await user.close()


NO_AUDIO = OFFER_SDP.replace("m=audio 3480", "m=video 3480")
NO_OPUS = OFFER_SDP.replace("opus/48000/2", "G722/8000")
SDES = OFFER_SDP.replace("UDP/TLS/RTP/SAVPF", "RTP/SAVP")
TWO_M_LINES = OFFER_SDP + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
NO_FINGERPRINT = re.sub(r"a=fingerprint:[^\r]*\r\n", "", OFFER_SDP)


@pytest.mark.parametrize(
    ("offer", "problem"),
    [
        (NO_AUDIO, "one audio m-line"),
        (NO_OPUS, "no codec in common"),
        (SDES, "UDP/TLS/RTP/SAVPF"),
        (TWO_M_LINES, "one audio m-line"),
        (NO_FINGERPRINT, "fingerprint"),
        ("hello", "not an SDP body"),
        ("", "not an SDP body"),
        (b"v=0\r\n", "must be a str"),
    ],
)
async def test_a_bad_offer_is_a_validation_error(offer: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        await CallAudio.answer(offer, loopback=True)
    assert caught.value.field == "offer_sdp"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"codecs": ("PCMU",)}, "must include 'opus'"),
        ({"codecs": ("opus", "G729")}, "unknown"),
        ({"ice_servers": ["http://example.com"]}, "not a stun:/turn: URL"),
        ({"ice_servers": ["stun:127.0.0.1:3478"], "loopback": True}, "no STUN or TURN"),
    ],
)
async def test_bad_options_are_validation_errors(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        await CallAudio.offer(**kwargs)  # type: ignore[arg-type]


async def test_a_bad_answer_is_a_validation_error_and_the_offer_stays_usable() -> None:
    async with asyncio.timeout(5.0):
        audio = await CallAudio.offer(loopback=True)
        try:
            actpass = OFFER_SDP  # an offer is not an answer: it says actpass
            with pytest.raises(ValidationError, match="actpass"):
                await audio.apply_answer(actpass)
            with pytest.raises(ValidationError, match="no codec in common"):
                await audio.apply_answer(NO_OPUS.replace("actpass", "active"))
        finally:
            await audio.close()


def test_more_than_one_stun_url_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from d360_calling.media.audio import _ice_servers

    servers = _ice_servers(["stun:127.0.0.1:3478", "stun:127.0.0.1:3479"], loopback=False)
    assert len(servers) == 2
    assert "only the first stun URL" in caplog.text


def test_sha256_fingerprint_only_keeps_one_line() -> None:
    sdp = "v=0\r\n" + "".join(f"a=fingerprint:sha-{n} AA\r\n" for n in (256, 384, 512))
    assert sha256_fingerprint_only(sdp) == "v=0\r\na=fingerprint:sha-256 AA\r\n"


ANSWER = OFFER_SDP.replace("a=setup:actpass", "a=setup:active")


@pytest.mark.parametrize(
    ("sdp", "kind", "reason"),
    [
        (OFFER_SDP, "offer", None),
        (ANSWER, "answer", None),
        (OFFER_SDP, "answer", "actpass"),
        (NO_AUDIO, "offer", "no audio m-line"),
        (NO_OPUS, "offer", "Opus"),
        (TWO_M_LINES, "offer", "exactly one m-line"),
        (OFFER_SDP.replace("sha-256", "sha-384"), "offer", "must be sha-256"),
        (
            OFFER_SDP.replace("a=setup:", "a=fingerprint:sha-512 AA:BB\r\na=setup:"),
            "offer",
            "exactly one DTLS fingerprint",
        ),
        (NO_FINGERPRINT, "offer", "no DTLS fingerprint"),
        ("not sdp", "offer", "v=0"),
    ],
)
def test_sandbox_sdp_rules(sdp: str, kind: str, reason: str | None) -> None:
    found = refusal_reason(sdp, kind)  # type: ignore[arg-type]
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
