"""The sandbox's user as a real WebRTC peer: aiortc used directly, never the SDK's media layer.

It offers (a call the sandbox rings) or answers (a business call), sends a tone or a file, and
keeps what it hears, so a test can check the business's audio by its pitch. It gathers only
127.0.0.1 and ignores every other remote candidate unless told `loopback=False`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Final, Literal, Protocol

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from d360_calling import _dtmf_rtp, _inline_decode
from d360_calling._dtmf_keys import SENDABLE, ToneSender, codec_preferences, timing_problem
from d360_calling._loopback_ice import keep_loopback_candidates, loopback_gathering
from d360_calling._opus import EncodedPacket, OpusPackets, mono_pcm
from d360_calling._pacing import frame_clock
from d360_calling._pcm import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SILENCE,
    Tone,
    decode_file,
    dominant_frequency,
)
from d360_calling.sandbox.network import Network
from d360_calling.sandbox.network_link import NetworkLink, NetworkStats

HEARD_LIMIT: Final = 60 * SAMPLE_RATE * 2
"""Bytes of heard audio kept (the last 60 s)."""
"""The keys a WhatsApp user can press."""


class AudioTap(Protocol):
    """Gets both sides of a call as they pass (a recording): 48 kHz mono int16 PCM."""

    def said(self, pcm: bytes) -> None:
        """What the user said, one 20 ms frame."""

    def heard(self, pcm: bytes) -> None:
        """What the user heard from the business, a piece as decoded."""


class _UserTrack(MediaStreamTrack):
    """What the user says: 20 ms frames from `source`, paced at real time; an announcement's
    frames take the place of the user's while it plays."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.source: Callable[[], bytes] = lambda: SILENCE
        self.tap: AudioTap | None = None
        self._announcement: Iterator[bytes] | None = None
        self._after: tuple[asyncio.Future[None], AudioTap | None] | None = None
        self._start: float | None = None
        self._pts = 0
        self._opus = OpusPackets()

    def announce(self, frames: Iterator[bytes], then: AudioTap | None) -> asyncio.Future[None]:
        """Send `frames` in place of the user's voice; once the last went out, `then` taps."""
        if self._after is not None:
            self._after[0].cancel()
        done = asyncio.get_running_loop().create_future()
        self._announcement, self._after = frames, (done, then)
        return done

    def untap(self) -> None:
        """No more tapping, now or after a playing announcement."""
        self.tap = None
        if self._after is not None:
            self._after = (self._after[0], None)

    def stop(self) -> None:
        super().stop()
        if self._after is not None:
            self._after[0].cancel()

    def _next(self) -> bytes:
        if self._announcement is not None:
            pcm = next(self._announcement, None)
            if pcm is not None:
                return pcm
            self._announcement = None
            if self._after is not None:
                done, self.tap = self._after
                self._after = None
                if not done.done():
                    done.set_result(None)
        pcm = self.source()
        if self.tap is not None:
            self.tap.said(pcm)
        return pcm

    async def recv(self) -> EncodedPacket:
        if self.readyState != "live":
            raise MediaStreamError
        clock = frame_clock()
        if self._start is None:
            self._start = clock.grid(asyncio.get_running_loop().time())
        else:
            await clock.until(self._start + self._pts / SAMPLE_RATE)
        packet = self._opus.packet(self._next(), self._pts)
        self._pts += FRAME_SAMPLES
        return packet


class UserPeer:
    """A WhatsApp user's phone on loopback: Opus, DTLS-SRTP, one sha-256 fingerprint."""

    def __init__(self, *, loopback: bool = True, network: Network | None = None) -> None:
        """Use `offer()` or `answer()`."""
        self._loopback = loopback
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._track = _UserTrack()
        self._heard = bytearray()
        self._heard_announcement = bytearray()
        """What the user still hears of an announcement, in place of the business."""
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self.sdp = ""
        """Our SDP, offer or answer."""
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)
        self.keys_heard: list[str] = []
        """Keys the business pressed (RFC 4733), in order."""
        self._transceiver = transceiver = self._pc.addTransceiver(self._track, direction="sendrecv")
        transceiver.setCodecPreferences(codec_preferences(("opus",)))
        _dtmf_rtp.inbound_of(transceiver.receiver).on_key = lambda key, _: self.keys_heard.append(
            key
        )
        self._tones = ToneSender(transceiver)
        _inline_decode.inline(transceiver.receiver)
        self._link: NetworkLink | None = None
        if network is not None:
            self._network_link(network)

    @classmethod
    async def offer(
        cls,
        *,
        tone_hz: float | None = 440.0,
        loopback: bool = True,
        network: Network | None = None,
    ) -> UserPeer:
        """The user calls: our offer is `.sdp`; `apply_answer` takes the business's answer.
        `network` impairs our media both ways."""
        return await cls._described(None, tone_hz, loopback, network)

    @classmethod
    async def answer(
        cls,
        offer_sdp: str,
        *,
        tone_hz: float | None = 440.0,
        loopback: bool = True,
        network: Network | None = None,
    ) -> UserPeer:
        """The user picks up a business call: our answer to `offer_sdp` is `.sdp`."""
        return await cls._described(offer_sdp, tone_hz, loopback, network)

    @classmethod
    async def _described(
        cls,
        remote_offer: str | None,
        tone_hz: float | None,
        loopback: bool,
        network: Network | None,
    ) -> UserPeer:
        """A peer saying `tone_hz` with our SDP made: an answer to `remote_offer`, or our own
        offer; closed on failure."""
        # Like `CallAudio._describe` on purpose: the sandbox never uses the SDK's media layer.
        peer = cls(loopback=loopback, network=network)
        peer.play_tone(tone_hz)
        try:
            if remote_offer is not None:
                await peer._set_remote(remote_offer, "offer")
            with peer._gathering():
                pc = peer._pc
                made = await (pc.createAnswer() if remote_offer is not None else pc.createOffer())
                await pc.setLocalDescription(made)
        except BaseException:
            await peer.close()
            raise
        peer.sdp = peer._local_sdp()
        return peer

    async def apply_answer(self, answer_sdp: str) -> None:
        """Apply the business's answer to our offer."""
        await self._set_remote(answer_sdp, "answer")

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait for ICE and DTLS; TimeoutError when they take longer than `timeout`."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()
        if self._pc.connectionState != "connected":
            raise ConnectionError(f"user peer is {self._pc.connectionState}")

    @property
    def connection_state(self) -> str:
        """aiortc's connection state: new, connecting, connected, failed or closed."""
        return self._pc.connectionState

    def play_tone(self, frequency_hz: float | None) -> None:
        """Say a steady tone from now on (None: silence)."""
        if frequency_hz is None:
            self._track.source = lambda: SILENCE
        else:
            self._track.source = Tone(frequency_hz).next_frame

    def announce(
        self, frequency_hz: float, seconds: float, *, then: AudioTap | None = None
    ) -> asyncio.Future[None]:
        """Play a tone into both directions for `seconds`, as WhatsApp's consent announcement:
        the business hears it in place of the user's voice, the user in place of the
        business's. Done once its last frame went out (cancelled if the call ends first);
        `then` taps both sides from there on."""
        frames = round(seconds * SAMPLE_RATE / FRAME_SAMPLES)
        outgoing, incoming = Tone(frequency_hz), Tone(frequency_hz)
        self._heard_announcement = bytearray(b"".join(incoming.next_frame() for _ in range(frames)))
        return self._track.announce((outgoing.next_frame() for _ in range(frames)), then)

    def go_quiet(self) -> None:
        """Send no more media (RTP or RTCP) from now on, as a phone whose audio froze: the
        connection stays up (ICE consent and DTLS go on) and nothing hangs up."""
        self._network_link(Network()).quiet = True

    @property
    def network_stats(self) -> NetworkStats:
        """What the `network` (and `go_quiet`) did to our media datagrams so far; all zero
        for a peer made without either."""
        return NetworkStats() if self._link is None else self._link.stats

    def stop_tap(self) -> None:
        """Stop giving both sides to the tap (the recording is over)."""
        self._track.untap()

    async def press(self, digits: str, *, tone_ms: int = 500, gap_ms: int = 100) -> None:
        """Press keys (0-9, *, #) as RFC 4733 tones over our Opus; returns once they were sent.

        ValueError for bad keys or timings, or a call that did not negotiate telephone-event.
        """
        if not digits or any(d not in SENDABLE for d in digits):
            raise ValueError("keys are 0-9, * and #")
        if problem := timing_problem(tone_ms, gap_ms):
            raise ValueError(" ".join(problem))
        if self._closed or self._pc.connectionState != "connected":
            raise ValueError("the user's audio is not connected")
        try:
            await self._tones.send(digits, tone_ms, gap_ms)
        except LookupError:
            raise ValueError(
                "the call did not negotiate telephone-event: no keys to press"
            ) from None
        except EOFError:
            raise ValueError("the user's audio ended before the keys were pressed") from None

    async def play_file(self, path: str | os.PathLike[str]) -> None:
        """Say a file once (decoded by PyAV), then silence."""
        pcm = await asyncio.to_thread(decode_file, path)
        chunks = iter(range(0, len(pcm), FRAME_BYTES))

        def source() -> bytes:
            start = next(chunks, None)
            return (
                SILENCE
                if start is None
                else pcm[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            )

        self._track.source = source

    def heard_pcm(self, seconds: float | None = None) -> bytes:
        """What the user heard (the last `seconds`, or up to 60 s): 48 kHz mono int16."""
        if seconds is None:
            return bytes(self._heard)
        return bytes(self._heard[-int(seconds * SAMPLE_RATE) * 2 :])

    def dominant_frequency(self, seconds: float = 0.5) -> float | None:
        """The pitch of the last `seconds` heard; None for silence."""
        return dominant_frequency(self.heard_pcm(seconds))

    async def close(self) -> None:
        """Hang up: close the peer connection and stop reading; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._tones.close()
        self._track.stop()
        await self._pc.close()
        if self._link is not None:
            await self._link.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._connected.set()

    def _network_link(self, network: Network) -> NetworkLink:
        """Our datagrams' path through `network`, made once (a later profile is ignored)."""
        if self._link is None:
            self._link = NetworkLink(network)
            self._link.attach(self._transceiver.sender.transport.transport)
        return self._link

    def _gathering(self) -> contextlib.AbstractContextManager[None]:
        return loopback_gathering() if self._loopback else contextlib.nullcontext()

    def _local_sdp(self) -> str:
        lines = self._pc.localDescription.sdp.splitlines(keepends=True)
        return "".join(
            line
            for line in lines
            if not line.startswith("a=fingerprint:") or line.startswith("a=fingerprint:sha-256 ")
        )

    async def _set_remote(self, sdp: str, kind: Literal["offer", "answer"]) -> None:
        if self._loopback:
            sdp = keep_loopback_candidates(sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))

    def _on_state(self) -> None:
        if self._pc.connectionState in ("connected", "failed", "closed"):
            self._connected.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.create_task(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        resampler: AudioResampler | None = None
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                pcm = mono_pcm(frame)
                if pcm is not None:
                    self._hear(pcm)
                    continue
                resampler = resampler or AudioResampler(
                    format="s16", layout="mono", rate=SAMPLE_RATE
                )
                for piece in resampler.resample(frame):
                    self._hear(bytes(piece.planes[0])[: piece.samples * 2])
                if len(self._heard) > HEARD_LIMIT:
                    del self._heard[: len(self._heard) - HEARD_LIMIT]
        except MediaStreamError:
            return

    def _hear(self, pcm: bytes) -> None:
        """Keep what the business said, or the announcement playing in its place."""
        if self._heard_announcement:
            announced = self._heard_announcement[: len(pcm)]
            del self._heard_announcement[: len(pcm)]
            pcm = bytes(announced) + pcm[len(announced) :]
        elif self._track.tap is not None:
            self._track.tap.heard(pcm)
        self._heard += pcm
