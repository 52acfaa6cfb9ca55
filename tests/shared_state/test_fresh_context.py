"""Background tasks of a `RedisState` start in a fresh context: the listener started by one
request's gate check must not carry that request's contextvars (trace ids, log context) for
the life of the process."""

from __future__ import annotations

import asyncio
import contextvars

from d360_calling import RedisState

from .conftest import Store

TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="none")


async def test_the_listener_does_not_keep_the_first_requests_context(store: Store) -> None:
    redis, other = store.client(), store.client()
    state, announcer = RedisState(redis, prefix="ctx"), RedisState(other, prefix="ctx")
    seen: asyncio.Queue[str] = asyncio.Queue()

    def record(call_id: str) -> None:
        seen.put_nowait(f"{call_id}:{TRACE.get()}")

    try:
        token = TRACE.set("request-1")
        state.gate_wait()  # the first request's gate check starts the listener
        TRACE.reset(token)
        state.on_call_ended(record)
        heard = None
        for n in range(50):  # until the listener is subscribed (bounded)
            await announcer.announce_call_ended(f"wacid.{n}")
            try:
                async with asyncio.timeout(0.2):
                    heard = await seen.get()
                break
            except TimeoutError:
                continue
        assert heard is not None
        assert heard.endswith(":none"), heard
    finally:
        for closing in (state, announcer, redis, other):
            await closing.aclose()
