"""Which failures are worth another attempt, as data: statuses, API codes, transport errors.

Kept apart from the retry loop so the rules can be read, tested and replaced in one place.
"""

from __future__ import annotations

from typing import Final

import aiohttp
import attrs

from .error_codes import RATE_LIMIT_CODES, TRANSIENT_CODES
from .errors import APIError, CallingError, D360Error, RateLimitError, TransportError

NEVER_SENT: Final[tuple[type[BaseException], ...]] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)
"""aiohttp failures before the request left: safe to resend even a `connect`."""

MAY_HAVE_BEEN_SENT: Final[tuple[type[BaseException], ...]] = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)
"""Failures after the request may have reached the server: worth another attempt, but only for
operations safe to send twice. Any other aiohttp error (an invalid URL, say) is final."""

NEVER_TRANSIENT: Final[tuple[type[BaseException], ...]] = (
    aiohttp.ClientConnectorCertificateError,
    aiohttp.ClientSSLError,
)
"""Certificate and TLS failures: a retry meets the same certificate."""


@attrs.frozen
class TransientTable:
    """Statuses and API error codes that are worth another attempt; anything else is final.

    An API error code decides before the HTTP status (360dialog throttles with HTTP 400 and
    Meta answers 138000 with 401), so a 4xx is retried only when it is 408, 429 or carries a
    rate-limit or temporary-failure code.
    """

    statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 555})
    codes: frozenset[int] = RATE_LIMIT_CODES | TRANSIENT_CODES

    def is_transient(self, error: BaseException) -> bool:
        """Whether `error` may go away if the same request is sent again later."""
        if isinstance(error, TransportError):
            return error.transient
        if isinstance(error, RateLimitError):
            return True
        if isinstance(error, APIError):
            if error.code is not None and error.code in self.codes:
                return True
            return error.status in self.statuses
        return False


def never_reached_server(error: D360Error) -> bool:
    """Whether the API provably did not act on the request (so even `connect` may be resent)."""
    if isinstance(error, TransportError):
        return not error.request_sent
    if isinstance(error, CallingError):
        return False  # a call limit (138002, 138005) is the API's answer about this call
    if isinstance(error, APIError) and error.status == 429:
        return True
    return isinstance(error, RateLimitError) and error.status == 400


SETTLED_BY_REFUSAL: Final = frozenset({"calls.reject", "calls.terminate"})
"""Operations that end a call: when a resend is refused after an attempt whose answer was lost,
that attempt ended the call (or the user did), which is what the caller asked for."""

CALL_ACTIONS: Final = frozenset({"calls.pre_accept", "calls.accept", *SETTLED_BY_REFUSAL})
"""Actions on an existing call, whose repeat the API refuses once the first took effect."""

DEFINITE_FAILURE_CODES: Final = frozenset({138004, 138007})
"""5xx codes that say the call failed (connection error, SDP not applied): nothing was placed."""


def may_have_acted(error: D360Error) -> bool:
    """Whether the failed attempt may still have taken effect at the API."""
    if isinstance(error, TransportError):
        return error.request_sent
    return isinstance(error, APIError) and error.status >= 500
