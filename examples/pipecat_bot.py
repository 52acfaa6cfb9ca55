"""A pipecat voice bot on WhatsApp calls through 360dialog: it answers the calls users make and
places calls of its own, each one a pipecat pipeline between `transport.input()` and
`transport.output()` (the `[pipecat]` extra).

The pipeline here is a stand-in that needs no keys: it hears the caller's pitch and answers at
1.5 times it. `build_worker` shows where your STT, LLM and TTS services go instead.

Run it against the embedded sandbox: a user calls at 440 Hz and should hear 660 Hz, then the
bot calls a user who answers at 550 Hz and should hear 825 Hz (exit status 0 when both do):

    python examples/pipecat_bot.py --sandbox

Or serve it against a standalone sandbox (or the real API, behind your HTTPS endpoint, with
your TURN server in `ice_servers=`), and let it also place a call at start with `--call`:

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook \\
        --webhook-secret S
    python examples/pipecat_bot.py --base-url http://127.0.0.1:8360 --secret S --call 14155550123
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from typing import Any

import numpy as np
from aiohttp import web
from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from d360_calling import Client
from d360_calling.pipecat import D360Params, D360Transport
from d360_calling.webhooks import IncomingCall, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/pipecat_bot.py
    import _serve

SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here
IN_RATE, OUT_RATE = 16_000, 24_000
"""pipecat's default pipeline rates, which `D360Params` uses too: no resampling by pipecat."""


class ToneAnswerer(FrameProcessor):
    """Hears the caller's pitch (over the last 0.2 s) and answers at `ratio` times it."""

    def __init__(self, ratio: float = 1.5) -> None:
        super().__init__()
        self.ratio = ratio
        self._window = np.zeros(0)
        self._phase = 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)
            return
        samples = np.frombuffer(frame.audio, dtype="<i2").astype(np.float64)
        self._window = np.concatenate([self._window, samples])[-frame.sample_rate // 5 :]
        if len(self._window) < frame.sample_rate // 5 or np.sqrt(np.mean(self._window**2)) < 300:
            return  # not enough heard yet, or silence
        spectrum = np.log(np.abs(np.fft.rfft(self._window * np.hanning(len(self._window)))) + 1e-9)
        peak = int(np.argmax(spectrum[3:-1])) + 3
        a, b, c = spectrum[peak - 1 : peak + 2]  # a parabola through the peak: well under 1 Hz
        heard = (peak + 0.5 * (a - c) / (a - 2 * b + c)) * frame.sample_rate / len(self._window)
        count = len(samples) * OUT_RATE // frame.sample_rate
        phases = self._phase + 2 * math.pi * heard * self.ratio / OUT_RATE * np.arange(1, count + 1)
        self._phase = float(phases[-1] % (2 * math.pi))
        pcm = (0.3 * 32767 * np.sin(phases)).astype("<i2").tobytes()
        await self.push_frame(OutputAudioRawFrame(pcm, sample_rate=OUT_RATE, num_channels=1))


def build_worker(transport: D360Transport) -> PipelineWorker:
    """One call's pipeline. A real voice bot puts its services where `ToneAnswerer()` is:

    stt = DeepgramSTTService(api_key=...)               # pipecat.services.deepgram.stt
    llm = OpenAILLMService(api_key=..., model="...")    # pipecat.services.openai.llm
    tts = CartesiaTTSService(api_key=..., voice_id=...) # at the pipeline's 24 kHz
    user, assistant = LLMContextAggregatorPair(LLMContext(messages))  # with a VAD for turns
    processors = [stt, user, llm, tts, assistant]
    """
    processors: list[FrameProcessor] = [ToneAnswerer()]
    pipeline = Pipeline([transport.input(), *processors, transport.output()])
    return PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=IN_RATE, audio_out_sample_rate=OUT_RATE),
        idle_timeout_secs=None,  # a call ends by itself: no idle cancel after 300 s
        enable_rtvi=False,  # no RTVI client on a phone call
    )


class Bots:
    """Runs one pipeline per call, each in a task of its own (never inside a webhook handler)."""

    def __init__(self, **media_options: Any) -> None:
        self.router = Router()
        self.media_options = media_options
        self.tasks: set[asyncio.Task[None]] = set()

        @self.router.on_connect
        async def answer(call: IncomingCall) -> None:
            if call.inbound:  # the connect of our own outbound call is handled by the router
                self.start(await D360Transport.answer(call, D360Params(), **self.media_options))

    async def place(self, client: Client, to: str) -> D360Transport:
        """Call `to`; once they answered, their pipeline runs."""
        transport = await D360Transport.place(
            client, self.router, to, D360Params(), **self.media_options
        )
        self.start(transport)
        return transport

    def start(self, transport: D360Transport) -> None:
        task = asyncio.create_task(self.run(transport))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def aclose(self) -> None:
        """Wait for the pipelines (closing the receiver ends their calls, and so them)."""
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def run(self, transport: D360Transport) -> None:
        runner = WorkerRunner(handle_sigint=False)  # one per call; the process owns its signals
        await runner.add_workers(build_worker(transport))
        await runner.run()


async def heard(box: Any, call_id: str, hz: float) -> float | None:
    """What the sandbox's user hears once it holds at `hz` (two readings in a row, at most 5 s),
    or the last pitch heard."""
    pitch, held = None, 0
    for _ in range(50):
        await asyncio.sleep(0.1)
        pitch = box.voice(call_id).dominant_frequency(0.3)
        held = held + 1 if pitch is not None and abs(pitch - hz) < 1.0 else 0
        if held == 2:
            break
    return pitch


async def ringing(box: Any, *, besides: str) -> str:
    """The id of the sandbox's new call (the one the bot is placing), once it rings."""
    for _ in range(500):
        calls = [call_id for call_id in box.calls if call_id != besides]
        if calls:
            return calls[0]
        await asyncio.sleep(0.01)
    raise TimeoutError("the bot's call never rang")


async def demo_with_sandbox() -> bool:
    """An inbound call at 440 Hz and an outbound one at 550 Hz against an embedded sandbox;
    whether each user heard their pitch answered at 1.5 times it."""
    from d360_calling.sandbox import Sandbox

    bots = Bots(loopback=True)
    receiver = Receiver(bots.router, secret=SANDBOX_SECRET)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
    try:
        async with (
            Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SANDBOX_SECRET) as box,
            Client("sandbox-key", base_url=box.base_url) as client,
        ):
            receiver.client = client
            inbound = await box.ring("14155550123", media=True, tone_hz=440.0)
            inbound_pitch = await heard(box, inbound, 660.0)
            await box.user_hangs_up(inbound)

            user = "14155550124"
            box.set_permission(user, "permanent")
            placing = asyncio.create_task(bots.place(client, user))
            outbound = await ringing(box, besides=inbound)
            await box.user_answers(outbound, media=True, tone_hz=550.0)
            await placing
            outbound_pitch = await heard(box, outbound, 825.0)
            await box.user_hangs_up(outbound)
            await bots.aclose()
    finally:
        await receiver.aclose()
        await runner.cleanup()
    print(f"inbound: the user said 440 Hz and heard {inbound_pitch or 0:.0f} Hz (660 expected)")
    print(f"outbound: the user said 550 Hz and heard {outbound_pitch or 0:.0f} Hz (825 expected)")
    return all(
        pitch is not None and abs(pitch - want) < 5.0
        for pitch, want in ((inbound_pitch, 660.0), (outbound_pitch, 825.0))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser, media=True)
    parser.add_argument("--call", metavar="NUMBER", help="place a call to NUMBER once serving")
    args = parser.parse_args()
    # pipecat logs through loguru, at DEBUG by default; this program chooses WARNING for itself
    # (the SDK never touches loguru's configuration).
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if args.sandbox:
        raise SystemExit(0 if asyncio.run(demo_with_sandbox()) else 1)
    where = _serve.target(parser, args)
    bots = Bots(loopback=where.loopback)
    receiver = Receiver(bots.router, secret=where.secret)

    async def call(client: Client) -> None:
        if args.call:
            transport = await bots.place(client, args.call)
            _serve.say(f"called {args.call}: {transport.call.call_id}")

    async def serve() -> None:
        try:
            await _serve.serve(receiver, where, then=call)
        finally:
            await bots.aclose()

    _serve.run(serve())


if __name__ == "__main__":
    main()
