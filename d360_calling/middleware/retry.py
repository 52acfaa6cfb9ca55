"""Retries transient failures with tenacity, safely for calls that must not be sent twice.

The first attempt runs straight through; tenacity is entered only after a failure the policy
may retry (entering it costs more than the rest of the chain). A fresh `AsyncRetrying` is made
per failing call, since tenacity keeps iteration state in a `threading.local` that every task
on the loop shares. Composed around the rate limiter, it fuses with it (`_fused`): a call under
the client's own policies that needs no wait runs its first attempt in one frame.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .. import validation
from ..errors import (
    APIError,
    BadRequestError,
    D360Error,
    OutcomeUnknownError,
    RateLimitError,
    ValidationError,
    error_text,
)
from ..retry_after import MAX_RETRY_AFTER
from ..session import Handler, Request, Response
from ..shared_state import BudgetLimits, LocalState, SharedState
from ..transient import (
    CALL_ACTIONS,
    SETTLED_BY_REFUSAL,
    TransientTable,
    may_have_acted,
    never_reached_server,
)
from .logging import log_fields
from .ratelimit import RateLimitMiddleware

logger = logging.getLogger("d360_calling")

SETTLED_BODY: Final = b'{"success":true}'
"""The body reported for a call-ending action settled by an earlier attempt (see `_settle`)."""

Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen
class RetryPolicy:
    """How failed calls are retried: attempts, backoff with full jitter, caps, which errors.

    The wait before attempt n+1 is `min(max_wait, initial_wait * 2**(n-1)) * random()` (full
    jitter), unless the server asked for one: a `Retry-After` (or `retry-after-ms`) wins. Only
    such a server wait is held to `max_retry_after`: when the server asks for longer, the call
    fails at once with the server's error (`RateLimitError.retry_after` tells how long), and
    `max_retry_after=0` retries only what may be resent at once. A wait that would pass the
    call's deadline ends the call too. Either way this is decided before a retry-budget token
    is spent, so no token pays for a retry that does not happen.

    Contradictory settings are refused with `ValidationError`: `max_wait` below `initial_wait`
    (the first wait could never be taken; `initial_wait=0, max_wait=0` retries without
    waiting), and `max_retry_after` above `retry_after.MAX_RETRY_AFTER` (an hour: a longer
    `Retry-After` is read as junk, so such a cap could never apply). `sleep` and `random` can be
    replaced to test exact waits.
    """

    max_attempts: int = 4
    initial_wait: float = 0.25
    max_wait: float = 8.0
    max_retry_after: float = 30.0
    budget: BudgetLimits | None = attrs.field(factory=BudgetLimits)
    """The shape of the client's retry budget (`None`: no budget); the tokens live in its
    shared state, so every call on the client (or every worker, with Redis) spends them."""
    transient: TransientTable = attrs.field(factory=TransientTable)
    sleep: Sleep = asyncio.sleep
    random: Callable[[], float] = random.random

    def __attrs_post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValidationError("max_attempts", f"must be a whole number >= 1, got {attempts!r}")
        for name in ("initial_wait", "max_wait", "max_retry_after"):
            validation.positive(name, getattr(self, name), allow_zero=True)
        if self.max_wait < self.initial_wait:
            raise ValidationError(
                "max_wait",
                f"{self.max_wait!r} is below initial_wait {self.initial_wait!r}, so the first "
                "wait could never be taken (initial_wait=0 retries without waiting)",
            )
        if self.max_retry_after > MAX_RETRY_AFTER:
            raise ValidationError(
                "max_retry_after",
                f"{self.max_retry_after!r} can never apply: a Retry-After over "
                f"{MAX_RETRY_AFTER:g} s is read as no Retry-After at all",
            )

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff after failed attempt number `attempt` (from 1)."""
        ceiling: float = min(self.max_wait, self.initial_wait * 2 ** (attempt - 1))
        return ceiling * self.random()

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """The wait before the next attempt: the server's `Retry-After` if any, else backoff."""
        if isinstance(error, APIError) and error.retry_after is not None:
            return error.retry_after
        return self.backoff(attempt)

    def may_retry(self, request: Request, error: BaseException) -> bool:
        """Whether `error` is transient and resending `request` cannot act on the API twice."""
        if not isinstance(error, D360Error) or not self.transient.is_transient(error):
            return False
        return request.idempotent or never_reached_server(error)

    def next_wait(self, request: Request, error: D360Error, attempt: int) -> float | None:
        """The wait before another attempt after failed attempt `attempt`, or `None` when there
        is to be none: the error is final or unsafe to resend, no attempts are left, the server
        asked for a wait past `max_retry_after`, or the wait would pass the call's deadline."""
        if attempt >= self.max_attempts or not self.may_retry(request, error):
            return None
        asked = error.retry_after if isinstance(error, APIError) else None
        if asked is not None and asked > self.max_retry_after:
            return None
        wait = asked if asked is not None else self.backoff(attempt)
        remaining = request.remaining()
        if remaining is not None and wait >= remaining:
            return None
        return wait


class RetryMiddleware:
    """Retries transient failures per the policy, within the call's deadline and the budget.

    `policy=None` sends each call once unless the call brings its own `retry=` policy.
    """

    __slots__ = ("policy", "state")

    deadline_safe = True
    option = "retry"
    """The per-call option that overrides `policy` (with `None` the session leaves this out)."""

    def __init__(self, policy: RetryPolicy | None, state: SharedState | None = None) -> None:
        self.policy = policy
        self.state: SharedState = state if state is not None else LocalState()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await self.bind(call_next)(request)

    def bind(self, call_next: Handler) -> Handler:
        """This middleware around `call_next`, as one handler (what the session composes)."""

        async def retried(request: Request) -> Response:
            options = request.options
            policy: RetryPolicy | None = (
                options.get("retry", self.policy) if options else self.policy
            )
            if policy is None:
                return await call_next(request)
            try:
                response = await call_next(request)
            except D360Error as error:
                wait = await self._plan(policy, request, error, 1)
                if wait is None:
                    raise
                return await self._retry(policy, request, call_next, error, wait)
            if policy.budget is not None:
                self.state.record_success(policy.budget)
            return response

        retried.call_next = call_next  # type: ignore[attr-defined]  # what it wraps
        limiter: RateLimitMiddleware | None = getattr(call_next, "limiter", None)
        if limiter is None:
            return retried
        return self._fused(retried, limiter, call_next)

    def _fused(self, retried: Handler, limiter: RateLimitMiddleware, limited: Handler) -> Handler:
        """This middleware around the rate limiter's handler `limited`, as one step: a call
        under the client's own policies (no per-call option) that the limiter lets through
        at once (`try_enter`) runs the first attempt here, one frame instead of three; any
        other call goes through `retried`. A failure takes the same turns as in the composed
        pair: a rate-limit answer closes the gate, the slot is given back, then the retry is
        planned and run through `limited`."""
        inner: Handler = limited.call_next  # type: ignore[attr-defined]  # what the limiter wraps

        async def fused(request: Request) -> Response:
            policy = self.policy
            if request.options or policy is None:
                return await retried(request)
            slots = limiter.try_enter()
            if slots is None:
                return await retried(request)
            try:
                try:
                    response = await inner(request)
                except RateLimitError as error:
                    await limiter.limited(error)
                    raise
                finally:
                    slots.release()
            except D360Error as error:
                wait = await self._plan(policy, request, error, 1)
                if wait is None:
                    raise
                return await self._retry(policy, request, limited, error, wait)
            if policy.budget is not None:
                self.state.record_success(policy.budget)
            return response

        fused.call_next = inner  # type: ignore[attr-defined]  # what it wraps
        return fused

    async def _plan(
        self, policy: RetryPolicy, request: Request, error: D360Error, attempt: int
    ) -> float | None:
        """The wait before another attempt, once the budget paid for it; `None`: no retry.
        The budget is asked last, so a retry that cannot happen spends no token."""
        wait = policy.next_wait(request, error, attempt)
        if wait is None:
            return None
        if policy.budget is not None and not await self.state.record_failure(policy.budget):
            return None
        return wait

    async def _retry(
        self,
        policy: RetryPolicy,
        request: Request,
        call_next: Handler,
        first: D360Error,
        first_wait: float,
    ) -> Response:
        pending: D360Error | None = first
        planned: float | None = first_wait
        acted = may_have_acted(first)

        def should_retry(error: BaseException) -> bool:
            return planned is not None and isinstance(error, D360Error)

        # The decision (attempts, server waits, deadline, budget) is `_plan`'s, taken before a
        # token is spent; tenacity waits what was planned and runs the loop. `planned` is reset
        # as each attempt starts, so a cancelled attempt is never retried.
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=lambda state: planned or 0.0,
            retry=retry_if_exception(should_retry),
            sleep=policy.sleep,
            before_sleep=_log_retry(request),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if pending is not None:
                    error, pending = pending, None
                    raise error
                waited, planned = planned or 0.0, None
                number = attempt.retry_state.attempt_number
                try:
                    response = await call_next(attrs.evolve(request, attempt=number, waited=waited))
                except D360Error as error:
                    if acted and request.operation in CALL_ACTIONS and _refused(error):
                        return _settle(request, error, number)
                    acted = acted or may_have_acted(error)
                    planned = await self._plan(policy, request, error, number)
                    raise
                if policy.budget is not None:
                    self.state.record_success(policy.budget)
                return response
        raise AssertionError("unreachable: tenacity either returns or re-raises")


def _refused(error: D360Error) -> bool:
    """A plain bad-request answer (not auth, permission, a limit or a calling code): what the API
    says when the call is no longer in a state for the action."""
    return type(error) is BadRequestError


def _settle(request: Request, refusal: D360Error, attempt: int) -> Response:
    """A call action's resend refused after an attempt whose answer was lost and that may have
    acted. For actions that end a call the earlier attempt did what was asked: report success.
    For `accept`/`pre_accept` (it may have connected, or the user hung up first) the outcome is
    unknown (and `OutcomeUnknownError` is never retried)."""
    if request.operation not in SETTLED_BY_REFUSAL:
        raise OutcomeUnknownError(
            f"an earlier attempt may have taken effect and the resend was refused ({refusal}); "
            "check the call's webhooks for what happened",
            operation=request.operation,
            to=None,
        ) from None
    logger.info(
        "%s: resend refused (%s) after an attempt whose answer was lost; that attempt ended "
        "the call, reported as success",
        request.operation,
        error_text(refusal),
        extra=log_fields(request, attempt=attempt, error=refusal, outcome="settled"),
    )
    return Response(200, {}, SETTLED_BODY, attempt)


def _log_retry(request: Request) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.info(
            "%s: attempt %d failed (%s), retrying in %.3f s",
            request.operation,
            state.attempt_number,
            error_text(error),
            state.upcoming_sleep,
            extra=log_fields(
                request, attempt=state.attempt_number, error=error, wait=state.upcoming_sleep
            ),
        )

    return log
