"""Retries and rate-limit backoff against a loopback server with scripted faults.

Waits go through an injected sleep, so each test asserts the exact waits taken without
sleeping them (only the shared-gate test waits for real, since the gate is the subject).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from typing import Any

import pytest

from d360_calling import (
    BadRequestError,
    BudgetLimits,
    CallPermissionNotFoundError,
    Client,
    OutcomeUnknownError,
    RateLimitError,
    RateLimitPolicy,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    SessionDescription,
    Timeout,
    TransportError,
)

from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, SUCCESS
from ..support.server import (
    Recorded,
    Reply,
    ScriptedServer,
    delay,
    reply,
    reset_after_read,
    truncated,
)
from ..support.sleep import FakeSleep

ANSWER = SessionDescription.answer(ANSWER_SDP)
OFFER = SessionDescription.offer(OFFER_SDP)


def retrying_client(base_url: str, sleep: FakeSleep, **options: Any) -> Client:
    """A client whose backoff is the jitter ceiling (random() == 1) and whose sleeps are fake."""
    policy = RetryPolicy(sleep=sleep, random=lambda: 1.0, **options.pop("policy", {}))
    options.setdefault("rate_limit", None)  # the shared gate has its own tests below
    return Client(API_KEY, base_url=base_url, retry=policy, **options)


def throttled(retry_after: dict[str, str]) -> Reply:
    return reply(
        429,
        {"error": {"message": "(#4) Application request limit reached", "code": 4}},
        headers=retry_after,
    )


UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
    ],
)
async def test_429_waits_as_the_server_says(
    server: ScriptedServer, sleep: FakeSleep, headers: dict[str, str], expected_wait: float
) -> None:
    server.script(throttled(headers))
    async with retrying_client(server.base_url, sleep) as client:
        result = await client.calls.accept(CALL_ID, ANSWER)
    assert result.success is True
    assert server.count() == 2
    assert sleep.waits == [expected_wait]


async def test_429_with_an_http_date_waits_until_then(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(throttled({"Retry-After": email.utils.formatdate(time.time() + 5, usegmt=True)}))
    async with retrying_client(server.base_url, sleep) as client:
        await client.permissions.get("14155550123")
    assert server.count() == 2
    assert len(sleep.waits) == 1
    assert 3.5 <= sleep.waits[0] <= 5.0


async def test_503_backs_off_exponentially(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE)
    async with retrying_client(server.base_url, sleep) as client:
        result = await client.calls.terminate(CALL_ID)
    assert result.success is True
    assert server.count() == 4
    assert sleep.waits == [0.25, 0.5, 1.0]


async def test_503_gives_up_after_max_attempts(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(*[UNAVAILABLE] * 5)
    async with retrying_client(server.base_url, sleep) as client:
        with pytest.raises(ServerError) as caught:
            await client.calls.reject(CALL_ID)
    assert caught.value.status == 503
    assert caught.value.code == 131016
    assert server.count() == 4
    assert sleep.waits == [0.25, 0.5, 1.0]


async def test_backoff_never_exceeds_the_cap(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(*[UNAVAILABLE] * 5)
    policy = {"max_attempts": 5, "initial_wait": 1.0, "max_wait": 3.0}
    async with retrying_client(server.base_url, sleep, policy=policy) as client:
        with pytest.raises(ServerError):
            await client.settings.get()
    assert sleep.waits == [1.0, 2.0, 3.0, 3.0]
    assert server.count() == 5


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("operation", ["accept", "connect"])
async def test_connection_refused_is_retried_even_for_connect(
    sleep: FakeSleep, operation: str
) -> None:
    async with retrying_client(f"http://127.0.0.1:{closed_port()}", sleep) as client:
        with pytest.raises(TransportError) as caught:
            if operation == "connect":
                await client.calls.connect("14155550123", OFFER)
            else:
                await client.calls.accept(CALL_ID, ANSWER)
    assert caught.value.request_sent is False
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert sleep.waits == [0.25, 0.5, 1.0]


async def test_reset_after_send_is_retried_for_accept(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(reset_after_read())
    async with retrying_client(server.base_url, sleep) as client:
        result = await client.calls.accept(CALL_ID, ANSWER)
    assert result.success is True
    assert server.count() == 2
    assert sleep.waits == [0.25]


async def test_reset_after_send_is_never_resent_for_connect(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(reset_after_read())
    async with retrying_client(server.base_url, sleep) as client:
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.calls.connect("14155550123", OFFER, biz_opaque_callback_data="t-1")
    assert caught.value.to == "14155550123"
    assert caught.value.operation == "calls.connect"
    assert server.count() == 1
    assert sleep.waits == []


async def test_connect_never_sent_twice_per_logical_call_under_resets(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    connected = reply(json={"calls": [{"id": "wacid.X"}]})
    server.script(
        *[reset_after_read(), UNAVAILABLE, throttled({"Retry-After": "0"}), connected] * 10
    )
    outcomes: list[str] = []
    policy = {"budget": BudgetLimits(max_tokens=100.0)}
    async with retrying_client(server.base_url, sleep, policy=policy) as client:
        for index in range(30):
            try:
                await client.calls.connect(
                    "14155550123", OFFER, biz_opaque_callback_data=f"call-{index}"
                )
                outcomes.append("ok")
            except OutcomeUnknownError as error:
                cause = error.__cause__
                outcomes.append(type(cause or error).__name__)
    per_call: dict[str, int] = {}
    for seen in server.requests:
        tag = seen.json["biz_opaque_callback_data"]
        per_call[tag] = per_call.get(tag, 0) + 1
    # A 429 provably did nothing, so that call is sent again; nothing else is.
    assert per_call == {f"call-{i}": 2 if i % 3 == 2 else 1 for i in range(30)}
    assert outcomes.count("OutcomeUnknownError") == 10
    assert outcomes.count("ServerError") == 10
    assert outcomes.count("ok") == 10
    assert len(server.requests) == 40


async def test_read_timeout_is_retried_for_accept(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(delay(2.0))
    timeout = Timeout(total=5.0, attempt=0.2)
    async with retrying_client(server.base_url, sleep, timeout=timeout) as client:
        result = await client.calls.accept(CALL_ID, ANSWER)
    assert result.success is True
    assert server.count() == 2
    assert sleep.waits == [0.25]


async def test_read_timeout_on_connect_is_outcome_unknown(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(delay(2.0))
    timeout = Timeout(total=5.0, attempt=0.2)
    async with retrying_client(server.base_url, sleep, timeout=timeout) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.calls.connect("14155550123", OFFER)
    assert server.count() == 1
    assert sleep.waits == []


async def test_truncated_body_is_retried_for_get(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(truncated())
    async with retrying_client(server.base_url, sleep) as client:
        result = await client.calls.pre_accept(CALL_ID, ANSWER)
    assert result.success is True
    assert server.count() == 2
    assert sleep.waits == [0.25]


async def test_connect_is_resent_after_a_429(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(throttled({"Retry-After": "1"}))
    async with retrying_client(server.base_url, sleep) as client:
        result = await client.calls.connect("14155550123", OFFER)
    assert result.call_id == "wacid.ABGGFjFVU2AfAgo6V"
    assert server.count() == 2
    assert sleep.waits == [1.0]


async def test_360dialog_throttle_as_400_is_retried(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    body = {
        "meta": {
            "success": False,
            "http_code": 400,
            "developer_message": "You have exceeded the endpoint rate limit.",
        }
    }
    server.script(reply(400, body))
    async with retrying_client(server.base_url, sleep) as client:
        await client.permissions.get("14155550123")
    assert server.count() == 2
    assert sleep.waits == [0.25]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            reply(400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}),
            BadRequestError,
        ),
        (
            reply(
                401,
                {
                    "error": {
                        "message": "(#138006) No approved call permission found",
                        "code": 138006,
                    }
                },
            ),
            CallPermissionNotFoundError,
        ),
    ],
)
async def test_final_errors_are_not_retried(
    server: ScriptedServer, sleep: FakeSleep, answer: Reply, error: type[Exception]
) -> None:
    server.script(answer)
    async with retrying_client(server.base_url, sleep) as client:
        with pytest.raises(error):
            await client.calls.connect("14155550123", OFFER)
    assert server.count() == 1
    assert sleep.waits == []


async def test_retry_after_past_the_cap_fails_fast(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(throttled({"Retry-After": "120"}))
    async with retrying_client(server.base_url, sleep) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.calls.accept(CALL_ID, ANSWER)
    assert caught.value.retry_after == 120.0
    assert server.count() == 1
    assert sleep.waits == []


async def test_retry_after_past_the_deadline_fails_fast(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.script(throttled({"Retry-After": "5"}))
    async with retrying_client(server.base_url, sleep, timeout=2.0) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.calls.accept(CALL_ID, ANSWER)
    assert caught.value.retry_after == 5.0
    assert server.count() == 1
    assert sleep.waits == []


async def test_retry_can_be_switched_off_per_call(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE)
    async with retrying_client(server.base_url, sleep) as client:
        with pytest.raises(ServerError):
            await client.calls.accept(CALL_ID, ANSWER, retry=None)
        assert server.count() == 1
        patient = RetryPolicy(sleep=sleep, random=lambda: 1.0, initial_wait=2.0)
        await client.calls.accept(CALL_ID, ANSWER, retry=patient)
    assert server.count() == 3
    assert sleep.waits == [2.0]


async def test_retry_switched_off_per_client(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE)
    async with Client(API_KEY, base_url=server.base_url, retry=None) as client:
        with pytest.raises(ServerError):
            await client.calls.accept(CALL_ID, ANSWER)
    assert server.count() == 1


async def test_each_retry_is_logged(
    server: ScriptedServer, sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(UNAVAILABLE)
    caplog.set_level(logging.INFO, logger="d360_calling")
    async with retrying_client(server.base_url, sleep) as client:
        await client.calls.accept(CALL_ID, ANSWER)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 1
    assert "calls.accept" in retries[0]
    assert "attempt 1" in retries[0]
    assert "0.250 s" in retries[0]
    assert "HTTP 503" in retries[0]
    assert API_KEY not in caplog.text


async def test_budget_stops_retries_during_an_outage(
    server: ScriptedServer, sleep: FakeSleep
) -> None:
    server.default = lambda seen: UNAVAILABLE
    calls = 100
    async with retrying_client(server.base_url, sleep) as client:

        async def one() -> None:
            with pytest.raises(ServerError):
                await client.calls.terminate(CALL_ID)

        async with asyncio.TaskGroup() as group:
            for _ in range(calls):
                group.create_task(one())
    assert calls <= server.count() <= calls * 1.2


async def test_budget_recovers_after_successes(server: ScriptedServer, sleep: FakeSleep) -> None:
    server.script(*[UNAVAILABLE] * 20)
    async with retrying_client(server.base_url, sleep, policy={"max_attempts": 2}) as client:
        for _ in range(10):
            with pytest.raises(ServerError):
                await client.calls.terminate(CALL_ID)
        sent_during_outage = server.count()
        assert sent_during_outage == 14  # 4 calls retried once, then the budget said no
        for _ in range(20 - sent_during_outage):
            with pytest.raises(ServerError):
                await client.calls.terminate(CALL_ID, retry=None)
        for _ in range(70):
            await client.calls.terminate(CALL_ID)
        server.script(UNAVAILABLE)
        await client.calls.terminate(CALL_ID)
    assert sleep.waits[-1] == 0.25


async def test_cancelled_sibling_in_backoff_sends_nothing_more(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE)
    waits: list[float] = []

    async def slow_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(30)

    policy = RetryPolicy(sleep=slow_sleep, random=lambda: 1.0)
    client = Client(API_KEY, base_url=server.base_url, retry=policy)

    async def fail_soon() -> None:
        while not waits:
            await asyncio.sleep(0.01)
        raise RuntimeError("sibling failed")

    before = asyncio.all_tasks()
    started = time.monotonic()
    with pytest.raises(ExceptionGroup) as caught:
        async with asyncio.TaskGroup() as group:
            group.create_task(client.calls.accept(CALL_ID, ANSWER))
            group.create_task(fail_soon())
    assert caught.value.subgroup(RuntimeError) is not None
    assert time.monotonic() - started < 5
    assert waits == [0.25]
    await asyncio.sleep(0.1)
    assert server.count() == 1
    await client.aclose()
    leftover = [task for task in asyncio.all_tasks() - before if "RequestHandler" not in repr(task)]
    assert leftover == []


async def test_gate_holds_500_calls_after_one_429(server: ScriptedServer) -> None:
    arrivals: list[float] = []
    first_429: list[float] = []

    def answer(seen: Recorded) -> Reply:
        now = time.monotonic()
        arrivals.append(now)
        if not first_429:
            first_429.append(now)
            return throttled({"Retry-After": "1"})
        return reply(json=SUCCESS)

    server.default = answer
    async with Client(API_KEY, base_url=server.base_url) as client:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(client.calls.accept(CALL_ID, ANSWER)) for _ in range(500)]
    assert all(task.result().success for task in tasks)
    assert len(arrivals) == 501
    t0 = first_429[0]
    # Requests already in flight when the 429 came back arrive at once; then none for 1 s.
    during = [a for a in arrivals if t0 + 0.3 < a < t0 + 0.95]
    assert during == []
    after = [a for a in arrivals if a >= t0 + 0.95]
    assert len(after) >= 500 - 100


async def test_token_bucket_spaces_requests(server: ScriptedServer) -> None:
    arrivals: list[float] = []

    def answer(seen: Recorded) -> Reply:
        arrivals.append(time.monotonic())
        return reply(json=SUCCESS)

    server.default = answer
    limit = RateLimitPolicy(requests_per_second=20, burst=1)
    async with Client(API_KEY, base_url=server.base_url, rate_limit=limit) as client:
        async with asyncio.TaskGroup() as group:
            for _ in range(6):
                group.create_task(client.calls.terminate(CALL_ID))
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 5 * 0.05 * 0.9


async def test_in_flight_cap(server: ScriptedServer) -> None:
    in_flight = 0
    peak = 0

    async def held() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1

    pending: list[asyncio.Task[None]] = []

    def answer(seen: Recorded) -> Reply:
        pending.append(asyncio.ensure_future(held()))
        return delay(0.05, reply(json=SUCCESS))

    server.default = answer
    async with Client(
        API_KEY, base_url=server.base_url, rate_limit=RateLimitPolicy(max_in_flight=3)
    ) as client:
        async with asyncio.TaskGroup() as group:
            for _ in range(12):
                group.create_task(client.calls.terminate(CALL_ID))
    await asyncio.gather(*pending)
    assert server.count() == 12
    assert peak <= 3


async def test_gate_wait_longer_than_the_deadline_fails_fast(server: ScriptedServer) -> None:
    server.script(throttled({"Retry-After": "10"}))
    async with Client(API_KEY, base_url=server.base_url, retry=None) as client:
        with pytest.raises(RateLimitError):
            await client.calls.terminate(CALL_ID)
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await client.calls.terminate(CALL_ID, timeout=2.0)
        assert time.monotonic() - started < 1.0
    assert caught.value.retry_after is not None
    assert 9.0 < caught.value.retry_after <= 10.0
    assert server.count() == 1


async def test_overall_deadline_covers_backoff(server: ScriptedServer) -> None:
    server.default = lambda seen: UNAVAILABLE
    policy = RetryPolicy(initial_wait=0.2, max_attempts=50, random=lambda: 1.0)
    async with Client(API_KEY, base_url=server.base_url, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises((ServerError, RequestTimeoutError)):
            await client.calls.terminate(CALL_ID, timeout=1.0)
        assert time.monotonic() - started < 1.1 + 0.5
