"""A wait no server means is junk: `Retry-After` beyond `MAX_RETRY_AFTER` is treated as absent.

A 429 with `Retry-After: 99999999999999999999` used to close the shared rate-limit gate for
`max_gate_close`, failing every other call with a shorter deadline without sending it. Real,
plausible waits still close the gate as long as they ask.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final

import pytest

from d360_calling import Client, RateLimitError, RateLimitPolicy, RetryPolicy, Timeout
from d360_calling.error_mapping import api_error
from d360_calling.retry_after import MAX_RETRY_AFTER, parse_retry_after

from ..support.samples import API_KEY, WA_ID
from ..support.server import Reply, ScriptedServer, reply

NOW: Final = 1_750_000_000.0
ABSURD: Final = "99999999999999999999"


def http_date(offset: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=offset), True)


# --- the parser --------------------------------------------------------------------------------


def test_the_bound_is_one_hour() -> None:
    assert MAX_RETRY_AFTER == 3600.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        ("3600", 3600.0),
        ("3600.5", None),
        ("3601", None),
        ("86400", None),
        ("999999999", None),
        (ABSURD, None),
        ("1e300", None),
    ],
)
def test_retry_after_seconds_beyond_the_bound_are_absent(value: str, seconds: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}, now=NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250", 0.25),
        ("3600000", 3600.0),
        ("3600001", None),
        (ABSURD, None),
    ],
)
def test_retry_after_ms_beyond_the_bound_is_absent(value: str, seconds: float | None) -> None:
    assert parse_retry_after({"retry-after-ms": value}, now=NOW) == seconds


def test_an_absurd_retry_after_ms_falls_back_to_retry_after() -> None:
    headers = {"retry-after-ms": ABSURD, "Retry-After": "2"}
    assert parse_retry_after(headers, now=NOW) == 2.0


@pytest.mark.parametrize(
    ("offset", "seconds"),
    [(-86400, 0.0), (0, 0.0), (30, 30.0), (3600, 3600.0), (3601, None), (86400 * 365, None)],
)
def test_retry_after_dates_beyond_the_bound_are_absent(offset: int, seconds: float | None) -> None:
    assert parse_retry_after({"Retry-After": http_date(offset)}, now=NOW) == seconds


def test_a_date_in_year_9999_is_absent() -> None:
    assert parse_retry_after({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, now=NOW) is None


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": ABSURD}, {"retry-after-ms": ABSURD}, {"Retry-After": "3601"}],
)
def test_a_429_with_an_absurd_wait_has_no_retry_after(headers: dict[str, str]) -> None:
    error = api_error("permissions.get", 429, headers, b'{"error": "too many requests"}')
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None


# --- on a loopback server ----------------------------------------------------------------------

ABSURD_HEADERS: Final = [
    {"Retry-After": ABSURD},
    {"retry-after-ms": ABSURD},
    {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
]
HEADER_IDS: Final = ["seconds", "milliseconds", "date"]


def too_many(headers: dict[str, str]) -> Reply:
    return reply(429, {"error": "too many requests"}, headers=headers)


def client_for(server: ScriptedServer, **options: Any) -> Client:
    options.setdefault("timeout", Timeout(total=5.0))
    return Client(API_KEY, base_url=server.base_url, **options)


@pytest.mark.parametrize("headers", ABSURD_HEADERS, ids=HEADER_IDS)
async def test_an_absurd_retry_after_does_not_hold_back_other_calls(
    server: ScriptedServer, headers: dict[str, str]
) -> None:
    """The call that got the 429 fails (no retries for it); the gate closes only for the usual
    backoff, so the calls after it, with deadlines far below `max_gate_close`, are sent."""
    server.script(too_many(headers))
    async with client_for(server, rate_limit=RateLimitPolicy(default_backoff=0.2)) as client:
        with pytest.raises(RateLimitError) as first:
            await client.permissions.get(WA_ID, retry=None)
        assert first.value.retry_after is None
        others = await asyncio.gather(
            *(client.permissions.get(WA_ID, timeout=3.0) for _ in range(10)),
            return_exceptions=True,
        )
    assert [type(o).__name__ for o in others] == ["CallPermissions"] * 10
    assert server.count() == 11


@pytest.mark.parametrize("headers", ABSURD_HEADERS, ids=HEADER_IDS)
async def test_concurrent_calls_all_succeed_when_one_gets_an_absurd_retry_after(
    server: ScriptedServer, headers: dict[str, str]
) -> None:
    """Default client: the 429 is retried after the usual backoff, like one without a header."""
    server.script(too_many(headers))
    async with client_for(server) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.permissions.get(WA_ID) for _ in range(10)), return_exceptions=True
        )
        took = time.monotonic() - started
    assert [type(r).__name__ for r in results] == ["CallPermissions"] * 10
    assert server.count() == 11
    assert took < 4.0


async def test_a_plausible_retry_after_still_closes_the_gate(server: ScriptedServer) -> None:
    """`Retry-After: 1` holds every call for a second: one with less left fails unsent."""
    server.script(too_many({"Retry-After": "1"}))
    async with client_for(server) as client:
        with pytest.raises(RateLimitError) as first:
            await client.permissions.get(WA_ID, retry=None)
        assert first.value.retry_after == 1.0
        with pytest.raises(RateLimitError) as gated:
            await client.permissions.get(WA_ID, timeout=0.5)
        assert gated.value.retry_after is not None
        assert 0.5 < gated.value.retry_after <= 1.0
        assert server.count() == 1
        started = time.monotonic()
        await client.permissions.get(WA_ID, timeout=3.0)
        waited = time.monotonic() - started
    assert server.count() == 2
    assert 0.3 < waited < 2.0


async def test_a_long_but_plausible_retry_after_is_handled_as_before(
    server: ScriptedServer,
) -> None:
    """`Retry-After: 120`: past the retry cap, so the call fails with it; the gate closes for
    `max_gate_close`."""
    server.script(too_many({"Retry-After": "120"}))
    policy = RateLimitPolicy(max_gate_close=60.0)
    async with client_for(server, rate_limit=policy, retry=RetryPolicy()) as client:
        with pytest.raises(RateLimitError) as first:
            await client.permissions.get(WA_ID)
        assert first.value.retry_after == 120.0
        with pytest.raises(RateLimitError) as gated:
            await client.permissions.get(WA_ID)
    assert gated.value.retry_after is not None
    assert 55.0 < gated.value.retry_after <= 60.0
    assert server.count() == 1
