"""What every endpoint group shares: build a `Request`, send it, structure the JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypedDict, TypeVar

from .. import jsonutil, validation
from ..errors import ValidationError
from ..middleware.ratelimit import RateLimitPolicy
from ..middleware.retry import RetryPolicy
from ..models.converter import converter, explain
from ..session import (
    Middleware,
    Request,
    Response,
    SentRecord,
    Session,
    Timeout,
    new_request,
    unreadable_answer,
)

T = TypeVar("T")

MAX_BODY_SIZE_LIMIT: Final = 2**40

_HOOKS: Final[dict[Any, Callable[[Any, Any], Any]]] = {}
"""The converter's structure function per answer model, looked up at its first answer (the
converter's own dispatch costs more than structuring a small answer). The converter is set up
once, at import; a hook registered on it later is not seen for a model already answered."""


class CallOptions(TypedDict, total=False):
    """Options of one call (or of `Client.with_options`); leave a key out to keep the client's.

    Each replaces the client's value for this call, whatever the client's default was: a
    `retry=` policy retries a call of a client made with `retry=None`, and `middlewares=[]`
    runs the call without the client's own middlewares.
    """

    timeout: float | Timeout
    """Seconds for the whole call (gate, backoff and every attempt), or a `Timeout`."""
    retry: RetryPolicy | None
    """Another retry policy for this call, or `None` to send it once."""
    rate_limit: RateLimitPolicy | None
    """Another rate-limit policy, or `None` for no client-side limiting (no gate, token bucket
    or in-flight cap). Calls with equal policies share one in-flight cap; the 429 gate and the
    requests-per-second bucket are the account's, in the client's shared state."""
    middlewares: Sequence[Middleware]
    """Middlewares around the whole call, instead of the client's (outermost first)."""
    attempt_middlewares: Sequence[Middleware]
    """Middlewares around each attempt (inside the retry loop), instead of the client's."""
    max_body_size: int
    """The largest response body accepted, in bytes."""


CLIENT_ONLY: Final = frozenset(
    {"api_key", "base_url", "session", "shared_state", "connection_limit"}
)
"""Client options that name the account, the connection pool or the shared state: a call (or a
`with_options` copy) shares them, so they are set only when a `Client` is made."""

CONNECT_AND_ACCEPT_ONLY: Final = frozenset(
    {"recording", "transcription", "biz_opaque_callback_data"}
)
"""Arguments of `calls.connect` and `calls.accept` alone: given to another operation they land
among its options, and are refused saying where they belong."""


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse an unknown option or a value of the wrong kind (`ValidationError` naming it)."""
    unknown = sorted(set(options) - CallOptions.__optional_keys__)
    if unknown:
        name = unknown[0]
        if name in CLIENT_ONLY:
            raise ValidationError(
                name, "is set when the Client is made (a copy shares it); make another Client"
            )
        if name in CONNECT_AND_ACCEPT_ONLY:
            raise ValidationError(name, "only calls.connect and calls.accept take it")
        known = ", ".join(sorted(CallOptions.__optional_keys__))
        raise ValidationError(name, f"is not an option of a call ({known})")
    if "timeout" in options:
        timeout = options["timeout"]
        if not isinstance(timeout, Timeout):
            validation.seconds("timeout", timeout)
    retry = options.get("retry")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ValidationError("retry", f"must be a RetryPolicy or None, got {retry!r}")
    rate_limit = options.get("rate_limit")
    if rate_limit is not None and not isinstance(rate_limit, RateLimitPolicy):
        raise ValidationError(
            "rate_limit", f"must be a RateLimitPolicy or None, got {rate_limit!r}"
        )
    for name in ("middlewares", "attempt_middlewares"):
        if name in options:
            middlewares(name, options[name])
    if "max_body_size" in options:
        validation.integer("max_body_size", options["max_body_size"], 1, MAX_BODY_SIZE_LIMIT)


def middlewares(name: str, value: object) -> tuple[Middleware, ...]:
    """A sequence of middlewares (callables), as a tuple."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValidationError(name, f"must be a list of middlewares, got {type(value).__name__}")
    for index, middleware in enumerate(value):
        if not callable(middleware):
            raise ValidationError(f"{name}[{index}]", f"is not callable: {middleware!r}")
    return tuple(value)


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
            check_options(options)
            timeout = self._timeout(options.get("timeout")) or session.timeout
            overrides: Mapping[str, Any] = {
                **session.options,
                **{key: value for key, value in options.items() if key != "timeout"},
            }
        else:
            timeout, overrides = session.timeout, session.options
        # Timeout and deadline set here, so `Session.send` need not copy the request; a record
        # of whether it went out only for middlewares of the user's, which may read it.
        return new_request(
            method,
            path,
            operation,
            json,
            query,
            idempotent,
            timeout,
            session.now() + timeout.total,
            overrides,
            session.base_url,
            SentRecord() if options or session.tracks_sends else None,
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
        return self._answer(request, await self._session.dispatch(request), model, missing)

    def _answer(
        self,
        request: Request,
        response: Response,
        model: type[T],
        missing: Callable[[T], str | None] | None = None,
    ) -> T:
        """The answer to `request` structured as `model` (what `_call` does once the response
        is in; the hot endpoints await `dispatch` themselves and call this, one frame fewer)."""
        try:
            payload = jsonutil.loads(response.body)
        except ValueError as error:
            raise unreadable_answer(request, response.status, f"is not JSON ({error})") from None
        structured = True
        hook = _HOOKS.get(model)
        if hook is None:
            hook = _HOOKS[model] = converter.get_structure_hook(model)
        try:
            result: T = hook(payload, model)
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
