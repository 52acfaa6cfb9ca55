"""A worker process for the shared-state tests: its own `Client` on a `RedisState` (or local
state), sending through a traced aiohttp session so each real HTTP send is timed.

    python -m tests.shared_state.worker MODE BASE_URL REDIS_URL START_AT
Prints one JSON line: {"sends": [wall times], "outcomes": [names]}. REDIS_URL is
`cluster://host:port` for a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from types import SimpleNamespace
from typing import Any

import aiohttp

from d360_calling import D360Error, LocalState, RedisState, RetryPolicy, SharedState
from d360_calling.client import Client

from .cluster import connect

USER = "14155550123"


async def main(mode: str, base_url: str, redis_url: str, start_at: float) -> dict[str, Any]:
    sends: list[float] = []

    async def on_start(_: Any, __: SimpleNamespace, ___: Any) -> None:
        sends.append(time.time())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    redis = connect(redis_url)
    state: SharedState = RedisState(redis, prefix="test") if "redis" in mode else LocalState()
    outcomes: list[str] = []
    retry = RetryPolicy(initial_wait=0.01, max_wait=0.02)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as http,
        Client("k", base_url=base_url, session=http, shared_state=state, retry=retry) as client,
    ):
        state.gate_wait()  # a worker that has been up a moment: its gate listener subscribed
        await asyncio.sleep(max(0.0, start_at - time.time()))
        if mode.startswith("gate"):
            while time.time() < start_at + 2.5:
                outcomes.append(await attempt(client.permissions.get(USER)))
                await asyncio.sleep(0.01)
        else:
            for _ in range(10):
                outcomes.append(await attempt(client.calls.terminate("wacid.outage")))
    await state.aclose()
    await redis.aclose()
    return {"sends": sends, "outcomes": outcomes}


async def attempt(call: Any) -> str:
    try:
        await call
    except D360Error as error:
        return type(error).__name__
    return "ok"


if __name__ == "__main__":
    mode, base_url, redis_url, start_at = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(mode, base_url, redis_url, float(start_at)))))
