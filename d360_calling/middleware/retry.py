"""Retries transient failures with tenacity, safely for calls that must not be sent twice.

The first attempt runs straight through; tenacity is entered only after a failure the policy
may retry (entering it costs more than the rest of the chain). A fresh `AsyncRetrying` is made
per failing call, since tenacity keeps iteration state in a `threading.local` that every task
on the loop shares.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import stop_base

from .. import validation
from ..errors import (
    APIError,
    BadRequestError,
    D360Error,
    OutcomeUnknownError,
    ValidationError,
)
from ..session import Handler, Request, Response
from ..shared_state import BudgetLimits, LocalState, SharedState
from ..transient import (
    CALL_ACTIONS,
    SETTLED_BY_REFUSAL,
    TransientTable,
    may_have_acted,
    never_reached_server,
)

logger = logging.getLogger("d360_calling")

SETTLED_BODY: Final = b'{"success":true}'
"""The body reported for a call-ending action settled by an earlier attempt (see `_settle`)."""

Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen
class RetryPolicy:
    """How failed calls are retried: attempts, backoff with full jitter, caps, which errors.

    A `Retry-After` (or `retry-after-ms`) from the server wins over the computed backoff; when
    it asks for longer than `max_retry_after` or than the call has left, the call fails at once
    with the server's error (`RateLimitError.retry_after` tells the caller how long).
    `sleep` and `random` can be replaced to test exact waits.
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

    def worth_retrying(self, request: Request, error: D360Error, attempt: int) -> bool:
        """`may_retry`, and another attempt can still happen: attempts are left and a wait the
        server asked for fits the cap and the deadline (so no budget is spent for nothing)."""
        if attempt >= self.max_attempts or not self.may_retry(request, error):
            return False
        remaining = request.remaining()
        if remaining is not None and remaining <= 0:
            return False
        asked = error.retry_after if isinstance(error, APIError) else None
        if asked is None:
            return True
        return asked <= self.max_retry_after and (remaining is None or asked < remaining)


class _stop_if_wait_too_long(stop_base):
    """Stop (and re-raise) when the next wait is past the policy's cap for server waits."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep > self.limit


class RetryMiddleware:
    """Retries transient failures per the policy, within the call's deadline and the budget."""

    __slots__ = ("policy", "state")

    def __init__(self, policy: RetryPolicy, state: SharedState | None = None) -> None:
        self.policy = policy
        self.state: SharedState = state if state is not None else LocalState()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        policy: RetryPolicy | None = request.options.get("retry", self.policy)
        if policy is None:
            return await call_next(request)
        try:
            response = await call_next(request)
        except D360Error as error:
            if not policy.worth_retrying(request, error, 1) or not await self._spend(policy):
                raise
            return await self._retry(policy, request, call_next, error)
        if policy.budget is not None:
            self.state.record_success(policy.budget)
        return response

    async def _spend(self, policy: RetryPolicy) -> bool:
        """Count a retryable failure; whether the budget still allows a retry."""
        if policy.budget is None:
            return True
        return await self.state.record_failure(policy.budget)

    async def _retry(
        self, policy: RetryPolicy, request: Request, call_next: Handler, first: D360Error
    ) -> Response:
        pending: D360Error | None = first
        budget_allows = True
        acted = may_have_acted(first)

        def should_retry(error: BaseException) -> bool:
            return budget_allows and policy.may_retry(request, error)

        remaining = request.remaining()
        stop = stop_after_attempt(policy.max_attempts) | _stop_if_wait_too_long(
            policy.max_retry_after
        )
        if remaining is not None:
            stop = stop | stop_before_delay(remaining)
        retrying = AsyncRetrying(
            stop=stop,
            wait=lambda state: policy.wait_for(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
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
                number = attempt.retry_state.attempt_number
                try:
                    response = await call_next(attrs.evolve(request, attempt=number))
                except D360Error as error:
                    if acted and request.operation in CALL_ACTIONS and _refused(error):
                        return _settle(request, error, number)
                    acted = acted or may_have_acted(error)
                    # The budget is asked here, not in the (synchronous) retry predicate.
                    if policy.worth_retrying(request, error, number):
                        budget_allows = await self._spend(policy)
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
        refusal,
    )
    return Response(200, {}, SETTLED_BODY, attempt)


def _log_retry(request: Request) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.info(
            "%s: attempt %d failed (%s), retrying in %.3f s",
            request.operation,
            state.attempt_number,
            error if isinstance(error, D360Error) else type(error).__name__,
            state.upcoming_sleep,
        )

    return log
