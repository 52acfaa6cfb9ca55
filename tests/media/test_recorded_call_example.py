"""`examples/recorded_call.py` runs as documented: both files downloaded, the turns scripted in
the sandbox come back typed, and the recording is the call after its consent announcement."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from examples.recorded_call import SCRIPT, demo_with_sandbox, seconds_of_audio

ROOT = Path(__file__).resolve().parents[2]


async def test_the_example_downloads_the_recording_and_the_transcript(tmp_path: Path) -> None:
    files, call_id = await demo_with_sandbox(tmp_path)
    saved = files.recordings[call_id]
    assert saved.path == str(tmp_path / f"{call_id}.ogg")
    codec, channels, seconds = seconds_of_audio(Path(saved.path))
    assert (codec, channels) == ("opus", 2)
    assert 1.0 <= seconds <= files.talked[call_id]
    assert [(str(s), t) for s, t in files.transcripts[call_id].turns()] == SCRIPT


def test_the_example_exits_0_and_prints_the_turns(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "examples/recorded_call.py", "--sandbox", "--folder", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "opus, 2 channels" in done.stdout
    assert f"[Customer] {SCRIPT[0][1]}" in done.stdout
    assert len(list(tmp_path.glob("*.ogg"))) == 1
