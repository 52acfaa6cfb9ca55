"""A webhook worker for `test_drain_sigterm`, run as `python -m tests.webhooks.drain_worker
{uvicorn|aiohttp} PORT`: a receiver on 127.0.0.1:PORT whose connect handler answers with audio on
loopback and plays a tone until the call ends. It drains on SIGTERM the way a deployed worker
does (uvicorn, or aiohttp's `web.run_app`), and prints two JSON lines: `{"ready": true}` once it
serves, and on its way out the drain's report with what was left (tasks, open audio, UDP).

Its API is the sandbox at `$D360_BASE_URL` (key `$D360_API_KEY`), `$D360_WEBHOOK_SECRET` signs
the deliveries and `$DRAIN_DEADLINE` is the receiver's `drain_deadline`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from types import FrameType

import uvicorn
from aiohttp import web

from d360_calling import Client
from d360_calling.media import CallAudio, tone
from d360_calling.webhooks import DrainReport, IncomingCall, Receiver, Router
from tests.media.conftest import udp_sockets


class Worker:
    """The receiver, the audio it answered with and what its drain reported."""

    def __init__(self) -> None:
        self.router = Router()
        self.receiver = Receiver(self.router, drain_deadline=float(os.environ["DRAIN_DEADLINE"]))
        self.audio: list[CallAudio] = []
        self.report: DrainReport | None = None
        self.router.on_connect(self.answer)

    async def answer(self, call: IncomingCall) -> None:
        audio = await call.answer_with_audio(loopback=True)
        self.audio.append(audio)
        await audio.play(tone(440.0))  # until the call ends

    async def drain(self) -> None:
        self.report = await self.receiver.drain()

    def summary(self, sockets: set[str]) -> None:
        """Print what the drain did and what it left behind (in the loop, before it closes)."""
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        emit(
            report=None if self.report is None else self.report._asdict(),
            answered=len(self.audio),
            open_audio=sum(not audio.ended for audio in self.audio),
            tasks=[repr(task) for task in tasks],
            udp_sockets=len(udp_sockets() - sockets),
        )


def sandbox_client() -> Client:
    return Client(os.environ["D360_API_KEY"], base_url=os.environ["D360_BASE_URL"])


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def serve_uvicorn(worker: Worker, port: int) -> None:
    sockets = udp_sockets()
    async with sandbox_client() as client:
        worker.receiver.client = client
        config = uvicorn.Config(
            worker.receiver.asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        emit(ready=True)
        await serving
        worker.report = await worker.receiver.drain()  # the one the lifespan ran
    worker.summary(sockets)


def run_uvicorn(worker: Worker, port: int) -> None:
    # uvicorn raises the SIGTERM it handled again once it has shut down, with the handler found
    # at start: the default one would kill the worker before it reports, so note it instead.
    def noted(signum: int, frame: FrameType | None) -> None:
        emit(signal=signum)

    signal.signal(signal.SIGTERM, noted)
    asyncio.run(serve_uvicorn(worker, port))


def run_aiohttp(worker: Worker, port: int) -> None:
    app = worker.receiver.app
    sockets = udp_sockets()

    async def clients(_: web.Application) -> AsyncIterator[None]:
        async with sandbox_client() as client:
            worker.receiver.client = client
            yield
        await worker.drain()  # the one `on_shutdown` ran
        worker.summary(sockets)

    app.cleanup_ctx.append(clients)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda _: emit(ready=True))


def main() -> None:
    server, port = sys.argv[1], int(sys.argv[2])
    worker = Worker()
    run_uvicorn(worker, port) if server == "uvicorn" else run_aiohttp(worker, port)


if __name__ == "__main__":
    main()
