"""`examples/voice_bot.py`: greets, records the caller to WAV under a given or temporary folder,
hangs up on silence or at the maximum length, and terminates nothing when the caller left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from d360_calling import Client
from d360_calling.sandbox import Sandbox

pytest.importorskip("aiortc")

from examples import voice_bot

ROOT = Path(__file__).resolve().parents[2]
SECRET = "voice-secret"

pytestmark = pytest.mark.usefixtures("no_leaks")


async def test_voice_bot_records_the_caller_and_hangs_up_after_silence(tmp_path: Path) -> None:
    path, pitch, hung_up = await voice_bot.demo_with_sandbox(tmp_path)
    assert path.parent == tmp_path
    assert pitch == pytest.approx(440.0, abs=5.0)
    assert hung_up == 1  # the bot ended the call, not the caller
    with wave.open(str(path), "rb") as recorded:
        assert (recorded.getframerate(), recorded.getnchannels()) == (48_000, 1)
        seconds = recorded.getnframes() / 48_000
    # The caller spoke for about a second after the greeting; the bot stops 1 s into silence.
    assert 1.0 < seconds < 5.0


def test_level_tells_speech_from_silence() -> None:
    assert voice_bot.level(b"\0\0" * 960) == 0.0
    loud = (10_000).to_bytes(2, "little", signed=True) * 960
    assert voice_bot.level(loud) == pytest.approx(10_000.0)


@contextlib.asynccontextmanager
async def bot_on_sandbox(recordings: Path, **options: Any) -> AsyncIterator[Sandbox]:
    """`voice_bot.build_receiver(...)` served on loopback, with its sandbox and client."""
    receiver = voice_bot.build_receiver(
        None, recordings=recordings, secret=SECRET, loopback=True, **options
    )
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
        async with (
            Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SECRET) as box,
            Client("sandbox-key", base_url=box.base_url) as client,
        ):
            receiver.client = client
            yield box
            await receiver.aclose()
    finally:
        await runner.cleanup()


async def test_a_caller_who_never_pauses_is_cut_off_at_the_maximum_length(
    tmp_path: Path,
) -> None:
    async with bot_on_sandbox(tmp_path, max_seconds=1.5) as box:
        call_id = await box.ring("14155550123", media=True, tone_hz=440.0)  # a tone, no pause
        for _ in range(400):  # the bot hangs up after 1.5 s of audio (at most 20 s here)
            if not box.calls[call_id].active:
                break
            await asyncio.sleep(0.05)
        assert box.stats.effects["calls.terminate"] == 1  # the bot ended it, not the caller
    with wave.open(str(tmp_path / f"{call_id}.wav"), "rb") as recorded:
        assert recorded.getnframes() == 72_000  # 1.5 s at 48 kHz: the maximum, by frame count


async def test_when_the_caller_hangs_up_first_the_bot_terminates_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voice_bot")
    async with bot_on_sandbox(tmp_path) as box:
        call_id = await box.ring("14155550123", media=True, tone_hz=440.0)
        voice = box.voice(call_id)
        await voice.wait_connected(timeout=10.0)
        greeted = False
        for _ in range(400):  # the greeting (660 Hz), then quiet: the bot is recording
            pitch = voice.dominant_frequency(0.1)
            greeted = greeted or (pitch is not None and abs(pitch - 660.0) < 10.0)
            if greeted and (pitch is None or abs(pitch - 660.0) >= 10.0):
                break
            await asyncio.sleep(0.02)
        assert greeted
        await box.user_hangs_up(call_id)
        for _ in range(400):  # the bot's handler ends once the terminate webhook closes audio
            if any(r.name == "voice_bot" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        assert any(r.getMessage().startswith("recorded ") for r in caplog.records)
    # The bot's handler has finished (the receiver closed before the sandbox).
    assert box.stats.requests["calls.terminate"] == 0  # no 400 for an ended call
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_recordings_go_to_a_fresh_temporary_folder_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    first, second = voice_bot.recordings_folder(None), voice_bot.recordings_folder(None)
    assert first != second
    assert first.parent == second.parent == tmp_path / "temp"
    given = voice_bot.recordings_folder(tmp_path / "mine" / "calls")
    assert given == tmp_path / "mine" / "calls"
    assert given.is_dir()


def test_the_script_never_writes_into_the_current_directory(tmp_path: Path) -> None:
    cwd, temp = tmp_path / "cwd", tmp_path / "temp"
    cwd.mkdir()
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "voice_bot.py"), "--sandbox"],
        cwd=cwd,
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.split("recordings go to ", 1)[1].splitlines()[0])
    assert folder.parent == temp
    assert [p.suffix for p in folder.iterdir()] == [".wav"]
    assert not list(cwd.iterdir())
    assert "(440 Hz); bot hung up 1 call(s)" in done.stdout
