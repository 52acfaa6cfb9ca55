"""`Client`: the entry point; owns one `Session` and exposes the endpoint groups."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Final, Self

import aiohttp

from . import validation
from .endpoints import Calls, Messages, Permissions, Settings
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


class Client:
    """An async client for one 360dialog number (one API key).

    Use it as `async with Client(...) as client:` or close it with `await client.aclose()`.
    The API key comes from the argument or `$D360_API_KEY`. Pass `session=` to share an
    existing `aiohttp.ClientSession` (its pool); the SDK never changes or closes it.
    `connection_limit` caps pooled connections (`None`: no cap), while the in-flight cap of
    `RateLimitPolicy` queues calls inside the SDK. `retry` and `rate_limit` take policy
    objects, or `None` to switch them off; `middlewares` are yours, outermost first, wrapped
    around the SDK's own (retry → rate limit → logging → send, which adds the API key).
    `shared_state` holds the rate-limit gate and retry budget: in-process by default, or a
    `RedisState` shared by many workers.
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
        validation.integer("max_body_size", max_body_size, 1, 2**40)
        if not isinstance(timeout, Timeout):
            timeout = DEFAULT_TIMEOUT.limited_to(timeout)
        self.shared_state: SharedState = shared_state if shared_state is not None else LocalState()
        self.shared_state.bind_account(key)
        chain: list[Middleware] = list(middlewares)
        if retry is not None:
            chain.append(RetryMiddleware(retry, self.shared_state))
        if rate_limit is not None:
            chain.append(RateLimitMiddleware(rate_limit, self.shared_state))
        chain.append(LoggingMiddleware())
        self._session = Session(
            headers={API_KEY_HEADER: validation.header_value("api_key", key)},
            watch_deadline=bool(middlewares),
            base_url=base_url,
            middlewares=chain,
            timeout=timeout,
            http=session,
            max_body_size=max_body_size,
            connection_limit=connection_limit,
        )
        self.calls = Calls(self._session)
        self.messages = Messages(self._session)
        self.permissions = Permissions(self._session, self.messages)
        self.settings = Settings(self._session)

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return self._session.base_url

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key='***')"

    async def aclose(self) -> None:
        """Close the connections the client opened; calls after this fail."""
        await self._session.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and session.owns_open_http:
            warnings.warn(
                f"{self!r} was not closed; use 'async with Client(...)' or 'await aclose()'",
                ResourceWarning,
                stacklevel=2,
            )
