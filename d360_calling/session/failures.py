"""Typed errors for what the send can end in: transport failures, non-2xx answers, deadlines.

Only an aiohttp error's safe `str()` is kept, never its repr (which can show request headers,
the API key among them). A request that must not be sent twice and may have reached the API
ends as `OutcomeUnknownError`, so nothing resends it and the caller reconciles by webhook.
`hide` takes a request's hidden strings (a media id, a download URL) out of an error's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from ..error_mapping import api_error
from ..errors import (
    APIError,
    D360Error,
    OutcomeUnknownError,
    RequestTimeoutError,
    ResponseDecodeError,
    TransportError,
)
from ..transient import DEFINITE_FAILURE_CODES, MAY_HAVE_BEEN_SENT, NEVER_SENT, NEVER_TRANSIENT
from .request import DEFAULT_TIMEOUT, Request


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


HIDDEN: str = "***"


def hide(error: D360Error, hidden: Sequence[str]) -> D360Error:
    """`error` with every string of `hidden` (a media id, a download URL's parts) replaced by
    `***` in its message, its details, its args and the strings of its body, so none reaches a
    log record, a traceback or a repr; longer strings go first, so a URL is hidden whole."""
    ordered = sorted((text for text in hidden if text), key=len, reverse=True)
    if not ordered:
        return error

    def clean(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, HIDDEN)
        return text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, Mapping):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    error.message = clean(error.message)
    error.args = tuple(walk(arg) for arg in error.args)
    if isinstance(error, APIError):
        error.details = None if error.details is None else clean(error.details)
        error.body = None if error.body is None else walk(error.body)
        error.trace_id = None if error.trace_id is None else clean(error.trace_id)
    cause = error.__cause__
    if isinstance(cause, D360Error):
        hide(cause, ordered)
    return error
