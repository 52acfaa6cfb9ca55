"""The transport's input half: the caller's audio and keypresses as pipecat frames, and the
call's connect and hang-up as pipecat's client events.

Audio comes from `CallAudio.frames(sample_rate=...)`, resampled by PyAV to the pipeline's input
rate, so pipecat's own resampler never runs. A keypress becomes an `InputDTMFFrame`. When the
call ends while the pipeline runs (the user hung up, the media failed), `on_client_disconnected`
fires and the pipeline is cancelled at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    CancelFrame,
    CancelWorkerFrame,
    ClientConnectedFrame,
    EndFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport

from d360_calling.media import MediaError
from d360_calling.pipecat.link import CallLink
from d360_calling.pipecat.params import D360Params

HANG_UP_REASON = "the call ended"
"""The reason on the `CancelFrame` that ends a pipeline whose call ended first."""


class ClientEvents(Protocol):
    """What the input half fires on its transport (`D360Transport` is one)."""

    async def client_connected(self) -> None:
        """Fire `on_client_connected`."""

    async def client_disconnected(self) -> None:
        """Fire `on_client_disconnected`."""


class D360InputTransport(BaseInputTransport):
    """Pushes the caller's audio (`InputAudioRawFrame`) and keys (`InputDTMFFrame`)."""

    def __init__(
        self, events: ClientEvents, link: CallLink, params: D360Params, **kwargs: Any
    ) -> None:
        super().__init__(params, **kwargs)
        self._events = events
        self._end_on_hang_up = params.end_on_hang_up
        self._link = link
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, frame: StartFrame) -> None:
        """Start reading the call and watching it; the pipeline's rate is known from here."""
        await super().start(frame)
        if not self._tasks:
            if self._params.audio_in_enabled:
                self._tasks.append(self.create_task(self._receive_audio(), "receive_audio"))
            self._tasks.append(self.create_task(self._receive_keys(), "receive_keys"))
            self._tasks.append(self.create_task(self._watch_call(), "watch_call"))
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        """The pipeline ends: stop reading (the output half hangs the call up)."""
        await super().stop(frame)
        await self._stop_tasks()

    async def cancel(self, frame: CancelFrame) -> None:
        """The pipeline is cancelled: stop reading at once."""
        await super().cancel(frame)
        await self._stop_tasks()

    async def cleanup(self) -> None:
        """Release the reading tasks, however the pipeline ended."""
        await super().cleanup()  # type: ignore[no-untyped-call]
        await self._stop_tasks()

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await self.cancel_task(task)

    async def _receive_audio(self) -> None:
        rate = self.sample_rate
        try:
            async for pcm in self._link.audio.frames(sample_rate=rate):
                await self.push_audio_frame(
                    InputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=1)
                )
        except MediaError:
            return  # the call ended: the watcher reports it

    async def _receive_keys(self) -> None:
        try:
            async for key in self._link.audio.dtmf:
                await self.push_frame(InputDTMFFrame(button=KeypadEntry(key.digit)))
        except MediaError:
            return

    async def _watch_call(self) -> None:
        """Report the call's connect and end; cancel the pipeline when the call ended first."""
        audio = self._link.audio
        try:
            await audio.wait_connected(timeout=None)
        except MediaError:
            connected = False
        else:
            connected = True
            await self._events.client_connected()
            await self.push_frame(ClientConnectedFrame())
        await audio.wait_ended()
        # The pipeline's own end stops this task first: here the call ended under it.
        if connected and not self._link.hanging_up:  # not `transport.hang_up()`
            await self._events.client_disconnected()
        if self._end_on_hang_up:
            await self.push_frame(CancelWorkerFrame(reason=HANG_UP_REASON), FrameDirection.UPSTREAM)
