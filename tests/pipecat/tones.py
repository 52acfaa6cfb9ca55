"""What the pipecat tests' pipelines are made of, with no AI service: processors that hear a
pitch and answer with a tone, say a goodbye and hang up, or talk until interrupted; and running
one pipeline per call the way a bot does (a task, not the webhook handler)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from d360_calling.pipecat import D360Transport

OUT_RATE = 24_000
"""pipecat's output rate (and `D360Params`'s): what the processors speak at."""
LOUD = 300.0
"""RMS (int16) above which a piece of audio is taken as sound, not silence."""


def pitch(pcm: bytes, rate: int) -> float | None:
    """The strongest frequency of int16 mono `pcm`, to well under 1 Hz; None for silence."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if len(samples) < rate // 100 or math.sqrt(np.mean(samples**2)) < LOUD:
        return None
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[:3] = 0.0
    peak = int(np.argmax(spectrum))
    if 0 < peak < len(spectrum) - 1:  # a parabola through the peak and its neighbours
        a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-9)
        offset = 0.5 * (a - c) / (a - 2 * b + c)
    else:
        offset = 0.0
    return float((peak + offset) * rate / len(samples))


def hearing(heard: bytes, hz: float, seconds: float = 0.4) -> bool:
    """Whether the last `seconds` of `heard` (48 kHz) is nothing but a tone at `hz`."""
    heard = heard[-int(seconds * 48_000) * 2 :]
    frames = [heard[i : i + 1920] for i in range(0, len(heard) - 1919, 1920)]
    if len(frames) < seconds * 50 or not all(loud(frame) for frame in frames):
        return False
    return abs((pitch(heard, 48_000) or 0.0) - hz) < 5.0


def loud(pcm: bytes) -> bool:
    """Whether int16 `pcm` holds sound rather than silence."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return bool(len(samples)) and math.sqrt(np.mean(samples**2)) >= LOUD


class ToneMaker:
    """A sine wave at a changing pitch, phase-continuous from one piece to the next."""

    def __init__(self, rate: int = OUT_RATE, amplitude: float = 0.3) -> None:
        self._rate = rate
        self._scale = amplitude * 32767
        self._phase = 0.0

    def next(self, frequency_hz: float, samples: int) -> bytes:
        step = 2 * math.pi * frequency_hz / self._rate
        phases = self._phase + step * np.arange(1, samples + 1)
        self._phase = float(phases[-1] % (2 * math.pi))
        return (self._scale * np.sin(phases)).astype("<i2").tobytes()


def audio_frame(pcm: bytes) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=pcm, sample_rate=OUT_RATE, num_channels=1)


class PitchAnswerer(FrameProcessor):
    """Hears the caller's pitch (over the last 0.2 s) and answers at `ratio` times it, one
    piece for each piece heard, so it speaks at the caller's pace; records what it heard."""

    LEAD = 3
    """Pieces said ahead when it starts to answer: without a lead, any jitter in hearing the
    caller would leave the call's queue empty for a moment (a TTS is always ahead anyway)."""

    def __init__(self, ratio: float = 1.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ratio = ratio
        self.heard: float | None = None
        self.keys: list[str] = []
        self._window = b""
        self._tone = ToneMaker()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.hear(frame)
        else:
            if isinstance(frame, InputDTMFFrame):
                self.keys.append(frame.button.value)
            await self.push_frame(frame, direction)

    async def hear(self, frame: InputAudioRawFrame) -> None:
        self._window = (self._window + frame.audio)[-frame.sample_rate * 2 // 5 :]
        if len(self._window) < frame.sample_rate * 2 // 5:
            return
        answering = self.heard is not None
        self.heard = pitch(self._window, frame.sample_rate)
        if self.heard is not None:
            pieces = 1 if answering else 1 + self.LEAD
            samples = pieces * frame.num_frames * OUT_RATE // frame.sample_rate
            await self.push_frame(audio_frame(self._tone.next(self.heard * self.ratio, samples)))


class Goodbye(PitchAnswerer):
    """Answers like `PitchAnswerer` for `after` seconds, then says a goodbye of exactly
    `seconds` at `goodbye_hz` at once (as a TTS does) and ends the pipeline (an EndFrame)."""

    def __init__(self, *, after: float, goodbye_hz: float, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._left = after
        self._goodbye = ToneMaker().next(goodbye_hz, int(seconds * OUT_RATE))
        self.said = False

    async def hear(self, frame: InputAudioRawFrame) -> None:
        if self.said:
            return
        await super().hear(frame)
        if self.heard is not None:
            self._left -= frame.num_frames / frame.sample_rate
        if self._left <= 0:
            self.said = True
            chunk = OUT_RATE // 10 * 2
            for start in range(0, len(self._goodbye), chunk):
                await self.push_frame(audio_frame(self._goodbye[start : start + chunk]))
            await self.push_frame(EndWorkerFrame(reason="goodbye"), FrameDirection.UPSTREAM)


class Talker(FrameProcessor):
    """Once the caller is heard, says `seconds` of `hz` at once, as a TTS reply; stops on an
    interruption and notes when it came (`interrupted_at`, loop time)."""

    def __init__(self, *, hz: float, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._speech = ToneMaker().next(hz, int(seconds * OUT_RATE))
        self.spoke = False
        self.interrupted_at: float | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame) and self.interrupted_at is None and self.spoke:
            self.interrupted_at = asyncio.get_running_loop().time()
        if isinstance(frame, InputAudioRawFrame) and not self.spoke:
            self.spoke = True
            chunk = OUT_RATE // 10 * 2
            for start in range(0, len(self._speech), chunk):
                await self.push_frame(audio_frame(self._speech[start : start + chunk]))
        await self.push_frame(frame, direction)


def worker_for(transport: D360Transport, *processors: FrameProcessor) -> PipelineWorker:
    """A pipeline from the call's input through `processors` to its output, set as a call
    needs it: no idle timeout (the call has its own end) and no RTVI (no RTVI client)."""
    pipeline = Pipeline([transport.input(), *processors, transport.output()])
    return PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=16_000, audio_out_sample_rate=OUT_RATE),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )


async def run(worker: PipelineWorker) -> None:
    """Run one call's pipeline to its end (one runner per call, no signal handlers)."""
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def start(worker: PipelineWorker, tasks: set[asyncio.Task[None]]) -> asyncio.Task[None]:
    """Run the pipeline in a task of its own (kept in `tasks`), as a connect handler must."""
    task = asyncio.create_task(run(worker))
    tasks.add(task)
    return task


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until `check()` holds, polling; TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.02)
