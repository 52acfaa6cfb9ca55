"""CallAudio's life in its public API: `ended`, `wait_connected` with no deadline or a chosen
one, the router applying the answer of an outbound call by itself (once, and a refused one ends
the call), `apply_answer` by hand staying harmless, and the outgoing queue's sent marks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

pytest.importorskip("aiortc")

from d360_calling import SessionDescription, ValidationError
from d360_calling.media import (
    CallAudio,
    MediaConnectionError,
    MediaError,
    MediaTimeoutError,
    dominant_frequency,
    tone,
)
from d360_calling.media.track import OutgoingTrack
from d360_calling.sandbox import ANSWER_SDP
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import CallConnect, CallDirection, IncomingCall, Router

from ..support.bots import USER, Bot
from .streaming import until

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 20.0
"""Seconds any one test may take."""


async def test_ended_is_false_while_running_and_true_once_closed_or_failed() -> None:
    async with asyncio.timeout(BOUND):
        closed = await CallAudio.offer(loopback=True)
        assert not closed.ended
        await closed.close()
        assert closed.ended
        assert closed.failure is None

        failed = await CallAudio.offer(loopback=True)
        user = await UserPeer.answer(failed.sdp)
        try:
            await failed.apply_answer(user.sdp)
            await failed.wait_connected(timeout=5.0)
            await user.wait_connected(timeout=5.0)
            assert not failed.ended
            await user.close()  # the peer hangs up
            assert isinstance(await failed.wait_ended(), MediaConnectionError)
            assert failed.ended
            assert failed.failure is not None
        finally:
            await failed.close()
            await user.close()


async def test_wait_connected_with_no_deadline_outlasts_connect_timeout(bot: Bot) -> None:
    """An outbound call that rings for longer than `connect_timeout`: the default wait gives up
    (as before), a chosen one too, and `timeout=None` connects once the user answers."""

    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        await bot.connects.put(call.event)

    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True, connect_timeout=1.0)
        try:
            bot.sandbox.set_permission(USER, "permanent")
            placed = await bot.client.calls.connect(USER, SessionDescription.offer(audio.sdp))
            bot.router.attach_media(placed.call_id, audio, bot.client)
            patient = asyncio.create_task(audio.wait_connected(timeout=None))
            with pytest.raises(MediaTimeoutError, match=r"after 1 s"):
                await audio.wait_connected()  # the default: connect_timeout, from now
            with pytest.raises(MediaTimeoutError, match=r"after 0\.2 s"):
                await audio.wait_connected(timeout=0.2)
            assert not patient.done(), "timeout=None gave up on a ringing call"
            assert not audio.ended

            await bot.sandbox.user_answers(placed.call_id, media=True, tone_hz=550.0)
            await patient
            assert audio.connected
            assert (await bot.connects.get()).call_id == placed.call_id
        finally:
            await audio.close()


async def test_wait_connected_with_no_deadline_raises_when_the_audio_ends_first() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        patient = asyncio.create_task(audio.wait_connected(timeout=None))
        await asyncio.sleep(0)
        await audio.close()
        with pytest.raises(MediaError, match="ended before it connected"):
            await patient

        dead = await CallAudio.offer(loopback=True, connect_timeout=0.5)
        user = await UserPeer.answer(dead.sdp)
        await user.close()  # nobody answers the ICE checks: the deadline fails the audio
        try:
            await dead.apply_answer(user.sdp)
            with pytest.raises(MediaTimeoutError):
                await dead.wait_connected(timeout=None)
            assert dead.failure is not None
        finally:
            await dead.close()


async def test_the_router_applies_the_answer_of_an_outbound_call_by_itself(bot: Bot) -> None:
    seen: asyncio.Queue[bool] = asyncio.Queue()

    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        assert not call.inbound
        assert isinstance(call.media, CallAudio)
        await call.media.wait_connected(timeout=5.0)  # no deadline was armed without the answer
        await seen.put(call.media.connected)

    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        bot.sandbox.set_permission(USER, "permanent")
        placed = await bot.client.calls.connect(USER, SessionDescription.offer(audio.sdp))
        bot.router.attach_media(placed.call_id, audio, bot.client)
        await bot.sandbox.user_answers(placed.call_id, media=True, tone_hz=550.0)
        assert await seen.get() is True
        playing = asyncio.create_task(audio.play(tone(660.0, seconds=3.0)))
        try:
            heard = await audio.listen(0.5, skip=0.1)
            assert dominant_frequency(heard) == pytest.approx(550.0, abs=5.0)
            voice = bot.sandbox.voice(placed.call_id)
            assert await until(lambda: voice.dominant_frequency(0.3) is not None)
            assert voice.dominant_frequency(0.5) == pytest.approx(660.0, abs=5.0)
        finally:
            audio.interrupt()
            assert await playing is False
        await bot.client.calls.terminate(placed.call_id)
        assert (await bot.ended.get()).call_id == placed.call_id
        assert await audio.wait_ended() is None


async def test_applying_the_same_answer_again_by_hand_is_a_no_op() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        user = await UserPeer.answer(audio.sdp)
        try:
            await asyncio.gather(audio.apply_answer(user.sdp), audio.apply_answer(user.sdp))
            await audio.apply_answer(SessionDescription.answer(user.sdp))
            other = await UserPeer.answer(audio.sdp)
            try:
                with pytest.raises(MediaError, match="another answer"):
                    await audio.apply_answer(other.sdp)
            finally:
                await other.close()
            await audio.wait_connected(timeout=5.0)
        finally:
            await audio.close()
            await user.close()


class FakeOutbound:
    """Outbound media whose `apply_answer` counts, and refuses when told to."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.answers: list[SessionDescription] = []
        self.closed = asyncio.Event()

    async def apply_answer(self, answer: SessionDescription) -> None:
        self.answers.append(answer)
        await asyncio.sleep(0.01)
        if self.refuse:
            raise MediaError("refused: not our codecs")

    async def wait_ended(self) -> BaseException | None:
        await self.closed.wait()
        return None

    async def close(self) -> None:
        self.closed.set()


def _connect(direction: CallDirection) -> CallConnect:
    return CallConnect(
        call_id="wacid.out",
        timestamp=datetime.now(UTC),
        direction=direction,
        session=SessionDescription.answer(ANSWER_SDP),
    )


async def test_the_router_applies_an_answer_once_before_the_handlers_and_not_inbound() -> None:
    router = Router()
    media = FakeOutbound()
    order: list[str] = []

    @router.on_connect
    async def connected(call: IncomingCall) -> None:
        order.append(f"handler after {len(media.answers)} answer(s)")

    router.attach_media("wacid.out", media)
    async with asyncio.timeout(BOUND):
        event = _connect(CallDirection.BUSINESS_INITIATED)
        await asyncio.gather(*router.handlers_for(event, None), *router.handlers_for(event, None))
        assert media.answers == [event.session]
        assert order == ["handler after 1 answer(s)"] * 2
        await asyncio.gather(*router.handlers_for(_connect(CallDirection.USER_INITIATED), None))
        assert len(media.answers) == 1, "an inbound connect carries an offer: nothing to apply"
        await router.aclose()


async def test_an_answer_the_media_refuses_ends_the_call(bot: Bot) -> None:
    media = FakeOutbound(refuse=True)
    ran: asyncio.Queue[bool] = asyncio.Queue()

    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        await ran.put(media.closed.is_set())

    async with asyncio.timeout(BOUND):
        bot.sandbox.set_permission(USER, "permanent")
        placed = await bot.client.calls.connect(USER, SessionDescription.offer(ANSWER_SDP))
        bot.router.attach_media(placed.call_id, media, bot.client)
        await bot.sandbox.user_answers(placed.call_id)
        assert await ran.get() is True, "the handler ran before the refusal was handled"
        assert (await bot.ended.get()).call_id == placed.call_id
    assert len(media.answers) == 1
    assert bot.router.media_of(placed.call_id) is None
    assert bot.sandbox.stats.effects["calls.terminate"] == 1


async def test_close_with_drain_before_connecting_closes_at_once_and_stays_idempotent() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        writer = audio.writer(sample_rate=16_000)
        await writer.write(bytes(640 * 3))  # queued; nothing is sent before connecting
        await audio.close(drain=True)
        assert audio.ended
        await audio.close(drain=True)
        await audio.close()


async def test_rates_are_checked() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        try:
            for rate in (11_025, 0, 16_000.0, True, 400_000):
                with pytest.raises(ValidationError) as refused:
                    audio.writer(sample_rate=rate)  # type: ignore[arg-type]
                assert refused.value.field == "sample_rate"
                with pytest.raises(ValidationError):
                    audio.frames(sample_rate=rate)  # type: ignore[arg-type]
        finally:
            await audio.close()


async def test_a_frame_counts_as_sent_once_the_sender_comes_back_for_the_next() -> None:
    track = OutgoingTrack()
    try:
        first = await track.put(b"\1\0" * 960, 5, track.epoch)
        second = await track.put(b"\2\0" * 960, 5, track.epoch)
        assert (first, second) == (1, 2)
        await track.recv()  # the first frame goes to the encoder...
        assert not track.done(1), "handed to the encoder is not sent yet"
        await track.recv()  # ...and is sent by the time the sender asks again
        assert track.done(1)
        assert not track.done(2)
        stale = track.epoch
        track.clear()
        assert not track.done(2), "the frame in flight still goes out"
        assert await track.put(b"\3\0" * 960, 5, stale) is None, "queued across a clear"
        third = await track.put(b"\3\0" * 960, 5, track.epoch)
        assert third == 3
        assert not track.done(3)
        track.end()
        await track.sent(3)  # returns: the call ended
        assert await track.put(b"\4\0" * 960, 5, track.epoch) is None
    finally:
        track.stop()
