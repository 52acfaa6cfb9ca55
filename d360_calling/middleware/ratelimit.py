"""Client-side rate limiting: a gate a 429 closes for every task, a token bucket, a cap.

A 429 (or a rate-limit error code in a 400 body) closes the gate until its `Retry-After` (or a
default backoff) passes, so a thousand tasks do not each earn their own 429; with a shared
state the gate holds every worker back. Waiting here counts against the call's deadline; a
wait longer than what the call has left fails at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

import attrs

from .. import validation
from ..errors import CallingError, RateLimitError, ValidationError
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
    A `burst` other than 1 without `requests_per_second` is contradictory (the burst of a
    bucket that is not there) and refused with `ValidationError`.
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
        if self.requests_per_second is None and self.burst != 1:
            raise ValidationError(
                "burst", "has no effect without requests_per_second (there is no token bucket)"
            )
        if self.max_in_flight is not None:
            validation.integer("max_in_flight", self.max_in_flight, 1, 1_000_000)
        validation.positive("default_backoff", self.default_backoff, allow_zero=True)
        validation.positive("max_gate_close", self.max_gate_close, allow_zero=True)


class _Slots:
    """A FIFO cap on calls in flight. A call takes a slot without suspending when one is free
    and nobody queues; otherwise it queues, and a slot given back goes straight to the first
    call still waiting (strict arrival order, so a call's second request cannot overtake the
    first requests of calls queued before it)."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether a call arriving now would have to queue."""
        return self.free <= 0 or bool(self.waiters)

    def try_take(self) -> bool:
        """Take a slot if that needs no wait."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, queueing (FIFO) until one is handed over."""
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, but leaving (cancelled): pass it on
            elif waiter in self.waiters:  # `release` drops cancelled waiters it meets first
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the first call still waiting, else to the pool."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class _Limiter:
    """One policy's in-flight cap, and how many calls are inside it now."""

    __slots__ = ("policy", "slots", "users")

    def __init__(self, policy: RateLimitPolicy) -> None:
        self.policy = policy
        self.slots = _Slots(policy.max_in_flight) if policy.max_in_flight is not None else None
        self.users = 0


MAX_LIMITERS: Final = 64
"""Per-call policies whose in-flight caps are kept; idle ones beyond this are dropped (a
dropped cap has nobody inside it, so dropping it lets nothing through)."""


class RateLimitMiddleware:
    """Applies the gate, the token bucket and the in-flight cap to every request.

    The policy is the call's (`rate_limit=` per call or on a `with_options` copy) or else the
    client's; `None` means no client-side limiting at all. Calls with equal policies share
    one in-flight cap; the gate and the token bucket are the account's, in the shared state.
    """

    __slots__ = ("_default", "_limiters", "policy", "state")

    deadline_safe = True
    option = "rate_limit"
    """The per-call option that overrides `policy` (with `None` the session leaves this out)."""

    def __init__(self, policy: RateLimitPolicy | None, state: SharedState | None = None) -> None:
        self.policy = policy
        self.state: SharedState = state if state is not None else LocalState()
        self._limiters: dict[RateLimitPolicy, _Limiter] = {}
        self._default = self._limiter(policy) if policy is not None else None

    def _limiter(self, policy: RateLimitPolicy) -> _Limiter:
        limiter = self._limiters.get(policy)
        if limiter is None:
            if len(self._limiters) >= MAX_LIMITERS:
                for idle in [p for p, lim in self._limiters.items() if not lim.users]:
                    if idle != self.policy:
                        del self._limiters[idle]
            limiter = self._limiters[policy] = _Limiter(policy)
        return limiter

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await self.bind(call_next)(request)

    def bind(self, call_next: Handler) -> Handler:
        """This middleware around `call_next`, as one handler (what the session composes).
        Under the client's own policy, a call that finds a free slot, an open gate and no
        token bucket passes without suspending."""

        async def rate_limited(request: Request) -> Response:
            options = request.options
            policy: RateLimitPolicy | None = (
                options.get("rate_limit", self.policy) if options else self.policy
            )
            if policy is None:
                return await call_next(request)
            if policy is not self.policy:
                return await self._under(self._limiter(policy), request, call_next)
            assert self._default is not None
            slots = self._default.slots
            if slots is None:
                return await self._send(request, call_next, policy)
            if slots.free > 0 and not slots.waiters:  # `slots.try_take()`, inlined
                slots.free -= 1
            else:
                await self._queue(slots, request)
            try:
                return await self._send(request, call_next, policy)
            finally:
                slots.release()

        rate_limited.call_next = call_next  # type: ignore[attr-defined]  # what it wraps
        rate_limited.limiter = self  # type: ignore[attr-defined]  # for the retry's fused step
        return rate_limited

    def try_enter(self) -> _Slots | None:
        """The in-flight cap of the client's own policy with a slot taken for the caller, if a
        call passes now, without waiting: the policy has a cap and no token bucket, the gate
        is open and a slot is free. The caller releases the slot. What the retry middleware's
        fused step asks; with `None` it leaves the call to this middleware's handler."""
        policy = self.policy
        if policy is None or policy.requests_per_second is not None or self.state.gate_wait() > 0:
            return None
        assert self._default is not None
        slots = self._default.slots
        if slots is None or slots.free <= 0 or slots.waiters:  # `slots.try_take()`, inlined
            return None
        slots.free -= 1
        return slots

    async def limited(self, error: RateLimitError) -> None:
        """What a rate-limit answer to a call under the client's policy does (see `_limited`)."""
        assert self.policy is not None
        await self._limited(error, self.policy)

    async def _under(self, limiter: _Limiter, request: Request, call_next: Handler) -> Response:
        """A call under a policy of its own: counted in, so its cap is not dropped meanwhile."""
        limiter.users += 1
        try:
            slots = limiter.slots
            if slots is None:
                return await self._send(request, call_next, limiter.policy)
            await self._queue(slots, request)
            try:
                return await self._send(request, call_next, limiter.policy)
            finally:
                slots.release()
        finally:
            limiter.users -= 1

    async def _queue(self, slots: _Slots, request: Request) -> None:
        """Take an in-flight slot, waiting no longer than the call's deadline."""
        if slots.try_take():
            return
        if request.deadline is None:
            await slots.acquire()
            return
        try:
            async with asyncio.timeout_at(request.deadline):
                await slots.acquire()
        except TimeoutError:
            raise deadline_exceeded(request, request_sent=False) from None

    async def _send(
        self, request: Request, call_next: Handler, policy: RateLimitPolicy
    ) -> Response:
        """The call through the gate and the token bucket, once it holds its in-flight slot (if
        its policy has a cap); a rate-limit answer closes the gate."""
        wait = self.state.gate_wait()
        if wait > 0:
            await self._wait(request, wait)
        if policy.requests_per_second is not None:
            await self._take_token(request, policy.requests_per_second, policy.burst)
        try:
            return await call_next(request)
        except RateLimitError as error:
            await self._limited(error, policy)
            raise

    async def _limited(self, error: RateLimitError, policy: RateLimitPolicy) -> None:
        """A 429 (or the API's rate-limit code) closes the account's gate; a call limit
        (138002, 138005) is about calls, not the whole account, and closes nothing."""
        if isinstance(error, CallingError):
            return
        backoff = error.retry_after
        if backoff is None:
            backoff = policy.default_backoff
        await self.state.close_gate(min(backoff, policy.max_gate_close))

    async def _take_token(self, request: Request, rate: float, burst: int) -> None:
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
