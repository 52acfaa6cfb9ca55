"""`Session`: the middleware chain, composed once, and each call dispatched through it.

The chain, outermost first: the user's middlewares (around the whole call), the SDK's (retry,
rate limit), the user's attempt middlewares (inside the retry loop), the inner ones (logging),
then the terminal send of the `Transport` it extends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import aiohttp
import attrs

from ..errors import D360Error
from .chain import Handler, Middleware, _in_use, compose, deadline_safe
from .failures import deadline_exceeded
from .request import DEFAULT_TIMEOUT, Request, Response, SentRecord, Timeout
from .transport import DEFAULT_BASE_URL, DEFAULT_MAX_BODY_SIZE, Transport

_NO_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType({})


class Session(Transport):
    """Owns the middleware chain and the aiohttp session; the client's one way to the API.

    The chain, outermost first: `middlewares` (around the whole call), `sdk_middlewares`
    (retry, rate limit), `attempt_middlewares` (around each attempt, inside the retry loop),
    `inner_middlewares` (logging), then the aiohttp send. It is composed once; an SDK
    middleware with an `option` name and a `policy` of None is left out. A call that brings
    its own `middlewares` or `attempt_middlewares`, or a policy for a middleware left out
    (in `Request.options`), gets a chain composed for it. A user-supplied
    `aiohttp.ClientSession` is used as is (its headers and base URL are never touched, and the
    SDK never closes it); otherwise one is made lazily inside the running loop. `derive`
    makes a copy with other defaults sharing the pool.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        middlewares: Sequence[Middleware] = (),
        timeout: Timeout = DEFAULT_TIMEOUT,
        http: aiohttp.ClientSession | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        connection_limit: int | None = 100,
        headers: Mapping[str, str] | None = None,
        attempt_middlewares: Sequence[Middleware] = (),
        sdk_middlewares: Sequence[Middleware] = (),
        inner_middlewares: Sequence[Middleware] = (),
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            http=http,
            max_body_size=max_body_size,
            connection_limit=connection_limit,
            headers=headers,
        )
        self.options: Mapping[str, Any] = _NO_OPTIONS
        """Defaults merged beneath each call's own options (a `derive`d session's)."""
        self._sdk = tuple(sdk_middlewares)
        self._inner = tuple(inner_middlewares)
        self._set_chain(tuple(middlewares), tuple(attempt_middlewares))

    def _set_chain(
        self, middlewares: tuple[Middleware, ...], attempt_middlewares: tuple[Middleware, ...]
    ) -> None:
        self.middlewares = middlewares
        self.attempt_middlewares = attempt_middlewares
        self.tracks_sends = bool(middlewares or attempt_middlewares)
        """Whether the chain has middlewares of the user's, which may read a request's
        `sent_record` (an endpoint builds one only then, or for a call with options)."""
        self._chain, self._watch_deadline = self._compose(
            middlewares, attempt_middlewares, self.options
        )
        # Options that would bring in an SDK middleware this chain leaves out (its policy is
        # None): a call that sets one gets a chain of its own.
        self._dormant = tuple(
            m.option for m in self._sdk if not _in_use(m, self.options) and hasattr(m, "option")
        )

    def _compose(
        self,
        middlewares: Sequence[Middleware],
        attempt_middlewares: Sequence[Middleware],
        options: Mapping[str, Any],
    ) -> tuple[Handler, bool]:
        """The chain with these user middlewares, and whether it needs a deadline timer.

        An SDK middleware whose policy is `None` for these options is left out (so `retry=None`
        costs no frame). The SDK's own middlewares honour the deadline at each wait (gate,
        in-flight cap, backoff) and the terminal caps each attempt by it, so a timer per
        request is only needed around user middlewares that may wait on their own.
        """
        sdk = [m for m in self._sdk if _in_use(m, options)]
        chain = [*middlewares, *sdk, *attempt_middlewares, *self._inner]
        watch = not deadline_safe(middlewares) or not deadline_safe(attempt_middlewares)
        return compose(chain, self._send), watch

    def _own_chain(self, options: Mapping[str, Any]) -> bool:
        """Whether a call with these options needs a chain other than the session's."""
        if "middlewares" in options or "attempt_middlewares" in options:
            return True
        return any(options.get(name) is not None for name in self._dormant)

    def derive(
        self,
        *,
        timeout: Timeout | None = None,
        middlewares: Sequence[Middleware] | None = None,
        attempt_middlewares: Sequence[Middleware] | None = None,
        max_body_size: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Session:
        """A copy with other defaults that shares this session's pool, headers and SDK
        middlewares (so their gate, limiters and budget); closing it closes nothing."""
        copy = object.__new__(Session)
        copy.__dict__.update(self.__dict__)
        copy._owner = False
        if timeout is not None:
            copy._set_timeout(timeout)
        if max_body_size is not None:
            copy.max_body_size = max_body_size
        if options:
            copy.options = MappingProxyType({**self.options, **options})
        copy._set_chain(
            self.middlewares if middlewares is None else tuple(middlewares),
            self.attempt_middlewares if attempt_middlewares is None else tuple(attempt_middlewares),
        )
        return copy

    async def send(self, request: Request) -> Response:
        """Run `request` through the chain within its overall deadline."""
        self.now()  # the running loop's clock for the attempts (an endpoint's request found it)
        return await self.dispatch(request)

    def dispatch(self, request: Request) -> Awaitable[Response]:
        """What `send` awaits: the chain's awaitable for `request` (one frame fewer, for the
        endpoints; raises at once if the client is closed)."""
        if self._pool.closed:
            raise D360Error("the client is closed", operation=request.operation)
        timeout = request.timeout
        if timeout is None or request.deadline is None:
            timeout = timeout or self.timeout
            deadline = self.now() + timeout.total
            request = attrs.evolve(request, timeout=timeout, deadline=deadline)
        record = request.sent_record
        if record is not None and record.sent:  # a request passed to `send` again
            request = attrs.evolve(request, sent_record=SentRecord())
        options = request.options
        if options and self._own_chain(options):
            chain, watch = self._compose(
                options.get("middlewares", self.middlewares),
                options.get("attempt_middlewares", self.attempt_middlewares),
                options,
            )
            if watch:
                return self._watched(chain, request)
            return chain(request)
        if self._watch_deadline:
            return self._watched(self._chain, request)
        return self._chain(request)

    async def _watched(self, chain: Handler, request: Request) -> Response:
        """`chain(request)` under a timer for the call's deadline (for user middlewares that
        may wait on their own)."""
        record = request.sent_record
        try:
            async with asyncio.timeout_at(request.deadline) as scope:
                return await chain(request)
        except TimeoutError as exc:
            if isinstance(exc, D360Error) or not scope.expired():
                raise
            sent = record is not None and record.sent
            raise deadline_exceeded(request, request_sent=sent) from None
