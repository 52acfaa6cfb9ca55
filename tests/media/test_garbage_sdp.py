"""SDP that passes our first checks but not aiortc's parser is a `ValidationError` naming the
line, quoting nothing of it, with the peer connection closed; an Opus rtpmap whose payload
type the m-line does not list is no Opus at all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiortc import RTCPeerConnection

import d360_calling.media.audio
from d360_calling import ValidationError
from d360_calling.media import CallAudio
from d360_calling.media.sdp import check_answer, check_offer
from d360_calling.sandbox.sdp import ANSWER_SDP, OFFER_SDP

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 5.0
PASSWORD = "sandboxsandboxsandboxsa"
BASE = OFFER_SDP.replace("157.240.19.130", "127.0.0.1")
"""Meta's sample offer with its candidate on loopback, so even a wrong pass sends nowhere else."""
assert f"a=ice-pwd:{PASSWORD}\r\n" in BASE


def _add(line: str) -> str:
    """BASE with one more media-level line, before its rtpmap lines."""
    return BASE.replace("a=rtpmap:111 ", f"{line}\r\na=rtpmap:111 ", 1)


GARBAGE = {
    "setup-bogus": (BASE.replace("a=setup:actpass", "a=setup:bogus"), "a=setup"),
    "short-candidate": (
        BASE.replace("3480 typ host generation 0", "3480"),
        "a=candidate",
    ),
    "c-without-address": (BASE.replace("c=IN IP4 127.0.0.1", "c=IN IP4"), "c="),
    "payload-type-300": (BASE.replace("SAVPF 111 126", "SAVPF 111 126 300"), "m="),
    "port-not-a-number": (BASE.replace("m=audio 3480", "m=audio x3480"), "m="),
    "candidate-port-is-the-password": (
        BASE.replace("127.0.0.1 3480 typ", f"127.0.0.1 {PASSWORD} typ"),
        "a=candidate",
    ),
    "candidate-without-value": (_add("a=candidate"), "a=candidate"),
    "fingerprint-without-hash": (_add("a=fingerprint:sha-256"), "a=fingerprint"),
    "rtpmap-without-codec": (_add("a=rtpmap:96"), "a=rtpmap"),
    "fmtp-of-unknown-codec": (_add("a=fmtp:97 x=1"), "a=fmtp"),
    "rtcp-port-not-a-number": (BASE.replace("a=rtcp:9 ", "a=rtcp:x "), "a=rtcp"),
    "ssrc-without-attribute": (_add("a=ssrc:1 cname"), "a=ssrc"),
    "extmap-without-uri": (_add("a=extmap:1"), "a=extmap"),
    "session-setup-bogus": (
        BASE.replace("a=ice-lite\r\n", "a=ice-lite\r\na=setup:passive-aggressive\r\n"),
        "a=setup",
    ),
    "version-not-a-number": (
        BASE.replace("t=0 0\r\n", "t=0 0\r\nv=zero\r\n"),
        "v=",
    ),
    "no-rtcp-mux": (BASE.replace("a=rtcp-mux\r\n", ""), "RTCP mux"),
    "empty-ice-pwd": (BASE.replace(f"a=ice-pwd:{PASSWORD}", "a=ice-pwd:"), "password"),
}


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[RTCPeerConnection]:
    """Every peer connection CallAudio makes during the test."""
    made: list[RTCPeerConnection] = []

    class Recorded(RTCPeerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(d360_calling.media.audio, "RTCPeerConnection", Recorded)
    return made


PARAMS = [
    pytest.param(offer, named, loopback, id=f"{name}-{'loopback' if loopback else 'any'}")
    for name, (offer, named) in GARBAGE.items()
    for loopback in (False, True)
    if not (loopback and "candidate" in name)  # loopback drops a bad candidate line instead
]


@pytest.mark.parametrize(("offer", "named", "loopback"), PARAMS)
async def test_garbage_an_offer_check_lets_through_is_a_validation_error(
    offer: str, named: str, loopback: bool, connections: list[RTCPeerConnection]
) -> None:
    check_offer(offer)
    async with asyncio.timeout(BOUND):
        with pytest.raises(ValidationError) as caught:
            await CallAudio.answer(offer, loopback=loopback)
    error = caught.value
    assert error.field == "offer_sdp"
    assert named in error.problem
    assert PASSWORD not in str(error)
    assert len(connections) == 1
    assert connections[0].connectionState == "closed"
    ice = connections[0].getTransceivers()[0].receiver.transport.transport
    assert ice.state == "closed", "no socket left"


async def test_a_garbage_answer_is_a_validation_error_and_the_offer_stays_usable() -> None:
    garbage = ANSWER_SDP.replace("a=setup:active", "a=setup:bogus")
    check_answer(garbage, ("opus",))
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        try:
            with pytest.raises(ValidationError, match="a=setup") as caught:
                await audio.apply_answer(garbage)
            assert caught.value.field == "answer_sdp"
            assert audio._pc.signalingState == "have-local-offer"
        finally:
            await audio.close()


OPUS_NOT_ON_THE_M_LINE = BASE.replace("SAVPF 111 126", "SAVPF 126")


def test_an_opus_rtpmap_the_m_line_does_not_list_is_refused() -> None:
    assert "a=rtpmap:111 opus/48000/2" in OPUS_NOT_ON_THE_M_LINE
    with pytest.raises(ValidationError, match="no codec in common"):
        check_offer(OPUS_NOT_ON_THE_M_LINE)
    answer = OPUS_NOT_ON_THE_M_LINE.replace("a=setup:actpass", "a=setup:active")
    with pytest.raises(ValidationError, match="no codec in common"):
        check_answer(answer, ("opus",))


async def test_callaudio_refuses_an_offer_whose_m_line_leaves_opus_out() -> None:
    with pytest.raises(ValidationError, match="no codec in common") as caught:
        audio = await CallAudio.answer(OPUS_NOT_ON_THE_M_LINE, loopback=True)
        await audio.close()  # only if the offer was wrongly taken
    assert caught.value.field == "offer_sdp"
