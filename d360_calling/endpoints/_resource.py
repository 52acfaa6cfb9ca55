"""What every endpoint group shares: build a `Request`, send it, structure the JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, TypedDict, TypeVar

from .. import jsonutil
from ..errors import ValidationError
from ..middleware.retry import RetryPolicy
from ..models.converter import converter, explain
from ..session import Request, Session, Timeout, unreadable_answer

T = TypeVar("T")
_NO_OPTIONS: Any = MappingProxyType({})


class CallOptions(TypedDict, total=False):
    """Per-call overrides of the client's options; leave a key out to keep the client's."""

    timeout: float | Timeout
    """Seconds for the whole call (gate, backoff and every attempt), or a `Timeout`."""
    retry: RetryPolicy | None
    """Another retry policy for this call, or `None` to send it once."""
    rate_limit: None
    """`None` skips the token bucket and in-flight cap (a closed 429 gate still holds); the
    limiter's policy is the client's, shared by all its calls."""


def _check(options: CallOptions) -> None:
    unknown = sorted(set(options) - CallOptions.__optional_keys__)
    if unknown:
        raise ValidationError(
            unknown[0], "is not an option of this call (timeout, retry, rate_limit)"
        )
    if options.get("rate_limit", None) is not None:
        raise ValidationError("rate_limit", "per call, only None (skip the limiter) is supported")


class Resource:
    """A group of endpoints bound to one session."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def _request(
        self,
        method: str,
        path: str,
        operation: str,
        options: CallOptions,
        *,
        json: Any = None,
        query: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> Request:
        session = self._session
        if options:
            _check(options)
            timeout = self._timeout(options.get("timeout")) or session.timeout
            overrides = {key: value for key, value in options.items() if key != "timeout"}
        else:
            timeout, overrides = session.timeout, _NO_OPTIONS
        # Timeout and deadline set here, so `Session.send` need not copy the request.
        return Request(
            method,
            path,
            operation,
            json=json,
            query=query,
            idempotent=idempotent,
            timeout=timeout,
            deadline=asyncio.get_running_loop().time() + timeout.total,
            options=overrides,
        )

    def _timeout(self, timeout: float | Timeout | None) -> Timeout | None:
        if timeout is None or isinstance(timeout, Timeout):
            return timeout
        return self._session.timeout.limited_to(timeout)

    async def _call(
        self,
        request: Request,
        model: type[T],
        *,
        missing: Callable[[T], str | None] | None = None,
    ) -> T:
        """Send `request` and structure the answer as `model`; `missing` may name something
        the answer must hold beyond its shape (then it is unreadable too)."""
        response = await self._session.send(request)
        try:
            payload = jsonutil.loads(response.body)
        except ValueError as error:
            raise unreadable_answer(request, response.status, f"is not JSON ({error})") from None
        structured = True
        try:
            result = converter.structure(payload, model)
        except Exception:
            structured = False
        if not structured:
            # Raised outside the except block: the structuring error may quote values (a SIP
            # password), so it must not ride along as __context__ either. `explain` names the
            # field and the kinds involved, never the value.
            reason = f"does not have the documented shape: {explain(payload, model)}"
            raise unreadable_answer(request, response.status, reason)
        lacking = None if missing is None else missing(result)
        if lacking is not None:
            raise unreadable_answer(request, response.status, f"has no {lacking}")
        return result
