"""The session layer: `Request`/`Response`, the `Middleware` protocol and the aiohttp send.

The middleware chain is composed once, when the session is made; each request then runs
straight through it to the terminal handler, which sends with aiohttp and reads the body
under a size cap. Middlewares have two places: around the whole call (outside retries) and
around each attempt (inside the retry loop, after the rate limiter); an empty place adds
nothing to the chain. Non-2xx answers and transport failures leave the terminal handler as
typed `D360Error`s, so middlewares (retry, rate limit) see one kind of failure.

Downloads take the same chain and the same pool, key, timeouts and deadline: a request with a
`sink` has its 2xx body streamed into it (memory bounded by the chunk), and every middleware
sees a `Response` with an empty body; a retried attempt starts the sink over.

- `request`: the values on the chain (`Request`, `Response`, `Timeout`, `SentRecord`), and for
  downloads `Target` (a path kept out of logs and spans) and `BodySink` (a body in chunks).
- `chain`: the `Middleware` protocol and `compose`.
- `transport`: the pool and the terminal send (`Transport`).
- `failures`: aiohttp failures, non-2xx answers and deadlines as typed errors.
- `session`: `Session`, which composes the chain over a `Transport` and dispatches calls.
"""

from .chain import Handler, Middleware, compose, deadline_safe
from .failures import deadline_exceeded, hide, unreadable_answer
from .request import (
    DEFAULT_TIMEOUT,
    SECRET_BODY_FIELDS,
    SECRET_HEADERS,
    BodySink,
    Request,
    Response,
    SentRecord,
    Target,
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
    "BodySink",
    "Handler",
    "Middleware",
    "Request",
    "Response",
    "SentRecord",
    "Session",
    "Target",
    "Timeout",
    "Transport",
    "compose",
    "deadline_exceeded",
    "deadline_safe",
    "hide",
    "new_request",
    "new_response",
    "unreadable_answer",
]
