"""A new worker's first burst: round trips that open new connections get the connection
allowance, not the 0.1 s call timeout, so the worker stays on the shared state (real Redis)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from d360_calling import RedisState

from .conftest import RedisServer
from .holding_proxy import HoldingProxy


async def test_a_new_workers_first_burst_opens_connections_without_falling_open(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each new connection's first answer takes 0.25 s, longer than the 0.1 s call timeout but
    well within the connection allowance: a burst of 16 in a worker's first second stays on
    Redis (no fall-open to per-worker state, no warning)."""
    async with HoldingProxy(redis_server.port, first_reply_delay=0.25) as slow:
        redis, direct = Redis(host="127.0.0.1", port=slow.port), Redis(port=redis_server.port)
        state = RedisState(redis, prefix="burst", dedupe_fail_closed=True)
        keys = [f"calls:wacid.burst-{n}:connect" for n in range(16)]
        try:
            async with asyncio.timeout(10):
                fresh = await asyncio.gather(*(state.first_times([key], 60) for key in keys))
            assert fresh == [[True]] * 16
            assert slow.connections > 2  # the burst did open new connections
            assert state.available
            assert "unavailable" not in caplog.text
            assert await direct.exists(*(f"{state.prefix}:dedupe:{key}" for key in keys)) == 16
        finally:
            for closing in (state, redis, direct):
                await closing.aclose()
