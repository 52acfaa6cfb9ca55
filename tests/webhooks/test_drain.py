"""`Receiver.drain`: new calls refused with 503, calls in progress still served until the deadline,
the rest terminated through the API exactly once; on a receiver served by aiohttp, rung by the
sandbox (calls without media: a call is held while its connect handler runs)."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import aiohttp
import attrs
import pytest

from d360_calling import Client, ValidationError
from d360_calling.sandbox import ANSWER_SDP, Sandbox
from d360_calling.sandbox.records import CallState
from d360_calling.webhooks import (
    CallTerminate,
    DrainReport,
    IncomingCall,
    Receiver,
    Router,
    parse,
    sign,
)

from ..support.webhooks import Served, connect_body, post, serve_aiohttp

SECRET = "drain-secret"
USER = "14155550123"
OTHER = "14155550124"
BOUND = 15.0


@attrs.define
class Worker:
    """A served receiver whose connect handler accepts and then holds the call until released
    (or the user hangs up); counts connects and terminates per call."""

    receiver: Receiver
    served: Served
    sandbox: Sandbox
    connects: Counter[str] = attrs.field(factory=Counter)
    ends: Counter[str] = attrs.field(factory=Counter)
    release: defaultdict[str, asyncio.Event] = attrs.field(
        factory=lambda: defaultdict(asyncio.Event)
    )
    accepted: asyncio.Queue[str] = attrs.field(factory=asyncio.Queue)

    async def held_call(self, wa_id: str = USER) -> str:
        """Ring a call and wait until the worker accepted it."""
        call_id = await self.sandbox.ring(wa_id)
        assert await asyncio.wait_for(self.accepted.get(), BOUND) == call_id
        return call_id


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    router = Router()
    receiver = Receiver(router, secret=SECRET, shutdown_timeout=1.0)
    served = await serve_aiohttp(receiver)
    try:
        async with (
            asyncio.timeout(BOUND * 2),
            Sandbox(api_key="k", webhook_url=served.url, webhook_secret=SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            running = Worker(receiver, served, sandbox)

            @router.on_connect
            async def hold(call: IncomingCall) -> None:
                running.connects[call.call_id] += 1
                await call.pre_accept(ANSWER_SDP)
                await call.accept(ANSWER_SDP)
                await running.accepted.put(call.call_id)
                await running.release[call.call_id].wait()

            @router.on_terminate
            async def ended(event: CallTerminate) -> None:
                running.ends[event.call_id] += 1
                running.release[event.call_id].set()

            yield running
    finally:
        await served.stop()


async def started(drain: asyncio.Task[DrainReport], worker: Worker) -> None:
    """Wait (bounded) until `drain` runs: a connect for an unknown call is refused."""
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            if drain.done():
                raise AssertionError("the drain ended before refusing anything")
            body = connect_body("wacid.probe")
            if await post(http, worker.served.url, body, sign(body, SECRET)) == 503:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the drain never refused a new connect")


async def test_a_drain_without_calls_closes_at_once(worker: Worker) -> None:
    async with asyncio.timeout(5):  # the deadline is far off: nothing is waited for
        report = await worker.receiver.drain(60)
    assert report == DrainReport(finished=(), terminated=(), failed=())
    body = connect_body("wacid.after")
    async with aiohttp.ClientSession() as http:
        assert await post(http, worker.served.url, body, sign(body, SECRET)) == 503
    assert worker.sandbox.stats.requests["calls.terminate"] == 0


async def test_a_new_call_is_refused_with_503_and_never_handled(worker: Worker) -> None:
    held = await worker.held_call()
    drain = asyncio.create_task(worker.receiver.drain(60))
    await started(drain, worker)
    refused = await worker.sandbox.ring(OTHER)
    await worker.sandbox.webhooks_idle()
    failures = [f for f in worker.sandbox.webhook_failures if refused in str(f.payload)]
    assert [f.reason for f in failures] == ["HTTP 503"]
    assert worker.connects == Counter({held: 1})
    assert worker.receiver.stats["refused_draining"] >= 2  # the probe, and the new call
    worker.release[held].set()  # the held call finishes by itself
    report = await drain
    assert report == DrainReport(finished=(held,), terminated=(), failed=())
    assert worker.connects == Counter({held: 1})
    assert worker.sandbox.stats.requests["calls.terminate"] == 0


async def test_a_held_call_still_gets_its_terminate_and_is_not_terminated_again(
    worker: Worker,
) -> None:
    held = await worker.held_call()
    drain = asyncio.create_task(worker.receiver.drain(60))
    await started(drain, worker)
    await worker.sandbox.user_hangs_up(held)
    report = await drain
    assert report == DrainReport(finished=(held,), terminated=(), failed=())
    assert worker.ends == Counter({held: 1})  # the terminate webhook was handled while draining
    assert worker.sandbox.stats.requests["calls.terminate"] == 0


async def test_calls_going_at_the_deadline_are_terminated_once_each(worker: Worker) -> None:
    ending, going = await worker.held_call(USER), await worker.held_call(OTHER)
    drain = asyncio.create_task(worker.receiver.drain(2.0))
    await started(drain, worker)
    await worker.sandbox.user_hangs_up(ending)
    report = await drain
    assert report == DrainReport(finished=(ending,), terminated=(going,), failed=())
    assert worker.sandbox.stats.requests["calls.terminate"] == 1
    assert worker.sandbox.calls[going].state is CallState.TERMINATED
    assert worker.receiver.router.has_ended(ending)


async def test_a_terminate_that_fails_is_reported_not_raised(worker: Worker) -> None:
    held = await worker.held_call()
    worker.receiver.client = None  # nothing to terminate with
    report = await worker.receiver.drain(0)
    assert report == DrainReport(finished=(), terminated=(), failed=(held,))
    assert worker.sandbox.stats.requests["calls.terminate"] == 0


async def test_draining_twice_is_one_drain(worker: Worker) -> None:
    held = await worker.held_call()
    first = asyncio.create_task(worker.receiver.drain(0.5))
    second = asyncio.create_task(worker.receiver.drain(60))  # joins the first: its deadline
    reports = await asyncio.gather(first, second)
    assert reports[0] == reports[1] == DrainReport(finished=(), terminated=(held,), failed=())
    assert await worker.receiver.drain() == reports[0]
    await worker.receiver.aclose()
    assert worker.sandbox.stats.requests["calls.terminate"] == 1


@pytest.mark.parametrize("deadline", [-1, float("nan"), float("inf"), "5", True])
async def test_a_bad_deadline_is_refused_naming_the_field(worker: Worker, deadline: object) -> None:
    with pytest.raises(ValidationError) as drained:
        await worker.receiver.drain(deadline)  # type: ignore[arg-type]
    assert drained.value.field == "deadline"
    with pytest.raises(ValidationError) as built:
        Receiver(Router(), secret=SECRET, drain_deadline=deadline)  # type: ignore[arg-type]
    assert built.value.field == "drain_deadline"


async def test_the_drain_deadline_option_is_the_default(worker: Worker) -> None:
    assert Receiver(Router(), secret=SECRET).drain_deadline == 20.0
    assert Receiver(Router(), secret=SECRET, drain_deadline=0).drain_deadline == 0


async def test_a_storm_of_connects_does_not_rescan_the_calls_it_holds() -> None:
    """Remembering a connect is amortised O(1): 3,000 connects check each call a few times,
    not once per later connect (which made the ring storm's p99 double)."""
    from d360_calling.webhooks.drain import Drain

    class CountingRouter(Router):
        checks = 0

        def has_ended(self, call_id: str) -> bool:
            CountingRouter.checks += 1
            return super().has_ended(call_id)

    router = CountingRouter()
    drain = Drain(router, asyncio.sleep, 1.0)
    running = asyncio.get_running_loop().create_future()  # every handler still running
    handler = asyncio.ensure_future(running)
    calls = 3_000
    for n in range(calls):
        (event,) = parse(connect_body(f"wacid.storm-{n}"))
        drain.dispatched(event, [handler])
    assert CountingRouter.checks <= 4 * calls, f"{CountingRouter.checks} checks for {calls}"
    assert len(drain._calls) == calls  # all still held: none forgotten
    running.cancel()
    await asyncio.gather(handler, return_exceptions=True)
