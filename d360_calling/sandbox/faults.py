"""Fault injection: scripted and seeded-random failures, so clients prove their retry rules.

A fault replaces or corrupts one answer. Kinds and whether the request's side effect happens:

=============  ==================================================================  ======
kind           what the client sees                                                effect
=============  ==================================================================  ======
status         an HTTP error (Meta or 360dialog body, optional retry headers)      no
latency        the normal answer, `seconds` late                                   yes
reset_before   the connection aborted before the request is processed              no
reset_after    the connection aborted after the request was applied                yes
truncated      the real answer cut short (Content-Length larger than the bytes)    yes
non_json       an HTML 503 page from the edge (API reference, §5.4)                no
huge           a 200 body of `size` bytes in place of the real answer              yes
nested         a 200 body of `depth` nested JSON arrays in place of the answer     yes
slow_body      the real answer, its bytes trickled out over `seconds`              yes
first_byte     the request applied at once, the answer's headers `seconds` late    yes
stale_conn     the real answer, then the next request on that kept-alive           yes
               connection is dropped unread (a server's idle timer firing just
               as the client reuses the connection); that request does nothing
=============  ==================================================================  ======

Spec grammar for the CLI (`FaultPlan.parse`), items separated by commas::

    spec     := item ("," item)*
    item     := "seed=" INT | fault ":" RATE          RATE is a probability in [0, 1]
    fault    := STATUS | "status_" STATUS | "throttle" | "reset_before" | "reset_after"
              | "truncated" | "non_json" | "huge" | "nested"
              | "slow_body" ["=" DURATION] | "latency=" DURATION
              | "first_byte=" DURATION | "stale_conn"
    DURATION := NUMBER ("ms" | "s")

e.g. ``"seed=7,429:0.05,503:0.05,reset_after:0.02,latency=200ms:0.1"``.
"""

from __future__ import annotations

import enum
import random
import re
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from http import HTTPStatus

import attrs

from d360_calling.sandbox.errors import JsonObject, dialog_body, meta_body
from d360_calling.sandbox.operations import OPERATIONS

THROTTLE_MESSAGE = "You have exceeded the endpoint rate limit."
"""360dialog's own throttle text, delivered with HTTP 400 (API reference, §5.4)."""

HTML_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center>"
    "<hr><center>nginx</center></body></html>"
)
"""The edge's HTML error page (API reference, §5.4)."""

_META_DEFAULTS: dict[int, tuple[int, str]] = {
    401: (190, "Access token has expired"),
    403: (10, "Permission denied"),
    429: (4, "Application request limit reached"),
    500: (131000, "Something went wrong"),
    503: (2, "Service temporarily unavailable"),
}
"""Meta error code and text an injected status carries when the fault names none."""


class FaultKind(enum.StrEnum):
    """What an injected fault does; see the module table."""

    STATUS = "status"
    LATENCY = "latency"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    TRUNCATED = "truncated"
    NON_JSON = "non_json"
    HUGE = "huge"
    NESTED = "nested"
    SLOW_BODY = "slow_body"
    SLOW_FIRST_BYTE = "first_byte"
    STALE_CONNECTION = "stale_conn"


_APPLIES_EFFECT = frozenset(
    {
        FaultKind.LATENCY,
        FaultKind.RESET_AFTER,
        FaultKind.TRUNCATED,
        FaultKind.HUGE,
        FaultKind.NESTED,
        FaultKind.SLOW_BODY,
        FaultKind.SLOW_FIRST_BYTE,
        FaultKind.STALE_CONNECTION,
    }
)


def _retry_after_value(value: str | float | datetime) -> str:
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True)
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class Fault:
    """One injected failure; build it with the class methods (`Fault.status(503)`, ...)."""

    kind: FaultKind
    status_code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body_style: str = "meta"
    code: int | None = None
    message: str | None = None
    seconds: float = 0.0
    size: int = 0

    @classmethod
    def status(
        cls,
        status: int,
        *,
        retry_after: str | float | datetime | None = None,
        retry_after_ms: int | None = None,
        body: str = "meta",
        code: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """An HTTP error; `body` "meta" (Graph envelope) or "360dialog" (`{"meta": ...}`)."""
        if not 400 <= status <= 599:
            raise ValueError(f"an injected status must be 4xx or 5xx, got {status}")
        if body not in ("meta", "360dialog"):
            raise ValueError(f'body must be "meta" or "360dialog", got {body!r}')
        headers: list[tuple[str, str]] = []
        if retry_after is not None:
            headers.append(("Retry-After", _retry_after_value(retry_after)))
        if retry_after_ms is not None:
            headers.append(("retry-after-ms", str(retry_after_ms)))
        return cls(
            FaultKind.STATUS,
            status_code=status,
            headers=tuple(headers),
            body_style=body,
            code=code,
            message=message,
        )

    @classmethod
    def throttle(cls, *, retry_after: str | float | datetime | None = None) -> Fault:
        """360dialog's own rate limit: HTTP 400 with its `{"meta": ...}` body."""
        return cls.status(400, retry_after=retry_after, body="360dialog", message=THROTTLE_MESSAGE)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Answer normally, `seconds` late."""
        return cls(FaultKind.LATENCY, seconds=seconds)

    @classmethod
    def reset_before(cls) -> Fault:
        """Abort the connection before processing the request: nothing happened."""
        return cls(FaultKind.RESET_BEFORE)

    @classmethod
    def reset_after(cls) -> Fault:
        """Abort the connection after applying the request: it happened, the client can't tell."""
        return cls(FaultKind.RESET_AFTER)

    @classmethod
    def truncated(cls) -> Fault:
        """Send half of the real answer under a Content-Length for more, then close."""
        return cls(FaultKind.TRUNCATED)

    @classmethod
    def non_json(cls) -> Fault:
        """An HTML 503 page from the edge instead of JSON."""
        return cls(FaultKind.NON_JSON, status_code=503)

    @classmethod
    def huge(cls, size: int = 16 * 1024 * 1024) -> Fault:
        """A 200 JSON body of about `size` bytes (clients must cap what they read)."""
        return cls(FaultKind.HUGE, size=size)

    @classmethod
    def nested(cls, depth: int = 100_000) -> Fault:
        """A 200 body of `depth` nested arrays (`json.loads` raises RecursionError on it)."""
        return cls(FaultKind.NESTED, size=depth)

    @classmethod
    def slow_body(cls, seconds: float = 1.0) -> Fault:
        """The real answer with its body trickled out over `seconds` (read timeouts)."""
        return cls(FaultKind.SLOW_BODY, seconds=seconds)

    @classmethod
    def slow_first_byte(cls, seconds: float) -> Fault:
        """Apply the request at once, then hold the answer back `seconds` (unlike `latency`,
        whose wait comes first): a client that times out has still acted on the API."""
        return cls(FaultKind.SLOW_FIRST_BYTE, seconds=seconds)

    @classmethod
    def stale_connection(cls) -> Fault:
        """Answer normally, then drop the next request on the same kept-alive connection unread,
        as a server whose keep-alive timer fires just as the client reuses the connection."""
        return cls(FaultKind.STALE_CONNECTION)

    @classmethod
    def parse(cls, token: str) -> Fault:
        """One fault of the spec grammar: "503", "status_429", "throttle", "latency=200ms"..."""
        name, _, arg = token.strip().partition("=")
        name = name.removeprefix("status_")
        if name.isascii() and name.isdigit():
            return cls.status(int(name))
        if name == "latency" and arg:
            return cls.latency(_parse_duration(arg))
        if name == "slow_body":
            return cls.slow_body(_parse_duration(arg)) if arg else cls.slow_body()
        if name == "first_byte" and arg:
            return cls.slow_first_byte(_parse_duration(arg))
        simple = {
            "throttle": cls.throttle,
            "reset_before": cls.reset_before,
            "reset_after": cls.reset_after,
            "truncated": cls.truncated,
            "non_json": cls.non_json,
            "huge": cls.huge,
            "nested": cls.nested,
            "stale_conn": cls.stale_connection,
        }
        if name in simple and not arg:
            return simple[name]()
        raise ValueError(f"unknown fault {token!r}")

    @property
    def label(self) -> str:
        """The key this fault is counted under in `Stats.faults` ("status_429", "reset_after")."""
        if self.kind is FaultKind.STATUS:
            return f"status_{self.status_code}"
        return self.kind.value

    @property
    def applies_effect(self) -> bool:
        """Whether the request's side effect happens before the fault shows."""
        return self.kind in _APPLIES_EFFECT

    def error_body(self) -> JsonObject:
        """The JSON body of a status fault."""
        if self.body_style == "360dialog":
            text = self.message or HTTPStatus(self.status_code).phrase
            return dialog_body(self.status_code, text)
        code, text = _META_DEFAULTS.get(self.status_code, (1, "An unknown error occurred"))
        return meta_body(self.code or code, self.message or text)


_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s)")


def _parse_duration(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"a duration is a number with ms or s, got {text!r}")
    number = float(match["number"])
    return number / 1000 if match["unit"] == "ms" else number


class FaultPlan:
    """Which requests fail: scripted faults first (per operation, then any), then random ones.

    `script("calls.accept", f1, f2)` makes the next two `calls.accept` requests fail with f1 then
    f2; `script(None, f)` hits the next request of any operation. `rates` maps faults (or spec
    tokens) to probabilities drawn from a generator seeded with `seed`, so runs repeat.
    """

    def __init__(self, *, seed: int = 0, rates: Mapping[str | Fault, float] | None = None) -> None:
        self._random = random.Random(seed)
        self._scripted: dict[str | None, deque[Fault]] = {}
        self._rates: list[tuple[Fault, float]] = []
        for fault, rate in (rates or {}).items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"a fault rate is a probability in [0, 1], got {rate}")
            self._rates.append((Fault.parse(fault) if isinstance(fault, str) else fault, rate))
        if sum(rate for _, rate in self._rates) > 1.0:
            raise ValueError("fault rates add up to more than 1")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Build a plan from the CLI grammar in this module's docstring."""
        seed = 0
        rates: dict[str | Fault, float] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            if item.startswith("seed="):
                seed = int(item.removeprefix("seed="))
                continue
            token, sep, rate = item.rpartition(":")
            if not sep:
                raise ValueError(f"a fault item is FAULT:RATE, got {item!r}")
            rates[Fault.parse(token)] = float(rate)
        return cls(seed=seed, rates=rates)

    @property
    def rates(self) -> tuple[tuple[Fault, float], ...]:
        """The random faults and their probabilities, in draw order."""
        return tuple(self._rates)

    def script(self, operation: str | None, *faults: Fault) -> None:
        """Queue faults for the next requests of `operation` (None: of any operation)."""
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        self._scripted.setdefault(operation, deque()).extend(faults)

    def pending(self, operation: str | None = None) -> int:
        """Scripted faults not yet used for `operation` (None: the any-operation queue)."""
        return len(self._scripted.get(operation, ()))

    def clear(self) -> None:
        """Drop every scripted fault (random rates stay)."""
        self._scripted.clear()

    def draw(self, operation: str) -> Fault | None:
        """The fault for the request that just arrived, if any; consumes scripted ones."""
        for key in (operation, None):
            queue = self._scripted.get(key)
            if queue:
                return queue.popleft()
        if not self._rates:
            return None
        roll = self._random.random()
        for fault, rate in self._rates:
            if roll < rate:
                return fault
            roll -= rate
        return None
