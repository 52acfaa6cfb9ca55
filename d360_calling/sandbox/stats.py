"""Counters of what the sandbox received, applied and broke, so tests can prove effects."""

from __future__ import annotations

from collections import Counter

import attrs


@attrs.define
class Stats:
    """Per operation: requests received and side effects applied; per fault label: injections.

    A request counts in `requests` as soon as it arrives (faulted or not); it counts in
    `effects` only when the sandbox changed or served state for it with a 2xx answer, so
    `effects["calls.connect"] == 1` proves one call was placed however many retries came in.
    """

    requests: Counter[str] = attrs.field(factory=Counter)
    effects: Counter[str] = attrs.field(factory=Counter)
    faults: Counter[str] = attrs.field(factory=Counter)
    dropped: Counter[str] = attrs.field(factory=Counter)
    """Requests dropped unread, by reason ("stale_conn": their connection was marked stale);
    they count in neither `requests` nor `effects`, since the server never read them."""

    def reset(self) -> None:
        """Zero every counter."""
        self.requests.clear()
        self.effects.clear()
        self.faults.clear()
        self.dropped.clear()
