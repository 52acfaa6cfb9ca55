"""Per-attempt middlewares (issue 15, item 5): inside the retry loop, once per attempt, after the
rate-limit gate; free when unused (the chain has no extra frame)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import inspect

import attrs
import pytest

from d360_calling import (
    Client,
    RateLimitPolicy,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
)
from d360_calling.session import Handler, Request, Response

from ..support.samples import API_KEY, CALL_ID
from ..support.server import ScriptedServer, reply
from ..support.sleep import FakeSleep

UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})


class Sign:
    """The documented example: sign each attempt (a fresh header per attempt, after any wait at
    the gate, so the signature is as late as it can be)."""

    deadline_safe = True  # awaits nothing but call_next

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        message = f"{request.method} {request.path} {request.attempt}".encode()
        signature = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        signed = attrs.evolve(request, headers={**request.headers, "X-Signature": signature})
        return await call_next(signed)


class Recorder:
    deadline_safe = True

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.log.append(f"{self.name}:{request.attempt}:{request.waited:g}")
        try:
            return await call_next(request)
        except ServerError:
            self.log.append(f"{self.name}:{request.attempt}:failed")
            raise


def policy(sleep: FakeSleep) -> RetryPolicy:
    return RetryPolicy(sleep=sleep, random=lambda: 1.0)


async def test_attempt_middlewares_run_once_per_attempt_inside_the_retry_loop(
    server: ScriptedServer,
) -> None:
    server.script(UNAVAILABLE, UNAVAILABLE)
    log: list[str] = []
    sleep = FakeSleep()
    async with Client(
        API_KEY,
        base_url=server.base_url,
        retry=policy(sleep),
        middlewares=[Recorder(log, "call")],
        attempt_middlewares=[Recorder(log, "a"), Recorder(log, "b")],
    ) as client:
        assert (await client.calls.terminate(CALL_ID)).success
    assert log == [
        "call:1:0",
        "a:1:0",
        "b:1:0",
        "b:1:failed",
        "a:1:failed",
        "a:2:0.25",
        "b:2:0.25",
        "b:2:failed",
        "a:2:failed",
        "a:3:0.5",
        "b:3:0.5",
    ]


async def test_signing_each_attempt(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE)
    sign = Sign(b"s3cret")
    async with Client(
        API_KEY, base_url=server.base_url, retry=policy(FakeSleep()), attempt_middlewares=[sign]
    ) as client:
        await client.calls.reject(CALL_ID)
    signatures = [seen.headers["X-Signature"] for seen in server.requests]
    assert len(signatures) == 2
    assert signatures[0] != signatures[1]
    # The SDK's API key is still sent beneath the middleware's headers.
    assert all(seen.headers["D360-API-KEY"] == API_KEY for seen in server.requests)


async def test_attempt_middlewares_run_after_the_in_flight_cap(server: ScriptedServer) -> None:
    inside = 0
    peak = 0

    class Count:
        deadline_safe = True

        async def __call__(self, request: Request, call_next: Handler) -> Response:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            try:
                await asyncio.sleep(0.01)
                return await call_next(request)
            finally:
                inside -= 1

    async with Client(
        API_KEY,
        base_url=server.base_url,
        rate_limit=RateLimitPolicy(max_in_flight=2),
        attempt_middlewares=[Count()],
    ) as client:
        await asyncio.gather(*(client.calls.terminate(CALL_ID) for _ in range(10)))
    assert peak == 2


def chain_depth(client: Client) -> int:
    """How many middleware frames the client's composed chain has: a user middleware is a
    `functools.partial`, an SDK middleware the handler its `bind` made (with `call_next`)."""
    depth = 0
    handler = client._session._chain
    while isinstance(handler, functools.partial) or hasattr(handler, "call_next"):
        depth += 1
        if isinstance(handler, functools.partial):
            handler = handler.keywords["call_next"]
        else:
            handler = handler.call_next
    assert inspect.ismethod(handler)
    assert handler.__name__ == "_send"
    return depth


async def test_an_empty_attempt_slot_adds_no_frame() -> None:
    """Retry and rate limit fused into one step, then logging: two frames, with or without an
    (empty) attempt slot."""
    plain = Client(API_KEY)
    empty = Client(API_KEY, attempt_middlewares=[])
    one = Client(API_KEY, attempt_middlewares=[Sign(b"k")])
    assert chain_depth(plain) == chain_depth(empty) == 2
    assert chain_depth(one) == 3
    assert not plain._session._watch_deadline
    assert not one._session._watch_deadline  # Sign says it awaits only call_next
    # A policy of None leaves its middleware out; a copy with a policy brings it back.
    bare = Client(API_KEY, retry=None, rate_limit=None)
    assert chain_depth(bare) == 1
    assert chain_depth(bare.with_options(retry=RetryPolicy())) == 2
    for client in (plain, empty, one, bare):
        await client.aclose()


async def test_an_attempt_middleware_that_waits_is_held_to_the_deadline(
    server: ScriptedServer,
) -> None:
    class Slow:  # no deadline_safe: it may wait on its own
        async def __call__(self, request: Request, call_next: Handler) -> Response:
            await asyncio.sleep(5)
            return await call_next(request)

    async with Client(API_KEY, base_url=server.base_url, attempt_middlewares=[Slow()]) as client:
        assert client._session._watch_deadline
        with pytest.raises(RequestTimeoutError) as caught:
            await client.calls.terminate(CALL_ID, timeout=0.3)
    assert caught.value.request_sent is False
    assert server.count() == 0
