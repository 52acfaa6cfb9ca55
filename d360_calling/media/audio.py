"""CallAudio: one WhatsApp call's audio as an aiortc peer connection (DTLS-SRTP, Opus)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Final

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from d360_calling import validation
from d360_calling.errors import ValidationError, error_text
from d360_calling.media import capture
from d360_calling.media.dtmf import DtmfStream, check_keys
from d360_calling.media.errors import MediaConnectionError, MediaError, MediaTimeoutError
from d360_calling.media.keypad import Keypad, codec_preferences
from d360_calling.media.options import gathering, set_remote
from d360_calling.media.options import ice_servers as _ice_servers
from d360_calling.media.options import is_file as _is_file
from d360_calling.media.ownership import MADE_BY, check_loop, warn_unclosed
from d360_calling.media.sdp import (
    check_answer,
    check_codecs,
    check_offer,
    sdp_of,
    sha256_fingerprint_only,
)
from d360_calling.media.sink import Sink
from d360_calling.media.sources import PcmSource, frames_of
from d360_calling.media.track import OutgoingTrack
from d360_calling.models.calls import SdpType, SessionDescription

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT: Final = 15.0
"""Seconds ICE and DTLS get once both descriptions are set (WhatsApp drops silent calls at 20 s)."""

FailureCallback = Callable[[MediaError], None]
"""Called once when the audio fails (ICE/DTLS failed or timed out, the peer closed)."""


class CallAudio:
    """The audio of one call: play into it, read or record the caller, and know when it fails.

    Make one with `CallAudio.answer(offer_sdp)` (inbound: our answer is `.sdp`) or
    `CallAudio.offer()` (outbound: `.sdp` is our offer, then `apply_answer`), and close it
    (`async with`, or `await audio.close()`). It belongs to the event loop it was made in: used
    from another, it raises `MediaError` at once.
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
        on_failed: FailureCallback | None,
    ) -> None:
        """What `__init__` would do (the options are checked here), for `_negotiated`."""
        validation.seconds("connect_timeout", connect_timeout)
        servers = _ice_servers(ice_servers, loopback)
        codecs = check_codecs(codecs)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._inbound = inbound
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._track = OutgoingTrack()
        self._sink = Sink()
        self._codecs = codecs
        self._loopback = loopback
        self._connect_timeout = connect_timeout
        self._on_failed = on_failed
        self._sdp = ""
        self._reader: asyncio.Task[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._connected: asyncio.Future[MediaError | None] = loop.create_future()
        self._ended: asyncio.Future[MediaError | None] = loop.create_future()
        self._play_lock = asyncio.Lock()
        self._generation = 0
        self._pc.on("connectionstatechange", self._on_state)
        self._pc.on("track", self._on_track)
        transceiver = self._pc.addTransceiver(self._track, direction="sendrecv")
        transceiver.setCodecPreferences(codec_preferences(codecs))
        self._keypad = Keypad(transceiver)

    @classmethod
    async def answer(
        cls,
        offer: SessionDescription | str | None,
        *,
        ice_servers: Iterable[RTCIceServer | str] = (),
        codecs: Iterable[str] = ("opus",),
        loopback: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        on_failed: FailureCallback | None = None,
    ) -> CallAudio:
        """Answer a call's SDP offer (the connect webhook's `session`); our answer is `.sdp`.

        Raises `ValidationError` for an offer WhatsApp would not send or we cannot answer.
        """
        offer_sdp = sdp_of(offer, SdpType.OFFER, "offer")
        check_offer(offer_sdp)
        return await cls._negotiated(
            offer_sdp, ice_servers, codecs, loopback, connect_timeout, on_failed
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
        on_failed: FailureCallback | None = None,
    ) -> CallAudio:
        """Make our SDP offer (`.sdp`, for `calls.connect`); then `apply_answer` the user's."""
        return await cls._negotiated(
            None, ice_servers, codecs, loopback, connect_timeout, on_failed
        )

    @classmethod
    async def _negotiated(
        cls,
        remote_offer: str | None,
        ice_servers: Iterable[RTCIceServer | str],
        codecs: Iterable[str],
        loopback: bool,
        connect_timeout: float,
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
            on_failed=on_failed,
        )
        await audio._describe(remote_offer)
        if remote_offer is not None:
            audio._arm_deadline()
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
        return self._pc.connectionState == "connected" and not self._ended.done()

    @property
    def failure(self) -> MediaError | None:
        """Why the audio failed, or None."""
        return self._ended.result() if self._ended.done() else None

    async def apply_answer(self, answer: SessionDescription | str | None) -> None:
        """Apply the user's SDP answer to our offer (the connect webhook of an outbound call)."""
        check_loop(self._loop, "apply_answer()")
        answer_sdp = sdp_of(answer, SdpType.ANSWER, "answer")
        check_answer(answer_sdp, self._codecs)
        if self._pc.signalingState != "have-local-offer":
            raise MediaError("apply_answer needs our offer waiting for its answer")
        await set_remote(self._pc, answer_sdp, "answer", self._loopback)
        self._arm_deadline()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for ICE and DTLS; `MediaTimeoutError` after `timeout` (default: connect_timeout).

        Raises the failure (a `MediaError`) if the audio failed or was closed meanwhile.
        """
        check_loop(self._loop, "wait_connected()")
        limit = self._connect_timeout if timeout is None else validation.seconds("timeout", timeout)
        try:
            async with asyncio.timeout(limit):
                outcome = await asyncio.shield(self._connected)
        except TimeoutError:
            raise MediaTimeoutError(f"ICE and DTLS not connected after {limit:g} s") from None
        if outcome is not None:
            raise outcome
        self._raise_if_ended()

    async def wait_ended(self) -> MediaError | None:
        """Wait until the audio ends: the failure, or None after `close()`."""
        check_loop(self._loop, "wait_ended()")
        return await asyncio.shield(self._ended)

    async def play(self, source: PcmSource) -> bool:
        """Play a file or PCM chunks (48 kHz mono int16); False when interrupted or ended.

        Plays run one after another; before the connection is up, the first 100 ms wait in a
        queue. Raises `MediaError` once the audio has ended.
        """
        check_loop(self._loop, "play()")
        if isinstance(source, str | os.PathLike) and not await _is_file(source):
            raise ValidationError("source", f"no such file: {os.fspath(source)!r}")
        async with self._play_lock:
            self._raise_if_ended()
            generation = self._generation
            frames = frames_of(source)
            try:
                async for frame in frames:
                    await self._track.put(frame)
                    if generation != self._generation:
                        self._track.clear()
                        return False
            finally:
                await frames.aclose()
            await self._track.drained()
            return generation == self._generation

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
        self._raise_if_ended()
        if not self.connected:
            raise MediaError("send_dtmf needs connected audio: await wait_connected() first")
        await self._keypad.send(digits, tone_ms, gap_ms)

    def interrupt(self) -> None:
        """Barge-in: stop what is playing now, within one 20 ms frame."""
        check_loop(self._loop, "interrupt()")
        self._stop_playing()

    def _stop_playing(self) -> None:
        self._generation += 1
        self._track.clear()

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The caller's audio from now on: 20 ms frames (1920 bytes) of 48 kHz mono int16."""
        check_loop(self._loop, "frames()")
        queue = self._sink.subscribe()
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            self._sink.unsubscribe(queue)

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

    async def close(self) -> None:
        """Stop the audio and release the peer connection, its sockets and tasks; idempotent."""
        check_loop(self._loop, "close()")
        if self._closed is not None:
            await asyncio.shield(self._closed)
            return
        self._closed = asyncio.get_running_loop().create_future()
        # Shielded: a caller cancelled mid-close (a shutdown timeout) must not leave the peer
        # connection half closed or its reader running, since every later close() returns.
        await asyncio.shield(self._release())

    async def _release(self) -> None:
        assert self._closed is not None
        try:
            self._settle(None)
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

    def _arm_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._connect_timeout, self._on_deadline)

    def _on_deadline(self) -> None:
        if not self._connected.done():
            limit = self._connect_timeout
            self._fail(MediaTimeoutError(f"ICE and DTLS not connected after {limit:g} s"))

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected" and not self._connected.done():
            self._connected.set_result(None)
            if self._deadline is not None:
                self._deadline.cancel()
        elif state == "failed":
            self._fail(MediaConnectionError("ICE or DTLS failed"))
        elif state == "closed" and self._closed is None:
            self._fail(MediaConnectionError("the peer closed the connection"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.create_task(self._sink.run(track))

    def _fail(self, error: MediaError) -> None:
        if self._ended.done():
            return
        logger.warning("call audio failed: %s", error_text(error))
        self._settle(error)
        if self._on_failed is not None:
            try:
                self._on_failed(error)
            except Exception:
                logger.exception("on_failed callback raised")

    def _settle(self, error: MediaError | None) -> None:
        """End the audio once: resolve the futures, stop playing, end the readers."""
        if self._deadline is not None:
            self._deadline.cancel()
        if not self._connected.done():
            self._connected.set_result(error or MediaError("closed before connecting"))
        if not self._ended.done():
            self._ended.set_result(error)
        self._stop_playing()
        self._sink.end()
        self._keypad.end()

    def _raise_if_ended(self) -> None:
        if self._ended.done():
            raise self._ended.result() or MediaError("the call's audio is closed")
