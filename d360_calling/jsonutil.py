"""JSON in and out, with deep nesting turned into a clean failure instead of `RecursionError`."""

from __future__ import annotations

import json
from typing import Any


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as request bodies are sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def loads(body: bytes) -> Any:
    """Parse JSON; raises `ValueError` for invalid, non-UTF-8 or too deeply nested input."""
    try:
        # Decoding first skips json's encoding detection, a measurable share of small bodies.
        return json.loads(body.decode())
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8") from None


def loads_or_none(body: bytes) -> Any:
    """Parse JSON, or `None` when the body is not JSON (error bodies may be HTML)."""
    try:
        return loads(body)
    except ValueError:
        return None
