"""What the call, attempt and webhook spans share: the instruments, safe attributes, failures.

`Instruments` holds the tracer, the meter's instruments and the call ids last seen (for
webhook spans to link to); the helpers here shape only attributes that are safe to record:
never a header, a body or an error's message, and no WhatsApp ID unless asked for.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from contextvars import Token
from typing import Final
from urllib.parse import urlencode

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanContext, SpanKind, StatusCode
from yarl import URL

from ...errors import APIError, OutcomeUnknownError, ResponseDecodeError
from ...session import Request

INSTRUMENTATION: Final = "d360_calling"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.26.0"
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""The HTTP client conventions' advised buckets for `http.client.request.duration`."""
REDACTED: Final = "REDACTED"

Attributes = dict[str, str | bool | int | float]


class _Server:
    """Where a base URL points, parsed once: the conventions' server attributes."""

    __slots__ = ("address", "base", "port")

    def __init__(self, base_url: str) -> None:
        url = URL(base_url)
        self.address = url.host or ""
        self.port = url.port or 0
        if url.user is not None or url.password is not None:
            url = url.with_user(REDACTED).with_password(REDACTED)
        self.base = str(url).rstrip("/")


@functools.lru_cache(maxsize=64)
def _server(base_url: str) -> _Server:
    return _Server(base_url)


def _is_wa_id(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


@functools.lru_cache(maxsize=256)
def _redacted(path: str) -> str:
    """The path with WhatsApp IDs as `REDACTED` (they are personal data)."""
    return "/".join(REDACTED if _is_wa_id(part) else part for part in path.split("/"))


@functools.lru_cache(maxsize=256)
def _template(path: str) -> str:
    """The path with WhatsApp IDs as `{wa_id}` (low cardinality, for span names)."""
    return "/".join("{wa_id}" if _is_wa_id(part) else part for part in path.split("/"))


def _status_of(error: BaseException) -> int | None:
    if isinstance(error, APIError | ResponseDecodeError):
        return error.status
    cause = error.__cause__
    if isinstance(error, OutcomeUnknownError) and isinstance(cause, APIError):
        return cause.status
    return None


def _code_of(error: BaseException) -> int | None:
    if isinstance(error, APIError):
        return error.code
    cause = error.__cause__
    if isinstance(error, OutcomeUnknownError) and isinstance(cause, APIError):
        return cause.code
    return None


def _fail(span: Span, error: BaseException, error_type: str, attributes: Attributes) -> None:
    """Mark `span` failed with safe attributes only: never the error's message."""
    code = _code_of(error)
    attributes["error.type"] = error_type
    if code is not None:
        attributes["d360.error.code"] = code
    if isinstance(error, OutcomeUnknownError):
        attributes["d360.outcome_unknown"] = True
    span.set_attributes(attributes)
    description = error_type if code is None else f"{error_type} (code {code})"
    span.set_status(StatusCode.ERROR, description)


def start_span(
    tracer: trace.Tracer, name: str, kind: SpanKind, attributes: Attributes
) -> tuple[Span, Token[otel_context.Context] | None]:
    """A span that records no exception and sets no status by itself (`_fail` does, with safe
    attributes only), and the token that made it current, for `end_span`.

    A span that records nothing (no SDK, or not sampled) is not made current (its token is
    `None`): the spans beneath it then hang off the same parent, and nothing is recorded either
    way."""
    span = tracer.start_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    if not span.is_recording():
        return span, None
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_span(span: Span, token: Token[otel_context.Context] | None) -> None:
    """End a span from `start_span`, first detaching it if it was made current."""
    if token is not None:
        otel_context.detach(token)
    span.end()


class Instruments:
    """The tracer, the metrics and the call ids last seen, as `Telemetry` makes them: what the
    call, attempt and webhook spans use of it."""

    tracer: trace.Tracer
    request_duration: metrics.Histogram
    retries: metrics.Counter
    record_recipient: bool
    max_tracked_calls: int
    _calls: OrderedDict[str, SpanContext]

    def url(self, request: Request, server: _Server) -> str:
        """`url.full`: the request's URL, with no credentials and (unless recipients are
        recorded) no WhatsApp ID."""
        url = server.base + (request.path if self.record_recipient else _redacted(request.path))
        if request.query:
            url += "?" + urlencode(request.query)
        return url

    def remember(self, call_id: str, span: Span) -> None:
        """Keep the span that acted on `call_id`, for webhook spans to link to."""
        calls = self._calls
        calls[call_id] = span.get_span_context()
        calls.move_to_end(call_id)
        while len(calls) > self.max_tracked_calls:
            calls.popitem(last=False)

    def link_for(self, call_id: str | None) -> SpanContext | None:
        """The span context last seen acting on `call_id`, if any."""
        return None if call_id is None else self._calls.get(call_id)
