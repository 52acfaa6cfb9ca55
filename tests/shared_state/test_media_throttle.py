"""360dialog's media error throttle, mirrored (issue 24 item 3): 20 error answers to
`GET /{media-id}` within 60 minutes block it for 30, so the client counts every non-2xx answer
and, once the count (or a 429) says so, raises `MediaThrottledError` without sending. Per
client on `LocalState` (with an injected clock), per account on `RedisState` (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses as Aioresponses
from redis.asyncio import Redis

from d360_calling import (
    Client,
    LocalState,
    MediaNotFoundError,
    MediaThrottledError,
    RateLimitError,
    RedisState,
    ServerError,
    TransportError,
)
from d360_calling.shared_state import ErrorWindow, MediaErrorLimits

from ..endpoints.media_support import BASE, MEDIA_ID, NOT_FOUND, THROTTLED, lookup_answer, meta_url
from ..support.clients import make_client
from .conftest import RedisServer, Store

LOOKUP = f"{BASE}/{MEDIA_ID}"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent(mock: Aioresponses) -> int:
    return sum(len(calls) for calls in mock.requests.values())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(clock: Clock) -> AsyncIterator[Client]:
    bound = make_client(BASE, shared_state=LocalState(clock=clock))
    try:
        yield bound
    finally:
        await bound.aclose()


async def missing(client: Client, times: int) -> None:
    for _ in range(times):
        with pytest.raises(MediaNotFoundError):
            await client.media.lookup(MEDIA_ID)


async def test_the_21st_lookup_after_20_errors_is_not_sent(
    client: Client, aioresponses: Aioresponses
) -> None:
    aioresponses.get(LOOKUP, status=404, payload=NOT_FOUND, repeat=True)
    await missing(client, 20)
    assert sent(aioresponses) == 20
    with pytest.raises(MediaThrottledError) as caught:
        await client.media.lookup(MEDIA_ID)
    assert sent(aioresponses) == 20  # held back by the client
    error = caught.value
    assert isinstance(error, RateLimitError)
    assert error.request_sent is False
    assert error.retry_after == 3600.0  # all 20 at the same moment: the window decides
    assert error.operation == "media.lookup"
    assert MEDIA_ID not in str(error)
    with pytest.raises(MediaThrottledError):  # downloads and transcripts look up too
        await client.media.transcript(MEDIA_ID)
    assert sent(aioresponses) == 20


async def test_every_non_2xx_counts_and_successes_do_not(
    client: Client, aioresponses: Aioresponses
) -> None:
    aioresponses.get(LOOKUP, status=503, payload={"error": "busy"}, repeat=True)
    ok = f"{BASE}/{MEDIA_ID}0"
    aioresponses.get(ok, payload=lookup_answer(b"x", meta_url()), repeat=True)
    for _ in range(19):
        with pytest.raises(ServerError):
            await client.media.lookup(MEDIA_ID)
        await client.media.lookup(f"{MEDIA_ID}0")
    with pytest.raises(ServerError):
        await client.media.lookup(MEDIA_ID)
    assert sent(aioresponses) == 39
    with pytest.raises(MediaThrottledError):
        await client.media.lookup(f"{MEDIA_ID}0")  # the endpoint is blocked, whatever the id
    assert sent(aioresponses) == 39


async def test_transport_errors_are_not_error_answers(
    client: Client, aioresponses: Aioresponses
) -> None:
    aioresponses.get(LOOKUP, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    for _ in range(25):
        with pytest.raises(TransportError):
            await client.media.lookup(MEDIA_ID)
    assert sent(aioresponses) == 25  # all sent: none of them was an answer


async def test_the_window_slides(client: Client, clock: Clock, aioresponses: Aioresponses) -> None:
    aioresponses.get(LOOKUP, status=404, payload=NOT_FOUND, repeat=True)
    start = clock.now
    for _ in range(20):  # one a second
        await missing(client, 1)
        clock.now += 1
    clock.now = start + 1000
    with pytest.raises(MediaThrottledError) as caught:
        await client.media.lookup(MEDIA_ID)
    assert caught.value.retry_after == pytest.approx(2600)  # the first error leaves at 3600
    clock.now = start + 3599.5
    with pytest.raises(MediaThrottledError) as caught:
        await client.media.lookup(MEDIA_ID)
    assert caught.value.retry_after == pytest.approx(0.5)
    assert sent(aioresponses) == 20
    clock.now = start + 3600
    await missing(client, 1)  # 19 left in the window: sent (and its error makes 20 again)
    assert sent(aioresponses) == 21
    with pytest.raises(MediaThrottledError):
        await client.media.lookup(MEDIA_ID)


async def test_the_block_outlasts_a_sparse_window(
    client: Client, clock: Clock, aioresponses: Aioresponses
) -> None:
    aioresponses.get(LOOKUP, status=404, payload=NOT_FOUND, repeat=True)
    start = clock.now
    for n in range(20):  # one every 150 s: the 20th at 2850 s blocks until 4650 s
        clock.now = start + 150 * n
        await missing(client, 1)
    clock.now = start + 3700  # the first error left the window; the block is still on
    with pytest.raises(MediaThrottledError) as caught:
        await client.media.lookup(MEDIA_ID)
    assert caught.value.retry_after == pytest.approx(950)
    clock.now = start + 4650
    await missing(client, 1)
    assert sent(aioresponses) == 21


@pytest.mark.parametrize(("headers", "blocked"), [({"Retry-After": "120"}, 120.0), ({}, 1800.0)])
async def test_a_429_blocks_for_its_retry_after_or_30_minutes(
    client: Client,
    clock: Clock,
    aioresponses: Aioresponses,
    headers: dict[str, str],
    blocked: float,
) -> None:
    aioresponses.get(LOOKUP, status=429, payload=THROTTLED, headers=headers)
    aioresponses.get(LOOKUP, payload=lookup_answer(b"x", meta_url()))
    with pytest.raises(MediaThrottledError) as caught:
        await client.media.lookup(MEDIA_ID)
    first = caught.value
    assert (first.request_sent, first.status, first.code, first.retry_after) == (
        True,
        429,
        4,
        blocked,
    )
    clock.now += 10
    with pytest.raises(MediaThrottledError) as held:
        await client.media.lookup(MEDIA_ID)
    assert held.value.request_sent is False
    assert held.value.retry_after == pytest.approx(blocked - 10)
    assert sent(aioresponses) == 1
    clock.now += blocked - 10
    info = await client.media.lookup(MEDIA_ID)
    assert info.sha256 is not None
    assert sent(aioresponses) == 2


def test_the_error_window_keeps_only_what_it_needs() -> None:
    window = ErrorWindow()
    for second in range(100):
        window.record(float(second), 3, 60.0, 30.0)
    assert list(window.times) == [97.0, 98.0, 99.0]
    assert window.wait(100.0, 3, 60.0) == pytest.approx(57.0)  # 97 + 60 - 100
    assert window.wait(157.0, 3, 60.0) == 0.0
    assert list(window.times) == [98.0, 99.0]  # 97 left the window
    empty = ErrorWindow()
    assert empty.wait(0.0, 20, 3600.0) == 0.0
    empty.block(0.0, 5.0)
    empty.block(1.0, 1.0)  # never shortens
    assert empty.wait(2.0, 20, 3600.0) == pytest.approx(3.0)


# --- one account, many clients: RedisState -------------------------------------------------


async def redis_clients(url: str, keys: list[str]) -> tuple[list[Client], Callable[[], Any]]:
    redises = [Redis.from_url(url) for _ in keys]
    states = [RedisState(redis) for redis in redises]
    clients = [
        make_client(BASE, api_key=key, shared_state=state)
        for key, state in zip(keys, states, strict=True)
    ]

    async def close() -> None:
        for bound in clients:
            await bound.aclose()
        for state in states:
            await state.aclose()
        for redis in redises:
            await redis.aclose()

    return clients, close


async def test_two_clients_on_redis_count_together(
    store: Store, aioresponses: Aioresponses
) -> None:
    redis, redis_too = store.client(), store.client()
    states = [RedisState(redis), RedisState(redis_too)]
    first, second = (make_client(BASE, shared_state=state) for state in states)
    other_account = make_client(BASE, api_key="another-key", shared_state=RedisState(redis))
    aioresponses.get(LOOKUP, status=404, payload=NOT_FOUND, repeat=True)
    try:
        await missing(first, 12)
        await missing(second, 8)
        for bound in (first, second):
            with pytest.raises(MediaThrottledError) as caught:
                await bound.media.lookup(MEDIA_ID)
            assert caught.value.request_sent is False
            assert 3500 < (caught.value.retry_after or 0) <= 3600
        assert sent(aioresponses) == 20
        await missing(other_account, 1)  # another account's count is its own
        assert sent(aioresponses) == 21
        assert all(state.available for state in states)  # Redis answered, no fallback
    finally:
        for bound in (first, second, other_account):
            await bound.aclose()
        for state in (*states, other_account.shared_state):
            await state.aclose()
        await redis.aclose()
        await redis_too.aclose()


async def test_on_redis_the_window_slides_and_a_block_holds(
    redis_server: RedisServer, aioresponses: Aioresponses
) -> None:
    (first, second), close = await redis_clients(redis_server.url, ["k", "k"])
    aioresponses.get(LOOKUP, status=404, payload=NOT_FOUND, repeat=True)
    try:
        for bound in (first, second):
            bound.media.limits = MediaErrorLimits(max_errors=3, window=0.4, block=0.0)
        await missing(first, 2)
        await missing(second, 1)
        with pytest.raises(MediaThrottledError) as caught:
            await first.media.lookup(MEDIA_ID)
        assert 0 < (caught.value.retry_after or 0) <= 0.4
        await asyncio.sleep(0.5)
        await missing(second, 1)  # the window slid on Redis's clock
        assert sent(aioresponses) == 4

        for bound in (first, second):
            bound.media.limits = MediaErrorLimits(max_errors=3, window=0.2, block=1.0)
        await asyncio.sleep(0.3)
        await missing(first, 3)  # the third starts a block of a second
        await asyncio.sleep(0.4)  # the window is empty again, the block is not
        with pytest.raises(MediaThrottledError) as held:
            await second.media.lookup(MEDIA_ID)
        assert 0.3 < (held.value.retry_after or 0) <= 0.6
        assert sent(aioresponses) == 7
    finally:
        await close()


async def test_on_redis_a_429_blocks_every_client(
    redis_server: RedisServer, aioresponses: Aioresponses
) -> None:
    (first, second), close = await redis_clients(redis_server.url, ["k", "k"])
    aioresponses.get(LOOKUP, status=429, payload=THROTTLED, headers={"Retry-After": "90"})
    try:
        with pytest.raises(MediaThrottledError) as caught:
            await first.media.lookup(MEDIA_ID)
        assert caught.value.request_sent is True
        with pytest.raises(MediaThrottledError) as held:
            await second.media.lookup(MEDIA_ID)
        assert held.value.request_sent is False
        assert 85 < (held.value.retry_after or 0) <= 90
        assert sent(aioresponses) == 1
    finally:
        await close()
