"""`D360Transport`: a pipecat transport over one WhatsApp call through 360dialog, inbound or
outbound, with its pipecat client events.

`await D360Transport.answer(call, params)` answers a user's call with audio and returns at once;
`await D360Transport.place(client, router, to, params)` places one and returns once the user
answered and the audio is up (no deadline unless `answer_timeout=`). Run the pipeline in a task
of its own: a connect handler that awaits the whole call blocks the receiver's handling of it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from pipecat.transports.base_transport import BaseTransport

from d360_calling import validation
from d360_calling.client import Client
from d360_calling.errors import ValidationError
from d360_calling.media import CallAudio
from d360_calling.models.calls import (
    MediaFeature,
    Recording,
    SessionDescription,
    Transcription,
)
from d360_calling.pipecat.input import D360InputTransport
from d360_calling.pipecat.link import CallInfo, CallLink, Terminate
from d360_calling.pipecat.output import D360OutputTransport
from d360_calling.pipecat.params import D360Params
from d360_calling.webhooks import IncomingCall, Router

EVENTS = ("on_client_connected", "on_client_disconnected")


class D360Transport(BaseTransport):
    """One call's audio as a pipecat transport: `input()` and `output()` go into a pipeline.

    Events, as pipecat's other transports have them (`@transport.event_handler(name)`):

    - `on_client_connected(transport, client)`: the call's audio is up (`client` is a
      `CallInfo`: `call_id`, `user`, `inbound`);
    - `on_client_disconnected(transport, client)`: the call ended while the pipeline ran (the
      user hung up, or the media failed); the pipeline is then cancelled at once
      (`D360Params.end_on_hang_up`). Not fired when the pipeline itself ended the call.

    When the pipeline ends, the call is ended through the API, once (`hang_up_on_end`).
    """

    def __init__(
        self,
        audio: CallAudio,
        call: CallInfo,
        terminate: Terminate,
        params: D360Params | None = None,
        *,
        name: str | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        """Wrap audio you set up yourself; `answer()` and `place()` do it for you.

        `terminate` ends the call through the API: `call.terminate` for an `IncomingCall`, or
        `functools.partial(client.calls.terminate, call_id)`.
        """
        super().__init__(name=name, input_name=input_name, output_name=output_name)
        self.params = params if params is not None else D360Params()
        self._link = CallLink(audio, call, terminate)
        self._input: D360InputTransport | None = None
        self._output: D360OutputTransport | None = None
        for event in EVENTS:
            self._register_event_handler(event)

    @classmethod
    async def answer(
        cls,
        call: IncomingCall,
        params: D360Params | None = None,
        *,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
        **answer_options: Any,
    ) -> D360Transport:
        """Answer a user's call with audio (pre-accept, accept, attach to the router) and
        return its transport at once. `answer_options` go to `CallAudio.answer`
        (`ice_servers=`, `connect_timeout=`, `loopback=`, ...).

        The connect of your own outbound call is no call to answer (`call.inbound` is False;
        the router applies its SDP answer): that is a `ValidationError`.
        """
        if not call.inbound:
            raise ValidationError(
                "call",
                f"{call.call_id} is the connect of an outbound call, not one to answer: "
                "check call.inbound in your connect handler",
            )
        audio = await call.answer_with_audio(
            recording=recording, transcription=transcription, **answer_options
        )
        info = CallInfo(call_id=call.call_id, user=call.event.from_, inbound=True)
        return cls(audio, info, call.terminate, params)

    @classmethod
    async def place(
        cls,
        client: Client,
        router: Router,
        to: str,
        params: D360Params | None = None,
        *,
        answer_timeout: float | None = None,
        biz_opaque_callback_data: str | None = None,
        recording: Recording | MediaFeature | None = None,
        transcription: Transcription | MediaFeature | None = None,
        **offer_options: Any,
    ) -> D360Transport:
        """Place a call to `to` and return its transport once the user answered and the audio
        is up. `router` (your receiver's) applies the user's SDP answer and closes the audio
        when the call ends. `offer_options` go to `CallAudio.offer` (`ice_servers=`, ...).

        Waits as long as the phone rings unless `answer_timeout` (seconds) is given; raises
        `MediaError` if the user declines or the media fails, `MediaTimeoutError` after
        `answer_timeout`; a call that did not come up is ended through the API and its audio
        closed, on cancellation too.
        """
        user = validation.wa_id(to, "to")
        if answer_timeout is not None:
            validation.seconds("answer_timeout", answer_timeout)
        audio = await CallAudio.offer(**offer_options)
        try:
            placed = await client.calls.connect(
                user,
                SessionDescription.offer(audio.sdp),
                biz_opaque_callback_data=biz_opaque_callback_data,
                recording=recording,
                transcription=transcription,
            )
        except BaseException:
            await audio.close()
            raise
        router.attach_media(placed.call_id, audio, client)
        terminate = functools.partial(client.calls.terminate, placed.call_id)
        info = CallInfo(call_id=placed.call_id, user=user, inbound=False)
        transport = cls(audio, info, terminate, params)
        try:
            await audio.wait_connected(timeout=answer_timeout)
        except BaseException:
            await asyncio.shield(transport.hang_up(drain=False))
            raise
        return transport

    @property
    def audio(self) -> CallAudio:
        """The call's audio (`CallAudio`): its DTMF, `send_dtmf`, `record`, ..."""
        return self._link.audio

    @property
    def call(self) -> CallInfo:
        """The call: `call_id`, `user`, `inbound`."""
        return self._link.info

    @property
    def ended(self) -> bool:
        """The call has ended (either side hung up, or its media failed)."""
        return self._link.ended

    async def hang_up(self, *, drain: bool = True) -> None:
        """End the call now: let the user hear what is queued (`drain`), end it through the
        API (once, and not if the user already hung up), close its audio. A running pipeline
        is then cancelled, as on a user hang-up, but without `on_client_disconnected`."""
        await self._link.hang_up(drain=drain)

    def input(self) -> D360InputTransport:
        """The caller's audio and keys, for the start of your pipeline."""
        if self._input is None:
            self._input = D360InputTransport(self, self._link, self.params, name=self._input_name)
        return self._input

    def output(self) -> D360OutputTransport:
        """The call's ear, for the end of your pipeline (after your TTS)."""
        if self._output is None:
            self._output = D360OutputTransport(self._link, self.params, name=self._output_name)
        return self._output

    def get_client_id(self, client: Any) -> str:
        """The call id of the `client` pipecat's events pass (a `CallInfo`)."""
        return client.call_id if isinstance(client, CallInfo) else ""

    async def client_connected(self) -> None:
        """Fire `on_client_connected` (the input half calls it once the audio is up)."""
        await self._call_event_handler("on_client_connected", self._link.info)

    async def client_disconnected(self) -> None:
        """Fire `on_client_disconnected` (the input half calls it when the call ended)."""
        await self._call_event_handler("on_client_disconnected", self._link.info)

    def __repr__(self) -> str:
        direction = "inbound" if self.call.inbound else "outbound"
        return f"D360Transport({direction} call {self.call.call_id}, ended={self.ended})"
