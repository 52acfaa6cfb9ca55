"""The records the sandbox's state keeps: calls, users and sent messages, and their states.

Plain data with no rules beyond a call's own (`active`, `end`); `CallingState` decides how they
change.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Final

import attrs

DEFAULT_NAME: Final = "Sandbox User"
"""Profile name of a user the sandbox was given no name for."""


def new_id(prefix: str) -> str:
    """A random id in the API's style: "wacid.…" for calls, "wamid.…" for messages."""
    return f"{prefix}.{secrets.token_urlsafe(24)}"


def iso(timestamp: float) -> str:
    """Unix seconds as an ISO 8601 UTC time, for error details."""
    return datetime.fromtimestamp(int(timestamp), UTC).isoformat().replace("+00:00", "Z")


class CallState(enum.StrEnum):
    """Where a call is in its life; the last three are final."""

    RINGING = "ringing"
    PRE_ACCEPTED = "pre_accepted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"


ACTIVE_STATES: Final = frozenset({CallState.RINGING, CallState.PRE_ACCEPTED, CallState.ACCEPTED})
"""States that count towards concurrency and block a second call to the same user."""
UNANSWERED_STATES: Final = frozenset({CallState.RINGING, CallState.PRE_ACCEPTED})
"""States a call can still be rejected from or time out in."""


class Direction(enum.StrEnum):
    """Who placed the call, as the webhooks spell it."""

    USER_INITIATED = "USER_INITIATED"
    BUSINESS_INITIATED = "BUSINESS_INITIATED"


class PermissionStatus(enum.StrEnum):
    """A user's call permission (API reference, §2)."""

    NO_PERMISSION = "no_permission"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@attrs.frozen
class MediaOption:
    """A `recording` or `transcription` asked for with status ENABLED (API reference, §11.1)."""

    purpose: str
    language: str
    """The `announcement_language`."""


@attrs.define
class Call:
    """One call and everything its webhooks echo."""

    id: str
    direction: Direction
    wa_id: str
    created_at: float
    offer_sdp: str
    state: CallState = CallState.RINGING
    answer_sdp: str | None = None
    biz_opaque_callback_data: str | None = None
    cta_payload: str | None = None
    deeplink_payload: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    recording: MediaOption | None = None
    """Asked on connect (business-initiated) or accept (user-initiated); None: not recorded."""
    transcription: MediaOption | None = None

    @property
    def announced(self) -> MediaOption | None:
        """What the consent announcement says: the recording's option wins over the
        transcription's (§11.1); None when neither was asked."""
        return self.recording or self.transcription

    @property
    def active(self) -> bool:
        """Ringing or connected: it holds a concurrency slot."""
        return self.state in ACTIVE_STATES

    def end(self, state: CallState, at: float) -> None:
        """Move to a final state at `at`."""
        self.state = state
        self.end_time = at


@attrs.define
class User:
    """What the number knows about one WhatsApp user."""

    name: str = DEFAULT_NAME
    permission: PermissionStatus = PermissionStatus.NO_PERMISSION
    expires_at: float | None = None
    permission_requests: list[float] = attrs.field(factory=list)
    connected_calls: list[float] = attrs.field(factory=list)
    last_request_id: str | None = None


@attrs.frozen
class SentMessage:
    """A message the business sent that a sandbox user can act on later."""

    to: str
    kind: str
    payload: str | None
    expires_at: float
