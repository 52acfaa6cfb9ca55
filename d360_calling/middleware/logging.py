"""Logs each attempt (operation, status, attempt, duration, trace id) without secrets.

Every record the client emits carries its fields as `extra` attributes named `d360_*`, so a
JSON formatter (python-json-logger, structlog's stdlib bridge, ...) emits them as fields:

| attribute           | what                                                                 |
| ------------------- | -------------------------------------------------------------------- |
| `d360_operation`    | the SDK operation, e.g. `"calls.accept"`                             |
| `d360_attempt`      | the attempt number, from 1                                           |
| `d360_status`       | the HTTP status of the answer (absent when none came)                |
| `d360_error`        | the error's class name, e.g. `"ServerError"` (on failures)           |
| `d360_error_code`   | the API's error code, e.g. `131016` (when the API gave one)          |
| `d360_wait`         | seconds until the next attempt (retry records)                       |
| `d360_duration_ms`  | how long the attempt took (attempt records)                          |
| `d360_trace_id`     | the API's `x-fb-trace-id`, to quote to 360dialog support             |
| `d360_outcome`      | `"settled"` when a refused resend is reported as done                |

Only names, numbers, ids and the SDK's own error texts, `errors.redact`ed: never headers,
bodies, keys, SDP or an exception object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

from ..errors import APIError, D360Error
from ..session import Handler, Request, Response

logger = logging.getLogger("d360_calling")


def log_fields(
    request: Request,
    *,
    attempt: int | None = None,
    status: int | None = None,
    error: BaseException | None = None,
    wait: float | None = None,
    duration_ms: float | None = None,
    trace_id: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """The `extra` of a record about `request`: only the fields that have a value."""
    fields: dict[str, Any] = {
        "d360_operation": request.operation,
        "d360_attempt": request.attempt if attempt is None else attempt,
    }
    if error is not None:
        fields["d360_error"] = type(error).__name__
        if isinstance(error, APIError):
            status = error.status if status is None else status
            trace_id = error.trace_id if trace_id is None else trace_id
            if error.code is not None:
                fields["d360_error_code"] = error.code
    if status is not None:
        fields["d360_status"] = status
    if wait is not None:
        fields["d360_wait"] = round(wait, 3)
    if duration_ms is not None:
        fields["d360_duration_ms"] = round(duration_ms, 1)
    if trace_id is not None:
        fields["d360_trace_id"] = trace_id
    if outcome is not None:
        fields["d360_outcome"] = outcome
    return fields


class LoggingMiddleware:
    """One DEBUG record per attempt; only names, numbers and ids, never headers or bodies."""

    __slots__ = ()

    deadline_safe = True

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if not logger.isEnabledFor(logging.DEBUG):
            return await call_next(request)
        return await self._logged(request, call_next)

    def bind(self, call_next: Handler) -> Handler:
        """This middleware around `call_next`: with DEBUG off (checked per request, so turning
        it on takes effect at once) the request goes straight on, with no frame of its own."""
        enabled = logger.isEnabledFor

        def logged(request: Request) -> Awaitable[Response]:
            if not enabled(logging.DEBUG):
                return call_next(request)
            return self._logged(request, call_next)

        logged.call_next = call_next  # type: ignore[attr-defined]  # what it wraps
        return logged

    async def _logged(self, request: Request, call_next: Handler) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except D360Error as exc:
            took = (time.perf_counter() - started) * 1000
            status = exc.status if isinstance(exc, APIError) else None
            trace = exc.trace_id if isinstance(exc, APIError) else None
            logger.debug(
                "%s attempt %d failed in %.1f ms: %s status=%s trace_id=%s",
                request.operation,
                request.attempt,
                took,
                type(exc).__name__,
                status,
                trace,
                extra=log_fields(request, error=exc, duration_ms=took),
            )
            raise
        took = (time.perf_counter() - started) * 1000
        trace = response.headers.get("x-fb-trace-id")
        logger.debug(
            "%s attempt %d -> %d in %.1f ms trace_id=%s",
            request.operation,
            request.attempt,
            response.status,
            took,
            trace,
            extra=log_fields(request, status=response.status, duration_ms=took, trace_id=trace),
        )
        return response
