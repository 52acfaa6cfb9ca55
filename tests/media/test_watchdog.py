"""The silence watchdog: `no_media_timeout` is checked, counts only once connected, re-arms while
packets flow, and fails the audio once (`MediaSilenceError`, `on_failed`) when the peer goes
quiet without closing."""

from __future__ import annotations

import asyncio
import inspect
import math
from types import SimpleNamespace

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError, _dtmf_rtp
from d360_calling.media import (
    DEFAULT_NO_MEDIA_TIMEOUT,
    CallAudio,
    MediaError,
    MediaSilenceError,
    MediaTimeoutError,
)
from d360_calling.media.watchdog import Watchdog
from d360_calling.sandbox import OFFER_SDP
from d360_calling.sandbox.peer import UserPeer

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 15.0
"""Seconds any one test may take."""


def test_the_default_ends_the_call_well_before_meta_does() -> None:
    assert 0 < DEFAULT_NO_MEDIA_TIMEOUT < 20.0
    for made_by in (CallAudio.answer, CallAudio.offer):
        default = inspect.signature(made_by).parameters["no_media_timeout"].default
        assert default == DEFAULT_NO_MEDIA_TIMEOUT
    assert issubclass(MediaSilenceError, MediaTimeoutError)


@pytest.mark.parametrize("bad", [-1.0, 0, math.nan, math.inf, True, "5"])
async def test_a_bad_timeout_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as raised:
        await CallAudio.offer(loopback=True, no_media_timeout=bad)  # type: ignore[arg-type]
    assert raised.value.field == "no_media_timeout"
    with pytest.raises(ValidationError) as raised:
        await CallAudio.answer(OFFER_SDP, loopback=True, no_media_timeout=bad)  # type: ignore[arg-type]
    assert raised.value.field == "no_media_timeout"


class Clock:
    """A watchdog on a fake receiver: `packet()` is what the receive hook does."""

    def __init__(self, timeout: float | None) -> None:
        self.failures: list[MediaError] = []
        receiver = SimpleNamespace()
        self.inbound = _dtmf_rtp.inbound_of(receiver)
        self.watchdog = Watchdog(timeout, receiver, self.failures.append)

    def packet(self) -> None:
        self.inbound.last_packet_at = asyncio.get_running_loop().time()


async def test_each_packet_pushes_the_deadline_back_then_silence_fails_once() -> None:
    async with asyncio.timeout(BOUND):
        clock = Clock(0.3)
        clock.watchdog.start()
        clock.watchdog.start()  # once
        for _ in range(6):  # 0.6 s of a packet every 0.1 s: twice the timeout
            await asyncio.sleep(0.1)
            clock.packet()
        assert clock.failures == []
        for _ in range(100):
            if clock.failures:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)  # it fires once, then stays quiet
    assert len(clock.failures) == 1
    assert isinstance(clock.failures[0], MediaSilenceError)
    assert str(clock.failures[0]) == "no media from the peer for 0.3 s"


async def test_it_counts_from_start_and_stop_or_none_never_fire() -> None:
    async with asyncio.timeout(BOUND):
        clock, stopped, off = Clock(0.2), Clock(0.2), Clock(None)
        stopped.watchdog.start()
        stopped.watchdog.stop()
        stopped.watchdog.start()  # not after stop
        off.watchdog.start()
        await asyncio.sleep(0.3)  # not started: no clock runs yet
        assert clock.failures == []
        clock.watchdog.start()
        await asyncio.sleep(0.1)
        assert clock.failures == []  # counted from start, not from making it
        for _ in range(100):
            if clock.failures:
                break
            await asyncio.sleep(0.05)
    assert len(clock.failures) == 1
    assert stopped.failures == off.failures == []


async def _connected(
    timeout: float | None, failures: list[MediaError]
) -> tuple[CallAudio, UserPeer]:
    audio = await CallAudio.offer(
        loopback=True, no_media_timeout=timeout, on_failed=failures.append
    )
    user = await UserPeer.answer(audio.sdp)
    try:
        await audio.apply_answer(user.sdp)
        await audio.wait_connected(timeout=5.0)
        await user.wait_connected(timeout=5.0)
    except BaseException:
        await audio.close()
        await user.close()
        raise
    return audio, user


async def test_no_failure_while_packets_flow_for_longer_than_the_timeout() -> None:
    failures: list[MediaError] = []
    async with asyncio.timeout(BOUND):
        audio, user = await _connected(0.5, failures)
        try:
            await asyncio.sleep(2.0)  # four timeouts of the user's tone
            assert failures == []
            assert audio.connected
        finally:
            await audio.close()
            await user.close()
    assert audio.failure is None


async def test_a_peer_that_goes_quiet_without_closing_fails_the_audio_once() -> None:
    failures: list[MediaError] = []
    async with asyncio.timeout(BOUND):
        audio, user = await _connected(0.5, failures)
        try:
            user.go_quiet()
            failure = await audio.wait_ended()
            assert user.connection_state == "connected"  # quiet, not gone
            assert user.network_stats.muted > 0
            await asyncio.sleep(0.3)
        finally:
            await audio.close()
            await user.close()
    assert isinstance(failure, MediaSilenceError)
    assert failures == [failure]
    assert audio.failure is failure
    assert "no media from the peer for 0.5 s" in str(failure)
