"""`POST /calling/calls`: connect, pre-accept, accept, reject and terminate calls."""

from __future__ import annotations

from typing import Any, Unpack

from .. import validation
from ..models.calls import (
    CallAction,
    CallActionResult,
    ConnectResult,
    MediaFeature,
    Recording,
    SdpType,
    SessionDescription,
    Transcription,
)
from ..models.converter import converter
from ..session import Request
from ._resource import CallOptions, Resource

PATH = "/calling/calls"


class Calls(Resource):
    """The call actions; each validates its input before anything is sent."""

    __slots__ = ()

    async def connect(
        self,
        to: str,
        session: SessionDescription,
        *,
        biz_opaque_callback_data: str | None = None,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
        **options: Unpack[CallOptions],
    ) -> ConnectResult:
        """Place a business-initiated call with an SDP offer; never resent once it may have
        reached the API (a second one would ring the user twice). `recording=Recording(...)`
        and `transcription=Transcription(...)` ask Meta to record or transcribe it."""
        body = action_body(
            CallAction.CONNECT,
            to=validation.wa_id(to, "to"),
            session=validation.session(session, SdpType.OFFER),
            biz_opaque_callback_data=validation.callback_data(biz_opaque_callback_data),
            recording=validation.recording(recording),
            transcription=validation.transcription(transcription),
        )
        return await self._call(
            self._action("calls.connect", body, options, idempotent=False), ConnectResult
        )

    async def pre_accept(
        self, call_id: str, session: SessionDescription, **options: Unpack[CallOptions]
    ) -> CallActionResult:
        """Pre-accept an inbound call with the SDP answer, so media can start sooner."""
        body = action_body(
            CallAction.PRE_ACCEPT,
            call_id=validation.call_id(call_id),
            session=validation.session(session, SdpType.ANSWER),
        )
        request = self._action("calls.pre_accept", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    async def accept(
        self,
        call_id: str,
        session: SessionDescription,
        *,
        biz_opaque_callback_data: str | None = None,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
        **options: Unpack[CallOptions],
    ) -> CallActionResult:
        """Accept an inbound call with the same SDP answer given to `pre_accept`; `recording=`
        and `transcription=` as for `connect` (only these two actions take them)."""
        body = action_body(
            CallAction.ACCEPT,
            call_id=validation.call_id(call_id),
            session=validation.session(session, SdpType.ANSWER),
            biz_opaque_callback_data=validation.callback_data(biz_opaque_callback_data),
            recording=validation.recording(recording),
            transcription=validation.transcription(transcription),
        )
        request = self._action("calls.accept", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    async def reject(self, call_id: str, **options: Unpack[CallOptions]) -> CallActionResult:
        """Reject an inbound call before it is accepted."""
        body = action_body(CallAction.REJECT, call_id=validation.call_id(call_id))
        request = self._action("calls.reject", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    async def terminate(self, call_id: str, **options: Unpack[CallOptions]) -> CallActionResult:
        """End an active call (also after the user hung up, so billing ends accurately)."""
        body = action_body(CallAction.TERMINATE, call_id=validation.call_id(call_id))
        request = self._action("calls.terminate", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    def _action(
        self,
        operation: str,
        body: dict[str, Any],
        options: CallOptions,
        *,
        idempotent: bool = True,
    ) -> Request:
        return self._request("POST", PATH, operation, options, json=body, idempotent=idempotent)


def action_body(
    action: CallAction,
    *,
    call_id: str | None = None,
    to: str | None = None,
    session: SessionDescription | None = None,
    biz_opaque_callback_data: str | None = None,
    recording: Recording | MediaFeature | None = None,
    transcription: Transcription | MediaFeature | None = None,
) -> dict[str, Any]:
    """The JSON of a `CallActionBody` with these (validated) values, key order included, as
    `converter.unstructure(CallActionBody(...))` writes it, a `Recording` or `Transcription`
    taken as its `as_media_feature` (a test holds the two equal). Written directly because it
    runs on every call action: building the model re-checks every field and unstructuring
    walks it again, about 2 µs per call."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "action": action._value_}
    if call_id is not None:
        body["call_id"] = call_id
    if to is not None:
        body["to"] = to
    if session is not None:
        body["session"] = {"sdp_type": session.sdp_type._value_, "sdp": session.sdp}
    if biz_opaque_callback_data is not None:
        body["biz_opaque_callback_data"] = biz_opaque_callback_data
    if recording is not None:
        body["recording"] = _feature(recording)
    if transcription is not None:
        body["transcription"] = _feature(transcription)
    return body


def _feature(option: Recording | Transcription | MediaFeature) -> dict[str, Any]:
    """A recording or transcription request as sent: a `Recording` or `Transcription` is on."""
    if isinstance(option, MediaFeature):
        return converter.unstructure(option)  # type: ignore[no-any-return]
    return {
        "status": "ENABLED",
        "purpose": option.purpose,
        "announcement_language": option.announcement_language,
    }
