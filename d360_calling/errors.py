"""The exception tree: every error the SDK raises is a `D360Error`.

API errors are classified by the API error code first and the HTTP status second, because Meta
answers 138000 and 138006 with HTTP 401 and 360dialog throttles with HTTP 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_LINE_BREAK: Final = r"(?:\r\n|\r|\n|\\r\\n|\\r|\\n)"
"""A line break, also as the escapes `\\r\\n` of SDP quoted inside JSON text."""

_SDP_LINE: Final = r"[vosiuepcbtrzkam]=[^\s\\\"'][^\r\n\\\"']*"
"""One SDP line (`v=0`, `a=ice-pwd:...`, `c=IN IP4 ...`) up to a line break or a quote."""

_SDP: Final = re.compile(rf"(?<![\w.-]){_SDP_LINE}(?:{_LINE_BREAK}{_SDP_LINE})*{_LINE_BREAK}?")
"""A run of SDP lines, the first not inside a word (`sdp_type=answer` is no SDP line)."""
_CREDENTIAL: Final = re.compile(
    r"(?i)(?<![\w-])(ice-pwd|ice-ufrag|fingerprint|crypto)\s*[:=]\s*[^\r\n\\\"']*"
)
"""An ICE credential, DTLS fingerprint or SRTP key named outside an SDP line, with its value."""


def error_text(error: BaseException | None) -> str:
    """What a log record says of `error`: its class and, for the SDK's own errors, its `redact`ed
    text. Never the object itself, which a handler could format any way."""
    name = type(error).__name__
    return f"{name}: {redact(str(error))}" if isinstance(error, D360Error) else name


def redact(text: str) -> str:
    """`text` without SDP: each run of SDP lines becomes `[SDP redacted]` and an ICE credential,
    fingerprint or SRTP key named outside one loses its value. For the API's error texts (it
    quotes a refused request's SDP back) and whatever error text reaches a log record."""
    if "=" not in text and ":" not in text:
        return text
    return _CREDENTIAL.sub(r"\1:[redacted]", _SDP.sub("[SDP redacted]", text))


class D360Error(Exception):
    """Base of every error the SDK raises; `operation` names the call (`"calls.accept"`)."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}" if self.operation else self.message


class ValidationError(D360Error, ValueError):
    """Bad input, refused before any byte is sent; `field` names what was wrong."""

    def __init__(self, field: str, problem: str, *, operation: str | None = None) -> None:
        super().__init__(f"invalid {field}: {problem}", operation=operation)
        self.field = field
        self.problem = problem


class TransportError(D360Error):
    """The request did not complete: connection failure, reset or timeout.

    `request_sent` is `False` when the request provably never reached the server (connection
    refused, connect timeout) and `True` when it may have; `transient` is `False` for failures
    a retry cannot fix (a bad certificate).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        request_sent: bool = True,
        transient: bool = True,
    ) -> None:
        super().__init__(message, operation=operation)
        self.request_sent = request_sent
        self.transient = transient


class RequestTimeoutError(TransportError, TimeoutError):
    """The attempt or the call's overall deadline ran out."""


class OutcomeUnknownError(TransportError):
    """A request that must not be sent twice (`connect`, a message) may have reached the API
    but its answer was lost; it is never resent.

    Reconcile by webhook (a `calls` status for `to`, or the message's status) instead of calling
    again, which could ring the user twice or spend a permission request.
    """

    def __init__(self, message: str, *, operation: str | None = None, to: str | None) -> None:
        super().__init__(message, operation=operation, request_sent=True, transient=False)
        self.to = to


class ResponseDecodeError(D360Error):
    """A success response whose body is not the promised JSON (or is too large or deep)."""

    def __init__(self, message: str, *, operation: str | None = None, status: int) -> None:
        super().__init__(message, operation=operation)
        self.status = status


class APIError(D360Error):
    """The API answered with an error; the fields come from its body and headers.

    `message` and `details` are `redact`ed as the error is made, so SDP the API quotes back
    reaches no log record or traceback through the error's text; `body` is as the API sent it.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int,
        code: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(redact(message), operation=operation)
        self.status = status
        self.code = code
        self.subcode = subcode
        self.details = None if details is None else redact(details)
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        details = f": {self.details}" if self.details else ""
        return f"{super().__str__()} [HTTP {self.status}{code}]{details}"


class BadRequestError(APIError):
    """HTTP 400 or an invalid-parameter code: the request was wrong; never retried."""


class AuthenticationError(APIError):
    """The API key was refused."""


class PermissionDeniedError(APIError):
    """The key may not do this (HTTP 403, Graph permission codes, policy blocks)."""


class NotFoundError(APIError):
    """HTTP 404."""


class RateLimitError(APIError):
    """Too many requests; `retry_after` says how long to wait when the API said so."""


class ServerError(APIError):
    """HTTP 5xx or a temporary server-side code."""


class CallingError(APIError):
    """A documented 138xxx calling error; unknown 138xxx codes raise this class itself."""


class CallingNotEnabledError(CallingError):
    """138000: calling is not enabled on the number."""


class ReceiverUncallableError(CallingError):
    """138001: the user cannot receive calls (not on WhatsApp, old client, ...)."""


class ConcurrentCallsLimitError(CallingError, RateLimitError):
    """138002: the number's concurrent calls limit is reached."""


class DuplicateCallError(CallingError):
    """138003: a call with this user is already ongoing."""


class CallConnectionError(CallingError, ServerError):
    """138004: connection error while connecting the call."""


class CallRateLimitError(CallingError, RateLimitError):
    """138005: the number's call rate limit is exceeded."""


class CallPermissionNotFoundError(CallingError):
    """138006: the user has not granted call permission."""


class CallConnectTimeoutError(CallingError, ServerError):
    """138007: the SDP offer/answer was not applied in time."""


class PermissionRequestLimitError(CallingError):
    """138009: call permission requests to this user are over their limit."""


class BusinessInitiatedCallsLimitError(CallingError):
    """138012: connected business-initiated calls to this user are over their limit.

    `details` says when the next call is allowed.
    """


class BusinessCallingUnavailableError(CallingError):
    """138013: business-initiated calling is not available for this number."""


class CallingTemporarilyDisabledError(CallingError):
    """138014: calling is temporarily disabled for low quality."""


class CallingCannotBeEnabledError(CallingError):
    """138015: calling cannot be enabled below a 2000 messaging limit."""


class PermanentPermissionExistsError(CallingError):
    """138017: a permanent permission already exists; no request was sent."""


class CallingPrerequisitesError(CallingError):
    """138018: calling needs SIP or an app subscribed to the `calls` webhook."""


class CallSetupFailedError(CallingError):
    """138019: call setup failed on the client (terminate webhooks)."""


class RelayConnectionFailedError(CallingError):
    """138020: the relay connection failed (terminate webhooks)."""


class MediaReceiveTimeoutError(CallingError):
    """138021: no media received in time (terminate webhooks)."""


class MediaTransmitTimeoutError(CallingError):
    """138022: media could not be sent in time (terminate webhooks)."""


class NoMediaSignalsError(CallingError):
    """138023: the call was accepted but no media flowed (terminate webhooks)."""


class MediaIntegrityError(D360Error):
    """A downloaded recording or transcript does not match the SHA-256 the webhook or the
    media lookup announced (or no usable checksum came with it); nothing was kept, no file and
    no temporary file. `expected` and `actual` are the base64 digests (`expected` is `None`
    when there was none to check against)."""

    def __init__(
        self, message: str, *, operation: str | None = None, expected: str | None, actual: str
    ) -> None:
        super().__init__(message, operation=operation)
        self.expected = expected
        self.actual = actual


class MediaNotFoundError(NotFoundError):
    """The media id is unknown or expired (media is kept 7 days; Meta code 100, subcode 33).
    Final: the SDK never asks again, and asking counts towards the media error throttle."""


class MediaThrottledError(RateLimitError):
    """360dialog's media error throttle: 20 error answers to `GET /{media-id}` within 60
    minutes block that endpoint for 30 minutes. `retry_after` says when lookups may go again;
    `request_sent` is `False` when the SDK held the lookup back itself (it counts the errors,
    per client or, with `RedisState`, per account), and then `status` is 429 as well."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        retry_after: float,
        request_sent: bool,
        status: int = 429,
        code: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        trace_id: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message,
            operation=operation,
            status=status,
            code=code,
            subcode=subcode,
            details=details,
            trace_id=trace_id,
            retry_after=retry_after,
            body=body,
        )
        self.request_sent = request_sent
