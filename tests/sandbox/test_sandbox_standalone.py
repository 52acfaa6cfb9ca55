"""The standalone server the CLI runs, and the sandbox's lifecycle guards."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from d360_calling.sandbox import Sandbox, run_standalone
from tests.support.sandbox import USER, Receiver


async def test_run_standalone_serves_until_cancelled(receiver: Receiver) -> None:
    ready: asyncio.Future[Sandbox] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_standalone(
            port=0,
            api_key="cli-key",
            webhook_url=receiver.url,
            webhook_secret="s",
            faults_spec="seed=1,503:1",
            on_ready=ready.set_result,
        )
    )
    box = await ready
    async with (
        aiohttp.ClientSession(headers={"D360-API-KEY": "cli-key"}) as http,
        http.get(f"{box.base_url}/calling/permissions/{USER}") as response,
    ):
        assert response.status == 503  # the fault spec was applied
    await box.ring(USER)
    assert len(receiver.received) == 1
    assert "x-360dialog-signature" in receiver.received[0].headers
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with pytest.raises(RuntimeError, match="not running"):
        _ = box.base_url


async def test_a_sandbox_runs_once_at_a_time() -> None:
    async with Sandbox() as box:
        with pytest.raises(RuntimeError, match="already running"):
            await box.start()
