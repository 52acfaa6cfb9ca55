"""The middleware protocol and `compose`, which nests a chain of middlewares into one handler."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from .request import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
"""What a middleware calls to pass the request on."""


class Middleware(Protocol):
    """Wraps every request: may change it, wait, retry, or turn the outcome into another.

    Given as `Client(middlewares=[...])` it runs once per call, around the retries; given as
    `Client(attempt_middlewares=[...])` once per attempt, inside the retry loop and after the
    rate limiter, where `request.attempt` and `request.waited` say which attempt it is:

        class Sign:
            deadline_safe = True

            async def __call__(self, request: Request, call_next: Handler) -> Response:
                stamp = sign(request.method, request.path, request.attempt)
                headers = {**request.headers, "X-Signature": stamp}
                return await call_next(attrs.evolve(request, headers=headers))

    Change a request with `attrs.evolve`, which keeps its deadline and its `sent_record`.
    A middleware that awaits nothing but `call_next` (no sleep, lock or I/O of its own) may say
    so with a class attribute `deadline_safe = True`: the SDK then needs no timer around it to
    keep the call's deadline (the SDK's own waits and each attempt already honour it).
    """

    async def __call__(self, request: Request, call_next: Handler) -> Response: ...


def deadline_safe(middlewares: Sequence[Middleware]) -> bool:
    """Whether every middleware declares that it awaits only `call_next`."""
    return all(getattr(middleware, "deadline_safe", False) is True for middleware in middlewares)


def _in_use(middleware: Middleware, options: Mapping[str, Any]) -> bool:
    """Whether an SDK middleware with a per-call `option` (retry, rate limit) has a policy for
    these options (the call's, else its own default); one without an `option` always runs."""
    option = getattr(middleware, "option", None)
    if option is None:
        return True
    return options.get(option, getattr(middleware, "policy", None)) is not None


def compose(middlewares: Sequence[Middleware], terminal: Handler) -> Handler:
    """`middlewares` (outermost first) around `terminal`, as one handler.

    A middleware with a `bind(call_next) -> Handler` method (the SDK's own) supplies its
    handler itself, which then costs no wrapper per request; any other is called as
    `middleware(request, call_next=...)`.
    """
    handler = terminal
    for middleware in reversed(middlewares):
        bind = getattr(middleware, "bind", None)
        if bind is not None:
            handler = bind(handler)
        else:
            handler = functools.partial(middleware, call_next=handler)
    return handler
