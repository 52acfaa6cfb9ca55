"""The pipecat benchmark's bots, one per kind, each answering a caller's sound with a 660 Hz
tone, 20 ms for every 20 ms heard (`benchmarks.pipecat`):

- `plain`: `CallAudio` alone: `audio.frames(sample_rate=16000)` in, `audio.writer(24000)` out;
- `pipecat`: `D360Transport` and a pipeline `input → Echo → output` (`D360Params()`: pipecat
  writes 40 ms at a time, its default);
- `pipecat-20ms`: the same with `audio_out_10ms_chunks=2` (20 ms at a time);
- `pipecat-vad`: `pipecat` with Silero VAD (`VADProcessor`) ahead of the echo.

Both sides make the same tone with numpy and count the same frames, so what differs is the
layer. `python -m benchmarks.pipecat_bots --kind K [--cpus 0]` is the bot process of the CPU
levels: the `media_children` bot's protocol (JSON lines: client, status, mark, end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from typing import Any, Final

import numpy as np
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from benchmarks import harness
from benchmarks.media_children import Command, run_bot, usage
from benchmarks.media_common import (
    BOT_HZ,
    CONNECT_TIMEOUT,
    SECRET,
    LagMonitor,
)
from d360_calling.media import CallAudio, MediaError
from d360_calling.pipecat import D360Params, D360Transport
from d360_calling.webhooks import IncomingCall, Receiver, Router

KINDS: Final = ("plain", "pipecat", "pipecat-20ms", "pipecat-vad")
IN_RATE, OUT_RATE = 16_000, 24_000
LOUD: Final = 300.0
"""RMS (int16) above which a frame is the caller's sound."""


class Reply:
    """A 660 Hz tone at 24 kHz, phase-continuous, one piece per piece heard; counts frames.

    `heard_at` is when the first loud piece came out of `audio.frames()` and `said_at` when the
    first write of an answer began (`perf_counter`): the bot's own share of the reaction time.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.heard_at: float | None = None
        self.said_at: float | None = None
        self._phase = 0.0
        self._step = 2 * math.pi * BOT_HZ / OUT_RATE

    def heard(self, pcm: bytes) -> None:
        if self.heard_at is None and loud(pcm):
            self.heard_at = time.perf_counter()

    def said(self) -> None:
        if self.said_at is None:
            self.said_at = time.perf_counter()

    def answer(self, pcm: bytes) -> bytes | None:
        """The reply to one heard piece (16 kHz), or None when it was quiet."""
        self.frames += 1
        if not loud(pcm):
            return None
        count = len(pcm) // 2 * OUT_RATE // IN_RATE
        phases = self._phase + self._step * np.arange(1, count + 1)
        self._phase = float(phases[-1] % (2 * math.pi))
        return (0.3 * 32767 * np.sin(phases)).astype("<i2").tobytes()


def loud(pcm: bytes) -> bool:
    """Whether int16 `pcm` is sound rather than silence."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return bool(len(samples)) and math.sqrt(float(np.mean(samples**2))) >= LOUD


class Stamped:
    """The call's audio as the pipecat transport sees it, stamping the first loud frame in and
    the first answer out into a `Reply` (the benchmark's wrapper; the SDK is not edited)."""

    def __init__(self, audio: CallAudio, reply: Reply) -> None:
        self.frames_of = audio.frames
        self.writer_of = audio.writer
        self.reply = reply

    async def frames(self, sample_rate: int = IN_RATE) -> Any:
        async for pcm in self.frames_of(sample_rate):
            self.reply.heard(pcm)
            yield pcm

    def writer(self, sample_rate: int = OUT_RATE) -> Any:
        writer, reply = self.writer_of(sample_rate), self.reply
        write = writer.write

        async def stamped(pcm: bytes) -> None:
            reply.said()
            await write(pcm)

        writer.write = stamped  # type: ignore[method-assign]
        return writer


class Echo(FrameProcessor):
    """The pipecat bot's processor: `Reply` on every input frame."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)
        elif (pcm := self.reply.answer(frame.audio)) is not None:
            await self.push_frame(OutputAudioRawFrame(pcm, sample_rate=OUT_RATE, num_channels=1))


class BotCall:
    """One answered call of any kind: its audio, its reply and the task that runs it."""

    def __init__(self, audio: CallAudio, task: asyncio.Task[None], reply: Reply) -> None:
        self.audio = audio
        self.task = task
        self.reply = reply

    @property
    def open(self) -> bool:
        return not self.task.done()


async def run_plain(audio: CallAudio, reply: Reply) -> None:
    with contextlib.suppress(MediaError):
        writer = audio.writer(OUT_RATE)
        async for pcm in audio.frames(IN_RATE):
            reply.heard(pcm)
            if (out := reply.answer(pcm)) is not None:
                reply.said()
                await writer.write(out)


def pipeline_worker(transport: D360Transport, kind: str, reply: Reply) -> PipelineWorker:
    processors: list[FrameProcessor] = [Echo(reply)]
    if kind == "pipecat-vad":
        from pipecat.audio.vad.silero import SileroVADAnalyzer
        from pipecat.processors.audio.vad_processor import VADProcessor

        processors.insert(0, VADProcessor(vad_analyzer=SileroVADAnalyzer()))
    pipeline = Pipeline([transport.input(), *processors, transport.output()])
    return PipelineWorker(pipeline, idle_timeout_secs=None, enable_rtvi=False)


async def run_pipecat(transport: D360Transport, kind: str, reply: Reply) -> None:
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(pipeline_worker(transport, kind, reply))
    await runner.run()


class Bots:
    """Answers every connect with one kind of bot; `calls` by call id."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.router = Router()
        self.receiver = Receiver(self.router, secret=SECRET)
        self.calls: dict[str, BotCall] = {}
        self.failures: list[str] = []
        self.router.on_connect(self.on_connect)

    async def on_connect(self, call: IncomingCall) -> None:
        reply = Reply()
        options: dict[str, Any] = {"loopback": True, "connect_timeout": CONNECT_TIMEOUT}
        try:
            if self.kind == "plain":
                audio = await call.answer_with_audio(**options)
                task = asyncio.create_task(run_plain(audio, reply))
            else:
                chunks = 2 if self.kind == "pipecat-20ms" else 4
                params = D360Params(audio_out_10ms_chunks=chunks)
                transport = await D360Transport.answer(call, params, **options)
                audio = transport.audio
                stamped = Stamped(audio, reply)
                audio.frames, audio.writer = stamped.frames, stamped.writer  # type: ignore[method-assign]
                task = asyncio.create_task(run_pipecat(transport, self.kind, reply))
        except Exception as exc:
            self.failures.append(f"{call.call_id}: {type(exc).__name__}: {exc}")
            return
        self.calls[call.call_id] = BotCall(audio, task, reply)

    def status(self) -> dict[str, Any]:
        live = [c for c in self.calls.values() if c.open]
        return {
            "open": len(live),
            "connected": sum(c.audio.connected for c in live),
            "hearing": sum(c.reply.frames > 0 for c in live),
            "failures": self.failures[-5:],
            "failed": len(self.failures) + sum(c.audio.failure is not None for c in live),
        }

    async def close(self) -> int:
        await self.receiver.aclose()
        await self.router.aclose()
        left = 0
        for call in self.calls.values():
            left += call.open
            await call.audio.close()
        await asyncio.gather(*(c.task for c in self.calls.values()), return_exceptions=True)
        return left


async def bot_process(kind: str) -> None:
    """The bot process of one CPU level (the `media_children` bot's commands)."""
    bots = Bots(kind)

    def mark(_: Command, lag: LagMonitor) -> dict[str, Any]:
        frames = {cid: c.reply.frames for cid, c in bots.calls.items() if c.open}
        return {**usage(lag), "frames": frames}

    await run_bot(bots, mark)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipecat_bots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--cpus", help="pin this process to these CPUs (comma-separated)")
    args = parser.parse_args(argv)
    from loguru import logger  # pipecat's logger: this benchmark process keeps it quiet

    logger.remove()
    if args.cpus:
        harness.pin(int(c) for c in args.cpus.split(","))
    asyncio.run(bot_process(args.kind))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
