"""The session layer: `Request`/`Response`, the `Middleware` protocol and the aiohttp send.

The middleware chain is composed once, when the session is made; each request then runs
straight through it to the terminal handler, which sends with aiohttp and reads the body
under a size cap. Middlewares have two places: around the whole call (outside retries) and
around each attempt (inside the retry loop, after the rate limiter); an empty place adds
nothing to the chain. Non-2xx answers and transport failures leave the terminal handler as
typed `D360Error`s, so middlewares (retry, rate limit) see one kind of failure.
"""

from __future__ import annotations

import asyncio
import functools
import math
from asyncio import get_running_loop
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Protocol

import aiohttp
import attrs

from . import jsonutil
from .error_mapping import api_error
from .errors import (
    D360Error,
    OutcomeUnknownError,
    RequestTimeoutError,
    ResponseDecodeError,
    TransportError,
    ValidationError,
)
from .transient import DEFINITE_FAILURE_CODES, MAY_HAVE_BEEN_SENT, NEVER_SENT, NEVER_TRANSIENT

DEFAULT_BASE_URL: Final = "https://waba-v2.360dialog.io"
API_KEY_HEADER: Final = "D360-API-KEY"
DEFAULT_MAX_BODY_SIZE: Final = 4 * 1024 * 1024
"""Responses larger than this fail with `ResponseDecodeError` (aiohttp itself has no cap)."""

SECRET_HEADERS: Final = frozenset({"d360-api-key", "authorization"})
SECRET_BODY_FIELDS: Final = frozenset({"sip_user_password", "password", "sdp"})
"""Body keys whose values a `Request`'s repr masks at any depth: SIP passwords (both spellings
of the settings API) and SDP, whose ICE password and keys let others join the call's media."""


@attrs.frozen
class Timeout:
    """How long a call may take: `total` covers every wait (gate, backoff, all attempts)."""

    total: float = 30.0
    attempt: float = 10.0
    connect: float = 5.0

    def __attrs_post_init__(self) -> None:
        for name in ("total", "attempt", "connect"):
            value = getattr(self, name)
            invalid = isinstance(value, bool) or not isinstance(value, int | float)
            if invalid or not math.isfinite(value) or not value > 0:
                raise ValidationError("timeout", f"{name} must be a positive number, got {value!r}")

    def limited_to(self, total: float) -> Timeout:
        """This timeout with the whole call limited to `total` seconds (attempts no longer)."""
        return Timeout(total=total, attempt=min(self.attempt, total), connect=self.connect)


DEFAULT_TIMEOUT: Final = Timeout()


class SentRecord:
    """Whether any attempt of one call went out; shared by every copy of its `Request`.

    The terminal handler marks it as a request leaves, so a deadline that passes while the call
    only waited (gate, in-flight cap, backoff, a user middleware) reports it as never sent. It
    rides on the request rather than in a context variable, which a middleware that runs the
    rest of the chain in another task (`wait_for`, `shield`, `create_task`) would hide.
    """

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


def _masked_headers(headers: Mapping[str, str]) -> str:
    shown = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
    return repr(shown)


def _masked(value: Any) -> Any:
    """`value` with the `SECRET_BODY_FIELDS` of every object in it replaced by `***`."""
    if isinstance(value, Mapping):
        return {k: "***" if k in SECRET_BODY_FIELDS else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def _masked_body(body: Any) -> str:
    return repr(_masked(body))


@attrs.frozen
class Request:
    """One API call as the middleware chain sees it; secret headers and the body's secrets
    (SIP passwords, SDP) are masked in the repr."""

    method: str
    path: str
    operation: str
    json: Any = attrs.field(default=None, repr=_masked_body)
    query: Mapping[str, str] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=_masked_headers)
    idempotent: bool = True
    """Whether sending twice is harmless (false for `calls.connect`, which rings again)."""
    timeout: Timeout | None = None
    deadline: float | None = None
    """The loop time at which the call's overall deadline passes; set by `Session.send`."""
    attempt: int = 1
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """The call's options that differ from the client's (`"retry"`, `"rate_limit"`, ...): what a
    middleware reads before its own default (`request.options.get("retry", self.policy)`)."""
    waited: float = 0.0
    """Seconds the retry middleware waited before this attempt (0 for the first)."""
    base_url: str = ""
    """The base URL the session sends this request to (set by the client; for middlewares that
    sign or trace the URL: changing it does not redirect the request)."""
    sent_record: SentRecord = attrs.field(factory=SentRecord, eq=False, hash=False, repr=False)
    """Whether the call went out, marked by the terminal handler. `attrs.evolve` carries it to
    every copy; a middleware that builds a new `Request` instead must pass it on."""

    def remaining(self) -> float | None:
        """Seconds left before the overall deadline, or `None` if there is none."""
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()


@attrs.frozen
class Response:
    """A 2xx answer: status, headers, the whole body, and which attempt produced it."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")
    attempt: int = 1
    elapsed: float = 0.0


Handler = Callable[[Request], Awaitable[Response]]
"""What a middleware calls to pass the request on."""


def _builder(cls: type, positional: Sequence[str], fixed: Mapping[str, str]) -> Any:
    """A constructor for a frozen, slotted attrs class without converters, validators or
    post-init (so its `__init__` only stores values): it stores the same values through the
    slots directly, which is cheaper than `__init__`'s generic `object.__setattr__` per field.
    `positional` are its parameters; `fixed` maps every other field to the expression
    `__init__` would use for its default. For the SDK's own per-request objects only."""
    names: dict[str, Any] = {"new": object.__new__, "cls": cls, "SentRecord": SentRecord}
    fields = attrs.fields(cls)
    assert {f.name for f in fields} == {*positional, *fixed}
    assert all(f.converter is None and f.validator is None and f.init for f in fields)
    assert not hasattr(cls, "__attrs_post_init__")
    assert "__slots__" in cls.__dict__
    lines = [f"def build({', '.join(positional)}):", "    i = new(cls)"]
    for n, field in enumerate(fields):
        names[f"set{n}"] = cls.__dict__[field.name].__set__
        lines.append(f"    set{n}(i, {fixed.get(field.name, field.name)})")
    lines.append("    return i")
    exec("\n".join(lines), names)  # noqa: S102 - generated from the class's own fields
    return names["build"]


new_request: Callable[
    [
        str,
        str,
        str,
        Any,
        Mapping[str, str] | None,
        bool,
        Timeout | None,
        float | None,
        Mapping[str, Any],
        str,
    ],
    Request,
] = _builder(
    Request,
    (
        "method",
        "path",
        "operation",
        "json",
        "query",
        "idempotent",
        "timeout",
        "deadline",
        "options",
        "base_url",
    ),
    {"headers": "{}", "attempt": "1", "waited": "0.0", "sent_record": "SentRecord()"},
)
"""`Request(method, path, operation, json=..., query=..., idempotent=..., timeout=...,
deadline=..., options=..., base_url=...)` with the other fields at their defaults (a fresh
headers dict and `SentRecord`), built for the endpoints' hot path."""

new_response: Callable[[int, Mapping[str, str], bytes, int, float], Response] = _builder(
    Response, ("status", "headers", "body", "attempt", "elapsed"), {}
)
"""`Response(status, headers, body, attempt, elapsed)`, built for the terminal handler."""


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


class _Pool:
    """The aiohttp session, the loop it runs in and whether it is closed: shared by a session
    and its copies."""

    __slots__ = ("closed", "connection_limit", "http", "loop", "owned")

    def __init__(self, http: aiohttp.ClientSession | None, connection_limit: int | None) -> None:
        self.http = http
        self.owned = http is None
        self.connection_limit = connection_limit
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        """The running loop the pool last found (see `Session.now`)."""


_NO_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType({})


class Session:
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
        self.base_url = base_url.rstrip("/")
        # Sent with every request beneath its own headers (the API key): merged here, once,
        # instead of by a middleware that would copy the request on every call.
        self._headers: dict[str, str] = dict(headers or {})
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self.max_body_size = max_body_size
        self._pool = _Pool(http, connection_limit)
        self._owner = True
        self.options: Mapping[str, Any] = _NO_OPTIONS
        """Defaults merged beneath each call's own options (a `derive`d session's)."""
        self._sdk = tuple(sdk_middlewares)
        self._inner = tuple(inner_middlewares)
        self._set_timeout(timeout)
        self._set_chain(tuple(middlewares), tuple(attempt_middlewares))

    def _set_timeout(self, timeout: Timeout) -> None:
        self.timeout = timeout
        # Only the default is kept: a per-call timeout (often "whatever budget is left") would
        # add an entry per call to any cache keyed by it.
        self._default_attempt_timeout = (timeout, _client_timeout(timeout))

    def _set_chain(
        self, middlewares: tuple[Middleware, ...], attempt_middlewares: tuple[Middleware, ...]
    ) -> None:
        self.middlewares = middlewares
        self.attempt_middlewares = attempt_middlewares
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
        under load costs more than the rest of building a request."""
        return self._loop().time()

    def _loop(self) -> asyncio.AbstractEventLoop:
        pool = self._pool
        loop = pool.loop
        if loop is None or not loop.is_running():
            loop = pool.loop = get_running_loop()
        return loop

    async def send(self, request: Request) -> Response:
        """Run `request` through the chain within its overall deadline."""
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
        if request.sent_record.sent:  # a request passed to `send` again: nothing sent yet
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
            raise deadline_exceeded(request, request_sent=record.sent) from None

    def _client(self) -> aiohttp.ClientSession:
        pool = self._pool
        if pool.http is None:
            pool.http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=pool.connection_limit or 0),
                raise_for_status=False,
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
        loop = self._loop()
        data = None
        if request.json is not None:
            data = jsonutil.dumps(request.json)
            headers = self._json_headers
        else:
            headers = self._headers
        if request.headers:
            headers = {**request.headers, **headers}
        started = loop.time()
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
        sent_before, record.sent = record.sent, True
        try:
            async with http.request(
                request.method,
                self.base_url + request.path,
                params=request.query,
                data=data,
                headers=headers,
                timeout=attempt_timeout,
                allow_redirects=False,
                raise_for_status=False,
            ) as raw:
                status, response_headers = raw.status, raw.headers
                length = raw.content_length
                if length is not None and length <= cap and "Content-Encoding" not in raw.headers:
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
            if not failure.request_sent:
                record.sent = sent_before  # this attempt provably never left
            # Raised outside the except block so no aiohttp error rides along as __context__:
            # its repr can show request headers, the API key among them.
            raise failure
        if not 200 <= status < 300:
            raise _answer_error(request, status, response_headers, body)
        return new_response(status, response_headers, body, request.attempt, loop.time() - started)

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


def _transport_error(exc: BaseException, request: Request) -> TransportError:
    """Map an aiohttp failure to a typed error, keeping only its safe `str()`, never its repr.

    A request that is not safe to send twice and may have reached the server becomes
    `OutcomeUnknownError`, so nothing resends it and the caller reconciles by webhook.
    """
    operation = request.operation
    if isinstance(exc, NEVER_TRANSIENT):
        return TransportError(
            f"TLS failure: {exc}", operation=operation, request_sent=False, transient=False
        )
    if isinstance(exc, NEVER_SENT):
        if isinstance(exc, TimeoutError):
            return RequestTimeoutError("connect timed out", operation=operation, request_sent=False)
        return TransportError(f"cannot connect: {exc}", operation=operation, request_sent=False)
    if not isinstance(exc, MAY_HAVE_BEEN_SENT):
        return TransportError(
            f"{type(exc).__name__}: {exc}", operation=operation, request_sent=False, transient=False
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        reason = "server disconnected"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        reason = f"truncated response: {exc}"
    elif isinstance(exc, TimeoutError):
        reason = "read timed out"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    if not request.idempotent:
        return OutcomeUnknownError(
            f"{reason}; the request may have reached the API, so it is not resent",
            operation=operation,
            to=_recipient(request),
        )
    if isinstance(exc, TimeoutError):
        return RequestTimeoutError(reason, operation=operation, request_sent=True)
    return TransportError(reason, operation=operation, request_sent=True)


def _answer_error(
    request: Request, status: int, headers: Mapping[str, str], body: bytes
) -> D360Error:
    """The typed error for a non-2xx answer. A 5xx to a request that must not be sent twice
    (`connect`, a message) may have come after the API acted, unless its code says the call
    failed, so it is `OutcomeUnknownError` (caused by the API's error)."""
    error = api_error(request.operation, status, headers, body)
    if status < 500 or request.idempotent or error.code in DEFINITE_FAILURE_CODES:
        return error
    detail = str(error).removeprefix(f"{request.operation}: ")
    unknown = OutcomeUnknownError(
        f"{detail}; the API may have acted before failing, so it is not resent",
        operation=request.operation,
        to=_recipient(request),
    )
    unknown.__cause__ = error
    return unknown


def unreadable_answer(request: Request, status: int, reason: str) -> D360Error:
    """The error for an answer that cannot be read: `ResponseDecodeError`, or, when the API
    accepted a request that must not be sent twice (a 2xx to `connect`), `OutcomeUnknownError`:
    the call may be ringing, so the caller must reconcile by webhook, not try again."""
    if 200 <= status < 300 and not request.idempotent:
        return OutcomeUnknownError(
            f"the API answered HTTP {status} but the answer cannot be read ({reason}); "
            "it acted on the request, so it is not resent",
            operation=request.operation,
            to=_recipient(request),
        )
    return ResponseDecodeError(f"response {reason}", operation=request.operation, status=status)


def deadline_exceeded(request: Request, *, request_sent: bool) -> TransportError:
    """The error for a call whose overall deadline passed (`OutcomeUnknownError` when a
    request that must not be sent twice may have reached the API)."""
    total = (request.timeout or DEFAULT_TIMEOUT).total
    message = f"deadline of {total:g}s exceeded"
    if request_sent and not request.idempotent:
        return OutcomeUnknownError(
            f"{message}; the request may have reached the API, so it is not resent",
            operation=request.operation,
            to=_recipient(request),
        )
    return RequestTimeoutError(
        message, operation=request.operation, request_sent=request_sent, transient=False
    )


def _recipient(request: Request) -> str | None:
    body = request.json
    to = body.get("to") if isinstance(body, dict) else None
    return to if isinstance(to, str) else None
