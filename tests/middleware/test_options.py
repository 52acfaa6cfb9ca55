"""Options that compose (issue 15, items 1-3), each against a loopback server.

1. Every option a client takes that shapes a call can be set per call and works whatever the
   client's default; `with_options` makes a cheap copy sharing the pool and the shared state.
2. `max_retry_after` caps only the waits the server asks for; contradictory settings are refused.
3. Attempt timeouts and deadlines above 5 s fire on time (aiohttp rounds them up otherwise).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import attrs
import pytest

from d360_calling import (
    BudgetLimits,
    Client,
    D360Error,
    LocalState,
    RateLimitPolicy,
    RequestTimeoutError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    Timeout,
    ValidationError,
)
from d360_calling.session import Handler, Request, Response

from ..support.samples import API_KEY, CALL_ID, SUCCESS, WA_ID
from ..support.server import Recorded, Reply, ScriptedServer, delay, reply
from ..support.sleep import FakeSleep

UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})


def bare(server: ScriptedServer, **options: Any) -> Client:
    """A client with every optional behaviour off: no retries, no limits, no middlewares."""
    options.setdefault("retry", None)
    options.setdefault("rate_limit", None)
    return Client(API_KEY, base_url=server.base_url, **options)


class Seen:
    """A middleware that records the requests it sees (operation, attempt, options)."""

    deadline_safe = True

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.requests.append(request)
        return await call_next(request)


def in_flight_counter(server: ScriptedServer, hold: float = 0.05) -> list[int]:
    """Answer every request after `hold` seconds; the list gets the peak of concurrent ones."""
    current = 0
    peak = [0]
    tasks: set[asyncio.Future[None]] = set()

    async def held() -> None:
        nonlocal current
        current += 1
        peak[0] = max(peak[0], current)
        await asyncio.sleep(hold)
        current -= 1

    def answer(seen: Recorded) -> Reply:
        task = asyncio.ensure_future(held())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return reply(json={"success": True})

    server.default = lambda seen: delay(hold, answer(seen))
    return peak


# --- 1. every option per call, whatever the client's default ----------------------------------


async def test_a_per_call_retry_works_on_a_client_built_without_retries(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(UNAVAILABLE)
    async with bare(server) as client:
        result = await client.calls.terminate(CALL_ID, retry=RetryPolicy(sleep=sleep))
    assert result.success is True
    assert server.count() == 2
    assert len(sleep.waits) == 1


async def test_a_per_call_rate_limit_policy_caps_calls_on_a_client_without_one(
    server: ScriptedServer,
) -> None:
    peak = in_flight_counter(server)
    async with bare(server) as client:
        policy = RateLimitPolicy(max_in_flight=2)
        await asyncio.gather(
            *(client.calls.terminate(CALL_ID, rate_limit=policy) for _ in range(8))
        )
        assert peak[0] <= 2
        await asyncio.gather(*(client.calls.terminate(CALL_ID) for _ in range(8)))
    assert peak[0] > 2
    assert server.count() == 16


async def test_a_per_call_rate_limit_policy_replaces_the_clients(server: ScriptedServer) -> None:
    peak = in_flight_counter(server)
    async with Client(
        API_KEY, base_url=server.base_url, rate_limit=RateLimitPolicy(max_in_flight=10)
    ) as client:
        one = RateLimitPolicy(max_in_flight=1)
        await asyncio.gather(*(client.calls.terminate(CALL_ID, rate_limit=one) for _ in range(5)))
    assert peak[0] == 1


async def test_a_per_call_429_under_its_own_policy_closes_the_gate(server: ScriptedServer) -> None:
    server.script(reply(429, {"error": {"message": "(#4) limit", "code": 4}}))
    state = LocalState()
    async with bare(server, shared_state=state) as client:
        policy = RateLimitPolicy(default_backoff=5.0)
        with pytest.raises(D360Error):
            await client.calls.terminate(CALL_ID, rate_limit=policy)
    assert 4.0 < state.gate_wait() <= 5.0


async def test_a_per_call_none_skips_all_client_side_limiting(server: ScriptedServer) -> None:
    """`rate_limit=None` means the same per call as per client: no gate, bucket or cap."""
    server.script(reply(429, {"error": {"message": "(#4) limit", "code": 4}}))
    async with Client(API_KEY, base_url=server.base_url, retry=None) as client:
        with pytest.raises(D360Error):
            await client.calls.terminate(CALL_ID)  # closes the gate for a second
        with pytest.raises(D360Error, match="rate limited"):
            await client.calls.terminate(CALL_ID, timeout=0.5)  # held at the gate, unsent
        assert (await client.calls.terminate(CALL_ID, rate_limit=None, timeout=0.5)).success
    assert server.count() == 2


async def test_distinct_per_call_policies_leave_the_limiter_bounded(server: ScriptedServer) -> None:
    from d360_calling.middleware.ratelimit import MAX_LIMITERS, RateLimitMiddleware

    async with bare(server) as client:
        for cap in range(1, 3 * MAX_LIMITERS):
            await client.calls.terminate(CALL_ID, rate_limit=RateLimitPolicy(max_in_flight=cap))
        [limiter] = [m for m in client._session._sdk if isinstance(m, RateLimitMiddleware)]
        assert len(limiter._limiters) <= MAX_LIMITERS


async def test_per_call_middlewares_replace_the_clients(server: ScriptedServer) -> None:
    mine, per_call = Seen(), Seen()
    async with bare(server, middlewares=[mine]) as client:
        await client.calls.terminate(CALL_ID, middlewares=[per_call])
        await client.calls.terminate(CALL_ID, middlewares=[])
        await client.calls.terminate(CALL_ID)
    assert len(per_call.requests) == 1
    assert len(mine.requests) == 1


async def test_per_call_attempt_middlewares_see_each_attempt(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE)
    seen = Seen()
    async with bare(server) as client:
        await client.calls.terminate(
            CALL_ID, retry=RetryPolicy(sleep=sleep), attempt_middlewares=[seen]
        )
    assert [r.attempt for r in seen.requests] == [1, 2, 3]


async def test_a_per_call_max_body_size(server: ScriptedServer) -> None:
    async with bare(server) as client:
        with pytest.raises(ResponseDecodeError, match="larger than 10 bytes"):
            await client.settings.get(max_body_size=10)
        assert (await client.settings.get()).calling is not None


OPTION_CASES: dict[str, dict[str, Any]] = {
    "timeout": {"timeout": Timeout(total=0.3, attempt=0.3)},
    "retry": {"retry": RetryPolicy(initial_wait=0.0, max_wait=0.0)},
    "rate_limit": {"rate_limit": RateLimitPolicy(max_in_flight=1)},
    "middlewares": {"middlewares": [Seen()]},
    "attempt_middlewares": {"attempt_middlewares": [Seen()]},
    "max_body_size": {"max_body_size": 10},
}


@pytest.mark.parametrize("name", sorted(OPTION_CASES))
async def test_every_option_works_per_call_and_on_a_copy(server: ScriptedServer, name: str) -> None:
    """The same option, per call and through `with_options`, on a client built without it."""
    options = OPTION_CASES[name]
    for how in ("per call", "with_options"):
        server.requests.clear()
        first = {"timeout": delay(1.0), "retry": UNAVAILABLE}.get(name, reply(json=SUCCESS))
        server.script(first)
        async with bare(server) as client:
            target = client if how == "per call" else client.with_options(**options)
            call_options = options if how == "per call" else {}
            try:
                await client_call(target, name, call_options)
            except RequestTimeoutError:
                assert name == "timeout", how
            except ResponseDecodeError:
                assert name == "max_body_size", how
            else:
                assert name not in ("timeout", "max_body_size"), how
        if name == "retry":
            assert server.count() == 2, how
        for middleware in options.get("middlewares", options.get("attempt_middlewares", [])):
            assert middleware.requests, how
            middleware.requests.clear()


async def client_call(client: Client, name: str, options: dict[str, Any]) -> None:
    if name == "max_body_size":
        await client.settings.get(**options)
    else:
        await client.calls.terminate(CALL_ID, **options)


# --- with_options -------------------------------------------------------------------------------


async def test_with_options_shares_the_pool_and_state(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    async with bare(server) as client:
        patient = client.with_options(retry=RetryPolicy(sleep=sleep), timeout=7.0)
        assert patient.shared_state is client.shared_state
        await client.permissions.get(WA_ID)
        server.script(UNAVAILABLE)
        await patient.permissions.get(WA_ID)
        assert patient._session._http is client._session._http
        assert patient.timeout.total == 7.0
        assert client.timeout.total == 30.0
        server.script(UNAVAILABLE)
        with pytest.raises(ServerError):
            await client.permissions.get(WA_ID)  # the original still sends once
        await patient.aclose()  # closing a copy closes nothing
        await client.permissions.get(WA_ID)
    assert server.count() == 5
    with pytest.raises(D360Error, match="closed"):
        await patient.permissions.get(WA_ID)


async def test_with_options_copies_compose(server: ScriptedServer) -> None:
    first, second = Seen(), Seen()
    async with bare(server) as client:
        a = client.with_options(middlewares=[first], timeout=5.0)
        b = a.with_options(middlewares=[*a.middlewares, second])
        assert b.timeout.total == 5.0
        await b.calls.reject(CALL_ID)
        await b.calls.reject(CALL_ID, middlewares=[])
    assert len(first.requests) == len(second.requests) == 1


async def test_with_options_refuses_what_names_the_account_or_pool(server: ScriptedServer) -> None:
    async with bare(server) as client:
        for name in ("api_key", "base_url", "session", "shared_state", "connection_limit"):
            with pytest.raises(ValidationError) as caught:
                client.with_options(**{name: None})  # type: ignore[misc]
            assert caught.value.field == name
        with pytest.raises(ValidationError) as wrong:
            client.with_options(retry="often")  # type: ignore[typeddict-item]
        assert wrong.value.field == "retry"
        with pytest.raises(ValidationError):
            client.with_options(middlewares="not a list")  # type: ignore[typeddict-item]


async def test_a_copy_does_not_warn_when_collected(server: ScriptedServer) -> None:
    async with bare(server) as client:
        copy = client.with_options(retry=None)
        await copy.calls.terminate(CALL_ID)
        del copy  # the copy owns no pool: no ResourceWarning (warnings are errors here)


# --- 2. max_retry_after caps only the server's waits -------------------------------------------


async def test_max_retry_after_zero_keeps_backoff_retries(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE)
    policy = RetryPolicy(max_retry_after=0, sleep=sleep, random=lambda: 1.0)
    async with bare(server, retry=policy) as client:
        assert (await client.calls.terminate(CALL_ID)).success
    assert server.count() == 3
    assert sleep.waits == [0.25, 0.5]


async def test_max_retry_after_zero_still_refuses_a_servers_wait(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(reply(429, {"error": {"code": 4, "message": "x"}}, headers={"Retry-After": "1"}))
    policy = RetryPolicy(max_retry_after=0, sleep=sleep)
    async with bare(server, retry=policy) as client:
        with pytest.raises(D360Error) as caught:
            await client.calls.terminate(CALL_ID)
    assert getattr(caught.value, "retry_after", None) == 1.0
    assert server.count() == 1


async def test_backoff_longer_than_max_retry_after_is_still_taken(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE)
    state = LocalState()
    policy = RetryPolicy(
        initial_wait=2.0, max_wait=8.0, max_retry_after=1.0, sleep=sleep, random=lambda: 1.0
    )
    async with bare(server, retry=policy, shared_state=state) as client:
        assert (await client.calls.terminate(CALL_ID)).success
    assert sleep.waits == [2.0, 4.0, 8.0]
    assert server.count() == 4


async def test_a_backoff_past_the_deadline_spends_no_token(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(UNAVAILABLE)
    state = LocalState()
    policy = RetryPolicy(initial_wait=5.0, max_wait=5.0, sleep=sleep, random=lambda: 1.0)
    async with bare(server, retry=policy, shared_state=state) as client:
        with pytest.raises(ServerError):
            await client.calls.terminate(CALL_ID, timeout=1.0)
    assert sleep.waits == []
    assert server.count() == 1
    assert state.budget(BudgetLimits()).tokens == 10.0


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: RetryPolicy(max_wait=0.1), "max_wait"),
        (lambda: RetryPolicy(initial_wait=2.0, max_wait=1.0), "max_wait"),
        (lambda: RetryPolicy(max_retry_after=3601.0), "max_retry_after"),
        (lambda: RateLimitPolicy(burst=5), "burst"),
    ],
)
def test_contradictory_settings_are_refused(make: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()
    assert caught.value.field == field


def test_consistent_edge_settings_are_accepted() -> None:
    RetryPolicy(initial_wait=0.0, max_wait=0.0)  # retries without waiting
    RetryPolicy(max_retry_after=0.0)
    RetryPolicy(max_retry_after=3600.0, max_wait=60.0)
    RateLimitPolicy(requests_per_second=5, burst=5)
    assert attrs.evolve(RetryPolicy(), max_wait=100.0).max_wait == 100.0


# --- 3. timeouts fire on time ------------------------------------------------------------------


async def start_just_before_a_whole_second(margin: float) -> None:
    """Sleep until the loop clock is `margin` s before a whole second, where aiohttp's rounding
    of a timeout's end to the next whole second overshoots by about `1 - margin` s."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep((1.0 - margin - loop.time() % 1.0) % 1.0)


async def timed_out_after(client: Client, timeout: Timeout) -> float:
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        await client.calls.terminate(CALL_ID, timeout=timeout)
    return time.monotonic() - started


async def test_timeouts_above_five_seconds_fire_on_time(server: ScriptedServer) -> None:
    """`attempt=5.2` (aiohttp's timer alone) and a 5.3 s deadline capping a 10 s attempt both
    fire when they should, not at the next whole second (about 0.9 s late, as started)."""
    server.default = lambda seen: delay(9.0)
    async with bare(server) as client:
        await start_just_before_a_whole_second(0.1)
        attempt, deadline = await asyncio.gather(
            timed_out_after(client, Timeout(total=20.0, attempt=5.2)),
            timed_out_after(client, Timeout(total=5.3, attempt=10.0)),
        )
    assert 5.2 <= attempt < 5.2 + 0.45, attempt
    assert 5.3 <= deadline < 5.3 + 0.45, deadline


def test_the_sdks_aiohttp_timeouts_are_never_rounded() -> None:
    from d360_calling.session import Session

    session = Session(timeout=Timeout(total=30.0, attempt=12.5, connect=6.5))
    built = session._attempt_timeout(session.timeout)
    assert built.ceil_threshold == float("inf")
    assert (built.total, built.sock_connect) == (12.5, 6.5)
