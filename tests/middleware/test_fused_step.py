"""The default chain's fused retry and rate-limit step: taken only under the client's own
policies when the limiter lets a call through at once, and the same outcomes as the composed
pair (retry on 5xx, a 429's wait and gate, timeouts, the in-flight slot given back)."""

from __future__ import annotations

from typing import Any

import pytest

from d360_calling import (
    Client,
    RateLimitPolicy,
    RetryPolicy,
    ServerError,
    SessionDescription,
    Timeout,
)
from d360_calling.middleware.ratelimit import RateLimitMiddleware
from d360_calling.shared_state import LocalState

from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, WA_ID
from ..support.server import ScriptedServer, delay, reply
from ..support.sleep import FakeSleep

ANSWER = SessionDescription.answer(ANSWER_SDP)
UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})
THROTTLED = reply(
    429,
    {"error": {"message": "(#4) Application request limit reached", "code": 4}},
    headers={"Retry-After": "0.5"},
)
COMPOSED: dict[str, Any] = {"max_body_size": 4 * 1024 * 1024}
"""A per-call option that changes nothing but sends the call through the composed pair."""


def make(base_url: str, sleep: FakeSleep, **options: Any) -> Client:
    """A client with both SDK middlewares (backoff at the jitter ceiling, fake sleeps)."""
    policy = RetryPolicy(sleep=sleep, random=lambda: 1.0)
    return Client(API_KEY, base_url=base_url, retry=policy, **options)


def free_slots(client: Client) -> tuple[int, int]:
    """The client's in-flight cap: slots free, calls queued."""
    found = [m for m in client._session._sdk if isinstance(m, RateLimitMiddleware)]
    default = found[0]._default
    assert default is not None
    assert default.slots is not None
    return default.slots.free, len(default.slots.waiters)


@pytest.fixture
def entries(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each `try_enter` the fused step makes: whether it let the call through."""
    seen: list[bool] = []
    real = RateLimitMiddleware.try_enter

    def counting(self: RateLimitMiddleware) -> Any:
        slots = real(self)
        seen.append(slots is not None)
        return slots

    monkeypatch.setattr(RateLimitMiddleware, "try_enter", counting)
    return seen


async def test_the_fused_step_runs_only_under_the_clients_own_policies(
    server: ScriptedServer, sleep: FakeSleep, entries: list[bool]
) -> None:
    async with make(server.base_url, sleep) as client:
        assert client._session._chain.__name__ == "fused"
        await client.permissions.get(WA_ID)
        assert entries == [True]
        await client.permissions.get(WA_ID, retry=RetryPolicy(sleep=sleep))
        await client.permissions.get(WA_ID, rate_limit=RateLimitPolicy())
        await client.permissions.get(WA_ID, **COMPOSED)
        assert entries == [True]  # a per-call option: the composed pair
        state = client.shared_state
        assert isinstance(state, LocalState)
        state.close_gate_now(0.05)
        await client.permissions.get(WA_ID)  # the gate is closed: the composed pair waits
        assert entries == [True, False]
        bucket = client.with_options(rate_limit=RateLimitPolicy(requests_per_second=100))
        await bucket.permissions.get(WA_ID)
        assert entries == [True, False]
    for other in (
        Client(API_KEY, base_url=server.base_url, retry=None),
        Client(API_KEY, base_url=server.base_url, rate_limit=None),
    ):
        assert other._session._chain.__name__ != "fused"
        await other.aclose()
    async with make(server.base_url, sleep, rate_limit=RateLimitPolicy(max_in_flight=None)) as c:
        await c.permissions.get(WA_ID)  # no cap to take a slot of: the composed pair
        assert entries == [True, False, False]


@pytest.mark.parametrize("path", ["fused", "composed"])
async def test_5xx_is_retried_alike(server: ScriptedServer, sleep: FakeSleep, path: str) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE)
    options = COMPOSED if path == "composed" else {}
    async with make(server.base_url, sleep) as client:
        result = await client.calls.accept(CALL_ID, ANSWER, **options)
        assert result.success is True
        assert free_slots(client) == (100, 0)
    assert server.count() == 3
    assert sleep.waits == [0.25, 0.5]


@pytest.mark.parametrize("path", ["fused", "composed"])
async def test_a_429_closes_the_gate_and_waits_alike(
    server: ScriptedServer, sleep: FakeSleep, path: str
) -> None:
    server.script(THROTTLED)
    options = COMPOSED if path == "composed" else {}
    async with make(server.base_url, sleep) as client:
        await client.permissions.get(WA_ID, **options)
        state = client.shared_state
        assert isinstance(state, LocalState)
        assert state.gate.closed_until > 0  # the 429 closed the account's gate
    assert server.count() == 2
    assert sleep.waits == [0.5]


@pytest.mark.parametrize("path", ["fused", "composed"])
async def test_a_final_failure_gives_the_slot_back_alike(
    server: ScriptedServer, sleep: FakeSleep, path: str
) -> None:
    server.script(*[UNAVAILABLE] * 4)
    options = COMPOSED if path == "composed" else {}
    async with make(server.base_url, sleep) as client:
        with pytest.raises(ServerError):
            await client.permissions.get(WA_ID, **options)
        assert free_slots(client) == (100, 0)
    assert server.count() == 4
    assert sleep.waits == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("path", ["fused", "composed"])
async def test_a_read_timeout_is_retried_alike(
    server: ScriptedServer, sleep: FakeSleep, path: str
) -> None:
    server.script(delay(2.0))
    options = COMPOSED if path == "composed" else {}
    timeout = Timeout(total=5.0, attempt=0.2)
    async with make(server.base_url, sleep, timeout=timeout) as client:
        result = await client.calls.accept(CALL_ID, ANSWER, **options)
    assert result.success is True
    assert server.count() == 2
    assert sleep.waits == [0.25]
