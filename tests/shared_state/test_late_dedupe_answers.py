"""Fail-closed dedupe whose answer comes late: the deferred delivery gives back only its own
keys, and its own late script records nothing, so each event is handled exactly once.

Worker A reaches a real redis-server through a proxy that holds its commands back (a slow
network, a paused server); worker B reaches it directly. A answers 503; the platform delivers
again, to B.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from d360_calling import RedisState
from d360_calling.webhooks import Receiver, sign

from ..support.webhooks import connect_body, counting_router
from .conftest import RedisServer
from .holding_proxy import HoldingProxy

SECRET = "late-secret"
CALL = "wacid.late-answer-1"


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[HoldingProxy]:
    async with HoldingProxy(redis_server.port) as running:
        yield running


class Workers:
    """Two receivers on one Redis prefix with one handler count; A goes through the proxy."""

    def __init__(self, server: RedisServer, proxy: HoldingProxy) -> None:
        self.router, self.handled = counting_router()
        self.redis_a = Redis(host="127.0.0.1", port=proxy.port)
        self.redis_b = Redis(host="127.0.0.1", port=server.port)
        self.state_a = RedisState(self.redis_a, prefix="late", dedupe_fail_closed=True)
        self.state_b = RedisState(self.redis_b, prefix="late", dedupe_fail_closed=True)
        self.a = Receiver(self.router, secret=SECRET, shared_state=self.state_a)
        self.b = Receiver(self.router, secret=SECRET, shared_state=self.state_b)

    async def deliver(self, receiver: Receiver) -> int:
        body = connect_body(CALL)
        return (await receiver.receive(body, sign(body, SECRET))).status

    async def settle(self) -> None:
        """Let background work (handlers, confirms, gives-back) run: a bounded pause."""
        await asyncio.sleep(0.3)

    async def scripts_run(self) -> int:
        """How many scripts Redis has run (its own count, whoever sent them)."""
        stats = await self.redis_b.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

    async def release(self, proxy: HoldingProxy, held_scripts: int) -> None:
        """Let A's held commands through and wait until Redis has run them (bounded)."""
        before = await self.scripts_run()
        proxy.release()
        for _ in range(100):
            if await self.scripts_run() >= before + held_scripts:
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"Redis did not run A's {held_scripts} held scripts")

    async def aclose(self) -> None:
        for closing in (self.a, self.b, self.state_a, self.state_b, self.redis_a, self.redis_b):
            await closing.aclose()


@pytest.fixture
async def workers(redis_server: RedisServer, proxy: HoldingProxy) -> AsyncIterator[Workers]:
    both = Workers(redis_server, proxy)
    try:
        assert await both.state_a.first_times(["warm-up"], 60) == [True]  # A is connected
        yield both
    finally:
        await both.aclose()


async def test_a_late_give_back_leaves_the_keys_of_the_worker_that_handled_it(
    workers: Workers, proxy: HoldingProxy
) -> None:
    proxy.hold(new_connections=True)  # A's script and its give-back both arrive late
    assert await workers.deliver(workers.a) == 503
    assert await workers.deliver(workers.b) == 200  # the redelivery, handled by B
    await workers.settle()
    assert workers.handled[CALL] == 1
    await workers.release(proxy, 2)  # A's script and give-back land after B recorded the keys
    assert await workers.deliver(workers.b) == 200  # a later redelivery is a duplicate
    await workers.settle()
    assert workers.handled[CALL] == 1
    assert workers.b.stats["duplicates"] == 1


async def test_a_give_back_that_overtakes_its_late_script_still_frees_the_redelivery(
    workers: Workers, proxy: HoldingProxy
) -> None:
    proxy.hold(new_connections=False)  # only A's script is late; its give-back goes through
    assert await workers.deliver(workers.a) == 503
    await workers.settle()
    await workers.release(proxy, 1)  # the script lands after the give-back
    assert await workers.deliver(workers.b) == 200  # the redelivery
    await workers.settle()
    assert workers.handled[CALL] == 1
    assert workers.b.stats["duplicates"] == 0
