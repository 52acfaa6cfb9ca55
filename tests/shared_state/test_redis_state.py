"""Many workers on one `RedisState`, against the sandbox and real Redis: every test runs on one
redis-server and on a three-node Redis Cluster (the `store` fixture)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from d360_calling import (
    Client,
    DeliveryInProgress,
    LocalState,
    RateLimitError,
    RedisState,
    SessionDescription,
    SharedStateUnavailable,
)
from d360_calling.sandbox import OFFER_SDP, Fault, FaultPlan, Sandbox
from d360_calling.shared_state.redis_state import default_prefix
from d360_calling.webhooks import CallStatus, IncomingCall, Receiver, Router, parse

from ..support.webhooks import connect_body, envelope, terminate_body
from .conftest import Store

ROOT = Path(__file__).resolve().parents[2]


async def run_workers(modes: list[str], base_url: str, redis_url: str) -> list[dict[str, Any]]:
    """Start one worker process per mode, all sending from the same moment."""
    start_at = time.time() + 2.0
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.shared_state.worker",
            mode,
            base_url,
            redis_url,
            str(start_at),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for mode in modes
    ]
    outputs = [await process.communicate() for process in processes]
    for process, (stdout, _) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stdout
    return [json.loads(stdout) for stdout, _ in outputs]


def sends_in(results: list[dict[str, Any]], start: float, end: float) -> int:
    return sum(1 for result in results for sent in result["sends"] if start < sent < end)


WORKER_RUNS = pytest.mark.parametrize(
    ("store", "shared"),
    [("single", True), ("cluster", True), ("single", False)],
    ids=["redis-single", "redis-cluster", "local-control"],
    indirect=["store"],
)


@WORKER_RUNS
async def test_one_workers_429_holds_both_back(store: Store, shared: bool) -> None:
    mode = "gate-redis" if shared else "gate-local"
    async with Sandbox(api_key="k") as sandbox:
        sandbox.faults.script("permissions.get", Fault.status(429, retry_after="1"))
        results = await run_workers([mode, mode], sandbox.base_url, store.url)
    first = min(sent for result in results for sent in result["sends"])
    quiet = sends_in(results, first + 0.15, first + 0.95)
    if shared:
        assert quiet == 0
    else:
        assert quiet > 10  # without shared state the other worker keeps sending
    for result in results:
        assert set(result["outcomes"]) == {"ok"}
    assert sends_in(results, first + 1.0, first + 3.0) > 10


@WORKER_RUNS
async def test_budget_spent_by_one_worker_stops_retries_in_the_other(
    store: Store, shared: bool
) -> None:
    mode = "outage-redis" if shared else "outage-local"
    async with Sandbox(api_key="k", faults=FaultPlan.parse("503:1.0")) as sandbox:
        first = (await run_workers([mode], sandbox.base_url, store.url))[0]
        second = (await run_workers([mode], sandbox.base_url, store.url))[0]
    assert first["outcomes"] == ["ServerError"] * 10
    assert second["outcomes"] == ["ServerError"] * 10
    # 4 + 2 attempts, then the budget (10 tokens, retries while > 5) says no: 14 sends.
    assert len(first["sends"]) == 14
    assert len(second["sends"]) == (10 if shared else 14)


async def test_two_receivers_handle_each_event_once(store: Store) -> None:
    handled: Counter[str] = Counter()
    router = Router()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        handled[call.call_id] += 1

    clients = [store.client() for _ in range(2)]
    states = [RedisState(client, prefix="hooks") for client in clients]
    receivers = [Receiver(router, secret="s", shared_state=state) for state in states]
    bodies = [connect_body(f"wacid.{n}") for n in range(50)] * 2
    deferred = []
    for body in bodies:
        events = parse(body)
        outcomes = await asyncio.gather(
            *(receiver.dispatch(events) for receiver in receivers), return_exceptions=True
        )
        for receiver, outcome in zip(receivers, outcomes, strict=True):
            if outcome is not None:  # the same events mid-record on the other: 503, again later
                assert isinstance(outcome, DeliveryInProgress), outcome
                deferred.append((receiver, events))
    for receiver, events in deferred:  # the platform's redeliveries
        await receiver.dispatch(events)
    for receiver in receivers:
        await receiver.aclose()
    for state, client in zip(states, clients, strict=True):
        await state.aclose()
        await client.aclose()
    assert len(handled) == 50
    assert set(handled.values()) == {1}
    assert sum(r.stats["duplicates"] for r in receivers) == 150


async def test_redis_outage_degrades_to_local_and_recovers(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail-open: the node holding the state stops (the whole server, or one cluster node)."""
    caplog.set_level(logging.INFO, logger="d360_calling.shared_state")
    redis_a, redis_b = store.client(), store.client()
    state_a, state_b = RedisState(redis_a, prefix="outage"), RedisState(redis_b, prefix="outage")
    async with (
        Sandbox(api_key="k") as sandbox,
        Client("k", base_url=sandbox.base_url, shared_state=state_a) as worker_a,
        Client("k", base_url=sandbox.base_url, shared_state=state_b) as worker_b,
    ):
        sandbox.set_permission("14155550123", "permanent")
        for _ in range(5):
            await worker_a.permissions.get("14155550123")
        await asyncio.sleep(0.2)  # the gate listener subscribes
        store.stop("outage")
        sandbox.faults.script("permissions.get", Fault.status(429, retry_after="0.2"))
        started = time.monotonic()
        for _ in range(10):
            perms = await worker_a.permissions.get("14155550123")
            assert perms.can_start_call
        assert time.monotonic() - started < 3
        placed = await worker_a.calls.connect("14155550123", SessionDescription.offer(OFFER_SDP))
        assert placed.call_id.startswith("wacid.")
        assert not state_a.available
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "using in-process state" in warnings[0].getMessage()

        store.start()
        for _ in range(100):
            worker_b.shared_state.gate_wait()
            if state_a.available and state_b.available:
                break
            await asyncio.sleep(0.05)
        assert state_a.available
        await asyncio.sleep(0.2)
        sandbox.faults.script("permissions.get", Fault.status(429, retry_after="2"))
        with pytest.raises(RateLimitError):
            await worker_b.permissions.get("14155550123", retry=None)
        for _ in range(50):
            if state_a.gate_wait() > 1.0:
                break
            await asyncio.sleep(0.02)
        assert state_a.gate_wait() > 1.0  # worker A learned of B's 429 through Redis again
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert any("is back" in r.getMessage() for r in caplog.records)
    for state, client in ((state_a, redis_a), (state_b, redis_b)):
        await state.aclose()
        await client.aclose()


async def test_dedupe_can_fail_closed(store: Store) -> None:
    client = store.client()
    state = RedisState(client, prefix="closed", dedupe_fail_closed=True)
    assert await state.first_time("calls:wacid.1:connect", 60) is True
    assert await state.first_time("calls:wacid.1:connect", 60) is False
    store.stop("closed")
    with pytest.raises(SharedStateUnavailable):
        await state.first_time("calls:wacid.2:connect", 60)
    receiver = Receiver(Router(), secret="s", shared_state=state)
    events = parse(terminate_body("wacid.3"))
    with pytest.raises(SharedStateUnavailable):
        await receiver.dispatch(events)
    await receiver.aclose()
    await state.aclose()
    await client.aclose()


async def test_dedupe_entries_expire(redis_client: Redis | RedisCluster) -> None:
    state = RedisState(redis_client, prefix="ttl")
    assert await state.first_time("k", 1.0) is True
    assert await state.first_time("k", 1.0) is False
    assert 0 < await redis_client.pttl(f"{state.prefix}:dedupe:k") <= 1000
    await asyncio.sleep(1.1)
    assert await state.first_time("k", 1.0) is True
    await state.aclose()


async def test_shared_token_bucket_spaces_both_workers(
    redis_client: Redis | RedisCluster,
) -> None:
    one, two = RedisState(redis_client, prefix="bucket"), RedisState(redis_client, prefix="bucket")
    waits = [await state.take_token(10.0, 2) for state in (one, two, one, two, one)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.1, 0.2, 0.3], abs=0.03)
    for state in (one, two):
        await state.aclose()


def test_default_prefix_never_holds_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = default_prefix("secret-api-key")
    assert prefix.startswith("d360:")
    assert "secret-api-key" not in prefix
    assert prefix == default_prefix("secret-api-key")
    assert prefix != default_prefix("another-key")
    monkeypatch.setenv("D360_API_KEY", "secret-api-key")
    assert default_prefix() == prefix


async def test_local_state_is_the_default() -> None:
    async with Client("k", base_url="http://127.0.0.1:1") as client:
        assert isinstance(client.shared_state, LocalState)


class Unreachable:
    """A stand-in Redis client whose every call fails, counting how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def initialize(self) -> Unreachable:
        return self

    def register_script(self, _: str) -> Any:
        async def run(**__: Any) -> Any:
            self.calls += 1
            raise ConnectionError("no route to Redis")

        return run

    def pubsub(self) -> Any:
        raise ConnectionError("no route to Redis")


async def test_unreachable_redis_costs_one_attempt_per_cool_down() -> None:
    fake = Unreachable()
    state = RedisState(fake, prefix="cool")  # type: ignore[arg-type]
    waits = [await state.take_token(1000.0, 100) for _ in range(20)]
    assert waits == [0.0] * 20
    assert fake.calls == 1  # the rest went straight to the local bucket
    assert not state.available
    await state.aclose()


async def test_returning_a_token_never_recreates_an_expired_bucket(
    redis_client: Redis | RedisCluster,
) -> None:
    state = RedisState(redis_client, prefix="ret")
    bucket = f"{state.prefix}:bucket"
    assert bucket == "{ret}:bucket"
    assert await state.take_token(10.0, 1) == 0.0
    await redis_client.delete(bucket)
    await state.return_token(10.0, 1)
    assert await redis_client.exists(bucket) == 0
    assert await state.take_token(10.0, 1) == 0.0
    assert await redis_client.pttl(bucket) > 0
    await state.aclose()


async def test_client_namespaces_the_state_by_its_own_key(
    redis_client: Redis | RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("D360_API_KEY", raising=False)
    state = RedisState(redis_client)
    assert state.prefix == "d360:{default}"
    async with Client("key-A", base_url="http://127.0.0.1:1", shared_state=state):
        assert state.prefix == default_prefix("key-A")
    explicit = RedisState(redis_client, prefix="mine")
    async with Client("key-A", base_url="http://127.0.0.1:1", shared_state=explicit):
        assert explicit.prefix == "{mine}"
    await state.aclose()
    await explicit.aclose()


def statuses_body(call_ids: list[str]) -> bytes:
    """One delivery carrying a `RINGING` status for each call."""
    statuses = [
        {
            "id": call_id,
            "timestamp": str(int(time.time())),
            "type": "call",
            "status": "RINGING",
            "recipient_id": "14155550123",
        }
        for call_id in call_ids
    ]
    return envelope("calls", {"messaging_product": "whatsapp", "statuses": statuses})


async def listening(state: RedisState, store: Store) -> None:
    """Wait (bounded) until `state`'s pub/sub listener hears another worker's announcement."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    stop = state.on_call_ended(heard.put_nowait)
    other = store.client()
    announcer = RedisState(other, prefix=state.prefix)
    try:
        for n in range(50):
            await announcer.announce_call_ended(f"wacid.ping-{n}")
            try:
                async with asyncio.timeout(0.2):
                    await heard.get()
                return
            except TimeoutError:
                continue
        raise AssertionError("the listener never subscribed")
    finally:
        stop()
        await announcer.aclose()
        await other.aclose()


async def test_a_delivery_dedupes_in_one_round_trip(store: Store) -> None:
    """20 events in one delivery: one script call records all 20 keys (one slot, one node)
    and one confirms them once their handlers started, on one Redis and on the cluster alike."""
    seen: Counter[str] = Counter()
    router = Router()

    @router.on_status
    async def count(event: CallStatus) -> None:
        seen[event.call_id] += 1

    client = store.client()
    state = RedisState(client, prefix="batch")
    receiver = Receiver(router, secret="s", shared_state=state)
    await receiver.dispatch(parse(statuses_body(["wacid.warm-up"])))  # loads the script
    await listening(state, store)  # the pub/sub listener's own gate read is done
    events = parse(statuses_body([f"wacid.{n}" for n in range(20)]))
    scripts, sets = store.calls("evalsha"), store.calls("set")
    await receiver.dispatch(events)  # one script records all 20 (pending) before the 200...
    for _ in range(100):  # ...and one confirms them beside the handlers (bounded wait)
        if store.calls("evalsha") - scripts >= 2:
            break
        await asyncio.sleep(0.02)
    assert (store.calls("evalsha") - scripts, store.calls("set") - sets) == (2, 40)
    await receiver.dispatch(events)  # redelivered: every event a duplicate, one call
    assert store.calls("evalsha") - scripts == 3
    await receiver.aclose()
    assert receiver.stats["duplicates"] == 20
    assert len(seen) == 21
    assert set(seen.values()) == {1}
    assert await state.first_times([], 60) == []
    await state.aclose()
    await client.aclose()
