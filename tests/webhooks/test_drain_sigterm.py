"""A real worker process sent SIGTERM with media calls in progress (`drain_worker`, under uvicorn
and under aiohttp's `web.run_app`): a new call's connect gets 503 while it drains, calls the user
hangs up finish by themselves, the rest are terminated through the API once each at the
deadline, and the worker exits 0 leaving no task, audio or UDP socket behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aiortc")

from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.records import CallState
from d360_calling.webhooks import sign

from ..support.webhooks import connect_body, post

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sigterm-secret"
DEADLINE = 4.0
BOUND = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def users(count: int) -> list[str]:
    return [f"1415555{index:04d}" for index in range(count)]


async def line(worker: asyncio.subprocess.Process) -> dict[str, Any]:
    """The worker's next JSON line (bounded)."""
    assert worker.stdout is not None
    raw = await asyncio.wait_for(worker.stdout.readline(), BOUND)
    assert raw, "the worker closed its output"
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


async def wait_refusing(url: str) -> None:
    """Wait (bounded) until the worker answers a new call's connect with 503: it drains."""
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            body = connect_body("wacid.probe")
            if await post(http, url, body, sign(body, SECRET)) == 503:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the worker never refused a new connect")


@pytest.mark.parametrize(("server", "calls", "hang_ups"), [("uvicorn", 10, 3), ("aiohttp", 3, 1)])
async def test_sigterm_drains_the_calls_then_the_worker_exits_clean(
    server: str, calls: int, hang_ups: int
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    async with Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "D360_BASE_URL": sandbox.base_url,
            "D360_API_KEY": "k",
            "D360_WEBHOOK_SECRET": SECRET,
            "DRAIN_DEADLINE": str(DEADLINE),
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.webhooks.drain_worker",
            server,
            str(port),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(BOUND * 2):
                assert await line(worker) == {"ready": True}
                ids = [await sandbox.ring(user, media=True, tone_hz=440.0) for user in users(calls)]
                for call_id in ids:
                    await sandbox.voice(call_id).wait_connected(timeout=BOUND)
                assert all(sandbox.calls[c].state is CallState.ACCEPTED for c in ids)

                worker.send_signal(signal.SIGTERM)
                await wait_refusing(url)
                late = await sandbox.ring("14155559999", media=True)
                for call_id in ids[:hang_ups]:
                    await sandbox.user_hangs_up(call_id)
                await sandbox.webhooks_idle()
                refused = [f for f in sandbox.webhook_failures if late in str(f.payload)]
                assert [f.reason for f in refused] == ["HTTP 503"]

                summary = await line(worker)
                if server == "uvicorn":  # the SIGTERM uvicorn raises again once it is done
                    assert summary == {"signal": signal.SIGTERM}
                    summary = await line(worker)
                assert await asyncio.wait_for(worker.wait(), BOUND) == 0
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

        report = {key: sorted(value) for key, value in summary["report"].items()}
        assert report == {
            "finished": sorted(ids[:hang_ups]),
            "terminated": sorted(ids[hang_ups:]),
            "failed": [],
        }
        assert summary["answered"] == calls
        assert (summary["open_audio"], summary["tasks"], summary["udp_sockets"]) == (0, [], 0)
        assert sandbox.stats.requests["calls.terminate"] == calls - hang_ups
        assert all(sandbox.calls[c].state is CallState.TERMINATED for c in ids)
        assert sandbox.calls[late].state is CallState.RINGING  # nobody here answered it
