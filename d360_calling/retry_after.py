"""Reads how long the server asked us to wait: `retry-after-ms`, `Retry-After` seconds or date."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Final

MAX_HEADER_LENGTH: Final = 64
"""Longer values are junk (or an attack on the parser) and are ignored."""

MAX_RETRY_AFTER: Final = 3600.0
"""The longest wait (one hour) read as meant; a longer one is junk and ignored like any other
unusable value, so one absurd header cannot close the shared rate-limit gate for every call.
Waits up to this bound are kept as asked (the retry and gate caps then apply)."""


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait as the headers say, or `None` when they say nothing usable.

    `retry-after-ms` wins over `Retry-After` (as openai-python does); dates in the past give 0;
    negative, non-finite, malformed values and waits longer than `MAX_RETRY_AFTER` are ignored
    (an unusable `retry-after-ms` leaves `Retry-After` to decide).
    """
    millis = headers.get("retry-after-ms")
    if millis is not None and len(millis) <= MAX_HEADER_LENGTH:
        seconds = _number(millis)
        if seconds is not None and seconds / 1000 <= MAX_RETRY_AFTER:
            return seconds / 1000
    value = headers.get("Retry-After")
    if value is None or len(value) > MAX_HEADER_LENGTH:
        return None
    seconds = _number(value)
    if seconds is None:
        seconds = _date(value, now)
    return seconds if seconds is not None and seconds <= MAX_RETRY_AFTER else None


def _date(value: str, now: float | None) -> float | None:
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value
