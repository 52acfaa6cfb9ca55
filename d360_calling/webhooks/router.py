"""`Router`: handlers per event kind, and the per-call state that copes with reordering.

Deliveries are neither ordered nor unique: a terminate can come before its connect. The router
remembers (bounded) which calls already ended, so a late connect is not answered, and gives a
connect handler an `IncomingCall` bound to the client. It also holds each call's media (see
`attach_media`): a terminate closes it, media that fails ends the call through the API, and the
connect of an outbound call gives the media the user's SDP answer before any handler runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from .. import validation
from ..client import Client
from ..errors import D360Error, error_text
from ..models.calls import (
    CallActionResult,
    MediaFeature,
    Recording,
    SessionDescription,
    Transcription,
)
from .events import (
    CallConnect,
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
    Event,
    MalformedEvent,
    PermissionReply,
    SettingsUpdate,
    UnknownEvent,
)

if TYPE_CHECKING:
    from ..media import CallAudio

logger = logging.getLogger("d360_calling.webhooks")


class CallMedia(Protocol):
    """A call's media as the router sees it (`d360_calling.media.CallAudio` is one)."""

    async def wait_ended(self) -> BaseException | None:
        """Wait until the media ends: its failure, or None when it was closed."""
        ...

    async def close(self) -> None:
        """Release the media; idempotent."""
        ...


class OutboundMedia(CallMedia, Protocol):
    """Media that made an SDP offer (`CallAudio.offer()` is one): the router applies the
    user's answer from the connect webhook by itself. Applying the same answer again must be
    a no-op (a handler may still do it by hand)."""

    async def apply_answer(self, answer: SessionDescription) -> None:
        """Apply the user's SDP answer to our offer."""
        ...


E = TypeVar("E")
Handler = Callable[[E], Awaitable[None]]
"""An async handler of one event kind."""

# One type variable per decorator: each returns the function it was given (so decorated
# functions keep their own type) and mypy refuses a handler of another event kind.
ConnectHandler = TypeVar("ConnectHandler", bound=Handler["IncomingCall"])
StatusHandler = TypeVar("StatusHandler", bound=Handler[CallStatus])
TerminateHandler = TypeVar("TerminateHandler", bound=Handler[CallTerminate])
RecordingHandler = TypeVar("RecordingHandler", bound=Handler[CallRecordingAvailable])
TranscriptionHandler = TypeVar("TranscriptionHandler", bound=Handler[CallTranscriptionAvailable])
PermissionReplyHandler = TypeVar("PermissionReplyHandler", bound=Handler[PermissionReply])
SettingsUpdateHandler = TypeVar("SettingsUpdateHandler", bound=Handler[SettingsUpdate])
UnknownHandler = TypeVar("UnknownHandler", bound=Handler[UnknownEvent])
MalformedHandler = TypeVar("MalformedHandler", bound=Handler[MalformedEvent])


class IncomingCall:
    """A `connect` event bound to a client: answer, reject or end the call in one line."""

    __slots__ = ("_client", "_router", "event")

    def __init__(self, event: CallConnect, client: Client | None, router: Router) -> None:
        self.event = event
        self._client = client
        self._router = router

    @property
    def call_id(self) -> str:
        """The call's `wacid.…` id."""
        return self.event.call_id

    @property
    def inbound(self) -> bool:
        """Whether a user is calling (an SDP offer to answer); `False` for the connect of one of
        your own outbound calls, which carries the user's SDP answer for your media stack."""
        return self.event.direction != "BUSINESS_INITIATED"

    def _bound(self) -> Client:
        if self._client is None:
            raise D360Error("no client is bound to the receiver", operation="webhooks.connect")
        return self._client

    async def pre_accept(self, sdp: str | SessionDescription) -> CallActionResult:
        """Pre-accept with the SDP answer (a plain string is taken as an answer)."""
        return await self._bound().calls.pre_accept(self.call_id, _answer(sdp))

    async def accept(
        self,
        sdp: str | SessionDescription,
        *,
        biz_opaque_callback_data: str | None = None,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
    ) -> CallActionResult:
        """Accept with the same SDP answer given to `pre_accept`; `recording=Recording(...)`
        and `transcription=Transcription(...)` ask Meta to record or transcribe the call."""
        return await self._bound().calls.accept(
            self.call_id,
            _answer(sdp),
            biz_opaque_callback_data=biz_opaque_callback_data,
            recording=recording,
            transcription=transcription,
        )

    async def reject(self) -> CallActionResult:
        """Reject the call."""
        return await self._bound().calls.reject(self.call_id)

    async def terminate(self) -> CallActionResult:
        """End the call; settled, not an error, if it had already ended (`calls.terminate`)."""
        return await self._bound().calls.terminate(self.call_id)

    @property
    def media(self) -> CallMedia | None:
        """The media attached to this call (`Router.attach_media`), e.g. your outbound offer's
        `CallAudio` (the router has applied the user's answer to it already); None if none."""
        return self._router.media_of(self.call_id)

    async def answer_with_audio(
        self,
        *,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
        **options: Any,
    ) -> CallAudio:
        """Answer with real audio: a `CallAudio` for the offer, pre-accepted and accepted with
        its SDP, attached to the call (the `[media]` extra). `recording=` and `transcription=`
        go to `accept` (checked before anything is sent or set up); `options` go to
        `CallAudio.answer` (`ice_servers=`, `codecs=`, `connect_timeout=`, `on_failed=`,
        `no_media_timeout=`: seconds of silence from the caller, 10 by default, that count as
        a failure). Media that fails is reported to `on_failed`, and the router ends the call
        through the API at once."""
        client = self._bound()
        validation.recording(recording)
        validation.transcription(transcription)
        from ..media import CallAudio

        audio = await CallAudio.answer(self.event.session, **options)
        try:
            await self.pre_accept(audio.sdp)
            await self.accept(audio.sdp, recording=recording, transcription=transcription)
        except BaseException:
            await audio.close()
            raise
        self._router.attach_media(self.call_id, audio, client)
        return audio

    def __repr__(self) -> str:
        return f"IncomingCall(call_id={self.call_id!r})"


def _answer(sdp: str | SessionDescription) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else SessionDescription.answer(sdp)


class Router:
    """Maps event kinds to async handlers; register with the decorators."""

    def __init__(self, *, remember_calls: int = 10_000) -> None:
        self._connect: list[Handler[IncomingCall]] = []
        self._status: list[Handler[CallStatus]] = []
        self._terminate: list[Handler[CallTerminate]] = []
        self._recording: list[Handler[CallRecordingAvailable]] = []
        self._transcription: list[Handler[CallTranscriptionAvailable]] = []
        self._permission_reply: list[Handler[PermissionReply]] = []
        self._settings_update: list[Handler[SettingsUpdate]] = []
        self._unknown: list[Handler[UnknownEvent]] = []
        self._malformed: list[Handler[MalformedEvent]] = []
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_calls
        self._media: dict[str, CallMedia] = {}
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._watchers: set[asyncio.Future[None]] = set()
        self._closed = False
        self._plain: dict[type[Any], list[Any]] = {
            CallStatus: self._status,
            CallRecordingAvailable: self._recording,
            CallTranscriptionAvailable: self._transcription,
            PermissionReply: self._permission_reply,
            SettingsUpdate: self._settings_update,
            UnknownEvent: self._unknown,
            MalformedEvent: self._malformed,
        }

    def on_connect(self, handler: ConnectHandler) -> ConnectHandler:
        """Run `handler(IncomingCall)` for each connect: a user calling (`call.inbound`, answer
        it) or the user's SDP answer to one of your outbound calls."""
        self._connect.append(handler)
        return handler

    def on_status(self, handler: StatusHandler) -> StatusHandler:
        """Run `handler(CallStatus)` for RINGING / ACCEPTED / REJECTED."""
        self._status.append(handler)
        return handler

    def on_terminate(self, handler: TerminateHandler) -> TerminateHandler:
        """Run `handler(CallTerminate)` when a call ends."""
        self._terminate.append(handler)
        return handler

    def on_recording(self, handler: RecordingHandler) -> RecordingHandler:
        """Run `handler(CallRecordingAvailable)` when a call's recording is ready to fetch
        (asked for with `recording=Recording(...)` on `connect` or `accept`)."""
        self._recording.append(handler)
        return handler

    def on_transcription(self, handler: TranscriptionHandler) -> TranscriptionHandler:
        """Run `handler(CallTranscriptionAvailable)` when a call's transcript is ready to fetch
        (asked for with `transcription=Transcription(...)`)."""
        self._transcription.append(handler)
        return handler

    def on_permission_reply(self, handler: PermissionReplyHandler) -> PermissionReplyHandler:
        """Run `handler(PermissionReply)` when a user grants or refuses call permission."""
        self._permission_reply.append(handler)
        return handler

    def on_settings_update(self, handler: SettingsUpdateHandler) -> SettingsUpdateHandler:
        """Run `handler(SettingsUpdate)` when the number's calling settings change."""
        self._settings_update.append(handler)
        return handler

    def on_unknown(self, handler: UnknownHandler) -> UnknownHandler:
        """Run `handler(UnknownEvent)` for parts of a webhook the SDK does not model."""
        self._unknown.append(handler)
        return handler

    def on_malformed(self, handler: MalformedHandler) -> MalformedHandler:
        """Run `handler(MalformedEvent)` for a part of a delivery that could not be read (the
        receiver also logs a warning for it; the rest of the delivery is handled as usual)."""
        self._malformed.append(handler)
        return handler

    def has_ended(self, call_id: str) -> bool:
        """Whether a terminate for this call was seen (it may have overtaken the connect)."""
        return call_id in self._ended

    def attach_media(self, call_id: str, media: CallMedia, client: Client | None = None) -> None:
        """Tie `media` to the call: a terminate webhook closes it, and if it fails first (ICE,
        DTLS, the peer gone) the call is ended through `client` at once, instead of Meta ending
        it after 20 s of silence. `answer_with_audio` does this for you. For your own outbound
        call (`OutboundMedia`, e.g. `CallAudio.offer()`), attach it right after
        `client.calls.connect`: the connect webhook's SDP answer is applied to it before your
        connect handlers run; an answer it refuses ends the call likewise."""
        if self.has_ended(call_id) or self._closed:
            logger.info("media attached to %s after its terminate or close; closed", call_id)
            self._spawn(media.close())
            return
        self._media[call_id] = media
        self._spawn(self._watch(call_id, media, client))

    def media_of(self, call_id: str) -> CallMedia | None:
        """The media attached to `call_id`, if any."""
        return self._media.get(call_id)

    async def close_media(self, call_id: str) -> None:
        """Close and forget the media of `call_id` (the call ended); no-op without media."""
        media = self._media.pop(call_id, None)
        self._answers.pop(call_id, None)
        if media is not None:
            await media.close()

    def call_ended_elsewhere(self, call_id: str) -> None:
        """A call ended (its terminate reached another worker): close its media here, if any,
        and answer no late connect for it."""
        self._mark_ended(call_id)
        if call_id in self._media:
            self._spawn(self.close_media(call_id))

    async def aclose(self) -> None:
        """Close every call's media, and any attached later, and wait for the watchers;
        idempotent. A router serves one receiver: closing that receiver closes this."""
        self._closed = True
        for call_id in list(self._media):
            await self.close_media(call_id)
        if self._watchers:
            await asyncio.gather(*self._watchers, return_exceptions=True)

    async def _watch(self, call_id: str, media: CallMedia, client: Client | None) -> None:
        failure = await media.wait_ended()
        if self._media.get(call_id) is media:
            del self._media[call_id]
            self._answers.pop(call_id, None)
        if failure is None:
            return
        await media.close()
        await self._end_call(call_id, client, f"its media failed ({error_text(failure)})")

    async def _end_call(self, call_id: str, client: Client | None, why: str) -> None:
        """End the call through the API, unless it already ended; never raises."""
        if self.has_ended(call_id) or client is None:
            return
        logger.warning("terminating %s: %s", call_id, why)
        try:
            await client.calls.terminate(call_id)
        except D360Error as error:
            logger.warning("could not terminate %s (%s): %s", call_id, why, error_text(error))

    def _answering(self, event: CallConnect, client: Client | None) -> asyncio.Future[None] | None:
        """The user's answer to our outbound call, being applied to its media (once per call);
        None when there is nothing to apply."""
        media = self._media.get(event.call_id)
        if event.direction != "BUSINESS_INITIATED" or event.session is None or media is None:
            return None
        if not callable(getattr(media, "apply_answer", None)):
            return None
        if (applying := self._answers.get(event.call_id)) is None:
            work = self._apply_answer(event.call_id, cast(OutboundMedia, media), event, client)
            applying = self._answers[event.call_id] = self._spawn(work)
        return applying

    async def _apply_answer(
        self, call_id: str, media: OutboundMedia, event: CallConnect, client: Client | None
    ) -> None:
        try:
            await media.apply_answer(cast(SessionDescription, event.session))
        except Exception as error:
            if self._media.get(call_id) is media:
                await self.close_media(call_id)
            await self._end_call(call_id, client, f"its answer failed ({error_text(error)})")

    def _spawn(self, work: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return task

    def handlers_for(self, event: Event, client: Client | None) -> list[Awaitable[None]]:
        """The handler coroutines to run for `event`, updating per-call state first (a
        terminate also closes the call's media)."""
        if isinstance(event, CallTerminate):
            self._mark_ended(event.call_id)
            closing = [self.close_media(event.call_id)] if event.call_id in self._media else []
            return closing + [_started(handler, event) for handler in self._terminate]
        if isinstance(event, CallConnect):
            if self.has_ended(event.call_id):
                logger.info("connect for %s arrived after its terminate; skipped", event.call_id)
                return []
            call = IncomingCall(event, client, self)
            if (applying := self._answering(event, client)) is not None:
                return [_after(applying, handler, call) for handler in self._connect]
            return [_started(handler, call) for handler in self._connect]
        return [_started(handler, event) for handler in self._plain.get(type(event), [])]

    def _mark_ended(self, call_id: str) -> None:
        self._ended[call_id] = None
        self._ended.move_to_end(call_id)
        while len(self._ended) > self._remember:
            self._ended.popitem(last=False)


def _started(handler: Handler[E], argument: E) -> Awaitable[None]:
    """`handler(argument)`; a handler that raises before returning its awaitable (a sync
    wrapper, a `functools.partial` of the wrong shape) fails in its own run, like any other."""
    try:
        return handler(argument)
    except Exception as error:
        return _raise(error)


async def _raise(error: Exception) -> None:
    raise error


async def _after(ready: asyncio.Future[None], handler: Handler[E], argument: E) -> None:
    """`handler(argument)` once `ready` is done (the answer applied, or the call ended)."""
    await asyncio.shield(ready)
    await _started(handler, argument)
