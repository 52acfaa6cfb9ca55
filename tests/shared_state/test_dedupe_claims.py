"""Dedupe claims on a real Redis (one server and a cluster), through `SharedState`'s methods:
every ordering of a deferred delivery's late script, its give-back, another delivery's
give-back and a redelivery ends with the event handled exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from d360_calling import DeliveryInProgress, RedisState

from .conftest import Store

KEY = "calls:wacid.claims-1:connect"
DAY = 86_400.0


@pytest.fixture
async def states(store: Store) -> AsyncIterator[tuple[RedisState, RedisState]]:
    """Two workers' states on one prefix, each with its own client."""
    clients = [store.client(), store.client()]
    pair = [RedisState(client, prefix="claims") for client in clients]
    try:
        yield pair[0], pair[1]
    finally:
        for closing in (*pair, *clients):
            await closing.aclose()


async def test_a_late_script_after_two_give_backs_records_nothing(
    states: tuple[RedisState, RedisState],
) -> None:
    """Delivery C1 is given back, then another deferred delivery C3 is; C1's script lands last
    and must not take the key (it was answered 503 and runs no handler)."""
    a, b = states
    await a.forget(KEY, claim="C1")
    await b.forget(KEY, claim="C3")
    assert await a.first_times([KEY], DAY, claim="C1") == [False]
    assert await b.first_times([KEY], DAY, claim="C4") == [True]  # the redelivery is handled


async def test_a_retried_script_answers_the_same_for_its_own_claim(
    states: tuple[RedisState, RedisState],
) -> None:
    """redis-py resends a script whose reply was lost: the rerun must not call the event a
    duplicate of itself."""
    a, _ = states
    assert await a.first_times([KEY], DAY, claim="C1") == [True]
    assert await a.first_times([KEY], DAY, claim="C1") == [True]


async def test_a_redelivery_while_another_is_pending_is_deferred_not_dropped(
    states: tuple[RedisState, RedisState],
) -> None:
    """A's script landed (its answer late, so A answers 503) and its give-back has not: B's
    redelivery is told to come back later; once A gives back, the next one is handled."""
    a, b = states
    assert await a.first_times([KEY], DAY, claim="A") == [True]  # pending, never confirmed
    with pytest.raises(DeliveryInProgress):
        await b.first_times([KEY], DAY, claim="B")
    await a.forget(KEY, claim="A")
    assert await b.first_times([KEY], DAY, claim="B2") == [True]


async def test_a_confirmed_key_makes_every_redelivery_a_duplicate(
    states: tuple[RedisState, RedisState],
) -> None:
    a, b = states
    assert await a.first_times([KEY], DAY, claim="A") == [True]
    await a.confirm([KEY], DAY, claim="A")
    assert await b.first_times([KEY], DAY, claim="B") == [False]
    await b.forget(KEY, claim="B")  # another claim's give-back leaves the key alone
    assert await b.first_times([KEY], DAY, claim="B2") == [False]


async def test_a_claim_never_confirmed_lapses(states: tuple[RedisState, RedisState]) -> None:
    """A worker that recorded a key and then died blocks the event only for `pending_ttl`."""
    a, b = states
    a.pending_ttl = 0.2
    assert await a.first_times([KEY], DAY, claim="A") == [True]
    for _ in range(40):  # bounded: the pending claim expires in Redis
        await asyncio.sleep(0.05)
        try:
            assert await b.first_times([KEY], DAY, claim="B") == [True]
            break
        except DeliveryInProgress:
            continue
    else:
        pytest.fail("the pending claim never lapsed")


async def test_claimless_records_last_for_the_ttl(states: tuple[RedisState, RedisState]) -> None:
    a, b = states
    a.pending_ttl = 0.05
    assert await a.first_times([KEY], DAY) == [True]
    await asyncio.sleep(0.2)
    assert await b.first_times([KEY], DAY) == [False]
