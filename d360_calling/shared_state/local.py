"""`LocalState`: the in-process default, with nothing to wait on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from .primitives import (
    DEFAULT_MAX_ENTRIES,
    ErrorWindow,
    InMemoryDedupe,
    RateLimitGate,
    RetryBudget,
    TokenBucket,
)
from .protocol import BudgetLimits, MediaErrorLimits

logger = logging.getLogger("d360_calling.shared_state")


class LocalState:
    """Gate, token bucket, retry budget, dedupe set and media error window in this process (one
    per client). `clock` is the media error window's (seconds, `time.monotonic` by default;
    tests pass their own)."""

    def __init__(
        self,
        *,
        max_dedupe_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gate = RateLimitGate()
        self.media_errors = ErrorWindow()
        self._clock = clock
        self._bucket: TokenBucket | None = None
        self._budget: RetryBudget | None = None
        self._dedupe: dict[float, InMemoryDedupe] = {}
        self._max_dedupe_entries = max_dedupe_entries
        self._ended_callbacks: list[Callable[[str], None]] = []

    def bind_account(self, api_key: str) -> None:
        return None  # one process, one client: nothing to namespace

    def gate_wait(self) -> float:
        closed_until = self.gate.closed_until  # `gate.wait_time(now)`, inlined: every call asks
        if not closed_until:
            return 0.0  # never closed
        return max(0.0, closed_until - time.monotonic())

    async def close_gate(self, seconds: float) -> None:
        self.close_gate_now(seconds)

    def close_gate_now(self, seconds: float) -> None:
        """`close_gate` without awaiting (for mirrors of a remote gate)."""
        self.gate.close_for(seconds, time.monotonic())

    async def take_token(self, rate: float, burst: int) -> float:
        bucket = self._bucket
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = self._bucket = TokenBucket(rate, burst)
        return bucket.reserve(time.monotonic())

    async def return_token(self, rate: float, burst: int) -> None:
        if self._bucket is not None:
            self._bucket.refund()

    def budget(self, limits: BudgetLimits) -> RetryBudget:
        """The retry budget, made on first use with these limits."""
        if self._budget is None or self._budget.max_tokens != limits.max_tokens:
            self._budget = RetryBudget(limits.max_tokens, limits.token_ratio)
        return self._budget

    def record_success(self, limits: BudgetLimits) -> None:
        budget = self._budget
        if budget is not None and budget.tokens >= budget.max_tokens:
            return  # full: the common case, kept to two attribute reads
        self.budget(limits).record_success()

    async def record_failure(self, limits: BudgetLimits) -> bool:
        budget = self.budget(limits)
        budget.record_failure()
        return budget.allows_retry

    async def first_time(self, key: str, ttl: float) -> bool:
        return self.first_time_now(key, ttl)

    async def first_times(self, keys: Sequence[str], ttl: float, *, claim: str = "") -> list[bool]:
        """`first_time` per key (so a subclass that overrides `first_time` sees each one); no
        claim is kept: in one process no other delivery records between these and `forget`."""
        return [await self.first_time(key, ttl) for key in keys]

    def first_time_now(self, key: str, ttl: float) -> bool:
        """`first_time` without awaiting."""
        dedupe = self._dedupe.get(ttl)
        if dedupe is None:
            dedupe = self._dedupe[ttl] = InMemoryDedupe(
                ttl=ttl, max_entries=self._max_dedupe_entries
            )
        return dedupe.first_time(key)

    async def confirm(self, keys: Sequence[str], ttl: float, *, claim: str) -> None:
        """Nothing to do: `first_times` recorded the keys for `ttl` already."""

    async def forget(self, key: str, *, claim: str = "") -> None:
        for dedupe in self._dedupe.values():
            dedupe.forget(key)

    async def announce_call_ended(self, call_id: str) -> None:
        self.call_ended_now(call_id)

    def call_ended_now(self, call_id: str) -> None:
        """Run the call-ended callbacks for `call_id` in this process."""
        for callback in list(self._ended_callbacks):
            try:
                callback(call_id)
            except Exception:
                logger.exception("call-ended callback failed for %s", call_id)

    def on_call_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self._ended_callbacks.append(callback)

        def stop() -> None:
            if callback in self._ended_callbacks:
                self._ended_callbacks.remove(callback)

        return stop

    async def media_lookup_wait(self, limits: MediaErrorLimits) -> float:
        return self.media_errors.wait(self._clock(), limits.max_errors, limits.window)

    async def record_media_error(self, limits: MediaErrorLimits) -> float:
        now = self._clock()
        return self.media_errors.record(now, limits.max_errors, limits.window, limits.block)

    async def block_media_lookups(self, limits: MediaErrorLimits, seconds: float) -> None:
        self.media_errors.block(self._clock(), seconds)

    def dedupe_size(self) -> int:
        """How many event keys are remembered (bounded by `max_dedupe_entries` per TTL)."""
        return sum(len(dedupe) for dedupe in self._dedupe.values())

    async def aclose(self) -> None:
        return None
