"""Client-side rate limiting: a gate a 429 closes for every task, a token bucket, a cap.

A 429 (or a rate-limit error code in a 400 body) closes the gate until its `Retry-After` (or a
default backoff) passes, so a thousand tasks do not each earn their own 429; with a shared
state the gate holds every worker back. Waiting here counts against the call's deadline; a
wait longer than what the call has left fails at once.
"""

from __future__ import annotations

import asyncio

import attrs

from .. import validation
from ..errors import CallingError, RateLimitError
from ..session import Handler, Request, Response, deadline_exceeded
from ..shared_state import LocalState, SharedState


@attrs.frozen
class RateLimitPolicy:
    """Limits the client keeps to: the gate's backoff, optional rate and in-flight cap.

    `requests_per_second` (with `burst`) turns on a token bucket; `max_in_flight` caps
    concurrent requests, and queuing there (not in aiohttp's pool) means a closed gate also
    holds back requests that were waiting for a connection. A `Retry-After` longer than
    `max_gate_close` closes the gate only that long (the call that got it still fails with the
    full `retry_after`); one beyond `retry_after.MAX_RETRY_AFTER` (an hour) is junk, read as no
    `Retry-After` at all, so it closes the gate for `default_backoff` like a bare 429.
    """

    default_backoff: float = 1.0
    max_gate_close: float = 60.0
    requests_per_second: float | None = None
    burst: int = 1
    max_in_flight: int | None = 100

    def __attrs_post_init__(self) -> None:
        if self.requests_per_second is not None:
            validation.positive("requests_per_second", self.requests_per_second)
        validation.integer("burst", self.burst, 1, 1_000_000)
        if self.max_in_flight is not None:
            validation.integer("max_in_flight", self.max_in_flight, 1, 1_000_000)
        validation.positive("default_backoff", self.default_backoff, allow_zero=True)
        validation.positive("max_gate_close", self.max_gate_close, allow_zero=True)


class RateLimitMiddleware:
    """Applies the gate, the token bucket and the in-flight cap to every request."""

    __slots__ = ("_in_flight", "policy", "state")

    def __init__(self, policy: RateLimitPolicy, state: SharedState | None = None) -> None:
        self.policy = policy
        self.state: SharedState = state if state is not None else LocalState()
        self._in_flight = (
            asyncio.Semaphore(policy.max_in_flight) if policy.max_in_flight is not None else None
        )

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        limited = request.options.get("rate_limit", self.policy) is not None
        slots = self._in_flight
        if not limited or slots is None:
            return await self._send(request, call_next, limited)
        if slots.locked() and request.deadline is not None:
            try:
                async with asyncio.timeout_at(request.deadline):
                    await slots.acquire()
            except TimeoutError:
                raise deadline_exceeded(request, request_sent=False) from None
        else:
            await slots.acquire()
        try:
            return await self._send(request, call_next, limited)
        finally:
            slots.release()

    async def _send(self, request: Request, call_next: Handler, limited: bool) -> Response:
        await self._wait(request, self.state.gate_wait())
        if limited and self.policy.requests_per_second is not None:
            await self._take_token(request, self.policy.requests_per_second)
        try:
            return await call_next(request)
        except RateLimitError as error:
            if isinstance(error, CallingError):
                raise  # a call limit (138002, 138005) is about calls, not the whole account
            backoff = error.retry_after
            if backoff is None:
                backoff = self.policy.default_backoff
            await self.state.close_gate(min(backoff, self.policy.max_gate_close))
            raise

    async def _take_token(self, request: Request, rate: float) -> None:
        burst = self.policy.burst
        wait = await self.state.take_token(rate, burst)
        try:
            await self._wait(request, wait)
        except BaseException:
            await self.state.return_token(rate, burst)
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
