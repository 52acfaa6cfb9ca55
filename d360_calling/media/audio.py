"""CallAudio: one WhatsApp call's audio as an aiortc peer connection (DTLS-SRTP, Opus)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterable
from typing import Final

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from d360_calling import _inline_decode, validation
from d360_calling._pcm import SAMPLE_RATE
from d360_calling.errors import ValidationError
from d360_calling.media import capture
from d360_calling.media.answer import AnswerSlot
from d360_calling.media.dtmf import DtmfStream, check_keys
from d360_calling.media.errors import MediaConnectionError, MediaError
from d360_calling.media.keypad import Keypad, codec_preferences
from d360_calling.media.lifecycle import CONNECT_TIMEOUT, FailureCallback, Lifecycle, Timeout
from d360_calling.media.options import gathering, set_remote
from d360_calling.media.options import ice_servers as _ice_servers
from d360_calling.media.options import is_file as _is_file
from d360_calling.media.ownership import MADE_BY, check_loop, warn_unclosed
from d360_calling.media.resample import check_rate
from d360_calling.media.sdp import (
    check_codecs,
    check_offer,
    sdp_of,
    sha256_fingerprint_only,
)
from d360_calling.media.sink import Sink
from d360_calling.media.sources import PcmSource, frames_of
from d360_calling.media.track import OutgoingTrack, let_heard
from d360_calling.media.watchdog import DEFAULT_NO_MEDIA_TIMEOUT, Watchdog
from d360_calling.media.writer import AudioWriter
from d360_calling.models.calls import SdpType, SessionDescription

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_NO_MEDIA_TIMEOUT", "CallAudio", "FailureCallback"]

DEFAULT_CONNECT_TIMEOUT: Final = 15.0
"""Seconds ICE and DTLS get once both descriptions are set (WhatsApp drops silent calls at 20 s)."""
PLAY_AHEAD: Final = 5
"""Frames (100 ms) `play()` keeps queued ahead of the encoder."""


class CallAudio:
    """The audio of one call: play into it, read or record the caller, and know when it fails.

    Make one with `CallAudio.answer(offer_sdp)` (inbound: our answer is `.sdp`) or
    `CallAudio.offer()` (outbound: `.sdp` is our offer, then `apply_answer`), and close it
    (`async with`, or `await audio.close()`; `close(drain=True)` lets the last words be heard).
    Speak with `play()` (files, tones, PCM at 48 kHz) or a streaming `writer()` at any rate; they
    share one outgoing queue, which `interrupt()` empties. Hear the caller with `frames()` at any
    rate, `listen()` or `record()`. It fails (`on_failed`, `failure`, `wait_ended()`) when ICE or
    DTLS fail or time out, the peer closes, or, once connected, no packet comes from the peer for
    `no_media_timeout` seconds (`MediaSilenceError`; 10 s by default, under Meta's 20 s drop).
    It belongs to the event loop it was made in: used from another, it raises `MediaError`.
    """

    _closed: asyncio.Future[None] | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Refused: `answer()` and `offer()` make a CallAudio, since making one negotiates."""
        raise TypeError(MADE_BY)

    def _start(
        self,
        *,
        inbound: bool,
        ice_servers: Iterable[RTCIceServer | str],
        codecs: Iterable[str],
        loopback: bool,
        connect_timeout: float,
        no_media_timeout: float | None,
        on_failed: FailureCallback | None,
    ) -> None:
        """What `__init__` would do (the options are checked here), for `_negotiated`."""
        validation.seconds("connect_timeout", connect_timeout)
        if no_media_timeout is not None:
            validation.seconds("no_media_timeout", no_media_timeout)
        servers = _ice_servers(ice_servers, loopback)
        codecs = check_codecs(codecs)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._inbound = inbound
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._track = OutgoingTrack()
        self._sink = Sink()
        self._loopback = loopback
        self._sdp = ""
        self._reader: asyncio.Task[None] | None = None
        self._life = Lifecycle(connect_timeout, on_failed, self._on_end)
        self._turn = asyncio.Lock()
        """Held by a `play()` or a writer's `write()` while it queues: they take turns."""
        self._answer = AnswerSlot(self._pc, codecs, loopback)
        self._pc.on("connectionstatechange", self._on_state)
        self._pc.on("track", self._on_track)
        transceiver = self._pc.addTransceiver(self._track, direction="sendrecv")
        transceiver.setCodecPreferences(codec_preferences(codecs))
        self._keypad = Keypad(transceiver)
        _inline_decode.inline(transceiver.receiver)
        self._watchdog = Watchdog(no_media_timeout, transceiver.receiver, self._life.fail)

    @classmethod
    async def answer(
        cls,
        offer: SessionDescription | str | None,
        *,
        ice_servers: Iterable[RTCIceServer | str] = (),
        codecs: Iterable[str] = ("opus",),
        loopback: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        no_media_timeout: float | None = DEFAULT_NO_MEDIA_TIMEOUT,
        on_failed: FailureCallback | None = None,
    ) -> CallAudio:
        """Answer a call's SDP offer (the connect webhook's `session`); our answer is `.sdp`.

        `connect_timeout`: seconds ICE and DTLS get. `no_media_timeout`: seconds without a
        packet from the caller, once connected, that fail the audio (None: never). `on_failed`
        is told the failure once. Raises `ValidationError` for a bad option, or an offer
        WhatsApp would not send or we cannot answer.
        """
        offer_sdp = sdp_of(offer, SdpType.OFFER, "offer")
        check_offer(offer_sdp)
        return await cls._negotiated(
            offer_sdp, ice_servers, codecs, loopback, connect_timeout, no_media_timeout, on_failed
        )

    # `offer` repeats `answer`'s keyword options on purpose: both are public signatures that
    # users read and type-check against; `_negotiated` is their one body.
    @classmethod
    async def offer(
        cls,
        *,
        ice_servers: Iterable[RTCIceServer | str] = (),
        codecs: Iterable[str] = ("opus",),
        loopback: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        no_media_timeout: float | None = DEFAULT_NO_MEDIA_TIMEOUT,
        on_failed: FailureCallback | None = None,
    ) -> CallAudio:
        """Make our SDP offer (`.sdp`, for `calls.connect`); then `apply_answer` the user's.
        The options are `answer`'s."""
        return await cls._negotiated(
            None, ice_servers, codecs, loopback, connect_timeout, no_media_timeout, on_failed
        )

    @classmethod
    async def _negotiated(
        cls,
        remote_offer: str | None,
        ice_servers: Iterable[RTCIceServer | str],
        codecs: Iterable[str],
        loopback: bool,
        connect_timeout: float,
        no_media_timeout: float | None,
        on_failed: FailureCallback | None,
    ) -> CallAudio:
        """`answer` and `offer` past their checks: a `CallAudio` with our SDP made, its connect
        deadline armed once both descriptions are set (at once for an answer)."""
        audio = cls.__new__(cls)
        audio._start(
            inbound=remote_offer is not None,
            ice_servers=ice_servers,
            codecs=codecs,
            loopback=loopback,
            connect_timeout=connect_timeout,
            no_media_timeout=no_media_timeout,
            on_failed=on_failed,
        )
        await audio._describe(remote_offer)
        if remote_offer is not None:
            audio._life.arm_deadline()
        return audio

    async def _describe(self, remote_offer: str | None) -> None:
        """Make our SDP: an answer to `remote_offer`, or our own offer; closed on failure."""
        try:
            if remote_offer is not None:
                await set_remote(self._pc, remote_offer, "offer", self._loopback)
            with gathering(self._loopback):
                pc = self._pc
                made = await (pc.createAnswer() if remote_offer is not None else pc.createOffer())
                await pc.setLocalDescription(made)
            self._sdp = sha256_fingerprint_only(self._pc.localDescription.sdp)
        except BaseException:
            await self.close()
            raise

    @property
    def sdp(self) -> str:
        """Our SDP (answer or offer): one audio m-line, our codecs, one sha-256 fingerprint."""
        return self._sdp

    @property
    def connected(self) -> bool:
        """ICE and DTLS are done and the call has not ended."""
        return self._pc.connectionState == "connected" and not self._life.ended.done()

    @property
    def ended(self) -> bool:
        """The audio has ended: closed, or failed (then `failure` says why)."""
        return self._life.ended.done()

    @property
    def failure(self) -> MediaError | None:
        """Why the audio failed, or None."""
        return self._life.failure

    async def apply_answer(self, answer: SessionDescription | str | None) -> None:
        """Apply the user's SDP answer to our offer (the connect webhook of an outbound call).

        The same answer again is a no-op (a `Router` with this audio attached applies it by
        itself); a different one, once one was applied, is a `MediaError`.
        """
        check_loop(self._loop, "apply_answer()")
        answer_sdp = sdp_of(answer, SdpType.ANSWER, "answer")
        if await self._answer.apply(answer_sdp):
            self._life.arm_deadline()

    async def wait_connected(self, timeout: Timeout = CONNECT_TIMEOUT) -> None:
        """Wait for ICE and DTLS to connect.

        `timeout`: by default the audio's `connect_timeout`, counted from now (then
        `MediaTimeoutError`, and the audio goes on); seconds of your choosing; or None for no
        deadline of its own, as for an outbound call that rings for long: it waits until the
        audio connects or ends (once an answer is applied, `connect_timeout` still bounds ICE).
        Raises the failure (a `MediaError`) if the audio failed or was closed meanwhile.
        """
        check_loop(self._loop, "wait_connected()")
        await self._life.wait_connected(timeout)

    async def wait_ended(self) -> MediaError | None:
        """Wait until the audio ends: the failure, or None after `close()`."""
        check_loop(self._loop, "wait_ended()")
        return await asyncio.shield(self._life.ended)

    async def play(self, source: PcmSource) -> bool:
        """Play a file or PCM chunks (48 kHz mono int16); False when interrupted or ended.

        Returns once the last frame has been sent (the far end plays it about 0.1 s later).
        Plays and writes take turns on one queue; before the connection is up, the first
        100 ms wait in it. Raises `MediaError` once the audio has ended.
        """
        check_loop(self._loop, "play()")
        if isinstance(source, str | os.PathLike) and not await _is_file(source):
            raise ValidationError("source", f"no such file: {os.fspath(source)!r}")
        async with self._turn:
            self._life.raise_if_ended()
            epoch = self._track.epoch
            frames = frames_of(source)
            mark = 0
            try:
                async for frame in frames:
                    queued = await self._track.put(frame, PLAY_AHEAD, epoch)
                    if queued is None:
                        return False
                    mark = queued
            finally:
                await frames.aclose()
            await self._track.sent(mark)
            return epoch == self._track.epoch

    def writer(self, sample_rate: int = SAMPLE_RATE) -> AudioWriter:
        """A streaming writer of int16 mono PCM at `sample_rate` Hz (resampled to 48 kHz by
        PyAV when it differs): `await w.write(pcm)`, `w.clear()` (barge-in), `await w.drain()`.

        It shares the call's outgoing queue with `play()` (they take turns; `interrupt()` and
        `clear()` empty it for both). `ValidationError` for a bad rate, `MediaError` once ended.
        """
        check_loop(self._loop, "writer()")
        rate = check_rate("sample_rate", sample_rate)
        self._life.raise_if_ended()
        return AudioWriter(self._track, self._turn, rate, self._loop, self._life.ended_error)

    @property
    def dtmf(self) -> DtmfStream:
        """The caller's keypresses: `async for key in audio.dtmf`, or `await audio.dtmf.collect()`
        (needs telephone-event in the caller's offer, as Meta's has; none arrive otherwise)."""
        check_loop(self._loop, "dtmf")
        return self._keypad.stream

    async def send_dtmf(self, digits: str, *, tone_ms: int = 500, gap_ms: int = 100) -> None:
        """Press `digits` (0-9, *, #) as RFC 4733 tones; returns once they have been sent.

        Our audio pauses while a tone plays. `ValidationError` for bad digits or timings;
        `MediaError` if telephone-event was not negotiated or the audio is not flowing.
        """
        check_loop(self._loop, "send_dtmf()")
        check_keys(digits, tone_ms, gap_ms)
        self._life.raise_if_ended()
        if not self.connected:
            raise MediaError("send_dtmf needs connected audio: await wait_connected() first")
        await self._keypad.send(digits, tone_ms, gap_ms)

    def interrupt(self) -> None:
        """Barge-in: stop what is playing or written now, within one 20 ms frame."""
        check_loop(self._loop, "interrupt()")
        self._track.clear()

    def frames(self, sample_rate: int = SAMPLE_RATE) -> AsyncGenerator[bytes, None]:
        """The caller's audio from the first iteration on: 20 ms frames of int16 mono at
        `sample_rate` Hz (1920 bytes at 48 kHz, 640 at 16 kHz; resampled by PyAV)."""
        check_loop(self._loop, "frames()")
        return capture.frames(self._sink, check_rate("sample_rate", sample_rate))

    async def listen(self, seconds: float, *, skip: float = 0.0) -> bytes:
        """The caller's next `seconds` of audio (48 kHz mono int16), after `skip` seconds
        (codec warm-up); shorter if the audio ends first."""
        check_loop(self._loop, "listen()")
        return await capture.listen(self.frames(), seconds, skip)

    async def record(self, path: str | os.PathLike[str], *, duration: float | None = None) -> None:
        """Record the caller into a WAV file until `duration` passes or the audio ends.

        Cancel the awaiting task to stop earlier: the file is complete either way.
        """
        check_loop(self._loop, "record()")
        await capture.record(self.frames(), path, duration)

    async def close(self, drain: bool = False) -> None:
        """Stop the audio and release the peer connection, its sockets and tasks; idempotent.

        `drain=True` first lets the user hear what is already queued: it waits until that was
        sent and the far end had ~0.1 s to play it (at most 2 s beyond its length), then closes.
        """
        check_loop(self._loop, "close()")
        try:
            if drain and self._closed is None and self.connected:
                await let_heard(self._track, self._life.ended)
        finally:
            if self._closed is not None:
                await asyncio.shield(self._closed)
            else:
                self._closed = self._loop.create_future()
                # Shielded: a caller cancelled mid-close (a shutdown timeout) must not leave the
                # peer connection half closed or its reader running, since every later close()
                # returns.
                await asyncio.shield(self._release())

    async def _release(self) -> None:
        assert self._closed is not None
        try:
            self._life.settle(None)
            self._track.stop()
            await self._pc.close()
            if self._reader is not None:
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
        finally:
            self._sink.end()
            self._closed.set_result(None)

    async def __aenter__(self) -> CallAudio:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        if "_pc" not in self.__dict__:
            return "CallAudio(not made)"
        state = "failed" if self.failure is not None else self._pc.connectionState
        state = state if self._closed is None else "closed"
        return f"CallAudio({'inbound' if self._inbound else 'outbound'} call, {state})"

    def __del__(self) -> None:
        if "_pc" in self.__dict__ and self._closed is None:
            warn_unclosed(repr(self))

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected":
            self._life.on_connected()
            self._watchdog.start()
        elif state == "failed":
            self._life.fail(MediaConnectionError("ICE or DTLS failed"))
        elif state == "closed" and self._closed is None:
            self._life.fail(MediaConnectionError("the peer closed the connection"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.create_task(self._sink.run(track))

    def _on_end(self) -> None:
        """The audio ended (closed or failed): stop sending and watching, end the readers and
        key streams."""
        self._watchdog.stop()
        self._track.end()
        self._sink.end()
        self._keypad.end()
