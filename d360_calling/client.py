"""`Client`: the entry point; owns one `Session` and exposes the endpoint groups (`calls`,
`messages`, `permissions`, `settings`, `media`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Final, Unpack

import aiohttp

from . import validation
from ._closing import AsyncClosing
from .endpoints import Calls, Media, Messages, Permissions, Settings
from .endpoints._resource import CallOptions, check_options
from .errors import ValidationError
from .middleware import (
    LoggingMiddleware,
    RateLimitMiddleware,
    RateLimitPolicy,
    RetryMiddleware,
    RetryPolicy,
)
from .session import (
    API_KEY_HEADER,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_TIMEOUT,
    Middleware,
    Session,
    Timeout,
)
from .shared_state import LocalState, SharedState

API_KEY_ENV = "D360_API_KEY"
DEFAULT_RETRY: Final = RetryPolicy()
DEFAULT_RATE_LIMIT: Final = RateLimitPolicy()


class Client(AsyncClosing):
    """An async client for one 360dialog number (one API key).

    Use it as `async with Client(...) as client:` or close it with `await client.aclose()`.
    The API key comes from the argument or `$D360_API_KEY`. Pass `session=` to share an
    existing `aiohttp.ClientSession` (its pool); the SDK never changes or closes it.
    `connection_limit` caps pooled connections (`None`: no cap), while the in-flight cap of
    `RateLimitPolicy` queues calls inside the SDK. `retry` and `rate_limit` take policy
    objects, or `None` to switch them off; `middlewares` are yours, outermost first, around
    each whole call; `attempt_middlewares` are yours around each attempt, inside the retry
    loop. The chain: middlewares → retry → rate limit → attempt middlewares → logging → send
    (which adds the API key). `shared_state` holds the rate-limit gate, the retry budget and
    the media error count: in-process by default, or a `RedisState` shared by many workers.

    Every call takes the options of `CallOptions` (`timeout`, `retry`, `rate_limit`,
    `middlewares`, `attempt_middlewares`, `max_body_size`), whatever the client's defaults;
    `with_options(...)` makes a copy with other defaults for a block of calls.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        rate_limit: RateLimitPolicy | None = DEFAULT_RATE_LIMIT,
        middlewares: Sequence[Middleware] = (),
        attempt_middlewares: Sequence[Middleware] = (),
        shared_state: SharedState | None = None,
        session: aiohttp.ClientSession | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        connection_limit: int | None = 100,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not key:
            raise ValidationError(
                "api_key", f"pass api_key= or set ${API_KEY_ENV}; neither is there"
            )
        validation.base_url(base_url)
        if connection_limit is not None:
            validation.integer("connection_limit", connection_limit, 1, 1_000_000)
        check_options(
            {
                "timeout": timeout,
                "retry": retry,
                "rate_limit": rate_limit,
                "middlewares": middlewares,
                "attempt_middlewares": attempt_middlewares,
                "max_body_size": max_body_size,
            }
        )
        if not isinstance(timeout, Timeout):
            timeout = DEFAULT_TIMEOUT.limited_to(timeout)
        self.shared_state: SharedState = shared_state if shared_state is not None else LocalState()
        self.shared_state.bind_account(key)
        # Retry and rate limiting are given to the session even when their policy is None: it
        # leaves them out of the chain then, and brings them in for a call (or a copy made by
        # `with_options`) that sets a policy of its own.
        self._session = Session(
            headers={API_KEY_HEADER: validation.header_value("api_key", key)},
            base_url=base_url,
            middlewares=middlewares,
            sdk_middlewares=(
                RetryMiddleware(retry, self.shared_state),
                RateLimitMiddleware(rate_limit, self.shared_state),
            ),
            attempt_middlewares=attempt_middlewares,
            inner_middlewares=(LoggingMiddleware(),),
            timeout=timeout,
            http=session,
            max_body_size=max_body_size,
            connection_limit=connection_limit,
        )
        self._bind()

    def _bind(self) -> None:
        self.calls = Calls(self._session)
        self.messages = Messages(self._session)
        self.permissions = Permissions(self._session, self.messages)
        self.settings = Settings(self._session)
        self.media = Media(self._session, self.shared_state)

    def with_options(self, **options: Unpack[CallOptions]) -> Client:
        """A copy of this client with other defaults for its calls (any of `CallOptions`).

        It is cheap (no new connection pool) and shares this client's pool, API key, shared
        state (429 gate, retry budget) and in-flight caps. Closing the copy closes nothing;
        closing this client ends the copies too. `middlewares=` and `attempt_middlewares=`
        replace this client's (`[*client.middlewares, extra]` to add one).
        """
        check_options(options)
        timeout = options.get("timeout")
        if timeout is not None and not isinstance(timeout, Timeout):
            timeout = self._session.timeout.limited_to(timeout)
        middlewares = options.get("middlewares")
        attempt_middlewares = options.get("attempt_middlewares")
        defaults: dict[str, Any] = {
            key: value for key, value in options.items() if key in ("retry", "rate_limit")
        }
        copy = object.__new__(Client)
        copy.shared_state = self.shared_state
        copy._session = self._session.derive(
            timeout=timeout,
            middlewares=middlewares,
            attempt_middlewares=attempt_middlewares,
            max_body_size=options.get("max_body_size"),
            options=defaults,
        )
        copy._bind()
        return copy

    @property
    def timeout(self) -> Timeout:
        """The default timeout of this client's calls."""
        return self._session.timeout

    @property
    def middlewares(self) -> tuple[Middleware, ...]:
        """Your middlewares around each whole call, outermost first."""
        return self._session.middlewares

    @property
    def attempt_middlewares(self) -> tuple[Middleware, ...]:
        """Your middlewares around each attempt, outermost first."""
        return self._session.attempt_middlewares

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return self._session.base_url

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key='***')"

    async def aclose(self) -> None:
        """Close the connections the client opened; calls after this fail."""
        await self._session.aclose()

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and session.owns_open_http:
            warnings.warn(
                f"{self!r} was not closed; use 'async with Client(...)' or 'await aclose()'",
                ResourceWarning,
                stacklevel=2,
            )
