"""ICE/DTLS that never completes ends in a typed error within the bound, and close() cleans up."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("aiortc")

from d360_calling.media import CallAudio, MediaError, MediaTimeoutError
from d360_calling.sandbox.peer import UserPeer

pytestmark = pytest.mark.usefixtures("no_leaks")


async def test_wait_connected_times_out_when_no_answer_is_applied() -> None:
    async with asyncio.timeout(5.0):
        audio = await CallAudio.offer(loopback=True)
        try:
            started = time.monotonic()
            with pytest.raises(MediaTimeoutError, match=r"not connected after 0\.3 s"):
                await audio.wait_connected(timeout=0.3)
            assert time.monotonic() - started < 1.0
            assert audio.failure is None, "a ringing call is not a failed one"
        finally:
            await audio.close()
        with pytest.raises(MediaError):
            await audio.wait_connected()


async def test_an_answer_pointing_at_a_dead_port_fails_at_the_deadline() -> None:
    failures: list[MediaError] = []
    async with asyncio.timeout(5.0):
        audio = await CallAudio.offer(loopback=True, connect_timeout=0.8, on_failed=failures.append)
        try:
            user = await UserPeer.answer(audio.sdp)
            await user.close()  # its port is now closed: nobody answers the checks
            started = time.monotonic()
            await audio.apply_answer(user.sdp)
            with pytest.raises(MediaTimeoutError):
                await audio.wait_connected()
            assert time.monotonic() - started < 1.5
            assert isinstance(await audio.wait_ended(), MediaTimeoutError)
            assert failures == [audio.failure]
        finally:
            await audio.close()


async def test_metas_offer_cannot_reach_meta_on_loopback_and_times_out() -> None:
    from d360_calling.sandbox.sdp import OFFER_SDP

    async with asyncio.timeout(5.0):
        audio = await CallAudio.answer(OFFER_SDP, loopback=True, connect_timeout=0.5)
        try:
            with pytest.raises(MediaTimeoutError):
                await audio.wait_connected()
        finally:
            await audio.close()
