"""`RedisState`: the rate-limit gate, token bucket, retry budget and webhook dedupe shared by
many workers through Redis (the `redis` extra: redis-py's asyncio client).

The hot path never waits on Redis: the gate is mirrored locally and kept current by pub/sub
(`redis_pubsub`), and successes only touch Redis while the budget is below full. Every Redis
call has a short timeout; when Redis is slow or down the state falls back to its in-process
twin and logs one warning per outage (`redis_link`: fail-open, a live call must never fail or
stall because the shared store did). Dedupe can fail closed instead (`redis_dedupe`), so a
receiver answers 503 and the platform redelivers.

It runs on one Redis (`redis.asyncio.Redis`) or a Redis Cluster (`redis.asyncio.RedisCluster`,
redis-py 8 or later for its pub/sub): every key carries the prefix's hash tag, so an account's
keys share one slot and each script (`redis_scripts`) touches one slot only; the gate's channel
is a plain PUBLISH (which a cluster sends to every node), passed to the script as an argument,
not a key.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import os
import uuid
from typing import TYPE_CHECKING, Final

from ..errors import ValidationError
from .protocol import BudgetLimits, MediaErrorLimits
from .redis_dedupe import UNDO_TIMEOUT, RedisDedupe
from .redis_pubsub import LISTEN_POLL
from .redis_scripts import BUCKET_RETURN, BUCKET_TAKE, BUDGET_EARN, BUDGET_FAIL, MEDIA_THROTTLE

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

logger = logging.getLogger("d360_calling.shared_state")

__all__ = ["BUDGET_TTL_MS", "DEFAULT_TIMEOUT", "RedisState", "default_prefix", "hash_tagged"]

DEFAULT_TIMEOUT: Final = 0.1
BUDGET_TTL_MS: Final = 10 * 60 * 1000
"""A budget left alone this long is forgotten (absent means full), so memory stays bounded."""


def default_prefix(api_key: str | None = None) -> str:
    """`d360:` and a fingerprint of the account's API key (never the key itself), the
    fingerprint as the hash tag: `d360:{0123456789abcdef}`."""
    key = api_key if api_key is not None else os.environ.get("D360_API_KEY")
    if not key:
        return "d360:{default}"
    return "d360:{" + hashlib.sha256(key.encode()).hexdigest()[:16] + "}"


def hash_tagged(prefix: str) -> str:
    """`prefix` if it holds a Redis Cluster hash tag (`{...}`), else `{prefix}`: all the keys
    under it then share one slot."""
    start = prefix.find("{")
    if start >= 0 and prefix.find("}", start + 1) > start + 1:
        return prefix
    return "{" + prefix + "}"


class RedisState(RedisDedupe):
    """Shared state in Redis with an in-process fallback; give every worker's `Client` and
    `Receiver` one (each its own instance, on the same Redis and prefix).

    `redis` is a `redis.asyncio.Redis` or `RedisCluster`. `prefix` namespaces the keys
    (default: a fingerprint of `api_key` or `$D360_API_KEY`) and is wrapped in a hash tag
    unless it has one (`"hooks"` becomes `"{hooks}"`). `timeout` bounds every Redis call;
    `dedupe_fail_closed=True` makes webhook dedupe raise `SharedStateUnavailable` instead of
    falling back while Redis is down.

    Its parts, each a base class: `RedisLink` (each call, and the fallback), `RedisPubSub` (the
    gate and calls ended), `RedisDedupe` (webhook dedupe); the bucket, the budget and the media
    error throttle (counted per account, on Redis's clock) are here.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        prefix: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        dedupe_fail_closed: bool = False,
    ) -> None:
        if not hasattr(redis, "pubsub"):
            raise ValidationError("redis", "a RedisCluster needs redis-py 8 or later (pub/sub)")
        super().__init__(redis, timeout=timeout, dedupe_fail_closed=dedupe_fail_closed)
        self._explicit_prefix = prefix is not None or api_key is not None
        self._use_prefix(prefix if prefix is not None else default_prefix(api_key))
        self._bucket_take = redis.register_script(BUCKET_TAKE)
        self._bucket_return = redis.register_script(BUCKET_RETURN)
        self._budget_fail = redis.register_script(BUDGET_FAIL)
        self._budget_earn = redis.register_script(BUDGET_EARN)
        self._media_throttle = redis.register_script(MEDIA_THROTTLE)
        self._budget_mirror: float | None = None
        self._unearned = 0
        self._earning: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RedisState(prefix={self.prefix!r}, down={self._down})"

    def _use_prefix(self, prefix: str) -> None:
        self.prefix = prefix = hash_tagged(prefix)
        self._gate_key = f"{prefix}:gate"
        self._gate_channel = f"{prefix}:gate:events"
        self._ended_channel = f"{prefix}:calls:ended"
        self._bucket_key = f"{prefix}:bucket"
        self._budget_key = f"{prefix}:budget"
        self._media_keys = [f"{prefix}:media:errors", f"{prefix}:media:blocked"]

    def bind_account(self, api_key: str) -> None:
        if not self._explicit_prefix and self._listener is None:
            self._use_prefix(default_prefix(api_key))

    # -- the requests-per-second bucket -----------------------------------------------------

    async def take_token(self, rate: float, burst: int) -> float:
        reply = await self._script(self._bucket_take, [self._bucket_key], [rate, burst], None)
        if reply is None:
            return await self.local.take_token(rate, burst)
        return float(reply)

    async def return_token(self, rate: float, burst: int) -> None:
        reply = await self._script(self._bucket_return, [self._bucket_key], [burst], None)
        if reply is None:
            await self.local.return_token(rate, burst)

    # -- the retry budget ----------------------------------------------------------------------

    def record_success(self, limits: BudgetLimits) -> None:
        self.local.record_success(limits)
        mirror = self._budget_mirror
        if mirror is None or mirror >= limits.max_tokens:
            return  # full (as far as this worker knows): nothing to earn back
        self._unearned += 1
        if self._earning is None or self._earning.done():
            loop = asyncio.get_running_loop()
            self._earning = loop.create_task(self._earn(limits), context=contextvars.Context())

    async def _earn(self, limits: BudgetLimits) -> None:
        while self._unearned:
            count, self._unearned = self._unearned, 0
            args = [str(limits.max_tokens), str(limits.token_ratio * count), str(BUDGET_TTL_MS)]
            reply = await self._script(self._budget_earn, [self._budget_key], args, None)
            if reply is not None:
                self._budget_mirror = float(reply)

    async def record_failure(self, limits: BudgetLimits) -> bool:
        local_allows = await self.local.record_failure(limits)
        args = [str(limits.max_tokens), str(BUDGET_TTL_MS)]
        reply = await self._script(self._budget_fail, [self._budget_key], args, None)
        if reply is None:
            return local_allows
        self._budget_mirror = tokens = float(reply)
        return tokens > limits.max_tokens / 2

    # -- the media error throttle (per account: every worker's lookups count together) --------

    async def media_lookup_wait(self, limits: MediaErrorLimits) -> float:
        reply = await self._media(limits, "wait", 0.0)
        return await self.local.media_lookup_wait(limits) if reply is None else reply

    async def record_media_error(self, limits: MediaErrorLimits) -> float:
        local_wait = await self.local.record_media_error(limits)
        reply = await self._media(limits, "error", limits.block)
        return local_wait if reply is None else reply

    async def block_media_lookups(self, limits: MediaErrorLimits, seconds: float) -> None:
        await self.local.block_media_lookups(limits, seconds)
        await self._media(limits, "block", seconds)

    async def _media(self, limits: MediaErrorLimits, mode: str, block: float) -> float | None:
        """One run of the throttle's script: seconds until a lookup may go, `None` if Redis
        did not answer (the local twin, which counts too, answers then)."""
        args = [
            limits.max_errors,
            max(1, round(limits.window * 1000)),
            mode,
            max(0, round(block * 1000)),
            uuid.uuid4().hex,
        ]
        reply = await self._script(self._media_throttle, self._media_keys, args, None)
        return None if reply is None else float(reply) / 1000

    async def aclose(self) -> None:
        """Stop the gate listener and pending budget updates; the Redis client stays open."""
        self._closed = True
        if self._undoing:  # a deferred delivery's keys: let their deletion finish first
            await asyncio.wait(self._undoing, timeout=UNDO_TIMEOUT)
        tasks = [t for t in (self._listener, self._earning) if t is not None and not t.done()]
        unfinished = [t for t in self._undoing if not t.done()]
        if unfinished:
            logger.warning(
                "%d deferred deliveries' dedupe keys not given back at close; they lapse in %gs",
                len(unfinished),
                self.pending_ttl,
            )
        tasks += unfinished
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=LISTEN_POLL * 4)
