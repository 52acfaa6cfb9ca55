"""The sandbox user's network: a `Network` profile checked when made, applied to the user's
media datagrams both ways (loss, jitter, reordering, counted), and `go_quiet`, which stops the
user's media while the call stays up."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable

import attrs
import pytest

pytest.importorskip("aiortc")

from d360_calling.errors import ValidationError
from d360_calling.media import CallAudio, dominant_frequency, tone
from d360_calling.sandbox import Network
from d360_calling.sandbox.network_link import NetworkLink, check_internals
from d360_calling.webhooks import IncomingCall
from tests.media.conftest import loopback_guard, no_leaks
from tests.support.bots import USER, Bot, running_bot

__all__ = ["loopback_guard", "no_leaks"]

BOUND = 20.0
BOT_HZ = 660.0
USER_HZ = 440.0


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with running_bot() as running:
        yield running


async def connected_call(bot: Bot, network: Network | None) -> tuple[str, CallAudio]:
    """A ringing user (saying `USER_HZ` through `network`) answered by the bot with audio."""

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True))

    call_id = await bot.sandbox.ring(USER, media=True, tone_hz=USER_HZ, network=network)
    audio = await bot.audio.get()
    await audio.wait_connected(timeout=5.0)
    await bot.sandbox.voice(call_id).wait_connected(timeout=5.0)
    return call_id, audio


async def hang_up(bot: Bot, call_id: str, audio: CallAudio) -> None:
    await bot.sandbox.user_hangs_up(call_id)
    assert (await bot.ended.get()).call_id == call_id
    assert await audio.wait_ended() is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"loss": 1.0}, "loss"),
        ({"loss": -0.1}, "loss"),
        ({"loss": math.nan}, "loss"),
        ({"reorder": 1.5}, "reorder"),
        ({"jitter_ms": -1.0}, "jitter_ms"),
        ({"jitter_ms": 1000.5}, "jitter_ms"),
        ({"jitter_ms": math.inf}, "jitter_ms"),
        ({"loss": "0.1"}, "loss"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_a_profile_out_of_range_names_its_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Network(**options)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_a_profile_in_range_keeps_its_values() -> None:
    network = Network(loss=0.05, jitter_ms=30, reorder=0.01, seed=7)
    assert (network.loss, network.jitter_ms, network.reorder, network.seed) == (0.05, 30, 0.01, 7)
    assert Network() == Network(loss=0.0, jitter_ms=0.0, reorder=0.0, seed=None)


@pytest.mark.usefixtures("no_leaks")
async def test_a_network_without_media_is_refused(bot: Bot) -> None:
    with pytest.raises(ValidationError, match="media=True") as raised:
        await bot.sandbox.ring(USER, network=Network(loss=0.1))
    assert raised.value.field == "network"
    with pytest.raises(ValidationError, match="Network"):
        await bot.sandbox.ring(USER, media=True, network=0.1)  # type: ignore[arg-type]
    assert not bot.sandbox.calls


def test_the_hooked_internals_exist() -> None:
    try:
        check_internals()
    except RuntimeError as exc:  # pragma: no cover - only on an aiortc whose internals moved
        pytest.fail(str(exc))


def test_a_moved_name_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from aioice.ice import Connection

    monkeypatch.setattr(Connection, "data_received", lambda self, data: None)
    with pytest.raises(RuntimeError, match=r"Connection\.data_received.*aioice 0\.13"):
        check_internals()


@pytest.mark.usefixtures("no_leaks")
async def test_go_quiet_stops_the_users_media_and_the_call_stays_up(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await connected_call(bot, None)
        voice = bot.sandbox.voice(call_id)
        assert dominant_frequency(await audio.listen(0.3, skip=0.1)) == pytest.approx(
            USER_HZ, abs=5.0
        )
        bot.sandbox.go_quiet(call_id)
        sent = voice.network_stats.sent.media
        await asyncio.sleep(3.0)
        stats = voice.network_stats
        assert stats.sent.media == sent == 0
        assert stats.muted >= 100  # 3 s of 20 ms packets, less what aiortc had not sent yet
        assert voice.connection_state == "connected"
        assert audio.connected
        assert not audio.ended
        assert bot.sandbox.calls[call_id].state.value == "accepted"
        await hang_up(bot, call_id, audio)


@pytest.mark.usefixtures("no_leaks")
async def test_go_quiet_on_a_call_without_media_is_refused(bot: Bot) -> None:
    call_id = await bot.sandbox.ring(USER)
    with pytest.raises(ValueError, match="media=True"):
        bot.sandbox.go_quiet(call_id)


class FakeConnection:
    """aioice's connection as the link sees it: what reaches `data_received`, in order."""

    def __init__(self) -> None:
        self.delivered: list[bytes] = []

    def data_received(self, data: bytes, component: int) -> None:
        assert component == 1
        self.delivered.append(data)


class FakeIceTransport:
    """aiortc's ICE transport as the link sees it: `_send` and `_connection`."""

    def __init__(self) -> None:
        self._connection = FakeConnection()
        self.sent: list[bytes] = []

    async def _send(self, data: bytes) -> None:
        self.sent.append(data)


def media(count: int) -> list[bytes]:
    """`count` distinct RTP-looking datagrams (first byte 0x80)."""
    return [b"\x80" + n.to_bytes(2, "big") for n in range(count)]


async def settle(done: Callable[[], bool]) -> None:
    """Wait (bounded) until `done()`; the link's late datagrams are timers and tasks."""
    for _ in range(200):
        if done():
            return
        await asyncio.sleep(0.01)


async def test_loss_drops_media_only_and_counts_it() -> None:
    ice = FakeIceTransport()
    link = NetworkLink(Network(loss=0.2, seed=1))
    link.attach(ice)
    datagrams = media(1000)
    for data in datagrams:
        ice._connection.data_received(data, 1)
        await ice._send(data)
    dtls = b"\x16\xfe\xfd"
    for _ in range(50):
        ice._connection.data_received(dtls, 1)
        await ice._send(dtls)
    stats = link.stats
    assert stats.received.media == stats.sent.media == 1000
    assert 150 <= stats.received.dropped <= 250
    assert 150 <= stats.sent.dropped <= 250
    assert len(ice._connection.delivered) == 1000 - stats.received.dropped + 50
    assert len(ice.sent) == 1000 - stats.sent.dropped + 50
    assert ice._connection.delivered[-50:] == [dtls] * 50
    kept = [d for d in ice._connection.delivered if d != dtls]
    assert kept == sorted(kept)  # loss alone reorders nothing
    await link.close()


async def test_jitter_delivers_every_datagram_some_out_of_order() -> None:
    ice = FakeIceTransport()
    link = NetworkLink(Network(jitter_ms=30, seed=2))
    link.attach(ice)
    datagrams = media(200)
    for data in datagrams:
        ice._connection.data_received(data, 1)
        await ice._send(data)
    assert not ice.sent
    assert not ice._connection.delivered
    await settle(lambda: len(ice.sent) == len(ice._connection.delivered) == 200)
    assert sorted(ice._connection.delivered) == sorted(ice.sent) == datagrams
    assert ice._connection.delivered != datagrams
    assert ice.sent != datagrams
    stats = link.stats
    assert (stats.sent.delayed, stats.received.delayed) == (200, 200)
    assert stats.sent.dropped == stats.received.dropped == 0
    await link.close()


async def test_reorder_holds_a_datagram_behind_the_next() -> None:
    ice = FakeIceTransport()
    link = NetworkLink(Network(reorder=0.3, seed=3))
    link.attach(ice)
    datagrams = media(300)
    for data in datagrams:
        ice._connection.data_received(data, 1)
    delivered = ice._connection.delivered
    held = link.stats.received.held
    assert 50 <= held <= 120
    swapped = [i for i in range(len(delivered) - 1) if delivered[i] > delivered[i + 1]]
    assert len(swapped) == held - (delivered[-1] != datagrams[-1])
    assert set(delivered) <= set(datagrams)
    assert len(delivered) >= 299  # the last may still be held
    await link.close()


async def test_close_drops_what_is_on_the_way() -> None:
    ice = FakeIceTransport()
    link = NetworkLink(Network(jitter_ms=1000, seed=4))
    link.attach(ice)
    for data in media(20):
        ice._connection.data_received(data, 1)
        await ice._send(data)
    await link.close()
    await asyncio.sleep(0.05)
    assert link.stats.sent.delayed == 20
    assert all(task.done() for task in asyncio.all_tasks() if task is not asyncio.current_task())
    assert not link._timers


def heard_frames(bot: Bot, call_id: str) -> int:
    """20 ms frames the user heard so far."""
    return len(bot.sandbox.voice(call_id).heard_pcm()) // (2 * 960)


LATE_FRAMES = 15
"""Frames received but not heard yet at any moment: the jitter buffer holds up to 4 behind a
gap, the decoder and the reader add a few, RTCP datagrams count as received too."""


@pytest.mark.usefixtures("no_leaks")
@pytest.mark.parametrize("loss", [0.0, 0.2])
async def test_the_user_hears_what_the_network_lets_through(bot: Bot, loss: float) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await connected_call(bot, Network(loss=loss, seed=5))
        voice = bot.sandbox.voice(call_id)
        for _ in range(300):
            if voice.network_stats.received.media >= 100:
                break
            await asyncio.sleep(0.01)
        received = attrs.evolve(voice.network_stats.received)
        heard = heard_frames(bot, call_id)
        await hang_up(bot, call_id, audio)
    assert received.media >= 100
    if loss:
        assert 0.1 * received.media <= received.dropped <= 0.3 * received.media
        assert heard <= received.media - received.dropped
        # Loss is not amplified: what came through is heard (the jitter buffer skips a gap).
        assert heard >= received.media - received.dropped - LATE_FRAMES
    else:
        assert received.dropped == 0
        assert heard >= received.media - LATE_FRAMES


@pytest.mark.usefixtures("no_leaks")
async def test_a_call_through_loss_and_jitter_still_carries_its_pitch_both_ways(
    bot: Bot,
) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await connected_call(bot, Network(loss=0.05, jitter_ms=30, seed=6))
        playing = asyncio.create_task(audio.play(tone(BOT_HZ, seconds=5.0)))
        try:
            heard = dominant_frequency(await audio.listen(0.5, skip=0.2))
            voice = bot.sandbox.voice(call_id)
            for _ in range(100):
                if voice.dominant_frequency(0.3) is not None:
                    break
                await asyncio.sleep(0.02)
            user_heard = voice.dominant_frequency(0.5)
        finally:
            audio.interrupt()
            await playing
        stats = voice.network_stats
        await hang_up(bot, call_id, audio)
    assert heard == pytest.approx(USER_HZ, abs=10.0)
    assert user_heard == pytest.approx(BOT_HZ, abs=10.0)
    assert stats.sent.delayed > 0
    assert stats.received.delayed > 0
    assert voice.connection_state == "closed"
