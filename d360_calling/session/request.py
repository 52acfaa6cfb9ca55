"""The values that travel the middleware chain: `Request`, `Response`, `Timeout`, `SentRecord`,
and for downloads a `Target` (a path kept out of logs) and a `BodySink` (a body in chunks).

They are small frozen attrs objects. A `Request`'s repr masks secret headers and the body's
secrets (SIP passwords, SDP); `new_request` and `new_response` build them for the hot path
with plain slot stores (see `_builder`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Protocol

import attrs

from ..errors import ValidationError

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

NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})
"""The headers of a request without headers of its own (read-only: change them with
`attrs.evolve(request, headers={**request.headers, ...})`)."""


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


@attrs.frozen
class Target:
    """Where a request really goes when its path or query must stay out of reprs, logs, spans
    and error texts (a media id, a signed download URL). `Request.path` is then a template
    such as `/{media_id}`, which is all the middlewares record; the terminal send uses `path`
    here (encoded path and query, sent as is), and every string of `hidden` found in an error's
    text is replaced by `***`."""

    path: str = attrs.field(repr=False)
    hidden: tuple[str, ...] = attrs.field(default=(), repr=False)


class BodySink(Protocol):
    """Takes a 2xx answer's body in chunks instead of the `Response` holding it (a download).

    The terminal send calls `begin` when an attempt's 2xx answer arrives (drop what an earlier
    attempt wrote: a retried download starts over), then `write` per chunk; memory stays
    bounded by the chunk size. An error the sink raises ends the attempt; make it a
    `D360Error`. The middlewares see a `Response` with an empty body.
    """

    async def begin(self, headers: Mapping[str, str]) -> None: ...

    async def write(self, chunk: bytes) -> None: ...


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


@attrs.frozen(weakref_slot=False)
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
    sent_record: SentRecord | None = attrs.field(
        factory=SentRecord, eq=False, hash=False, repr=False
    )
    """Whether the call went out, marked by the terminal handler. `attrs.evolve` carries it to
    every copy; a middleware that builds a new `Request` instead must pass it on. `None` on a
    request an endpoint built for a chain without middlewares of the user's, where nothing
    reads it (a call that brings its own middlewares gets one)."""
    target: Target | None = attrs.field(default=None, repr=False)
    """Where the request really goes when `path` is only a template (media ids and download
    URLs are kept out of reprs, logs and spans); `None`: to `path` and `query`."""
    sink: BodySink | None = attrs.field(default=None, eq=False, hash=False, repr=False)
    """Where a 2xx answer's body is streamed instead of being read into the `Response`."""

    def remaining(self) -> float | None:
        """Seconds left before the overall deadline, or `None` if there is none."""
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()


@attrs.frozen(weakref_slot=False)
class Response:
    """A 2xx answer: status, headers, the whole body, and which attempt produced it."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")
    attempt: int = 1
    elapsed: float = 0.0


def _builder(cls: type, positional: Sequence[str], fixed: Mapping[str, str]) -> Any:
    """A constructor for a frozen, slotted attrs class without converters, validators, post-init
    or weakref slot (so its `__init__` only stores values), for the SDK's own per-request
    objects. `positional` are its parameters; `fixed` maps every other field to the expression
    `__init__` would use for its default.

    A frozen class refuses plain attribute stores, so its `__init__` stores each value through
    a method call (`object.__setattr__`), and so would a call to each slot's `__set__`. The
    constructor is instead the `__init__` of a mutable twin: a class with the same slots, whose
    stores are the interpreter's plain slot stores, and which then turns the object into `cls`
    (`__class__` may be reassigned between classes of the same layout). For a `Request` that
    halves the cost of building it."""
    fields = attrs.fields(cls)
    assert {f.name for f in fields} == {*positional, *fixed}
    assert all(f.converter is None and f.validator is None and f.init for f in fields)
    assert not hasattr(cls, "__attrs_post_init__")
    slots = cls.__dict__["__slots__"]
    assert set(slots) == {f.name for f in fields}  # no __weakref__ slot
    lines = [f"def __init__(self, {', '.join(positional)}):"]
    lines += [f"    self.{f.name} = {fixed.get(f.name, f.name)}" for f in fields]
    lines.append("    self.__class__ = cls")
    names: dict[str, Any] = {"cls": cls, "NO_HEADERS": NO_HEADERS}
    exec("\n".join(lines), names)  # noqa: S102 - generated from the class's own fields
    return type(f"_{cls.__name__}Twin", (), {"__slots__": slots, "__init__": names["__init__"]})


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
        SentRecord | None,
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
        "sent_record",
    ),
    {
        "headers": "NO_HEADERS",
        "attempt": "1",
        "waited": "0.0",
        "target": "None",
        "sink": "None",
    },
)
"""`Request(method, path, operation, json=..., query=..., idempotent=..., timeout=...,
deadline=..., options=..., base_url=..., sent_record=...)` with the other fields at their
defaults, but for no headers `NO_HEADERS` (read-only, so one serves every request) instead of
a fresh dict: built for the endpoints' hot path."""

new_response: Callable[[int, Mapping[str, str], bytes, int, float], Response] = _builder(
    Response, ("status", "headers", "body", "attempt", "elapsed"), {}
)
"""`Response(status, headers, body, attempt, elapsed)`, built for the terminal handler."""
