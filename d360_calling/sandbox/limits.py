"""The sandbox's quotas and timers, defaulting to the production values (API reference, §6)."""

from __future__ import annotations

import attrs

DAY = 24 * 60 * 60
"""Seconds in the 24 h windows the limits are counted over."""
WEEK = 7 * DAY
"""Seconds in the 7-day windows (permission requests, temporary permission lifetime)."""


@attrs.frozen(kw_only=True)
class Limits:
    """Per-user and per-number limits the sandbox enforces; tests shrink them to hit them fast."""

    permission_requests_per_day: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    """Call permission requests per user per 24 h (error 138009)."""
    permission_requests_per_week: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    """Call permission requests per user per 7 days (error 138009)."""
    connected_calls_per_day: int = attrs.field(default=100, validator=attrs.validators.ge(0))
    """Connected business-initiated calls per user per 24 h (error 138012)."""
    concurrent_calls: int = attrs.field(default=1000, validator=attrs.validators.ge(0))
    """Calls ringing or connected at once on the number (error 138002)."""
    temporary_permission_seconds: float = attrs.field(
        default=WEEK, validator=attrs.validators.gt(0)
    )
    """Lifetime of a temporary call permission, counted from the grant."""
    ring_timeout_seconds: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    """A call not picked up within this time ends with a terminate webhook (state timed_out)."""
    max_recording_seconds: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))
    """The longest recording the sandbox makes: a call of silence (no media) longer than this on
    the sandbox clock, after a jump of days say, is recorded for this long only."""
    media_retention_seconds: float = attrs.field(default=WEEK, validator=attrs.validators.gt(0))
    """Recordings and transcripts are kept this long, then `GET /{media-id}` answers 404 (§11.1)."""
    media_url_seconds: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    """Lifetime of a media download URL (5 minutes, §11.1)."""
    media_errors_allowed: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    """Error answers of `GET /{media-id}` within `media_error_window_seconds` that block it
    (§11.2)."""
    media_error_window_seconds: float = attrs.field(
        default=3600.0, validator=attrs.validators.gt(0)
    )
    media_block_seconds: float = attrs.field(default=1800.0, validator=attrs.validators.gt(0))
    """How long `GET /{media-id}` answers 429 once blocked."""
    reject_duplicate_calls: bool = True
    """Refuse a connect to a user who already has a call ringing or connected (error 138003).
    Off, a resent connect rings the user again, so a test can count duplicates per tag."""
