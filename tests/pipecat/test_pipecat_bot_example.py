"""`examples/pipecat_bot.py`: with `--sandbox`, an inbound and an outbound call through pipecat
pipelines against the embedded sandbox, each answered at 1.5 times the user's pitch, exit 0;
served against a sandbox it did not start, the same both ways, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from d360_calling.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
SECRET = "served-secret"


def test_the_pipecat_bot_example_answers_both_calls_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pipecat_bot.py"), "--sandbox"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    heard = dict(re.findall(r"(\w+): the user said \d+ Hz and heard (\d+) Hz", done.stdout))
    assert heard.keys() == {"inbound", "outbound"}, done.stdout
    assert abs(int(heard["inbound"]) - 660) < 5
    assert abs(int(heard["outbound"]) - 825) < 5
    assert "Traceback" not in done.stderr


def free_port() -> int:
    """A loopback port free a moment ago (the sandbox needs the bot's URL before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def next_line(process: asyncio.subprocess.Process, text: str, seen: list[str]) -> str:
    """The next line the example prints that contains `text`."""
    assert process.stdout is not None
    while raw := await process.stdout.readline():
        seen.append(raw.decode().rstrip())
        if text in seen[-1]:
            return seen[-1]
    raise AssertionError(f"no {text!r} in {seen}")


async def settled(box: Sandbox, call_id: str, hz: float) -> float | None:
    """The pitch the sandbox's user hears once it is `hz` (at most 10 s)."""
    pitch = None
    for _ in range(100):
        await asyncio.sleep(0.1)
        pitch = box.voice(call_id).dominant_frequency(0.3)
        if pitch is not None and abs(pitch - hz) < 2.0:
            break
    return pitch


async def test_served_it_answers_and_places_calls_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    seen: list[str] = []
    async with Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SECRET) as box:
        box.set_permission("14155550124", "permanent")
        flags = ["--base-url", box.base_url, "--listen", f"127.0.0.1:{port}", "--secret", SECRET]
        with (tmp_path / "stderr").open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, str(ROOT / "examples" / "pipecat_bot.py"), *flags),
                *("--call", "14155550124"),
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
            try:
                async with asyncio.timeout(60.0):
                    await next_line(process, "webhook receiver at", seen)
                    while not box.calls:  # the bot's own call rings
                        await asyncio.sleep(0.02)
                    (outbound,) = box.calls
                    await box.user_answers(outbound, media=True, tone_hz=550.0)
                    assert outbound in await next_line(process, "called 14155550124", seen)
                    inbound = await box.ring("14155550123", media=True, tone_hz=440.0)
                    assert await settled(box, inbound, 660.0) == pytest.approx(660.0, abs=5.0)
                    assert await settled(box, outbound, 825.0) == pytest.approx(825.0, abs=5.0)
                    await box.user_hangs_up(inbound)
                    process.send_signal(signal.SIGTERM)
                    await next_line(process, "stopped", seen)
                    assert await process.wait() == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    assert "Traceback" not in (tmp_path / "stderr").read_text()
