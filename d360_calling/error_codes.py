"""The API error codes the Calling API documents, as plain data.

One table serves the SDK's error mapping and the sandbox's error bodies, so a code's meaning and
HTTP status are written down once (facts: the API reference, section 5).
"""

from __future__ import annotations

from typing import Final, NamedTuple


class ErrorCode(NamedTuple):
    """One documented API error code: its class name in the SDK, HTTP status and meaning."""

    code: int
    name: str
    http_status: int
    message: str


def _table(*rows: ErrorCode) -> dict[int, ErrorCode]:
    return {row.code: row for row in rows}


CALLING_ERROR_CODES: Final[dict[int, ErrorCode]] = _table(
    ErrorCode(138000, "CallingNotEnabledError", 401, "Calling is not enabled on this number"),
    ErrorCode(138001, "ReceiverUncallableError", 400, "Receiver is uncallable"),
    ErrorCode(138002, "ConcurrentCallsLimitError", 429, "Concurrent calls limit reached"),
    ErrorCode(138003, "DuplicateCallError", 400, "A call with this receiver is already ongoing"),
    ErrorCode(138004, "CallConnectionError", 500, "Connection error while connecting the call"),
    ErrorCode(138005, "CallRateLimitError", 429, "Call rate limit exceeded for this number"),
    ErrorCode(138006, "CallPermissionNotFoundError", 401, "No approved call permission found"),
    ErrorCode(138007, "CallConnectTimeoutError", 500, "SDP offer/answer not applied in time"),
    ErrorCode(138009, "PermissionRequestLimitError", 400, "Call permission request limit hit"),
    ErrorCode(138012, "BusinessInitiatedCallsLimitError", 400, "Business-initiated call limit hit"),
    ErrorCode(
        138013,
        "BusinessCallingUnavailableError",
        400,
        "Business-initiated calling is not available for this number",
    ),
    ErrorCode(138014, "CallingTemporarilyDisabledError", 400, "Calling temporarily disabled"),
    ErrorCode(
        138015, "CallingCannotBeEnabledError", 400, "Calling cannot be enabled: messaging limit"
    ),
    ErrorCode(
        138017,
        "PermanentPermissionExistsError",
        400,
        "Permission request not sent: permanent permission already exists",
    ),
    ErrorCode(
        138018,
        "CallingPrerequisitesError",
        400,
        "Calling cannot be enabled: no SIP and no app subscribed to calls",
    ),
    ErrorCode(138019, "CallSetupFailedError", 400, "Call setup failed"),
    ErrorCode(138020, "RelayConnectionFailedError", 400, "Relay connection failed"),
    ErrorCode(138021, "MediaReceiveTimeoutError", 400, "Media receive timeout"),
    ErrorCode(138022, "MediaTransmitTimeoutError", 400, "Media transmit timeout"),
    ErrorCode(138023, "NoMediaSignalsError", 400, "Call accepted but no media signals"),
)
"""The documented 138xxx calling codes; each becomes a `CallingError` subclass in the SDK."""

RATE_LIMIT_CODES: Final[frozenset[int]] = frozenset({4, 613, 80007, 130429, 131056, 138002, 138005})
"""API error codes that mean "slow down": throughput, rate and concurrency limits."""

TRANSIENT_CODES: Final[frozenset[int]] = frozenset({1, 2, 131000, 131016, 138004})
"""API error codes Meta marks as temporary server-side failures, worth a retry."""

AUTH_CODES: Final[frozenset[int]] = frozenset({0, 190})
PERMISSION_CODES: Final[frozenset[int]] = frozenset({10, 368, *range(200, 300)})
BAD_REQUEST_CODES: Final[frozenset[int]] = frozenset({100, 131009, 131030, 131055})

RATE_LIMIT_MESSAGE_MARKERS: Final[tuple[str, ...]] = (
    "exceeded the endpoint rate limit",
    "limit of 1 request every",
)
"""Text of 360dialog's own throttle, which arrives as HTTP 400 (API reference, section 5.4)."""
