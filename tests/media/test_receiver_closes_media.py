"""Shutting the receiver down closes the audio its handlers attached: `aclose()`, the aiohttp
app's cleanup and the ASGI lifespan shutdown each leave no peer connection, UDP socket or task.

A real call: the sandbox's user is an aiortc peer, the bot answers with `answer_with_audio`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

pytest.importorskip("aiortc")

from aiohttp import web

from d360_calling import Client
from d360_calling.media import CallAudio
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import IncomingCall, Receiver, Router

from ..support.webhooks import serve_uvicorn

pytestmark = pytest.mark.usefixtures("no_leaks")

SECRET = "closing-secret"
USER = "14155550123"
BOUND = 20.0

Stop = Callable[[], Awaitable[None]]


async def serve_aiohttp(receiver: Receiver) -> tuple[str, Stop]:
    """`receiver.app` on loopback; stopping it runs the app's cleanup."""
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}", runner.cleanup


async def serve_aiohttp_then_aclose(receiver: Receiver) -> tuple[str, Stop]:
    """As `serve_aiohttp`, but shut down by `receiver.aclose()` before the app stops."""
    url, cleanup = await serve_aiohttp(receiver)

    async def stop() -> None:
        await receiver.aclose()
        await cleanup()

    return url, stop


async def serve_asgi(receiver: Receiver) -> tuple[str, Stop]:
    """`receiver.asgi` under uvicorn; stopping it runs the ASGI lifespan shutdown."""
    served = await serve_uvicorn(receiver.asgi, receiver)
    return served.url, served.stop


def once(stop: Stop) -> Stop:
    """`stop`, run at most once however often it is awaited."""
    done: list[bool] = []

    async def stop_once() -> None:
        if not done:
            done.append(True)
            await stop()

    return stop_once


@pytest.mark.parametrize(
    "serve",
    [serve_aiohttp_then_aclose, serve_aiohttp, serve_asgi],
    ids=["aclose", "aiohttp-cleanup", "asgi-lifespan"],
)
async def test_shutting_the_receiver_down_closes_call_audio(
    serve: Callable[[Receiver], Awaitable[tuple[str, Stop]]],
) -> None:
    router = Router()
    receiver = Receiver(router, secret=SECRET, drain_deadline=0)  # no wait for the call
    answered: asyncio.Queue[CallAudio] = asyncio.Queue()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        await answered.put(await call.answer_with_audio(loopback=True))

    url, stop = await serve(receiver)
    stop = once(stop)
    try:
        async with (
            asyncio.timeout(BOUND),
            Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            call_id = await sandbox.ring(USER, media=True, tone_hz=440.0)
            audio = await answered.get()
            await audio.wait_connected(timeout=5.0)
            assert router.media_of(call_id) is audio
            await stop()
            assert not audio.connected
            assert await asyncio.wait_for(audio.wait_ended(), 5) is None  # closed, not failed
            assert router.media_of(call_id) is None
    finally:
        await receiver.aclose()
        await stop()
