"""Per-call timeouts cost nothing that stays: only the session's default timeout is cached.

A caller that passes "whatever budget is left" as `timeout=` gives a new value on every call;
a cache keyed by it would grow by one entry per call for the life of the client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from d360_calling import RequestTimeoutError, Timeout
from d360_calling.session import Session

from ..support.clients import make_client
from ..support.samples import WA_ID
from ..support.server import ScriptedServer, delay

CALLS = 2_000
BATCH = 100


def container_sizes(session: Session) -> dict[str, int]:
    """The size of every dict, list and set the session holds."""
    return {
        name: len(value)
        for name, value in vars(session).items()
        if isinstance(value, dict | list | set | frozenset)
    }


@pytest.mark.parametrize("kind", ["seconds", "Timeout"])
async def test_distinct_per_call_timeouts_leave_the_session_bounded(
    server: ScriptedServer, kind: str
) -> None:
    async with make_client(server.base_url) as client:
        session = client._session
        await client.permissions.get(WA_ID)
        before = container_sizes(session)
        for start in range(0, CALLS, BATCH):
            budgets = [5.0 + (start + i) / 10_000 for i in range(BATCH)]
            options: list[Any] = (
                budgets if kind == "seconds" else [Timeout(total=b, attempt=b) for b in budgets]
            )
            await asyncio.gather(*(client.permissions.get(WA_ID, timeout=t) for t in options))
        after = container_sizes(session)
    assert server.count() == CALLS + 1
    assert after == before


async def test_a_per_call_attempt_timeout_still_applies(server: ScriptedServer) -> None:
    server.script(delay(2.0))
    async with make_client(server.base_url) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError) as info:
            await client.permissions.get(WA_ID, timeout=Timeout(total=5.0, attempt=0.2))
        took = time.monotonic() - started
    assert info.value.request_sent is True
    assert took < 1.5


async def test_the_default_timeout_is_built_once() -> None:
    session = Session(timeout=Timeout(total=7.0, attempt=3.0, connect=1.0))
    first = session._attempt_timeout(session.timeout)
    assert first is session._attempt_timeout(Timeout(total=7.0, attempt=3.0, connect=1.0))
    assert (first.total, first.sock_connect) == (3.0, 1.0)
    other = session._attempt_timeout(Timeout(total=7.0, attempt=2.0, connect=5.0))
    assert (other.total, other.sock_connect) == (2.0, 2.0)
    assert session._attempt_timeout(session.timeout) is first
