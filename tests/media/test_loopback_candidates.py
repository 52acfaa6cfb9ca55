"""`loopback=True` keeps ICE on 127.0.0.1: only UDP host candidates on 127.0.0.1 reach aioice,
however the offer spaces or cases them, and the check filter leaves other connections alone."""

from __future__ import annotations

import asyncio
from asyncio import selector_events
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiortc import RTCIceCandidate, RTCPeerConnection

from d360_calling._loopback_ice import keep_loopback_candidates, loopback_gathering
from d360_calling.media import CallAudio
from d360_calling.sandbox.peer import UserPeer
from d360_calling.sandbox.sdp import OFFER_SDP

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 5.0
META_CANDIDATE = "a=candidate:1 1 udp 2122260223 157.240.19.130 3480 typ host generation 0\r\n"
KEPT = (
    "a=candidate:4 1 UDP 2122260223 127.0.0.1 3483 typ host\r\n",
    "a=candidate:7 1 udp 2122260223 127.0.0.1 3485 typ host generation 0\r\n",
)
DROPPED = (
    "a=candidate:1  1 udp 2122260223 192.0.2.1 3480 typ host\r\n",
    "a=candidate:2\t1\tudp\t2122260223\t192.0.2.2\t3481\ttyp\thost\r\n",
    "a=candidate:3 1 udp  2122260223 0f1e2d3c-aaaa-bbbb-cccc-1234567890ab.local 3482 typ host\r\n",
    "a=candidate:5 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active\r\n",
    "a=candidate:6 1 udp 1686052607 127.0.0.1 3484 typ srflx raddr 192.0.2.3 rport 3480\r\n",
    "a=candidate:8 1 udp 41885439 127.0.0.1 3486 typ relay raddr 0.0.0.0 rport 0\r\n",
    "a=candidate:9 1 udp 2122260223 ::1 3487 typ host\r\n",
    "a=candidate:10 1 udp 2122260223 192.0.2.4 3488 typ host \r\n",
    "a=candidate:11 1 udp 2122260223\t127.0.0.2 3489 typ host\r\n",
)
MIXED = "".join(DROPPED[:4] + KEPT[:1] + DROPPED[4:] + KEPT[1:]) + "a=end-of-candidates\r\n"
OFFER = OFFER_SDP.replace(META_CANDIDATE, MIXED)


@pytest.fixture
def foreign_datagrams(loopback_guard: list[Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Datagrams a test tried to send anywhere but 127.0.0.1, recorded and never sent."""
    dropped: list[Any] = []
    transport = selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    guarded = transport.sendto

    def sendto(self: Any, data: bytes, addr: Any = None) -> None:
        target = addr or self.get_extra_info("peername")
        if target[0] != "127.0.0.1":
            dropped.append(target)
            return
        guarded(self, data, addr)

    monkeypatch.setattr(transport, "sendto", sendto)
    return dropped


async def _audio_candidates(offer: str) -> list[RTCIceCandidate]:
    audio = await CallAudio.answer(offer, loopback=True)
    try:
        return _remote_candidates(audio._pc)
    finally:
        await audio.close()


async def _user_candidates(offer: str) -> list[RTCIceCandidate]:
    user = await UserPeer.answer(offer, tone_hz=None)
    try:
        return _remote_candidates(user._pc)
    finally:
        await user.close()


def _remote_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """The remote candidates aioice holds for the connection's one transceiver."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    return list(ice.getRemoteCandidates())


@pytest.mark.parametrize("answer", [_audio_candidates, _user_candidates], ids=["sdk", "sandbox"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["crlf", "lf"])
async def test_only_loopback_udp_host_candidates_reach_aioice(
    answer: Callable[[str], Awaitable[list[RTCIceCandidate]]],
    newline: str,
    foreign_datagrams: list[Any],
) -> None:
    async with asyncio.timeout(BOUND):
        remote = await answer(OFFER.replace("\r\n", newline))
    assert sorted((c.protocol.lower(), c.ip, c.port, c.type) for c in remote) == [
        ("udp", "127.0.0.1", 3483, "host"),
        ("udp", "127.0.0.1", 3485, "host"),
    ]
    assert foreign_datagrams == [], "no mDNS query, STUN or ICE check off loopback"


@pytest.mark.parametrize("line", DROPPED)
def test_a_candidate_not_a_loopback_udp_host_is_dropped(line: str) -> None:
    assert keep_loopback_candidates("v=0\r\n" + line + KEPT[0]) == "v=0\r\n" + KEPT[0]


@pytest.mark.parametrize(
    "line",
    [
        "A=candidate:1 1 udp 2122260223 127.0.0.1 3480 typ host\r\n",
        "a=Candidate:1 1 udp 2122260223 127.0.0.1 3480 typ host\r\n",
        "a=CANDIDATE:1 1 udp 2122260223 192.0.2.1 3480 typ host\r\n",
        " a=candidate:1 1 udp 2122260223 127.0.0.1 3480 typ host\r\n",
        "a=candidate:1 1 udp 2122260223 127.0.0.1 3480\r\n",
        "a=candidate:1 1 udp 2122260223 127.0.0.1 3480 tip host\r\n",
        "a=candidate\r\n",
        "a=candidate:\r\n",
    ],
    ids=["upper-a", "title-case", "upper", "indented", "short", "no-typ", "bare", "empty"],
)
def test_an_odd_candidate_line_is_dropped(line: str) -> None:
    """aiortc ignores or chokes on these; none is a plain loopback host, so none is kept."""
    assert keep_loopback_candidates("v=0\r\n" + line) == "v=0\r\n"


def test_line_endings_session_candidates_and_end_of_candidates() -> None:
    sdp = (
        "v=0\n"
        "a=candidate:1 1 udp 2122260223 192.0.2.1 3480 typ host\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r"
        "a=candidate:2 1 udp 2122260223 127.0.0.1 3481 typ host\x0b"
        "a=candidate:3 1 udp 2122260223 192.0.2.3 3482 typ host\u2028"
        "a=end-of-candidates"
    )
    assert keep_loopback_candidates(sdp) == (
        "v=0\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r"
        "a=candidate:2 1 udp 2122260223 127.0.0.1 3481 typ host\x0b"
        "a=end-of-candidates"
    )


class _Protocol:
    """Stands in for aioice's StunProtocol: records what the connection would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, tuple[str, int]]] = []

    def send_stun(self, message: Any, addr: tuple[str, int]) -> None:
        self.sent.append((message, addr))


@pytest.fixture
def connection() -> Any:
    """An aioice connection, never gathered, with the loopback patch installed."""
    import aioice.ice

    with loopback_gathering():
        pass
    return aioice.ice.Connection(ice_controlling=False)


def _answer_check(connection: Any, local_host: str, remote_host: str) -> list[Any]:
    """Hand `connection` a non-binding request from `remote_host`; what it sent back."""
    from aioice import Candidate, stun

    connection._local_candidates = [
        Candidate("1", 1, "udp", 2122260223, local_host, 40000, "host"),
    ]
    request = stun.Message(message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST)
    protocol = _Protocol()
    connection.request_received(request, (remote_host, 5000), protocol)
    return protocol.sent


def test_a_connection_on_other_addresses_still_answers_checks_from_them(connection: Any) -> None:
    sent = _answer_check(connection, "192.0.2.10", "192.0.2.20")
    assert [addr for _, addr in sent] == [("192.0.2.20", 5000)], "the original ran"


def test_a_loopback_only_connection_ignores_checks_from_other_addresses(connection: Any) -> None:
    assert _answer_check(connection, "127.0.0.1", "192.0.2.20") == []
    assert [addr for _, addr in _answer_check(connection, "127.0.0.1", "127.0.0.1")] == [
        ("127.0.0.1", 5000)
    ]
