"""`D360Transport`'s edges against the sandbox: placing a call that is declined, never answered
or given up on; writing into a call that ended (at once, and the transport stays usable); the
connect of an outbound call is no call to answer; and the parameters."""

from __future__ import annotations

import asyncio

import pytest
from pipecat.frames.frames import EndFrame
from pipecat.pipeline.worker import PipelineWorker

from d360_calling.errors import ValidationError
from d360_calling.media import MediaError, MediaTimeoutError
from d360_calling.pipecat import CallInfo, D360Params, D360Transport
from d360_calling.webhooks import IncomingCall

from ..support.bots import USER, Bot
from .tones import PitchAnswerer, Talker, eventually, start, worker_for

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0


def test_the_params_default_to_pipecats_rates_with_audio_both_ways() -> None:
    params = D360Params()
    assert (params.audio_in_sample_rate, params.audio_out_sample_rate) == (16_000, 24_000)
    assert (params.audio_in_enabled, params.audio_out_enabled) == (True, True)
    assert params.audio_out_end_silence_secs == 0
    assert (params.hang_up_on_end, params.end_on_hang_up) == (True, True)


@pytest.mark.parametrize(
    "wrong", [{"audio_out_channels": 2}, {"audio_in_channels": 2}, {"video_out_enabled": True}]
)
def test_params_a_call_cannot_carry_are_refused(wrong: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"mono|video"):
        D360Params(**wrong)  # type: ignore[arg-type]


async def placing(bot: Bot, **options: object) -> tuple[asyncio.Task[D360Transport], str]:
    """Start placing a call to USER; the task and the call id once the sandbox has it."""
    bot.sandbox.set_permission(USER, "permanent")
    placing = asyncio.create_task(
        D360Transport.place(bot.client, bot.router, USER, loopback=True, **options)  # type: ignore[arg-type]
    )
    await eventually(lambda: bool(bot.sandbox.calls))
    (call_id,) = bot.sandbox.calls
    return placing, call_id


async def test_a_declined_call_raises_and_is_not_terminated(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        task, call_id = await placing(bot)
        await bot.sandbox.user_rejects(call_id)
        with pytest.raises(MediaError):
            await task
    assert bot.sandbox.stats.effects["calls.terminate"] == 0


async def test_an_unanswered_call_times_out_only_when_asked_and_is_ended_once(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        task, call_id = await placing(bot, answer_timeout=0.3)
        with pytest.raises(MediaTimeoutError):
            await task
        assert (await bot.ended.get()).call_id == call_id
    assert bot.sandbox.stats.effects["calls.terminate"] == 1
    assert bot.router.media_of(call_id) is None


async def test_giving_up_on_a_ringing_call_ends_it_once(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        task, call_id = await placing(bot)  # no answer_timeout: it would ring on
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await bot.ended.get()).call_id == call_id
    assert bot.sandbox.stats.effects["calls.terminate"] == 1


async def test_the_connect_of_an_outbound_call_is_no_call_to_answer(bot: Bot) -> None:
    refused: list[ValidationError] = []

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        try:
            await D360Transport.answer(call, loopback=True)
        except ValidationError as error:
            refused.append(error)

    async with asyncio.timeout(BOUND):
        task, call_id = await placing(bot)
        await bot.sandbox.user_answers(call_id, media=True, tone_hz=550.0)
        transport = await task
        await eventually(lambda: bool(refused))
        assert "call.inbound" in str(refused[0])
        assert transport.get_client_id(transport.call) == call_id
        assert repr(transport) == f"D360Transport(outbound call {call_id}, ended=False)"
        await transport.hang_up()
        assert (await bot.ended.get()).call_id == call_id
    assert transport.ended
    assert bot.sandbox.stats.effects["calls.terminate"] == 1


async def test_writes_after_the_call_ended_fail_at_once_and_the_transport_stays_usable(
    bot: Bot,
) -> None:
    """With `end_on_hang_up=False` the pipeline outlives the call: its audio is not taken, at
    once (pipecat would write a transport off after a write that hangs for 10 s)."""
    tasks: set[asyncio.Task[None]] = set()
    talker = Talker(hz=700.0, seconds=3.0)
    transports: list[D360Transport] = []
    workers: list[PipelineWorker] = []
    params = D360Params(end_on_hang_up=False, audio_out_write_timeout_secs=0.5)

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, params, loopback=True)
        transports.append(transport)
        worker = worker_for(transport, talker)
        workers.append(worker)
        start(worker, tasks)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        await eventually(lambda: talker.spoke)
        await bot.sandbox.user_hangs_up(call_id)
        await eventually(lambda: transports[0].ended)
        await asyncio.sleep(0.7)  # longer than the write timeout: no write may wait that long
        assert transports[0].output().is_usable
        assert not any(task.done() for task in tasks)  # the pipeline outlived the call
        await workers[0].queue_frame(EndFrame())
    async with asyncio.timeout(1.0):
        await asyncio.gather(*tasks)
    assert bot.sandbox.stats.effects["calls.terminate"] == 0


async def test_client_info_names_the_call(bot: Bot) -> None:
    tasks: set[asyncio.Task[None]] = set()
    seen: list[str] = []

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        transport = await D360Transport.answer(call, loopback=True)

        @transport.event_handler("on_client_connected")
        async def connected(transport: D360Transport, client: CallInfo) -> None:
            seen.append(transport.get_client_id(client))
            await transport.hang_up()

        start(worker_for(transport, PitchAnswerer()), tasks)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
        await eventually(lambda: bool(tasks))
        await asyncio.gather(*tasks)  # hung up by the bot: the pipeline ends too
    assert seen == [call_id]
    assert bot.sandbox.stats.effects["calls.terminate"] == 1
