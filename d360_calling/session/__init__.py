"""The session layer: `Request`/`Response`, the `Middleware` protocol and the aiohttp send.

The middleware chain is composed once, when the session is made; each request then runs
straight through it to the terminal handler, which sends with aiohttp and reads the body
under a size cap. Middlewares have two places: around the whole call (outside retries) and
around each attempt (inside the retry loop, after the rate limiter); an empty place adds
nothing to the chain. Non-2xx answers and transport failures leave the terminal handler as
typed `D360Error`s, so middlewares (retry, rate limit) see one kind of failure.

- `request`: the values on the chain (`Request`, `Response`, `Timeout`, `SentRecord`).
- `chain`: the `Middleware` protocol and `compose`.
- `transport`: the pool and the terminal send (`Transport`).
- `failures`: aiohttp failures, non-2xx answers and deadlines as typed errors.
- `session`: `Session`, which composes the chain over a `Transport` and dispatches calls.
"""

from .chain import Handler, Middleware, compose, deadline_safe
from .failures import deadline_exceeded, unreadable_answer
from .request import (
    DEFAULT_TIMEOUT,
    SECRET_BODY_FIELDS,
    SECRET_HEADERS,
    Request,
    Response,
    SentRecord,
    Timeout,
    new_request,
    new_response,
)
from .session import Session
from .transport import API_KEY_HEADER, DEFAULT_BASE_URL, DEFAULT_MAX_BODY_SIZE, Transport

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "SECRET_BODY_FIELDS",
    "SECRET_HEADERS",
    "Handler",
    "Middleware",
    "Request",
    "Response",
    "SentRecord",
    "Session",
    "Timeout",
    "Transport",
    "compose",
    "deadline_exceeded",
    "deadline_safe",
    "new_request",
    "new_response",
    "unreadable_answer",
]
