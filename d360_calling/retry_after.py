"""Reads how long the server asked us to wait: `retry-after-ms`, `Retry-After` seconds or date."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

MAX_HEADER_LENGTH = 64
"""Longer values are junk (or an attack on the parser) and are ignored."""


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait as the headers say, or `None` when they say nothing usable.

    `retry-after-ms` wins over `Retry-After` (as openai-python does); dates in the past give 0;
    negative, non-finite and malformed values are ignored.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None and len(millis) <= MAX_HEADER_LENGTH:
        seconds = _number(millis)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("Retry-After")
    if value is None or len(value) > MAX_HEADER_LENGTH:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
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
