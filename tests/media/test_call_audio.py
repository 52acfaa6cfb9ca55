"""CallAudio against the sandbox's user peer on loopback: audio both ways, play, record, hang-up."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError
from d360_calling._pcm import samples_of
from d360_calling.media import CallAudio, MediaConnectionError, dominant_frequency, tone
from d360_calling.sandbox.peer import UserPeer

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 10.0
"""Seconds any one test may take."""


async def _check_both_ways(audio: CallAudio, user: UserPeer) -> None:
    """The bot hears the user's 440 Hz, the user hears the bot's 660 Hz."""
    playing = asyncio.create_task(audio.play(tone(660.0, seconds=5.0)))
    try:
        heard = await audio.listen(0.5, skip=0.1)
        assert dominant_frequency(heard) == pytest.approx(440.0, abs=5.0)
        assert user.dominant_frequency(0.3) == pytest.approx(660.0, abs=5.0)
    finally:
        audio.interrupt()
        assert await playing is False


async def test_inbound_call_carries_audio_both_ways(loopback_guard: list[Any]) -> None:
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=440.0)
        audio = await CallAudio.answer(user.sdp, loopback=True)
        try:
            started = time.monotonic()
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            print(f"inbound connect on loopback: {time.monotonic() - started:.3f} s")
            assert audio.connected
            await _check_both_ways(audio, user)
        finally:
            await audio.close()
            await user.close()
        assert loopback_guard, "no datagram seen: the loopback guard is not watching"


async def test_outbound_call_carries_audio_both_ways() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        assert "a=setup:actpass" in audio.sdp
        user = await UserPeer.answer(audio.sdp, tone_hz=440.0)
        try:
            started = time.monotonic()
            await audio.apply_answer(user.sdp)
            await audio.wait_connected(timeout=5.0)
            print(f"outbound connect on loopback: {time.monotonic() - started:.3f} s")
            await _check_both_ways(audio, user)
        finally:
            await user.close()
            await audio.close()


async def test_play_returns_true_when_done_and_interrupt_stops_it_early() -> None:
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=None)
        audio = await CallAudio.answer(user.sdp, loopback=True)
        try:
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            await asyncio.sleep(0.3)
            before_play = user.heard_pcm()
            assert len(before_play) >= 0.2 * 96_000, "no RTP until something plays"
            assert _peak(before_play) < 300, "what flows before any play is silence"
            assert await audio.play(tone(660.0, seconds=0.2)) is True

            started = time.monotonic()
            playing = asyncio.create_task(audio.play(tone(660.0, seconds=5.0)))
            await asyncio.sleep(0.3)
            audio.interrupt()
            assert await playing is False
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.3)
            assert _peak(user.heard_pcm(0.1)) < 300, "audio went on after the interrupt"
        finally:
            await audio.close()
            await user.close()


async def test_record_writes_the_callers_audio_to_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "caller.wav"
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=523.0)
        audio = await CallAudio.answer(user.sdp, loopback=True)
        try:
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            await audio.record(path, duration=0.6)
        finally:
            await audio.close()
            await user.close()
    with wave.open(str(path), "rb") as recorded:
        assert (recorded.getnchannels(), recorded.getsampwidth()) == (1, 2)
        assert recorded.getframerate() == 48_000
        pcm = recorded.readframes(recorded.getnframes())
    assert 0.4 * 96_000 <= len(pcm) <= 0.7 * 96_000
    assert dominant_frequency(pcm) == pytest.approx(523.0, abs=5.0)


async def test_play_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "greeting.wav"
    with wave.open(str(path), "wb") as out:  # 16 kHz, to exercise the resampler
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        pcm = b"".join([b async for b in tone(880.0, seconds=1.0)])
        out.writeframes(_downsample_by_3(pcm))
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=None)
        audio = await CallAudio.answer(user.sdp, loopback=True)
        try:
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            playing = asyncio.create_task(audio.play(path))
            await asyncio.sleep(0.6)
            assert user.dominant_frequency(0.3) == pytest.approx(880.0, abs=5.0)
            assert await playing is True
        finally:
            await audio.close()
            await user.close()


def _peak(pcm: bytes) -> int:
    return max(map(abs, samples_of(pcm)), default=0)


def _downsample_by_3(pcm: bytes) -> bytes:
    """48 kHz to 16 kHz by keeping every third sample (fine for a pure 880 Hz tone)."""
    return b"".join(pcm[i : i + 2] for i in range(0, len(pcm), 6))


async def test_a_file_that_is_not_audio_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        try:
            with pytest.raises(ValidationError, match="cannot decode"):
                await audio.play(path)
            with pytest.raises(ValidationError, match="no such file"):
                await audio.play(tmp_path / "missing.wav")
        finally:
            await audio.close()


async def test_the_peer_hanging_up_is_reported() -> None:
    failures: list[Exception] = []
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True, on_failed=failures.append)
        user = await UserPeer.answer(audio.sdp)
        try:
            await audio.apply_answer(user.sdp)
            await audio.wait_connected(timeout=5.0)
            await user.wait_connected(timeout=5.0)
            playing = asyncio.create_task(audio.play(tone(660.0, seconds=5.0)))
            await user.close()
            ended = await audio.wait_ended()
            assert isinstance(ended, MediaConnectionError)
            assert failures == [ended]
            assert audio.failure is ended
            assert not audio.connected
            assert await playing is False
            with pytest.raises(MediaConnectionError):
                await audio.play(tone(660.0, seconds=0.1))
        finally:
            await audio.close()
            await audio.close()  # idempotent
        assert await audio.wait_ended() is ended
