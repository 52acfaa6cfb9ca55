"""A delivery cancelled while its dedupe keys are being recorded is still handled, once.

The server cancels the receiving task when its client goes away (or on its own timeout). If
that happens while the dedupe script runs on Redis, the keys may be recorded; the events must
then be handled all the same, so that the platform's redelivery is the duplicate and nothing is
lost. Real Redis, one server and a three-node cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from d360_calling import RedisState
from d360_calling.webhooks import Receiver, parse

from ..support.webhooks import connect_body, counting_router
from .conftest import Store


async def test_a_delivery_cancelled_mid_dedupe_is_handled_once(store: Store) -> None:
    router, handled = counting_router()
    redis = store.client()
    state = RedisState(redis, prefix="cancelled")
    receiver = Receiver(router, secret="s", shared_state=state)
    script = state._dedupe
    recorded, answer = asyncio.Event(), asyncio.Event()

    async def recorded_then_slow_to_answer(**kwargs: Any) -> Any:
        reply = await script(**kwargs)  # the keys are recorded on Redis...
        recorded.set()
        await answer.wait()  # ...and the answer is still on its way when the sender leaves
        return reply

    events = parse(connect_body("wacid.cancelled-1"))
    try:
        state._dedupe = recorded_then_slow_to_answer
        delivery = asyncio.create_task(receiver.dispatch(events))
        async with asyncio.timeout(5):
            await recorded.wait()
        delivery.cancel()  # the server gives up on the request
        await asyncio.wait({delivery}, timeout=5)
        assert delivery.cancelled()
        answer.set()
        for _ in range(100):  # bounded: the handler starts once the answer arrives
            if handled:
                break
            await asyncio.sleep(0.02)
        assert handled == {"wacid.cancelled-1": 1}

        state._dedupe = script
        await receiver.dispatch(parse(connect_body("wacid.cancelled-1")))  # the redelivery
        assert receiver.stats["duplicates"] == 1
        assert handled == {"wacid.cancelled-1": 1}
    finally:
        answer.set()
        await receiver.aclose()
        await state.aclose()
        await redis.aclose()


async def test_a_delivery_cancelled_mid_dedupe_during_shutdown_is_deferred(store: Store) -> None:
    """Cancelled, and then the receiver closes before the answer: no handler starts, and the
    keys are forgotten, so the redelivery (to this worker or another) is handled."""
    router, handled = counting_router()
    redis, other = store.client(), store.client()
    state = RedisState(redis, prefix="shutdown", timeout=1.0)  # the slow answer stays in time
    receiver = Receiver(router, secret="s", shared_state=state)
    script = state._dedupe
    recorded = asyncio.Event()

    async def recorded_then_slow_to_answer(**kwargs: Any) -> Any:
        reply = await script(**kwargs)
        recorded.set()
        await asyncio.sleep(0.2)
        return reply

    try:
        state._dedupe = recorded_then_slow_to_answer
        delivery = asyncio.create_task(receiver.dispatch(parse(connect_body("wacid.closing"))))
        async with asyncio.timeout(5):
            await recorded.wait()
        delivery.cancel()
        await receiver.aclose()  # waits (bounded) for the delivery to settle
        assert handled == {}

        second_state = RedisState(other, prefix="shutdown")
        second = Receiver(router, secret="s", shared_state=second_state)
        await second.dispatch(parse(connect_body("wacid.closing")))  # another worker
        await second.aclose()
        await second_state.aclose()
        assert handled == {"wacid.closing": 1}
    finally:
        await receiver.aclose()
        await state.aclose()
        for client in (redis, other):
            await client.aclose()


async def test_keys_forgotten_while_redis_cools_down_are_deleted_later(store: Store) -> None:
    """`forget` during a Redis hiccup (the state cooling down after a failed call) does not
    leave the key behind: it is deleted in the background, so the redelivery is new."""
    redis, other = store.client(), store.client()
    state = RedisState(redis, prefix="forget")
    checker = RedisState(other, prefix="forget")
    key = "calls:wacid.forgotten:connect"
    try:
        assert await state.first_times([key], 60, claim="delivery-1") == [True]
        state._fell_down(TimeoutError())  # as after a failed call: Redis is skipped a while
        await state.forget(key, claim="delivery-1")
        for _ in range(40):  # bounded: the give-back runs in the background
            if not await other.exists(f"{checker.prefix}:dedupe:{key}"):
                break
            await asyncio.sleep(0.05)
        assert await checker.first_times([key], 60) == [True]
    finally:
        for closing in (state, checker, redis, other):
            await closing.aclose()
