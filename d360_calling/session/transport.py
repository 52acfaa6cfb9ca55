"""The connection pool and the terminal send: one HTTP attempt with aiohttp, read under a cap.

`Transport` owns the aiohttp session (made lazily inside the running loop unless the user
supplied one, which is used as is and never closed), the headers sent with every request and
the per-attempt timeout; `Session` builds the middleware chain on top of it. Everything but a
2xx answer leaves `_send` as a typed `D360Error` (see `failures`). A request with a `sink`
has its 2xx body streamed to it in chunks (downloads); one with a `target` goes to that hidden
path, and its errors are cleaned of the target's hidden strings.
"""

from __future__ import annotations

import asyncio
import math
import time
from asyncio import get_running_loop
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .. import jsonutil
from ..errors import D360Error, TransportError
from ..transient import NEVER_SENT
from .failures import _answer_error, _transport_error, deadline_exceeded, hide, unreadable_answer
from .request import BodySink, Request, Response, Timeout, new_response

DEFAULT_BASE_URL: Final = "https://waba-v2.360dialog.io"
API_KEY_HEADER: Final = "D360-API-KEY"
DEFAULT_MAX_BODY_SIZE: Final = 4 * 1024 * 1024
"""Responses larger than this fail with `ResponseDecodeError` (aiohttp itself has no cap)."""


class _Pool:
    """The aiohttp session, the loop it runs in and whether it is closed: shared by a session
    and its copies."""

    __slots__ = ("clock", "closed", "connection_limit", "http", "loop", "owned", "timeout")

    def __init__(self, http: aiohttp.ClientSession | None, connection_limit: int | None) -> None:
        self.http = http
        self.owned = http is None
        self.connection_limit = connection_limit
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        """The running loop the pool last found (see `Transport.now`)."""
        self.clock: Callable[[], float] = time.monotonic
        """That loop's clock: `time.monotonic` itself when that is all its `time()` is (asyncio's
        own loops), a C call instead of two methods."""
        self.timeout: aiohttp.ClientTimeout | None = None
        """The attempt timeout the SDK's own aiohttp session was made with (its default, so
        an attempt with that timeout need not pass it); `None` for a user's session."""


class Transport:
    """The pool, the headers sent with every request and the terminal handler (`_send`).

    Shared by a `Session` and its `derive`d copies, which copy its attributes: only the one
    that made the pool (the owner) closes it, and never an aiohttp session the user supplied.
    """

    def __init__(
        self,
        *,
        base_url: str,
        timeout: Timeout,
        http: aiohttp.ClientSession | None,
        max_body_size: int,
        connection_limit: int | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Sent with every request beneath its own headers (the API key): merged here, once,
        # instead of by a middleware that would copy the request on every call.
        self._headers: dict[str, str] = dict(headers or {})
        # Handed to aiohttp as they are: a multidict skips its conversion of a plain dict.
        self._sent_headers = CIMultiDictProxy(CIMultiDict(self._headers))
        self._json_headers = CIMultiDictProxy(
            CIMultiDict({**self._headers, "Content-Type": "application/json"})
        )
        self.max_body_size = max_body_size
        self._pool = _Pool(http, connection_limit)
        self._owner = True
        self._set_timeout(timeout)

    def _set_timeout(self, timeout: Timeout) -> None:
        self.timeout = timeout
        # Only the default is kept: a per-call timeout (often "whatever budget is left") would
        # add an entry per call to any cache keyed by it.
        self._default_attempt_timeout = (timeout, _client_timeout(timeout))

    @property
    def closed(self) -> bool:
        """Whether `aclose()` was called (on this session or the one it was derived from)."""
        return self._pool.closed

    @property
    def owns_open_http(self) -> bool:
        """Whether this session made an aiohttp session that is still open (copies never do)."""
        pool = self._pool
        return self._owner and pool.owned and pool.http is not None and not pool.http.closed

    @property
    def _http(self) -> aiohttp.ClientSession | None:
        return self._pool.http

    def now(self) -> float:
        """The event loop's time. The pool keeps the loop it runs in, looked up again only
        when that loop is no longer running (a client used in a later loop): on Python 3.11
        `asyncio.get_running_loop()` checks the process id with a `getpid` system call, which
        under load costs more than the rest of building a request. Every call asks this first
        (an endpoint building its request, or `send`), so the attempts read the clock kept."""
        pool = self._pool
        loop = pool.loop
        if loop is None or not loop.is_running():
            loop = pool.loop = get_running_loop()
            own = type(loop).time is asyncio.BaseEventLoop.time
            pool.clock = time.monotonic if own else loop.time
        return pool.clock()

    def _client(self) -> aiohttp.ClientSession:
        pool = self._pool
        if pool.http is None:
            pool.timeout = self._default_attempt_timeout[1]
            pool.http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=pool.connection_limit or 0),
                timeout=pool.timeout,
            )
        return pool.http

    def _attempt_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for one attempt: prebuilt for the session's default, else new."""
        default, built = self._default_attempt_timeout
        if timeout is default or timeout == default:
            return built
        return _client_timeout(timeout)

    async def _send(self, request: Request) -> Response:
        """The terminal handler: one HTTP attempt; typed errors for everything but 2xx."""
        pool = self._pool
        if pool.closed:
            raise D360Error("the client is closed", operation=request.operation)
        http = pool.http if pool.http is not None else self._client()
        clock = pool.clock
        data = None
        headers: Mapping[str, str]
        if request.json is not None:
            data = jsonutil.dumps(request.json)
            headers = self._json_headers
        else:
            headers = self._sent_headers
        if request.headers:
            headers = {**request.headers, **headers}
        started = clock()
        timeout = request.timeout or self.timeout
        default, attempt_timeout = self._default_attempt_timeout
        if timeout is not default and timeout != default:
            attempt_timeout = _client_timeout(timeout)
        capped = False
        deadline = request.deadline
        if deadline is not None and deadline - started < timeout.attempt:
            remaining = deadline - started
            if remaining <= 0:
                raise deadline_exceeded(request, request_sent=False)
            capped = True
            attempt_timeout = aiohttp.ClientTimeout(
                total=remaining,
                sock_connect=min(timeout.connect, remaining),
                ceil_threshold=_NEVER_ROUND,
            )
        cap = self.max_body_size
        if request.options:
            cap = request.options.get("max_body_size", cap)
        record = request.sent_record
        if record is not None:
            sent_before, record.sent = record.sent, True
        target = request.target
        url: str | URL = self.base_url + request.path
        if target is not None:
            url = URL(self.base_url + target.path, encoded=True)
        sink = request.sink
        # Only what differs from aiohttp's defaults: each keyword costs aiohttp a lookup.
        sent: dict[str, Any] = {"headers": headers, "allow_redirects": False}
        if attempt_timeout is not pool.timeout:
            sent["timeout"] = attempt_timeout
        if data is not None:
            sent["data"] = data
        if request.query is not None and target is None:
            sent["params"] = request.query
        if not pool.owned:
            sent["raise_for_status"] = False  # a user's session may raise; the SDK types errors
        try:
            async with http.request(request.method, url, **sent) as raw:
                status, response_headers = raw.status, raw.headers
                length = raw.content_length
                if sink is not None and 200 <= status < 300:
                    body = await _stream(raw, sink)
                elif length is not None and length <= cap and "Content-Encoding" not in raw.headers:
                    body = await raw.read()
                else:
                    body = await self._read(raw, request, cap)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure: TransportError | None = _transport_error(exc, request)
            if capped and isinstance(exc, TimeoutError):
                failure = deadline_exceeded(request, request_sent=not isinstance(exc, NEVER_SENT))
        except RuntimeError as exc:  # a user's aiohttp session closed under us
            failure = TransportError(
                f"cannot send: {exc}",
                operation=request.operation,
                request_sent=False,
                transient=False,
            )
        else:
            failure = None
        if failure is not None:
            if record is not None and not failure.request_sent:
                record.sent = sent_before  # this attempt provably never left
            # Raised outside the except block so no aiohttp error rides along as __context__:
            # its repr can show request headers, the API key among them.
            raise failure if target is None else hide(failure, target.hidden)
        if not 200 <= status < 300:
            error = _answer_error(request, status, response_headers, body)
            raise error if target is None else hide(error, target.hidden)
        return new_response(status, response_headers, body, request.attempt, clock() - started)

    async def _read(
        self, raw: aiohttp.ClientResponse, request: Request, cap: int | None = None
    ) -> bytes:
        """The body, in chunks, failing once it passes `cap` (the call's `max_body_size`)."""
        if cap is None:
            cap = self.max_body_size
            if request.options:
                cap = request.options.get("max_body_size", cap)
        length = raw.content_length
        if length is not None and length <= cap and "Content-Encoding" not in raw.headers:
            return await raw.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in raw.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:
                raw.close()
                raise unreadable_answer(request, raw.status, f"body larger than {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the aiohttp session if the SDK made it; idempotent. On a `derive`d copy this
        does nothing: the pool belongs to the session it was derived from."""
        if not self._owner:
            return
        pool = self._pool
        pool.closed = True
        if pool.owned and pool.http is not None and not pool.http.closed:
            await pool.http.close()


STREAM_CHUNK: Final = 64 * 1024
"""The most bytes a `BodySink` is handed at once."""


async def _stream(raw: aiohttp.ClientResponse, sink: BodySink) -> bytes:
    """A 2xx body handed to `sink` chunk by chunk (never held whole); the `Response` then has
    an empty body."""
    await sink.begin(raw.headers)
    async for chunk in raw.content.iter_chunked(STREAM_CHUNK):
        await sink.write(chunk)
    return b""


_NEVER_ROUND: Final = math.inf
"""aiohttp rounds a timeout of 5 s or more up to the next whole second of loop time (its
`ceil_threshold`, to batch timer wake-ups): `attempt=5.2` fired at up to 6.2 s. Without user
middlewares aiohttp's timer is all that enforces an attempt (and a deadline that caps it), so
the SDK's timeouts are never rounded."""


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=timeout.attempt,
        sock_connect=min(timeout.connect, timeout.attempt),
        ceil_threshold=_NEVER_ROUND,
    )
