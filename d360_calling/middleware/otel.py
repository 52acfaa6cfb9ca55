"""OpenTelemetry for the client and the webhook receiver: the `[otel]` extra (opentelemetry-api).

The SDK only speaks the API: spans and metrics go to the providers the application set up (or
the ones passed here), and without an SDK installed they cost next to nothing. The SDK never
configures an exporter. Nothing else in `d360_calling` imports this module.

```python
from d360_calling.middleware.otel import Telemetry

telemetry = Telemetry()  # the global tracer and meter providers, or pass yours
client = Client(middlewares=[telemetry.call], attempt_middlewares=[telemetry.attempt])
receiver = Receiver(router, telemetry=telemetry)  # a span per delivery and per handler
```

- `telemetry.call`: one INTERNAL span per call, named by the operation (`calls.accept`),
  with `d360.operation`, `http.request.method`, `server.address`, `server.port`, `url.full`,
  `d360.call_id` (call actions, and `connect` once answered), `d360.attempts`, and on the way
  out `http.response.status_code`, `error.type` (the SDK's error class), `d360.error.code`,
  `d360.outcome_unknown`.
- `telemetry.attempt`: one CLIENT span per HTTP attempt, a child of the call span, following
  the HTTP client conventions (`{method} {url template}`, `http.request.method`, `url.full`,
  `server.address`, `server.port`, `http.response.status_code`, `error.type` (the status code
  as a string, else the error class), `http.request.resend_count` on resends) with
  `d360.retry.wait` (seconds waited before this resend); the metrics
  `http.client.request.duration` (histogram, seconds) and `d360.client.retries` (counter).

Never recorded: headers (the API key), bodies (SDP, SIP passwords) and error messages (an API
error may quote the request). Phone numbers are personal data: `url.full` shows a WhatsApp ID
in a path as `REDACTED`, and `d360.recipient` is set only with `record_recipient=True`.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final
from urllib.parse import urlencode

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, StatusCode
from yarl import URL

from .. import __version__, jsonutil
from ..errors import APIError, OutcomeUnknownError, ResponseDecodeError
from ..session import Handler, Request, Response

INSTRUMENTATION: Final = "d360_calling"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.26.0"
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""The HTTP client conventions' advised buckets for `http.client.request.duration`."""
REDACTED: Final = "REDACTED"
CONNECT: Final = "calls.connect"

Attributes = dict[str, str | bool | int | float]


class _CallRecord:
    """What a call span and its attempt spans share (through a context variable): what was
    worked out once per call, and what the attempts tell the call."""

    __slots__ = ("attempts", "call_id", "last_error", "server", "url")

    def __init__(self, server: _Server, url: str, call_id: str | None) -> None:
        self.server = server
        self.url = url
        self.call_id = call_id
        self.attempts = 0
        self.last_error: str | None = None


_CALL: contextvars.ContextVar[_CallRecord | None] = contextvars.ContextVar(
    "d360_otel_call", default=None
)
_DELIVERY: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "d360_otel_delivery", default=None
)


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


def _call_id(request: Request) -> str | None:
    body = request.json
    call_id = body.get("call_id") if isinstance(body, dict) else None
    return call_id if isinstance(call_id, str) else None


def _recipient(request: Request) -> str | None:
    body = request.json
    to = body.get("to") if isinstance(body, dict) else None
    if isinstance(to, str):
        return to
    last = request.path.rsplit("/", 1)[-1]
    return last if _is_wa_id(last) else None


def _connected_call_id(body: bytes) -> str | None:
    """The call id of a `connect` answer (`calls[0].id`), if it is there."""
    try:
        payload = jsonutil.loads(body)
        call_id = payload["calls"][0]["id"]
    except (ValueError, LookupError, TypeError, RecursionError):
        return None
    return call_id if isinstance(call_id, str) else None


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


class Telemetry:
    """Spans and metrics for one or more clients and receivers (see the module's doc).

    `tracer_provider` / `meter_provider` default to the global ones. `record_recipient=True`
    adds the WhatsApp ID a call is for (`d360.recipient`, and in `url.full`): personal data,
    off by default. The last `max_tracked_calls` call ids seen by a call span are kept so a
    webhook span about the same call links to it.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_recipient: bool = False,
        max_tracked_calls: int = 10_000,
    ) -> None:
        self.tracer = trace.get_tracer(
            INSTRUMENTATION, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(
            INSTRUMENTATION, __version__, meter_provider, schema_url=SCHEMA_URL
        )
        self.request_duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "d360.client.retries",
            unit="{retry}",
            description="Requests the retry policy sent again.",
        )
        self.record_recipient = record_recipient
        self.max_tracked_calls = max_tracked_calls
        self._calls: OrderedDict[str, SpanContext] = OrderedDict()
        self.call = CallTracing(self)
        """The middleware for `Client(middlewares=[...])`: a span per call."""
        self.attempt = AttemptTracing(self)
        """The middleware for `Client(attempt_middlewares=[...])`: a span per attempt."""

    # -- shared pieces -----------------------------------------------------------------------

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

    # -- webhooks ------------------------------------------------------------------------------

    @contextmanager
    def webhook_delivery(self) -> Iterator[DeliverySpan]:
        """A span around one webhook delivery; handler tasks started inside are its children.

        `delivery.events(events)` once parsed (event kinds, call ids, links to the calls'
        spans), `delivery.replied(status)` with the answer."""
        span = self.tracer.start_span(
            "webhook delivery",
            kind=SpanKind.INTERNAL,
            record_exception=False,
            set_status_on_exception=False,
        )
        delivery = DeliverySpan(self, span)
        token = otel_context.attach(trace.set_span_in_context(span))
        mark = _DELIVERY.set(span)
        try:
            yield delivery
        except BaseException as error:
            _fail(span, error, type(error).__name__, {})
            raise
        finally:
            _DELIVERY.reset(mark)
            otel_context.detach(token)
            span.end()

    def webhook_events(self, events: Sequence[object]) -> None:
        """Record a delivery's parsed events on the current `webhook_delivery` span, if any."""
        span = _DELIVERY.get()
        if span is not None:
            DeliverySpan(self, span).events(events)

    async def webhook_handler(self, event: object, handler: Awaitable[None]) -> None:
        """Await `handler` (one handler's coroutine for `event`) inside its own span, linked to
        the span of the call it is about when that call went through a traced client."""
        kind = _event_kind(event)
        name = getattr(handler, "__qualname__", None) or type(handler).__name__
        attributes: Attributes = {"d360.webhook.event": kind, "d360.webhook.handler": name}
        call_id = getattr(event, "call_id", None)
        links: list[Link] = []
        if isinstance(call_id, str):
            attributes["d360.call_id"] = call_id
            linked = self.link_for(call_id)
            if linked is not None:
                links.append(Link(linked))
        with self.tracer.start_as_current_span(
            f"webhook {kind}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await handler
            except BaseException as error:
                _fail(span, error, type(error).__name__, {})
                raise


class DeliverySpan:
    """The span of one webhook delivery, as `Telemetry.webhook_delivery` yields it."""

    __slots__ = ("_telemetry", "span")

    def __init__(self, telemetry: Telemetry, span: Span) -> None:
        self._telemetry = telemetry
        self.span = span

    def events(self, events: Sequence[object]) -> None:
        """Record what the delivery holds: kinds, the call id (when one), links to calls."""
        kinds = sorted({_event_kind(event) for event in events})
        call_ids = sorted(
            {c for event in events if isinstance(c := getattr(event, "call_id", None), str)}
        )
        attributes: Attributes = {"d360.webhook.events": len(events)}
        self.span.set_attribute("d360.webhook.event_kinds", kinds)
        if len(call_ids) == 1:
            attributes["d360.call_id"] = call_ids[0]
        elif call_ids:
            self.span.set_attribute("d360.call_ids", call_ids)
        self.span.set_attributes(attributes)
        for call_id in call_ids:
            linked = self._telemetry.link_for(call_id)
            if linked is not None:
                self.span.add_link(linked, {"d360.call_id": call_id})

    def replied(self, status: int) -> None:
        """Record the HTTP status the delivery was answered with (4xx/5xx mark it failed)."""
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(StatusCode.ERROR, str(status))


_EVENT_KINDS: Final = {
    "CallConnect": "connect",
    "CallStatus": "status",
    "CallTerminate": "terminate",
    "PermissionReply": "permission_reply",
    "SettingsUpdate": "settings_update",
    "UnknownEvent": "unknown",
    "MalformedEvent": "malformed",
}


def _event_kind(event: object) -> str:
    name = type(event).__name__
    return _EVENT_KINDS.get(name, name)


class CallTracing:
    """A span around each whole call (a middleware around the call, outside retries)."""

    __slots__ = ("_telemetry",)

    deadline_safe = True

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        telemetry = self._telemetry
        server = _server(request.base_url)
        operation = request.operation
        call_id = _call_id(request)
        record = _CallRecord(server, telemetry.url(request, server), call_id)
        attributes: Attributes = {
            "d360.operation": operation,
            "http.request.method": request.method,
            "server.address": server.address,
            "server.port": server.port,
            "url.full": record.url,
        }
        if call_id is not None:
            attributes["d360.call_id"] = call_id
        if telemetry.record_recipient and (to := _recipient(request)) is not None:
            attributes["d360.recipient"] = to
        span = telemetry.tracer.start_span(
            operation,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        recording = span.is_recording()
        # A span that records nothing (no SDK, or not sampled) is not made current: the
        # attempts then hang off the same parent, and nothing is recorded either way.
        token = otel_context.attach(trace.set_span_in_context(span)) if recording else None
        mark = _CALL.set(record)
        try:
            response = await call_next(request)
        except BaseException as error:
            if recording:
                ending: Attributes = {"d360.attempts": max(record.attempts, request.attempt)}
                status = _status_of(error)
                if status is not None:
                    ending["http.response.status_code"] = status
                _fail(span, error, type(error).__name__, ending)
            raise
        else:
            if recording:
                if operation == CONNECT:
                    call_id = _connected_call_id(response.body)
                    if call_id is not None:
                        span.set_attribute("d360.call_id", call_id)
                span.set_attributes(
                    {
                        "http.response.status_code": response.status,
                        "d360.attempts": max(record.attempts, response.attempt),
                    }
                )
                if call_id is not None:
                    telemetry.remember(call_id, span)
            return response
        finally:
            _CALL.reset(mark)
            if token is not None:
                otel_context.detach(token)
            span.end()


class AttemptTracing:
    """A CLIENT span and the duration metric for each attempt (a per-attempt middleware)."""

    __slots__ = ("_telemetry",)

    deadline_safe = True

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        telemetry = self._telemetry
        record = _CALL.get()
        if record is not None:
            server, url, call_id = record.server, record.url, record.call_id
            record.attempts = request.attempt
        else:
            server = _server(request.base_url)
            url, call_id = telemetry.url(request, server), _call_id(request)
        method = request.method
        operation = request.operation
        metric: Attributes = {
            "http.request.method": method,
            "server.address": server.address,
            "server.port": server.port,
            "d360.operation": operation,
        }
        attributes: Attributes = {**metric, "url.full": url}
        resends = request.attempt - 1
        if resends > 0:
            attributes["http.request.resend_count"] = resends
            attributes["d360.retry.wait"] = request.waited
            reason: Attributes = {"d360.operation": operation, "server.address": server.address}
            if record is not None and record.last_error is not None:
                reason["error.type"] = record.last_error
            telemetry.retries.add(1, reason)
        if call_id is not None:
            attributes["d360.call_id"] = call_id
        span = telemetry.tracer.start_span(
            f"{method} {_template(request.path)}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        recording = span.is_recording()
        token = otel_context.attach(trace.set_span_in_context(span)) if recording else None
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except BaseException as error:
            status = _status_of(error)
            error_type = (
                str(status) if status is not None and status >= 400 else type(error).__name__
            )
            if status is not None:
                metric["http.response.status_code"] = status
            metric["error.type"] = error_type
            if record is not None:
                record.last_error = error_type
            if recording:
                ending: Attributes = {}
                if status is not None:
                    ending["http.response.status_code"] = status
                _fail(span, error, error_type, ending)
            raise
        else:
            metric["http.response.status_code"] = response.status
            if recording:
                span.set_attribute("http.response.status_code", response.status)
            return response
        finally:
            telemetry.request_duration.record(time.perf_counter() - started, metric)
            if token is not None:
                otel_context.detach(token)
            span.end()


__all__ = [
    "DURATION_BUCKETS",
    "AttemptTracing",
    "CallTracing",
    "DeliverySpan",
    "Telemetry",
]
