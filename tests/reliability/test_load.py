"""1000 call actions at once against the sandbox with every fault at about 5 % (seeded).

Proves, per call: a typed outcome, within its deadline (+100 ms); for the run: none lost, no
`connect` placed twice, no connection, task or ResourceWarning left behind. Prints one summary
line (see conftest.py).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import attrs

from d360_calling import (
    APIError,
    CallActionResult,
    Client,
    ConnectResult,
    D360Error,
    OutcomeUnknownError,
    RateLimitPolicy,
    RetryPolicy,
    SessionDescription,
    Timeout,
    TransportError,
)
from d360_calling.sandbox import (
    ANSWER_SDP,
    OFFER_SDP,
    Direction,
    Fault,
    FaultPlan,
    Limits,
    Sandbox,
)

from ..support.reliability import SUMMARY_LINES, acquired_connections, other_tasks, settle
from ..support.samples import API_KEY

SEED: Final = 7
CALLS: Final = 1000
CONNECTS: Final = 400
"""The rest are pre_accept, accept, reject and terminate in equal shares, each on its own call."""
SLACK: Final = 0.1
"""How far past its deadline a call may end."""
ATTEMPT: Final = 0.3
"""Seconds per attempt (and to connect); each call's overall deadline is `deadline(n)`."""
SLOW: Final = 1.0
"""Slow faults take longer than an attempt may, so each one costs a timeout."""

FAULTS: Final[dict[str | Fault, float]] = {
    Fault.status(429, retry_after_ms=20): 0.05,
    Fault.status(503, retry_after="junk"): 0.05,
    Fault.throttle(): 0.05,
    Fault.reset_before(): 0.05,
    Fault.reset_after(): 0.05,
    Fault.truncated(): 0.05,
    Fault.non_json(): 0.05,
    Fault.huge(256 * 1024): 0.05,
    Fault.nested(20_000): 0.05,
    Fault.slow_body(SLOW): 0.05,
    Fault.slow_first_byte(SLOW): 0.05,
    Fault.latency(SLOW): 0.05,
    Fault.stale_connection(): 0.05,
}

OFFER = SessionDescription.offer(OFFER_SDP)
ANSWER = SessionDescription.answer(ANSWER_SDP)


def deadline(n: int) -> Timeout:
    """Call `n`'s own timeout: totals spread over 1.5-3 s, as callers with different budgets
    would set them (all 1000 expiring in the same instant would measure the loop, not us)."""
    return Timeout(total=1.5 + (n % 16) * 0.1, attempt=ATTEMPT, connect=ATTEMPT)


@attrs.define
class Outcome:
    """One planned call, and what it ended in and when."""

    operation: str
    tag: str | None
    timeout: Timeout
    call: Callable[[], Awaitable[Any]] = attrs.field(repr=False)
    started: float = 0.0
    ended: float = 0.0
    result: object = None

    @property
    def kind(self) -> str:
        if isinstance(self.result, ConnectResult | CallActionResult):
            return "ok"
        if isinstance(self.result, D360Error):
            return type(self.result).__name__
        return f"UNTYPED:{type(self.result).__name__}"

    @property
    def overrun(self) -> float:
        """How long after its deadline the call ended (negative: before)."""
        return (self.ended - self.started) - self.timeout.total


def plan_calls(client: Client, call_ids: list[str]) -> list[Outcome]:
    """The 1000 actions: connects to distinct users with a unique tag each, then the four
    call-id actions in turn on calls the users placed."""
    planned: list[Outcome] = []
    for n in range(CONNECTS):
        tag, timeout = f"load-{n}", deadline(n)
        call = functools.partial(
            client.calls.connect,
            f"1555{n:07d}",
            OFFER,
            biz_opaque_callback_data=tag,
            timeout=timeout,
        )
        planned.append(Outcome("calls.connect", tag, timeout, call))
    for n, call_id in enumerate(call_ids, CONNECTS):
        timeout = deadline(n)
        action = ("pre_accept", "accept", "reject", "terminate")[n % 4]
        method = getattr(client.calls, action)
        args = (call_id, ANSWER) if action in ("pre_accept", "accept") else (call_id,)
        call = functools.partial(method, *args, timeout=timeout)
        planned.append(Outcome(f"calls.{action}", None, timeout, call))
    return planned


class LoopLag:
    """The worst lateness of a 5 ms timer while the calls run: how long the loop stalled."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def watch(self, until: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not until():
            asked = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - asked - 0.005)


async def run(outcome: Outcome) -> None:
    loop = asyncio.get_running_loop()
    outcome.started = loop.time()
    try:
        outcome.result = await outcome.call()
    except Exception as error:  # recorded, then counted as untyped unless a D360Error
        outcome.result = error
    finally:
        outcome.ended = loop.time()


async def test_1000_calls_under_faults() -> None:
    began = time.perf_counter()
    baseline = set(asyncio.all_tasks())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Faults hit HTTP requests only; the users' rings below go straight to the engine.
        plan = FaultPlan(seed=SEED, rates=FAULTS)
        # A resent connect must show as a second call, not hide behind error 138003.
        limits = Limits(reject_duplicate_calls=False)
        sandbox = Sandbox(api_key=API_KEY, faults=plan, limits=limits)
        await sandbox.start()
        try:
            for n in range(CONNECTS):
                sandbox.set_permission(f"1555{n:07d}", "temporary")
            call_ids = [await sandbox.ring(f"1666{n:07d}") for n in range(CALLS - CONNECTS)]

            client = Client(
                API_KEY,
                base_url=sandbox.base_url,
                retry=RetryPolicy(
                    initial_wait=0.01, max_wait=0.1, max_retry_after=1.0, budget=None
                ),
                rate_limit=RateLimitPolicy(default_backoff=0.05, max_in_flight=100),
                max_body_size=64 * 1024,
            )
            outcomes = plan_calls(client, call_ids)
            # Freeze the test session's heap out of the collector: a full collection of it
            # stalls the loop ~100 ms, which would be measured as calls overrunning.
            gc.collect()
            gc.freeze()
            lag = LoopLag()
            try:
                async with asyncio.TaskGroup() as group:
                    for outcome in outcomes:
                        group.create_task(run(outcome))
                    group.create_task(lag.watch(until=lambda: all(o.ended for o in outcomes)))
                in_use_after = acquired_connections(client)
                connector = client._session._http.connector if client._session._http else None
            finally:
                gc.unfreeze()
                await client.aclose()
            server = sandbox._runner.server if sandbox._runner else None
            for _ in range(100):  # the server notices the client's FINs within a few ticks
                if server is None or not server.connections:
                    break
                await asyncio.sleep(0.01)
            server_connections = len(server.connections) if server is not None else 0
            placed = [
                call
                for call in sandbox.calls.values()
                if call.direction is Direction.BUSINESS_INITIATED
            ]
            faults = Counter(sandbox.stats.faults)
            faults.update({f"dropped_{k}": v for k, v in sandbox.stats.dropped.items()})
        finally:
            await sandbox.close()
        await settle(baseline)
        leftover_tasks = other_tasks(baseline)
        gc.collect()
        open_sessions = [
            obj
            for obj in gc.get_objects()
            if isinstance(obj, aiohttp.ClientSession) and not obj.closed
        ]
    resource_warnings = [w for w in caught if issubclass(w.category, ResourceWarning)]
    elapsed = time.perf_counter() - began

    kinds = Counter(outcome.kind for outcome in outcomes)
    untyped = sum(n for kind, n in kinds.items() if kind.startswith("UNTYPED"))
    unfinished = sum(1 for outcome in outcomes if outcome.result is None)
    late = [outcome for outcome in outcomes if outcome.overrun > SLACK]
    at_deadline = sum(1 for outcome in outcomes if outcome.overrun >= -0.005)
    effects = Counter(call.biz_opaque_callback_data for call in placed)
    duplicates = sum(n - 1 for n in effects.values() if n > 1)
    leaks = {
        "connections_in_use": in_use_after,
        "connector_open": int(connector is not None and not connector.closed),
        "server_connections": server_connections,
        "tasks": len(leftover_tasks),
        "resource_warnings": len(resource_warnings),
        "open_sessions": len(open_sessions),
    }
    SUMMARY_LINES.append(
        f"reliability load: calls={len(outcomes)} seed={SEED} elapsed={elapsed:.1f}s "
        f"faults={dict(sorted(faults.items()))} outcomes={dict(sorted(kinds.items()))} "
        f"untyped={untyped} lost={CALLS - len(outcomes) + unfinished} "
        f"at_deadline={at_deadline} late={len(late)} "
        f"max_overrun_ms={max(o.overrun for o in outcomes) * 1000:.0f} "
        f"loop_lag_max_ms={lag.worst * 1000:.0f} "
        f"duplicates={duplicates} leaks={sum(leaks.values())} {leaks}"
    )

    assert len(outcomes) == CALLS
    assert unfinished == 0
    assert untyped == 0, [o.result for o in outcomes if o.kind.startswith("UNTYPED")][:5]
    assert late == [], [(o.operation, o.kind, round(o.overrun, 3)) for o in late[:5]]
    assert duplicates == 0, [tag for tag, n in effects.items() if n > 1][:5]
    for outcome in outcomes:
        if outcome.operation != "calls.connect":
            continue
        placed_for_tag = effects.get(outcome.tag, 0)
        if isinstance(outcome.result, ConnectResult):
            assert placed_for_tag == 1
            assert sandbox.calls[outcome.result.call_id].biz_opaque_callback_data == outcome.tag
        elif isinstance(outcome.result, APIError) or (
            isinstance(outcome.result, TransportError) and not outcome.result.request_sent
        ):
            assert placed_for_tag == 0, (outcome.tag, outcome.result)
        elif isinstance(outcome.result, OutcomeUnknownError):
            assert placed_for_tag <= 1
    assert leaks == dict.fromkeys(leaks, 0), leaks
    # The run was meaningful: every fault kind fired, and both successes and failures came out.
    assert len(sandbox.stats.faults) == len(FAULTS), sandbox.stats.faults
    assert kinds["ok"] >= CALLS // 4
    assert kinds["OutcomeUnknownError"] > 0
    assert elapsed < 60
