"""Each transport and server fault, end to end: the sandbox (or a raw loopback server) breaks,
the SDK answers with one exact typed outcome, resends only what is safe, and leaks nothing.

Retry waits go through a fake sleep with the jitter pinned to its ceiling, so the waits taken
are asserted exactly; only attempt timeouts run on the real clock.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from d360_calling import (
    APIError,
    CallingSettings,
    Client,
    D360Error,
    FeatureStatus,
    OutcomeUnknownError,
    RateLimitError,
    RateLimitPolicy,
    RequestTimeoutError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    SessionDescription,
    Timeout,
    TransportError,
    errors,
)
from d360_calling.error_codes import CALLING_ERROR_CODES
from d360_calling.sandbox import OFFER_SDP, Fault, FaultPlan, Sandbox

from ..support.reliability import (
    acquired_connections,
    assert_clean,
    chain,
    free_port,
    plain_tcp_server,
    self_signed_tls_server,
    texts_of,
)
from ..support.samples import API_KEY, WA_ID
from ..support.server import Huge, ScriptedServer, reply
from ..support.sleep import FakeSleep

OFFER = SessionDescription.offer(OFFER_SDP)
FAST = Timeout(total=3.0, attempt=0.25, connect=0.25)
"""Attempt timeouts short enough that slow faults trip them quickly."""


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


def make(base_url: str, sleep: FakeSleep | None = None, **options: Any) -> Client:
    """A client whose backoff is the jitter ceiling and whose sleeps are fake (or no retries)."""
    if sleep is not None:
        options.setdefault("retry", RetryPolicy(sleep=sleep, random=lambda: 1.0))
    else:
        options.setdefault("retry", None)
    options.setdefault("rate_limit", None)
    options.setdefault("timeout", FAST)
    return Client(API_KEY, base_url=base_url, **options)


@pytest.fixture
async def box(sandbox: Sandbox) -> Sandbox:
    sandbox.set_permission(WA_ID, "temporary")
    return sandbox


def assert_no_aiohttp_in_chain(error: BaseException) -> None:
    for linked in chain(error):
        assert not isinstance(linked, aiohttp.ClientError), repr(type(linked))
    assert_clean(*texts_of(error))


# --- never sent: refused, TLS ----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["permissions.get", "calls.connect"])
async def test_connection_refused_is_resent_even_for_connect(
    sleep: FakeSleep, operation: str
) -> None:
    async with make(f"http://127.0.0.1:{free_port()}", sleep) as client:
        with pytest.raises(TransportError) as info:
            if operation == "calls.connect":
                await client.calls.connect(WA_ID, OFFER)
            else:
                await client.permissions.get(WA_ID)
    error = info.value
    assert type(error) is TransportError
    assert (error.request_sent, error.transient, error.operation) == (False, True, operation)
    assert sleep.waits == [0.25, 0.5, 1.0]
    assert_no_aiohttp_in_chain(error)


async def test_https_against_plain_tcp_is_a_final_tls_error(sleep: FakeSleep) -> None:
    async with plain_tcp_server() as port:
        async with make(f"https://127.0.0.1:{port}", sleep) as client:
            for call in (client.permissions.get(WA_ID), client.calls.connect(WA_ID, OFFER)):
                with pytest.raises(TransportError) as info:
                    await call
                error = info.value
                assert type(error) is TransportError
                assert (error.request_sent, error.transient) == (False, False)
                assert "TLS" in str(error)
                assert_no_aiohttp_in_chain(error)
    assert sleep.waits == []


async def test_self_signed_certificate_is_refused_and_never_retried(sleep: FakeSleep) -> None:
    async with self_signed_tls_server() as port:
        async with make(f"https://127.0.0.1:{port}", sleep) as client:
            with pytest.raises(TransportError) as info:
                await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-tls")
    error = info.value
    assert type(error) is TransportError
    assert (error.request_sent, error.transient) == (False, False)
    assert "certificate" in str(error).lower()
    assert sleep.waits == []
    assert_no_aiohttp_in_chain(error)


# --- 429 / 503 and Retry-After ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "waits"),
    [
        (Fault.status(429, retry_after=2), [2.0]),
        (Fault.status(429, retry_after_ms=1500), [1.5]),
        (Fault.status(429, retry_after="soon"), [0.25]),
        (Fault.status(429, retry_after="-5"), [0.25]),
        (Fault.status(429, retry_after="1" * 80), [0.25]),
        (Fault.status(503, retry_after=2), [2.0]),
        (Fault.status(503, retry_after="Mon, 32 Foo 2024 25:61:61 GMT"), [0.25]),
        (Fault.throttle(retry_after=1), [1.0]),
    ],
    ids=[
        "429-2s",
        "429-ms",
        "429-junk",
        "429-negative",
        "429-overlong",
        "503-2s",
        "503-bad-date",
        "throttle",
    ],
)
async def test_retry_after_valid_and_junk(
    box: Sandbox, sleep: FakeSleep, fault: Fault, waits: list[float]
) -> None:
    box.faults.script("permissions.get", fault)
    async with make(box.base_url, sleep) as client:
        permissions = await client.permissions.get(WA_ID)
    assert permissions.can_start_call is True
    assert sleep.waits == waits
    assert box.stats.requests["permissions.get"] == 2
    assert box.stats.effects["permissions.get"] == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_huge_retry_after_fails_fast_with_the_servers_error(
    box: Sandbox, sleep: FakeSleep, status: int
) -> None:
    """A wait past the policy's cap (here the longest one read as meant, an hour) is not
    slept: the call fails at once with the server's error and its `retry_after`."""
    box.faults.script("permissions.get", Fault.status(status, retry_after=3600))
    started = time.perf_counter()
    async with make(box.base_url, sleep) as client:
        with pytest.raises(APIError) as info:
            await client.permissions.get(WA_ID)
    assert time.perf_counter() - started < 1.0
    assert type(info.value) is (RateLimitError if status == 429 else ServerError)
    assert info.value.status == status
    assert info.value.retry_after == 3600
    assert sleep.waits == []
    assert box.stats.requests["permissions.get"] == 1


async def test_a_429_before_connect_is_resent_once_and_rings_once(
    box: Sandbox, sleep: FakeSleep
) -> None:
    box.faults.script("calls.connect", Fault.status(429, retry_after=1))
    async with make(box.base_url, sleep) as client:
        result = await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-429")
    assert result.call_id in box.calls
    assert sleep.waits == [1.0]
    assert box.stats.requests["calls.connect"] == 2
    assert box.stats.effects["calls.connect"] == 1


async def test_a_503_on_connect_is_not_resent(box: Sandbox, sleep: FakeSleep) -> None:
    """A 5xx may come after the API placed the call: outcome unknown, caused by the 503."""
    box.faults.script("calls.connect", Fault.status(503, retry_after=1))
    async with make(box.base_url, sleep) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.calls.connect(WA_ID, OFFER)
    cause = info.value.__cause__
    assert isinstance(cause, ServerError)
    assert (cause.status, cause.code) == (503, 2)
    assert "HTTP 503" in str(info.value)
    assert sleep.waits == []
    assert box.stats.requests["calls.connect"] == 1
    assert box.calls == {}


async def test_long_retry_after_does_not_shut_the_client_for_an_hour(box: Sandbox) -> None:
    """The shared gate closes at most `max_gate_close`, however long (up to the hour read as
    meant; longer is junk, see tests/middleware/test_retry_after_bounds.py) the server asked."""
    policy = RateLimitPolicy()
    box.faults.script("permissions.get", Fault.status(429, retry_after=3600))
    async with make(box.base_url, rate_limit=policy) as client:
        with pytest.raises(RateLimitError) as first:
            await client.permissions.get(WA_ID)
        assert first.value.retry_after == 3600
        with pytest.raises(RateLimitError) as gated:
            await client.permissions.get(WA_ID)
    assert gated.value.retry_after is not None
    assert 0 < gated.value.retry_after <= policy.max_gate_close
    assert box.stats.requests["permissions.get"] == 1


# --- resets, stale keep-alive ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "requests", "waits"),
    [
        ([Fault.reset_before()], 2, []),
        ([Fault.reset_after()], 2, []),
        ([Fault.reset_before(), Fault.reset_after()], 3, [0.25]),
        ([Fault.reset_after()] * 4, 5, [0.25, 0.5]),
    ],
    ids=["before", "after", "before-after", "after-x4"],
)
async def test_reset_is_resent_for_a_get(
    box: Sandbox, sleep: FakeSleep, faults: list[Fault], requests: int, waits: list[float]
) -> None:
    """aiohttp itself resends a GET once when the connection drops; the SDK retries the rest."""
    box.faults.script("settings.get", *faults)
    async with make(box.base_url, sleep) as client:
        settings = await client.settings.get()
    assert settings.calling.status == "ENABLED"
    assert box.stats.requests["settings.get"] == requests
    assert box.stats.effects["settings.get"] == 1 + faults.count(Fault.reset_after())
    assert sleep.waits == waits


@pytest.mark.parametrize(
    ("fault", "effects"),
    [(Fault.reset_before(), 0), (Fault.reset_after(), 1)],
    ids=["before", "after"],
)
async def test_reset_on_connect_is_outcome_unknown_never_resent(
    box: Sandbox, sleep: FakeSleep, fault: Fault, effects: int
) -> None:
    box.faults.script("calls.connect", fault)
    async with make(box.base_url, sleep) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-reset")
    assert info.value.to == WA_ID
    assert info.value.operation == "calls.connect"
    assert sleep.waits == []
    assert box.stats.requests["calls.connect"] == 1
    assert box.stats.effects["calls.connect"] == effects
    assert len(box.calls) == effects
    assert_no_aiohttp_in_chain(info.value)


async def test_stale_keep_alive_on_a_get_is_resent_by_aiohttp(
    box: Sandbox, sleep: FakeSleep
) -> None:
    box.faults.script("settings.get", Fault.stale_connection())
    async with make(box.base_url, sleep, connection_limit=1) as client:
        await client.settings.get()
        await client.permissions.get(WA_ID)  # reuses the connection marked stale
    assert box.stats.dropped["stale_conn"] == 1
    assert box.stats.requests["permissions.get"] == 1
    assert box.stats.effects["permissions.get"] == 1
    assert sleep.waits == []


async def test_stale_keep_alive_on_a_post_is_retried_by_the_sdk(
    box: Sandbox, sleep: FakeSleep
) -> None:
    box.faults.script("settings.get", Fault.stale_connection())
    async with make(box.base_url, sleep, connection_limit=1) as client:
        await client.settings.get()
        result = await client.settings.update(CallingSettings(status=FeatureStatus.ENABLED))
    assert result.success is True
    assert box.stats.dropped["stale_conn"] == 1
    assert box.stats.effects["settings.update"] == 1
    assert sleep.waits == [0.25]


async def test_stale_keep_alive_on_connect_is_outcome_unknown_and_nothing_rang(
    box: Sandbox, sleep: FakeSleep
) -> None:
    box.faults.script("settings.get", Fault.stale_connection())
    async with make(box.base_url, sleep, connection_limit=1) as client:
        await client.settings.get()
        with pytest.raises(OutcomeUnknownError):
            await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-stale")
    assert box.stats.dropped["stale_conn"] == 1
    assert box.stats.requests["calls.connect"] == 0
    assert box.calls == {}
    assert sleep.waits == []


async def test_keep_alive_closed_by_an_idle_timer_is_never_seen(sleep: FakeSleep) -> None:
    """A real server closing idle connections: aiohttp notices the FIN and dials again."""
    app = web.Application()
    seen: list[int] = []

    async def settings(request: web.Request) -> web.Response:
        assert request.transport is not None
        seen.append(request.transport.get_extra_info("peername")[1])  # one client port each
        return web.json_response({"calling": {"status": "ENABLED"}})

    app.router.add_get("/calling/settings", settings)
    runner = web.AppRunner(app, keepalive_timeout=0.05, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with make(f"http://127.0.0.1:{port}", sleep, connection_limit=1) as client:
            for _ in range(3):
                await client.settings.get()
                await asyncio.sleep(0.15)
    finally:
        await runner.cleanup()
    assert len(seen) == 3
    assert len(set(seen)) == 3, "each request should have needed a fresh connection"
    assert sleep.waits == []


# --- slow answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.slow_first_byte(2.0), Fault.slow_body(2.0), Fault.latency(2.0)],
    ids=["first_byte", "slow_body", "latency"],
)
async def test_slow_answer_on_a_get_times_out_and_is_resent(
    box: Sandbox, sleep: FakeSleep, fault: Fault
) -> None:
    box.faults.script("permissions.get", fault)
    started = time.perf_counter()
    async with make(box.base_url, sleep) as client:
        permissions = await client.permissions.get(WA_ID)
    assert permissions.permission.status == "temporary"
    assert time.perf_counter() - started < FAST.attempt + 0.5
    assert sleep.waits == [0.25]
    assert box.stats.requests["permissions.get"] == 2


@pytest.mark.parametrize(
    ("fault", "applied"),
    [(Fault.slow_first_byte(2.0), 1), (Fault.slow_body(2.0), 1), (Fault.latency(2.0), 0)],
    ids=["first_byte", "slow_body", "latency"],
)
async def test_slow_answer_on_connect_is_outcome_unknown_after_one_attempt(
    box: Sandbox, sleep: FakeSleep, fault: Fault, applied: int
) -> None:
    box.faults.script("calls.connect", fault)
    started = time.perf_counter()
    async with make(box.base_url, sleep) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-slow")
    elapsed = time.perf_counter() - started
    assert FAST.attempt - 0.05 <= elapsed < FAST.attempt + 0.3
    assert isinstance(info.value, TransportError)
    assert sleep.waits == []
    assert box.stats.requests["calls.connect"] == 1
    # `latency` waits before applying: the sandbox places the call only after the SDK gave up.
    assert box.stats.effects["calls.connect"] == applied


async def test_overall_deadline_bounds_a_call_that_keeps_timing_out(box: Sandbox) -> None:
    box.faults.script("permissions.get", *[Fault.slow_first_byte(2.0)] * 10)
    timeout = Timeout(total=0.6, attempt=0.25, connect=0.25)
    policy = RetryPolicy(initial_wait=0.01, random=lambda: 1.0)
    started = time.perf_counter()
    async with make(box.base_url, retry=policy, timeout=timeout) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await client.permissions.get(WA_ID)
    assert time.perf_counter() - started < timeout.total + 0.1
    assert "deadline of 0.6s exceeded" in str(info.value)
    assert box.stats.requests["permissions.get"] == 3


# --- bad bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected", "says", "applied"),
    [
        (Fault.truncated(), OutcomeUnknownError, "truncated", 1),
        (Fault.non_json(), OutcomeUnknownError, "HTTP 503", 0),
        (Fault.huge(256 * 1024), OutcomeUnknownError, "larger than 65536 bytes", 1),
        (Fault.nested(20_000), OutcomeUnknownError, "nested too deeply", 1),
    ],
    ids=["truncated", "non_json", "huge", "nested"],
)
async def test_bad_body_on_connect(
    box: Sandbox,
    sleep: FakeSleep,
    fault: Fault,
    expected: type[D360Error],
    says: str,
    applied: int,
) -> None:
    box.faults.script("calls.connect", fault)
    async with make(box.base_url, sleep, max_body_size=64 * 1024) as client:
        with pytest.raises(D360Error) as info:
            await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-body")
    assert type(info.value) is expected
    assert says in str(info.value)
    assert info.value.operation == "calls.connect"
    assert sleep.waits == []
    assert box.stats.requests["calls.connect"] == 1
    assert box.stats.effects["calls.connect"] == applied
    assert_no_aiohttp_in_chain(info.value)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.truncated(), None),
        (Fault.non_json(), None),
        (Fault.huge(256 * 1024), ResponseDecodeError),
        (Fault.nested(20_000), ResponseDecodeError),
    ],
    ids=["truncated", "non_json", "huge", "nested"],
)
async def test_bad_body_on_a_get(
    box: Sandbox, sleep: FakeSleep, fault: Fault, expected: type[D360Error] | None
) -> None:
    """Transient faults are ridden through; a 2xx that is not the promised JSON is final."""
    box.faults.script("permissions.get", fault)
    async with make(box.base_url, sleep, max_body_size=64 * 1024) as client:
        if expected is None:
            await client.permissions.get(WA_ID)
            assert sleep.waits == [0.25]
            assert box.stats.requests["permissions.get"] == 2
        else:
            with pytest.raises(expected) as info:
                await client.permissions.get(WA_ID)
            assert info.value.status == 200  # type: ignore[attr-defined]
            assert sleep.waits == []
            assert box.stats.requests["permissions.get"] == 1


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as running:
        yield running


async def test_gzip_bomb_is_refused_without_inflating_it(scripted: ScriptedServer) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 200 * 1024
    scripted.routes[("GET", "/calling/settings")] = reply(
        body=bomb, headers={"Content-Encoding": "gzip"}
    )
    tracemalloc.start()
    try:
        async with make(scripted.base_url, max_body_size=1024 * 1024) as client:
            with pytest.raises(ResponseDecodeError) as info:
                await client.settings.get()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than" in str(info.value)
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while refusing a 64 MB bomb"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_huge_error_body_is_refused_too(scripted: ScriptedServer, chunked: bool) -> None:
    scripted.script(Huge(8 * 1024 * 1024, status=500, chunked=chunked))
    async with make(scripted.base_url, max_body_size=64 * 1024) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.calls.terminate("wacid.X")
    assert info.value.status == 500
    assert acquired_connections(client) == 0


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["arrays", "objects"],
)
async def test_deeply_nested_error_body_still_maps_to_an_api_error(
    scripted: ScriptedServer, body: bytes
) -> None:
    scripted.script(reply(503, body=body))
    async with make(scripted.base_url, max_body_size=2 * len(body)) as client:
        with pytest.raises(ServerError) as info:
            await client.calls.terminate("wacid.X")
    assert (info.value.status, info.value.code) == (503, None)


# --- every documented calling code -----------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CALLING_ERROR_CODES))
async def test_each_calling_code_maps_to_its_class(box: Sandbox, code: int) -> None:
    row = CALLING_ERROR_CODES[code]
    box.faults.script(
        "calls.connect", Fault.status(row.http_status, code=code, message=row.message)
    )
    async with make(box.base_url) as client:
        with pytest.raises(errors.CallingError) as info:
            await client.calls.connect(WA_ID, OFFER)
    error = info.value
    assert type(error) is getattr(errors, row.name)
    assert (error.status, error.code, error.operation) == (row.http_status, code, "calls.connect")
    assert error.message == f"(#{code}) {row.message}"
    assert error.trace_id is not None
    assert f"code {code}" in str(error)


# --- answers lost after the API acted ------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Fault.huge(256 * 1024), Fault.nested(20_000)], ids=["huge", "nested"]
)
async def test_connect_placed_but_answer_unreadable_is_outcome_unknown(
    box: Sandbox, fault: Fault
) -> None:
    box.faults.script("calls.connect", fault)
    async with make(box.base_url, max_body_size=64 * 1024) as client:
        with pytest.raises(D360Error) as info:
            await client.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t-lost")
    assert len(box.calls) == 1  # the call rings
    assert isinstance(info.value, OutcomeUnknownError), repr(info.value)


@pytest.mark.parametrize("action", ["reject", "terminate"])
async def test_action_applied_then_resent_reports_success(
    box: Sandbox, sleep: FakeSleep, action: str
) -> None:
    call_id = await box.ring(WA_ID)
    box.faults.script(f"calls.{action}", Fault.reset_after())
    async with make(box.base_url, sleep) as client:
        outcome: object
        try:
            outcome = await getattr(client.calls, action)(call_id)
        except D360Error as error:
            outcome = error
    assert box.calls[call_id].state in ("rejected", "terminated")
    assert box.stats.requests[f"calls.{action}"] == 2
    assert sleep.waits == [0.25]
    assert not isinstance(outcome, D360Error), repr(outcome)


def test_spec_grammar_knows_the_new_fault_kinds() -> None:
    plan = FaultPlan.parse("seed=3,first_byte=250ms:0.05,stale_conn:0.05")
    assert [(fault.label, fault.seconds, rate) for fault, rate in plan.rates] == [
        ("first_byte", 0.25, 0.05),
        ("stale_conn", 0.0, 0.05),
    ]
    assert all(fault.applies_effect for fault, _ in plan.rates)
    for bad in ("first_byte:0.1", "stale_conn=1s:0.1"):
        with pytest.raises(ValueError, match="unknown fault"):
            FaultPlan.parse(bad)
