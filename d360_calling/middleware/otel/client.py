"""Client spans: one INTERNAL span per call and one CLIENT span (and duration) per attempt.

The call span and its attempts share a `_CallRecord` through a context variable: what was
worked out once per call, and what the attempts tell the call (how many, the last error).
"""

from __future__ import annotations

import contextvars
import time
from typing import Final

from opentelemetry.trace import SpanKind

from ... import jsonutil
from ...session import Handler, Request, Response
from .common import (
    Attributes,
    Instruments,
    _fail,
    _is_wa_id,
    _Server,
    _server,
    _status_of,
    _template,
    end_span,
    start_span,
)

CONNECT: Final = "calls.connect"


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


class _Tracing:
    """A middleware that records through one `Telemetry`'s instruments, awaiting nothing but
    `call_next` (so the session needs no deadline timer around it)."""

    __slots__ = ("_telemetry",)

    deadline_safe = True

    def __init__(self, telemetry: Instruments) -> None:
        self._telemetry = telemetry


class CallTracing(_Tracing):
    """A span around each whole call (a middleware around the call, outside retries)."""

    __slots__ = ()

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
        span, token = start_span(telemetry.tracer, operation, SpanKind.INTERNAL, attributes)
        recording = token is not None
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
            end_span(span, token)


class AttemptTracing(_Tracing):
    """A CLIENT span and the duration metric for each attempt (a per-attempt middleware)."""

    __slots__ = ()

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
        name = f"{method} {_template(request.path)}"
        span, token = start_span(telemetry.tracer, name, SpanKind.CLIENT, attributes)
        recording = token is not None
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
            end_span(span, token)
