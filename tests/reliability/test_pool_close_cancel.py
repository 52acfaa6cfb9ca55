"""The client under pressure from its own side: a tiny pool, `aclose()` mid-flight, and the
caller cancelling at every await point. Each ends typed and prompt, and nothing leaks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from d360_calling import (
    CallPermissions,
    Client,
    D360Error,
    OutcomeUnknownError,
    RateLimitPolicy,
    RequestTimeoutError,
    RetryPolicy,
    SessionDescription,
    Timeout,
)
from d360_calling.sandbox import OFFER_SDP

from ..support.reliability import acquired_connections, other_tasks, settle
from ..support.samples import API_KEY, WA_ID

OFFER = SessionDescription.offer(OFFER_SDP)
PERMISSIONS = {"permission": {"status": "temporary"}, "actions": []}


class SlowApi:
    """A loopback API whose every answer waits `delay` seconds (0: at once) and which counts
    requests in flight; `fail_first` answers that many requests with a 503 first."""

    def __init__(self, delay: float = 0.0, fail_first: int = 0) -> None:
        self.delay = delay
        self.fail_first = fail_first
        self.in_flight = 0
        self.peak = 0
        self.received = 0
        self.stopping = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.received += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.delay)
            if self.fail_first > 0:
                self.fail_first -= 1
                return web.json_response({"error": {"message": "down", "code": 2}}, status=503)
            if request.path == "/calling/calls":
                return web.json_response({"calls": [{"id": "wacid.1"}], "success": True})
            return web.json_response(PERMISSIONS)
        finally:
            self.in_flight -= 1

    async def __aenter__(self) -> SlowApi:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def baseline() -> set[asyncio.Task[Any]]:
    """The tasks alive before the test; the test must leave no others behind."""
    return set(asyncio.all_tasks())


async def timed(call: Awaitable[Any]) -> tuple[float, object]:
    started = time.perf_counter()
    try:
        outcome: object = await call
    except D360Error as error:
        outcome = error
    return time.perf_counter() - started, outcome


# --- pool exhaustion -------------------------------------------------------------------------


async def test_tiny_pool_serves_many_slow_calls_in_turn(baseline: set[asyncio.Task[Any]]) -> None:
    async with SlowApi(delay=0.05) as api:
        async with Client(
            API_KEY, base_url=api.base_url, connection_limit=2, retry=None, rate_limit=None
        ) as client:
            results = await asyncio.gather(*(client.permissions.get(WA_ID) for _ in range(20)))
            assert acquired_connections(client) == 0
    assert all(isinstance(result, CallPermissions) for result in results)
    assert api.received == 20
    assert api.peak == 2
    await settle(baseline)
    assert other_tasks(baseline) == set()


async def test_tiny_pool_times_out_the_queue_cleanly(baseline: set[asyncio.Task[Any]]) -> None:
    timeout = Timeout(total=0.5, attempt=0.5, connect=0.5)
    async with SlowApi(delay=0.2) as api:
        async with Client(
            API_KEY,
            base_url=api.base_url,
            connection_limit=2,
            timeout=timeout,
            retry=None,
            rate_limit=None,
        ) as client:
            outcomes = await asyncio.gather(
                *(timed(client.permissions.get(WA_ID)) for _ in range(20))
            )
            assert acquired_connections(client) == 0
            # The pool is whole again: a call after the storm gets a connection at once.
            assert isinstance(await client.permissions.get(WA_ID), CallPermissions)
    kinds = [type(outcome).__name__ for _, outcome in outcomes]
    assert set(kinds) <= {"CallPermissions", "RequestTimeoutError"}
    # Two connections, 0.2 s per answer, 0.5 s to live: the first four finish, the rest time out.
    assert 2 <= kinds.count("CallPermissions") <= 6
    assert kinds.count("RequestTimeoutError") == 20 - kinds.count("CallPermissions")
    assert max(elapsed for elapsed, _ in outcomes) < timeout.total + 0.1
    await settle(baseline)
    assert other_tasks(baseline) == set()


# --- aclose() while calls are in flight -----------------------------------------------------


CALLS: dict[str, Callable[[Client], Coroutine[Any, Any, Any]]] = {
    "permissions.get": lambda client: client.permissions.get(WA_ID),
    "calls.connect": lambda client: client.calls.connect(WA_ID, OFFER),
    "calls.terminate": lambda client: client.calls.terminate("wacid.1"),
    "settings.get": lambda client: client.settings.get(),
}


@pytest.mark.parametrize("retry", [True, False], ids=["retry", "no-retry"])
async def test_aclose_ends_every_call_in_flight(
    baseline: set[asyncio.Task[Any]], retry: bool
) -> None:
    async with SlowApi(delay=5.0) as api:
        client = Client(
            API_KEY,
            base_url=api.base_url,
            retry=RetryPolicy(initial_wait=0.01) if retry else None,
            timeout=Timeout(total=10, attempt=10, connect=1),
        )
        names = list(CALLS) * 3
        tasks = [asyncio.create_task(timed(CALLS[name](client))) for name in names]
        while api.received < len(tasks):
            await asyncio.sleep(0.01)
        closed_at = time.perf_counter()
        await client.aclose()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
        took = time.perf_counter() - closed_at
    assert took < 0.5, f"calls took {took:.2f} s to end after aclose()"
    for name, (_, outcome) in zip(names, outcomes, strict=True):
        assert isinstance(outcome, D360Error), f"{name} ended in {outcome!r}"
        assert outcome.operation == name
        if name == "calls.connect":
            assert isinstance(outcome, OutcomeUnknownError), repr(outcome)
    assert api.received == len(names), "nothing is sent after aclose()"
    await settle(baseline)
    assert other_tasks(baseline) == set()


# --- cancellation at each await point -------------------------------------------------------


async def cancel_after(task: asyncio.Task[Any], iterations: int) -> bool:
    """Let `task` run for `iterations` loop turns, then cancel it; whether it was still running."""
    for _ in range(iterations):
        await asyncio.sleep(0)
    if task.done():
        return False
    task.cancel()
    return True


@dataclass(frozen=True)
class Scenario:
    """Where the call spends its time: the API's answers, the client's options, the call."""

    call: str
    fail_first: int = 0
    retry: RetryPolicy | None = None
    rate_limit: RateLimitPolicy = field(default_factory=lambda: RateLimitPolicy(max_in_flight=1))
    """One slot in flight: a slot a cancelled call kept would block the last call."""


SCENARIOS = {
    "get": Scenario("permissions.get"),
    "connect": Scenario("calls.connect"),
    "retry-backoff": Scenario(
        "permissions.get",
        fail_first=10**6,
        retry=RetryPolicy(initial_wait=0.001, max_wait=0.002, budget=None),
    ),
    "token-bucket": Scenario(
        "calls.terminate",
        rate_limit=RateLimitPolicy(requests_per_second=200, burst=1, max_in_flight=1),
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_cancel_at_every_await_point(baseline: set[asyncio.Task[Any]], scenario: str) -> None:
    """Cancel after 0, 1, 2, ... loop turns until the call finishes first: every cancelled
    call raises CancelledError at once, and afterwards the client still works (no slot of the
    in-flight cap, token of the bucket or pooled connection was lost)."""
    setup = SCENARIOS[scenario]
    name = setup.call
    async with SlowApi(fail_first=setup.fail_first) as api:
        async with Client(
            API_KEY,
            base_url=api.base_url,
            connection_limit=1,
            retry=setup.retry,
            rate_limit=setup.rate_limit,
        ) as client:
            cancelled = 0
            for iterations in range(2000):
                task = asyncio.create_task(CALLS[name](client))
                if not await cancel_after(task, iterations):
                    break
                started = time.perf_counter()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
                assert task.cancelled(), f"after {iterations} turns: {task!r}"
                assert time.perf_counter() - started < 0.1
                cancelled += 1
            else:
                pytest.fail("the call never finished on its own")
            assert cancelled >= 5, "the call finished too soon to test anything"
            error = task.exception()
            if setup.fail_first:
                assert isinstance(error, D360Error)
            else:
                assert error is None
            await asyncio.sleep(0.05)  # let the bucket refill
            assert acquired_connections(client) == 0
            api.fail_first = 0
            async with asyncio.timeout(1.0):
                await CALLS[name](client)
    await settle(baseline)
    assert other_tasks(baseline) == set()


async def test_cancel_while_waiting_for_a_pooled_connection(
    baseline: set[asyncio.Task[Any]],
) -> None:
    async with SlowApi(delay=0.3) as api:
        async with Client(
            API_KEY, base_url=api.base_url, connection_limit=1, retry=None, rate_limit=None
        ) as client:
            holder = asyncio.create_task(client.permissions.get(WA_ID))
            while api.received < 1:
                await asyncio.sleep(0.005)
            waiters = [asyncio.create_task(client.permissions.get(WA_ID)) for _ in range(5)]
            await asyncio.sleep(0.02)
            for waiter in waiters:
                waiter.cancel()
            results = await asyncio.gather(*waiters, return_exceptions=True)
            assert all(isinstance(result, asyncio.CancelledError) for result in results)
            assert isinstance(await holder, CallPermissions)
            assert api.received == 1
            assert acquired_connections(client) == 0
            assert isinstance(await client.permissions.get(WA_ID), CallPermissions)
    await settle(baseline)
    assert other_tasks(baseline) == set()


async def test_request_timeout_error_is_typed_under_a_tiny_attempt_timeout() -> None:
    async with SlowApi(delay=1.0) as api:
        async with Client(
            API_KEY,
            base_url=api.base_url,
            timeout=Timeout(total=0.3, attempt=0.1, connect=0.1),
            retry=None,
        ) as client:
            with pytest.raises(RequestTimeoutError):
                await client.permissions.get(WA_ID)
            with pytest.raises(OutcomeUnknownError):
                await client.calls.connect(WA_ID, OFFER)
