"""Client-side rate limiting: a gate a 429 closes for every task, a token bucket, a cap.

A 429 (or a rate-limit error code in a 400 body) closes the gate until its `Retry-After` (or a
default backoff) passes, so a thousand tasks do not each earn their own 429. Waiting here
counts against the call's deadline; a wait longer than what the call has left fails at once.
"""

from __future__ import annotations

import asyncio

import attrs

from ..errors import RateLimitError
from ..session import Handler, Request, Response


@attrs.frozen
class RateLimitPolicy:
    """Limits the client keeps to: the gate's default backoff, optional rate and in-flight cap.

    `requests_per_second` (with `burst`) turns on a token bucket; `max_in_flight` caps
    concurrent requests, and queuing there (not in aiohttp's pool) means a closed gate also
    holds back requests that were waiting for a connection.
    """

    default_backoff: float = 1.0
    requests_per_second: float | None = None
    burst: int = 1
    max_in_flight: int | None = 100

    def __attrs_post_init__(self) -> None:
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("RateLimitPolicy.requests_per_second must be positive")
        if self.burst < 1:
            raise ValueError("RateLimitPolicy.burst must be at least 1")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError("RateLimitPolicy.max_in_flight must be at least 1")


@attrs.define
class RateLimitGate:
    """Closed until a loop time; shared by every task of a client."""

    closed_until: float = 0.0

    def close_for(self, seconds: float, now: float) -> None:
        """Keep requests back for `seconds` from `now` (never shortens an existing close)."""
        self.closed_until = max(self.closed_until, now + seconds)

    def wait_time(self, now: float) -> float:
        """Seconds until the gate opens (0 when open)."""
        return max(0.0, self.closed_until - now)


@attrs.define
class TokenBucket:
    """Requests-per-second limiter; takes reservations so waiters queue in arrival order."""

    rate: float
    burst: int
    tokens: float = attrs.field(default=None)
    updated: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = float(self.burst)

    def reserve(self, now: float) -> float:
        """Take a token and return how long to wait until it is really there."""
        if self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self) -> None:
        """Give a reserved token back (its holder was cancelled before sending)."""
        self.tokens += 1.0


class RateLimitMiddleware:
    """Applies the gate, the token bucket and the in-flight cap to every request."""

    __slots__ = ("_bucket", "_in_flight", "gate", "policy")

    def __init__(self, policy: RateLimitPolicy, gate: RateLimitGate | None = None) -> None:
        self.policy = policy
        self.gate = gate if gate is not None else RateLimitGate()
        self._bucket = (
            TokenBucket(policy.requests_per_second, policy.burst)
            if policy.requests_per_second is not None
            else None
        )
        self._in_flight = (
            asyncio.Semaphore(policy.max_in_flight) if policy.max_in_flight is not None else None
        )

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        limited = request.options.get("rate_limit", self.policy) is not None
        if limited and self._in_flight is not None:
            async with self._in_flight:
                return await self._send(request, call_next, limited)
        return await self._send(request, call_next, limited)

    async def _send(self, request: Request, call_next: Handler, limited: bool) -> Response:
        loop = asyncio.get_running_loop()
        await self._wait(request, self.gate.wait_time(loop.time()))
        if limited and self._bucket is not None:
            await self._take_token(request)
        try:
            return await call_next(request)
        except RateLimitError as error:
            backoff = error.retry_after
            if backoff is None:
                backoff = self.policy.default_backoff
            self.gate.close_for(backoff, loop.time())
            raise

    async def _take_token(self, request: Request) -> None:
        assert self._bucket is not None
        wait = self._bucket.reserve(asyncio.get_running_loop().time())
        try:
            await self._wait(request, wait)
        except BaseException:
            self._bucket.refund()
            raise

    async def _wait(self, request: Request, seconds: float) -> None:
        if seconds <= 0:
            return
        remaining = request.remaining()
        if remaining is not None and seconds > remaining:
            raise RateLimitError(
                f"rate limited for {seconds:.2f}s, longer than the {remaining:.2f}s left",
                operation=request.operation,
                status=429,
                retry_after=seconds,
            )
        await asyncio.sleep(seconds)
