"""`POST /calling/calls`: connect, pre-accept, accept, reject and terminate calls."""

from __future__ import annotations

from typing import Any, Unpack

from .. import validation
from ..models.calls import (
    CallAction,
    CallActionBody,
    CallActionResult,
    ConnectResult,
    MediaFeature,
    SdpType,
    SessionDescription,
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
        recording: MediaFeature | None = None,
        transcription: MediaFeature | None = None,
        **options: Unpack[CallOptions],
    ) -> ConnectResult:
        """Place a business-initiated call with an SDP offer; never resent once it may have
        reached the API (a second one would ring the user twice)."""
        body = CallActionBody(
            messaging_product="whatsapp",
            action=CallAction.CONNECT,
            to=validation.wa_id(to, "to"),
            session=validation.session(session, SdpType.OFFER),
            biz_opaque_callback_data=validation.callback_data(biz_opaque_callback_data),
            recording=recording,
            transcription=transcription,
        )
        return await self._call(
            self._action("calls.connect", body, options, idempotent=False), ConnectResult
        )

    async def pre_accept(
        self, call_id: str, session: SessionDescription, **options: Unpack[CallOptions]
    ) -> CallActionResult:
        """Pre-accept an inbound call with the SDP answer, so media can start sooner."""
        body = CallActionBody(
            messaging_product="whatsapp",
            action=CallAction.PRE_ACCEPT,
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
        recording: MediaFeature | None = None,
        transcription: MediaFeature | None = None,
        **options: Unpack[CallOptions],
    ) -> CallActionResult:
        """Accept an inbound call with the same SDP answer given to `pre_accept`."""
        body = CallActionBody(
            messaging_product="whatsapp",
            action=CallAction.ACCEPT,
            call_id=validation.call_id(call_id),
            session=validation.session(session, SdpType.ANSWER),
            biz_opaque_callback_data=validation.callback_data(biz_opaque_callback_data),
            recording=recording,
            transcription=transcription,
        )
        request = self._action("calls.accept", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    async def reject(self, call_id: str, **options: Unpack[CallOptions]) -> CallActionResult:
        """Reject an inbound call before it is accepted."""
        body = CallActionBody(
            messaging_product="whatsapp",
            action=CallAction.REJECT,
            call_id=validation.call_id(call_id),
        )
        request = self._action("calls.reject", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    async def terminate(self, call_id: str, **options: Unpack[CallOptions]) -> CallActionResult:
        """End an active call (also after the user hung up, so billing ends accurately)."""
        body = CallActionBody(
            messaging_product="whatsapp",
            action=CallAction.TERMINATE,
            call_id=validation.call_id(call_id),
        )
        request = self._action("calls.terminate", body, options)
        return self._answer(request, await self._session.dispatch(request), CallActionResult)

    def _action(
        self,
        operation: str,
        body: CallActionBody,
        options: CallOptions,
        *,
        idempotent: bool = True,
    ) -> Request:
        payload: Any = converter.unstructure(body)
        return self._request("POST", PATH, operation, options, json=payload, idempotent=idempotent)
