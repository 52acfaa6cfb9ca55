"""`POST /calling/calls`: connect, pre-accept, accept, reject and terminate calls."""

from __future__ import annotations

import logging
import re
from typing import Any, Final, Unpack

from .. import validation
from ..errors import APIError
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

logger = logging.getLogger("d360_calling")

_ALREADY_ENDED: Final = re.compile(
    r"(?i)\b(?:cannot terminate a call that is (?:terminated|rejected|timed[_ ]out|completed"
    r"|failed|ended)|(?:call|it) (?:is |was |has )?already (?:been )?"
    r"(?:terminated|ended|completed|rejected))\b"
)
"""How an answer to `terminate` says the call had already ended (code 100, Invalid parameter,
§1.1: a terminate "on a call already ... ended by the user" is an error): the sandbox's words,
and the plain forms a real answer may take. Anything else about the call id still raises."""

SETTLED: Final = CallActionResult(success=True)
"""What `terminate` answers for a call that had already ended: it is over, as asked (no
`messaging_product`, which only the API's own answer carries)."""


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
        reached the API (a second one would ring the user twice). `to` is the number with its
        country code, as digits or as typed (`+1 (415) 555-0123` is sent as `14155550123`).
        `recording=Recording(...)` and `transcription=Transcription(...)` ask Meta to record or
        transcribe it."""
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
        """End an active call (also after the user hung up, so billing ends accurately).

        A call that had already ended (the user hung up first, it was rejected or timed out)
        is settled, not an error: the API's answer saying so (code 100 with the call's ended
        state) returns `CallActionResult(success=True)` and is logged at DEBUG. Any other
        refusal, an unknown call id included, raises as usual.
        """
        checked = validation.call_id(call_id)
        body = action_body(CallAction.TERMINATE, call_id=checked)
        request = self._action("calls.terminate", body, options)
        try:
            response = await self._session.dispatch(request)
        except APIError as error:
            if not already_ended(error):
                raise
            logger.debug("calls.terminate: %s had already ended; settled", checked)
            return SETTLED
        return self._answer(request, response, CallActionResult)

    def _action(
        self,
        operation: str,
        body: dict[str, Any],
        options: CallOptions,
        *,
        idempotent: bool = True,
    ) -> Request:
        return self._request("POST", PATH, operation, options, json=body, idempotent=idempotent)


def already_ended(error: APIError) -> bool:
    """Whether `error` answers a terminate of a call that had already ended: HTTP 400, code
    100 (Invalid parameter), and its details (or message) saying the call is over."""
    if error.status != 400 or error.code != 100:
        return False
    return any(
        text is not None and _ALREADY_ENDED.search(text) is not None
        for text in (error.details, error.message)
    )


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
