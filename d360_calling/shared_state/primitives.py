"""The in-process primitives behind shared state: gate, token bucket, retry budget, dedupe, and
the error window of the media lookups."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

import attrs

DAY = 24 * 60 * 60.0
DEFAULT_MAX_ENTRIES = 100_000


@attrs.define
class RateLimitGate:
    """Closed until a `time.monotonic()` moment; shared by every task of a client."""

    closed_until: float = 0.0

    def close_for(self, seconds: float, now: float) -> None:
        """Keep requests back for `seconds` from `now` (never shortens an existing close)."""
        self.closed_until = max(self.closed_until, now + seconds)

    def wait_time(self, now: float) -> float:
        """Seconds until the gate opens (0 when open)."""
        return max(0.0, self.closed_until - now)


@attrs.define
class TokenBucket:
    """Requests-per-second limiter; takes reservations so waiters queue in arrival order."""

    rate: float
    burst: int
    tokens: float = attrs.field(default=None)
    updated: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = float(self.burst)

    def reserve(self, now: float) -> float:
        """Take a token and return how long to wait until it is really there."""
        if self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self) -> None:
        """Give a reserved token back (its holder was cancelled before sending)."""
        self.tokens += 1.0


@attrs.define
class RetryBudget:
    """Token bucket of retry permission: `max_tokens` deep, `token_ratio` back per success."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1
    tokens: float = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = self.max_tokens

    def record_success(self) -> None:
        """An attempt succeeded: earn back a fraction of a token."""
        if self.tokens < self.max_tokens:
            self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def record_failure(self) -> None:
        """An attempt failed with a transient error: spend a token."""
        self.tokens = max(0.0, self.tokens - 1.0)

    @property
    def allows_retry(self) -> bool:
        """Whether recent attempts succeed often enough to try again."""
        return self.tokens > self.max_tokens / 2


class InMemoryDedupe:
    """Remembers event keys for `ttl` seconds, at most `max_entries` of them (oldest go first).

    The platform retries deliveries for up to a day, hence the default TTL.
    """

    def __init__(
        self,
        *,
        ttl: float = DAY,
        max_entries: int = DEFAULT_MAX_ENTRIES,
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

    def forget(self, key: str) -> None:
        """Drop `key`, so its next delivery counts as the first."""
        self._seen.pop(key, None)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]


@attrs.define
class ErrorWindow:
    """Error answers in a sliding window and a block: 360dialog's media error throttle as one
    process sees it. Only the `max_errors` newest times are kept, all the wait depends on."""

    times: deque[float] = attrs.field(factory=deque)
    blocked_until: float = 0.0

    def wait(self, now: float, max_errors: int, window: float) -> float:
        """Seconds until fewer than `max_errors` errors lie in the window and no block is on."""
        times = self._expire(now, window)
        wait = self.blocked_until - now
        if len(times) >= max_errors:
            wait = max(wait, times[len(times) - max_errors] + window - now)
        return max(0.0, wait)

    def record(self, now: float, max_errors: int, window: float, block: float) -> float:
        """Count an error at `now` (the count reaching `max_errors` blocks for `block`
        seconds); the wait it leaves."""
        times = self._expire(now, window)
        times.append(now)
        while len(times) > max_errors:
            times.popleft()
        if len(times) >= max_errors:
            self.block(now, block)
        return self.wait(now, max_errors, window)

    def _expire(self, now: float, window: float) -> deque[float]:
        times = self.times
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def block(self, now: float, seconds: float) -> None:
        """Hold lookups back `seconds` from `now` (never shortens a block already on)."""
        self.blocked_until = max(self.blocked_until, now + seconds)
