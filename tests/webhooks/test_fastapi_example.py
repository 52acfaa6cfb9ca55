"""The FastAPI example against the sandbox: the receiver mounted in a FastAPI app under uvicorn,
the client from the app's lifespan, in process and as the script a user runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from examples import fastapi_bot

ROOT = Path(__file__).resolve().parents[2]


async def test_fastapi_bot_answers_every_call_and_uses_its_client() -> None:
    assert await fastapi_bot.demo_with_sandbox(5) == (5, True)


def test_fastapi_bot_runs_as_a_script_against_the_sandbox() -> None:
    done = subprocess.run(
        [sys.executable, "examples/fastapi_bot.py", "--sandbox", "--calls", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "2 of 2 calls accepted; can_start_call=True" in done.stdout
