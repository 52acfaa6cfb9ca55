"""Drops repeated deliveries of the same event, in bounded memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

DAY = 24 * 60 * 60.0


class InMemoryDedupe:
    """Remembers event keys for `ttl` seconds, at most `max_entries` of them (oldest go first).

    The platform retries deliveries for up to a day, hence the default TTL.
    """

    def __init__(
        self,
        *,
        ttl: float = DAY,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, key: str) -> bool:
        """Record `key`; `True` the first time within the TTL, `False` for a repeat."""
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now + self.ttl
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]
