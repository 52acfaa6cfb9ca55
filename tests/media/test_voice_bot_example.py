"""`examples/voice_bot.py --sandbox`: greets, records the caller to WAV, hangs up on silence."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from examples import voice_bot

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
