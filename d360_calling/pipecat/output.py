"""The transport's output half: the pipeline's audio into the call, interruptions that silence
it at once, and the hang-up when the pipeline ends.

Audio goes through one `AudioWriter` per call (PyAV resamples it to Opus's 48 kHz; a write
returns at real-time pace). An `InterruptionFrame` clears what the writer holds, so the user
stops hearing the bot within a frame and the next audio is heard from its first sample. After
the call ended a write fails at once and is reported as not taken, so pipecat never waits on a
gone call nor writes the transport off. An `EndFrame` plays out what is queued, then ends the
call through the API (once); a `CancelFrame` ends it without waiting.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BaseOutputTransport

from d360_calling.media import AudioWriter, MediaError
from d360_calling.pipecat.link import CallLink
from d360_calling.pipecat.params import D360Params

logger = logging.getLogger("d360_calling.pipecat")


class D360OutputTransport(BaseOutputTransport):
    """Writes `OutputAudioRawFrame`s into the call and hangs it up when the pipeline ends."""

    def __init__(self, link: CallLink, params: D360Params, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._link = link
        self._hang_up_on_end = params.hang_up_on_end
        self._writer: AudioWriter | None = None
        self._warned_rate = False

    async def start(self, frame: StartFrame) -> None:
        """Open the call's writer at the pipeline's output rate."""
        await super().start(frame)
        if self._writer is None and not self._link.ended:
            with contextlib.suppress(MediaError):  # ended meanwhile: nothing will be written
                self._writer = self._link.audio.writer(sample_rate=self.sample_rate)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Clear the call's audio on an interruption; flush the last partial chunk on an end."""
        if isinstance(frame, InterruptionFrame):
            self._interrupt()
        elif isinstance(frame, OutputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            self._check_rate(frame)
        elif isinstance(frame, EndFrame) and direction == FrameDirection.DOWNSTREAM:
            # pipecat queues audio in whole chunks and flushes the remainder only on a
            # TTSStoppedFrame: without one, the last few ms of a goodbye would be dropped.
            await super().process_frame(TTSStoppedFrame(), direction)
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Write one chunk at real-time pace; False, at once, once the call has ended."""
        writer = self._writer
        if writer is None or self._link.ended:
            return False
        try:
            await writer.write(frame.audio)  # what an interruption overtook is dropped
        except MediaError:
            return False
        return True

    async def stop(self, frame: EndFrame) -> None:
        """The pipeline ended: play out what is queued, then end the call (once)."""
        await super().stop(frame)
        if self._hang_up_on_end:
            await self._link.hang_up(drain=True)

    async def cancel(self, frame: CancelFrame) -> None:
        """The pipeline was cancelled: end the call now (once)."""
        await super().cancel(frame)
        if self._hang_up_on_end:
            await self._link.hang_up(drain=False)

    async def cleanup(self) -> None:
        """However the pipeline went (a setup that failed too), the call does not outlive it."""
        await super().cleanup()  # type: ignore[no-untyped-call]
        if self._hang_up_on_end:
            await self._link.hang_up(drain=False)

    def _interrupt(self) -> None:
        if self._writer is not None:
            self._writer.clear()

    def _check_rate(self, frame: OutputAudioRawFrame) -> None:
        if frame.sample_rate != self.sample_rate and not self._warned_rate:
            self._warned_rate = True
            logger.warning(
                "audio at %d Hz reaches a transport set to %d Hz: pipecat resamples it, adding "
                "latency; set your TTS's sample_rate and D360Params.audio_out_sample_rate alike",
                frame.sample_rate,
                self.sample_rate,
            )
