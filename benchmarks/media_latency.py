"""The media benchmark's first scenario: set-up latency, N sequential calls in this process.

The sandbox rings with a real user peer, the signed connect webhook reaches a `Receiver` on
127.0.0.1, the handler runs `call.answer_with_audio(loopback=True)` and plays a tone. Measured
from the handler's first line to the first 20 ms frame `audio.frames()` yields (the bot hears
the user) and to the first PCM the user's peer decodes (the user hears the bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, Final

from benchmarks.media_common import (
    BOT_HZ,
    SECRET,
    USER_HZ,
    DatagramGuard,
    hook_heard,
    serve,
    spread_ms,
    spread_table,
    wa_id,
)
from d360_calling import Client
from d360_calling.media import CallAudio, tone
from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import IncomingCall, Receiver, Router

POLL: Final = 0.005
"""Seconds between polls of the user's peer when its buffer cannot be hooked."""
CALL_BOUND: Final = 20.0
"""Seconds one latency call gets, from ring to hang-up."""


class Answered:
    """What the bot's connect handler saw for one latency call."""

    def __init__(self, call_id: str, arrived: float) -> None:
        self.call_id = call_id
        self.arrived = arrived
        self.answered: float | None = None
        self.error: str | None = None
        self.audio: CallAudio | None = None
        self.frames: AsyncIterator[bytes] | None = None
        self.first_frame: asyncio.Task[float] | None = None
        self.connected: asyncio.Task[float] | None = None
        self.playing: asyncio.Task[bool] | None = None


async def _stamp_first(frames: AsyncIterator[bytes]) -> float:
    await anext(frames)
    return time.perf_counter()


async def _stamp_connected(audio: CallAudio) -> float:
    await audio.wait_connected()
    return time.perf_counter()


async def run_latency(calls: int) -> dict[str, Any]:
    """N sequential calls through sandbox → webhook → handler → answer_with_audio → audio."""
    guard = DatagramGuard()
    guard.install()
    router = Router()
    receiver = Receiver(router, secret=SECRET)
    arrivals: asyncio.Queue[Answered] = asyncio.Queue()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        seen = Answered(call.call_id, time.perf_counter())
        try:
            audio = await call.answer_with_audio(loopback=True)
        except Exception as exc:
            seen.error = f"answer_with_audio: {type(exc).__name__}: {exc}"
            await arrivals.put(seen)
            return
        seen.answered = time.perf_counter()
        seen.audio = audio
        seen.frames = audio.frames()
        seen.first_frame = asyncio.create_task(_stamp_first(seen.frames))
        seen.connected = asyncio.create_task(_stamp_connected(audio))
        seen.playing = asyncio.create_task(audio.play(tone(BOT_HZ)))
        await arrivals.put(seen)

    samples: list[dict[str, Any]] = []
    errors: list[str] = []
    polled = 0
    runner, url = await serve(receiver)
    try:
        async with (
            Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            for index in range(calls):
                try:
                    async with asyncio.timeout(CALL_BOUND):
                        sample, was_polled = await _latency_call(sandbox, arrivals, index)
                    samples.append(sample)
                    polled += was_polled
                except Exception as exc:  # one bad call is a reported error, not a crash
                    errors.append(f"call {index}: {type(exc).__name__}: {exc}")
            await receiver.aclose()
            await router.aclose()
    finally:
        await runner.cleanup()
        guard.uninstall()
    if guard.elsewhere:
        errors.append(f"datagrams sent off loopback: {guard.elsewhere}")
    metrics = [
        ("ring() → connect handler", "ring_to_handler_ms"),
        ("handler → answer_with_audio returned", "answered_ms"),
        ("handler → ICE + DTLS connected", "connected_ms"),
        ("handler → bot's first frame from the user", "bot_first_frame_ms"),
        ("handler → user's first frame from the bot", "user_first_frame_ms"),
    ]
    rows = []
    for label, key in metrics:
        values = [s[key] for s in samples]
        rows.append({"metric": label, "key": key, "n": len(values), **spread_ms(values)})
    return {
        "calls": calls,
        "completed": len(samples),
        "rows": rows,
        "samples": samples,
        "user_side": "polled every 5 ms" if polled else "hooked (stamped on decode)",
        "datagrams": guard.sent,
        "errors": errors,
    }


async def _latency_call(
    sandbox: Sandbox, arrivals: asyncio.Queue[Answered], index: int
) -> tuple[dict[str, Any], bool]:
    ring = time.perf_counter()
    call_id = await sandbox.ring(wa_id(index), media=True, tone_hz=USER_HZ)
    peer = sandbox.voice(call_id)
    counter = hook_heard(peer)
    seen = await arrivals.get()
    try:
        if seen.error is not None:
            raise RuntimeError(seen.error)
        if seen.call_id != call_id:
            raise RuntimeError(f"connect for {seen.call_id}, expected {call_id}")
        while True:  # bounded by the caller's CALL_BOUND
            if counter is not None and counter.first is not None:
                user_first = counter.first
                break
            if counter is None and peer.heard_pcm(0.02):
                user_first = time.perf_counter()
                break
            await asyncio.sleep(POLL)
        assert seen.first_frame is not None
        assert seen.connected is not None
        assert seen.answered is not None
        bot_first = await seen.first_frame
        connected = await seen.connected
        ms = 1000.0
        sample = {
            "call_id": call_id,
            "ring_to_handler_ms": (seen.arrived - ring) * ms,
            "answered_ms": (seen.answered - seen.arrived) * ms,
            "connected_ms": (connected - seen.arrived) * ms,
            "bot_first_frame_ms": (bot_first - seen.arrived) * ms,
            "user_first_frame_ms": (user_first - seen.arrived) * ms,
        }
    finally:
        await _hang_up_latency_call(sandbox, seen, call_id, peer)
    return sample, counter is None


async def _hang_up_latency_call(
    sandbox: Sandbox, seen: Answered, call_id: str, peer: UserPeer
) -> None:
    tasks = [t for t in (seen.first_frame, seen.connected) if t is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if seen.audio is not None:
        seen.audio.interrupt()
    if seen.playing is not None:
        await asyncio.gather(seen.playing, return_exceptions=True)
    if seen.frames is not None:
        with contextlib.suppress(Exception):
            await seen.frames.aclose()  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        await sandbox.user_hangs_up(call_id)
    if seen.audio is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await seen.audio.wait_ended()
        await seen.audio.close()
    await peer.close()


def latency_table(latency: dict[str, Any]) -> str:
    return spread_table("from the connect webhook's handler to", "calls", latency["rows"])
