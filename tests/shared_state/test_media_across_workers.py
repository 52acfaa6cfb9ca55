"""A terminate delivered to one worker closes the call's media in the worker that holds it,
through the shared `RedisState` (real redis-server or cluster, two processes)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

pytest.importorskip("aiortc")

from d360_calling import RedisState
from d360_calling.webhooks import Receiver, Router, sign
from tests.support.webhooks import terminate_body

from .conftest import Store
from .media_worker import PREFIX, SECRET

CALL_ID = "wacid.held-elsewhere"


async def next_line(process: asyncio.subprocess.Process, timeout: float = 15.0) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(timeout):
        return (await process.stdout.readline()).decode().strip()


async def test_a_terminate_on_one_worker_closes_the_media_held_by_another(store: Store) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.shared_state.media_worker",
        store.url,
        CALL_ID,
        stdout=asyncio.subprocess.PIPE,
    )
    redis = store.client()
    state = RedisState(redis, prefix=PREFIX)
    router = Router()
    receiver = Receiver(router, secret=SECRET, shared_state=state)
    try:
        assert await next_line(holder) == "ready"
        # Wait until the holder's pub/sub listener hears announcements (bounded).
        for _ in range(100):
            await state.announce_call_ended("wacid.ping")
            try:
                line = await next_line(holder, timeout=0.2)
            except TimeoutError:
                continue
            if line == "heard wacid.ping":
                break
        else:
            raise AssertionError("the holder never heard an announcement")
        body = terminate_body(CALL_ID)
        started = time.monotonic()
        reply = await receiver.receive(body, sign(body, SECRET))
        assert reply.status == 200
        lines = [await next_line(holder) for _ in range(20)]
        result = json.loads(next(line for line in lines if line.startswith("{")))
        elapsed = time.monotonic() - started
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
        await receiver.aclose()
        await state.aclose()
        await redis.aclose()
    assert result == {"closed": True, "media_left": False, "ended_here": True}
    assert f"heard {CALL_ID}" in lines
    assert elapsed < 5.0
    assert router.has_ended(CALL_ID)  # the receiving worker will not answer a late connect
