"""Whole calls through `D360Transport` against the sandbox: the user is a real WebRTC peer, the
bot a pipecat pipeline that answers tones, and what each side heard is checked by its pitch."""

from __future__ import annotations

import asyncio

import pytest

from d360_calling.pipecat import CallInfo, D360Params, D360Transport
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot
from . import tones
from .tones import Goodbye, PitchAnswerer, eventually, loud, pitch, start, worker_for

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0


def hearing(bot: Bot, call_id: str, hz: float) -> bool:
    """Whether the user hears nothing but a tone at `hz` (numpy, cheap enough to poll)."""
    return tones.hearing(bot.sandbox.voice(call_id).heard_pcm(0.4), hz)


async def test_an_inbound_call_is_answered_at_one_and_a_half_times_its_pitch(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    answerer = PitchAnswerer()
    events: list[tuple[str, CallInfo]] = []

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, D360Params(), loopback=True)

        @transport.event_handler("on_client_connected")
        async def connected(transport: D360Transport, client: CallInfo) -> None:
            events.append(("connected", client))

        @transport.event_handler("on_client_disconnected")
        async def disconnected(transport: D360Transport, client: CallInfo) -> None:
            events.append(("disconnected", client))

        start(worker_for(transport, answerer), tasks)  # the handler returns at once

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        await eventually(lambda: hearing(bot, call_id, 660.0))
        assert bot.sandbox.voice(call_id).dominant_frequency(0.3) == pytest.approx(660.0, abs=5.0)
        assert answerer.heard == pytest.approx(440.0, abs=2.0)
        await bot.sandbox.user_hangs_up(call_id)
        (pipeline,) = tasks
        await pipeline
    info = CallInfo(call_id=call_id, user=USER, inbound=True)
    assert events == [("connected", info), ("disconnected", info)]
    assert bot.sandbox.stats.effects["calls.terminate"] == 0  # the user hung up, not the bot


async def test_an_outbound_call_hangs_itself_up_after_a_goodbye_the_user_fully_hears(
    bot: Bot,
) -> None:
    goodbye = Goodbye(after=0.5, goodbye_hz=1200.0, seconds=1.0)
    bot.sandbox.set_permission(USER, "permanent")

    async def user_picks_up() -> None:
        while not bot.sandbox.calls:
            await asyncio.sleep(0.01)
        (call_id,) = bot.sandbox.calls
        await bot.sandbox.user_answers(call_id, media=True, tone_hz=550.0)

    async with asyncio.timeout(BOUND):
        picking_up = asyncio.create_task(user_picks_up())
        transport = await D360Transport.place(bot.client, bot.router, USER, loopback=True)
        await picking_up
        assert transport.call == CallInfo(transport.call.call_id, user=USER, inbound=False)
        tasks: set[asyncio.Task[None]] = set()
        await start(worker_for(transport, goodbye), tasks)
        assert goodbye.heard == pytest.approx(550.0, abs=2.0)
        assert (await bot.ended.get()).call_id == transport.call.call_id
    assert transport.ended
    assert bot.sandbox.stats.effects["calls.terminate"] == 1
    heard = bot.sandbox.voice(transport.call.call_id).heard_pcm()
    frames = [heard[i : i + 1920] for i in range(0, len(heard) - 1919, 1920)]
    said = [f for f in frames if loud(f) and abs((pitch(f, 48_000) or 0.0) - 1200.0) < 30.0]
    shape = "".join("G" if f in said else "a" if loud(f) else "." for f in frames)
    # 1.0 s is 50 frames: at most the codec's edge frame is lost (shape: G goodbye, a answer)
    assert len(said) >= 49, shape
    assert abs((pitch(b"".join(said[-3:]), 48_000) or 0.0) - 1200.0) < 5.0


async def test_a_user_hanging_up_mid_speech_ends_the_pipeline_within_a_second(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    transports: list[D360Transport] = []

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, loopback=True)
        transports.append(transport)
        start(worker_for(transport, PitchAnswerer()), tasks)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=500.0)
        await eventually(lambda: hearing(bot, call_id, 750.0))  # the bot is speaking
        await bot.sandbox.user_hangs_up(call_id)
        (pipeline,) = tasks
    async with asyncio.timeout(1.0):
        await pipeline
    assert transports[0].ended
    assert bot.sandbox.stats.effects["calls.terminate"] == 0


async def test_keypresses_arrive_as_dtmf_frames(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    answerer = PitchAnswerer()

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, loopback=True)
        start(worker_for(transport, answerer), tasks)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        await eventually(lambda: answerer.heard is not None)
        await bot.sandbox.press(call_id, "1*#", tone_ms=100, gap_ms=50)
        await eventually(lambda: len(answerer.keys) == 3)
        await bot.sandbox.user_hangs_up(call_id)
        await asyncio.gather(*tasks)
    assert answerer.keys == ["1", "*", "#"]
