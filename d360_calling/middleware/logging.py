"""Logs each attempt (operation, status, attempt, duration, trace id) without secrets."""

from __future__ import annotations

import logging
import time

from ..errors import APIError, D360Error
from ..session import Handler, Request, Response

logger = logging.getLogger("d360_calling")


class LoggingMiddleware:
    """One DEBUG record per attempt; only names, numbers and ids, never headers or bodies."""

    __slots__ = ()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if not logger.isEnabledFor(logging.DEBUG):
            return await call_next(request)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except D360Error as exc:
            status = exc.status if isinstance(exc, APIError) else None
            trace = exc.trace_id if isinstance(exc, APIError) else None
            logger.debug(
                "%s attempt %d failed in %.1f ms: %s status=%s trace_id=%s",
                request.operation,
                request.attempt,
                (time.perf_counter() - started) * 1000,
                type(exc).__name__,
                status,
                trace,
            )
            raise
        logger.debug(
            "%s attempt %d -> %d in %.1f ms trace_id=%s",
            request.operation,
            request.attempt,
            response.status,
            (time.perf_counter() - started) * 1000,
            response.headers.get("x-fb-trace-id"),
        )
        return response
