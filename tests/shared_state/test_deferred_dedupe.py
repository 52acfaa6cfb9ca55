"""Fail-closed dedupe whose Redis answer is lost after the script ran: the delivery is deferred
(503) and its keys, which the script did record, are undone, so the redelivery is handled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from d360_calling import RedisState, SharedStateUnavailable

from .conftest import Store

KEYS = ["calls:wacid.late-1:connect", "calls:wacid.late-2:terminate"]


async def test_a_lost_dedupe_answer_does_not_swallow_the_redelivery(store: Store) -> None:
    redis, other = store.client(), store.client()
    state = RedisState(redis, prefix="late", dedupe_fail_closed=True)
    checker = RedisState(other, prefix="late")
    script = state._dedupe

    async def runs_then_loses_the_answer(**kwargs: Any) -> Any:
        await script(**kwargs)  # the keys are recorded on Redis...
        raise TimeoutError  # ...and the answer never arrives

    try:
        state._dedupe = runs_then_loses_the_answer
        with pytest.raises(SharedStateUnavailable):
            await state.first_times(KEYS, 60)
        names = [f"{checker.prefix}:dedupe:{key}" for key in KEYS]
        for _ in range(40):  # bounded: the undo runs in the background
            if not await other.exists(*names):
                break
            await asyncio.sleep(0.05)
        assert await checker.first_times(KEYS, 60) == [True, True]  # the redelivery is new
    finally:
        for closing in (state, checker, redis, other):
            await closing.aclose()
