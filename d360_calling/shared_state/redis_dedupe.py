"""Webhook dedupe in Redis: each delivery claims its keys, and gives back only what it holds.

A claimed key is pending until the delivery confirms its handlers started (then it is kept for
the dedupe window); another delivery of the same event meanwhile is told to come back later
(`DeliveryInProgress`), never dropped. A delivery deferred because its answer came late gives
its keys back (in the background, a few bounded tries) so its redelivery is handled, and a
claim neither confirmed nor given back lapses after `PENDING_TTL`. With `dedupe_fail_closed` an
unreachable Redis raises `SharedStateUnavailable` instead of falling back (503 either way).
See `redis_scripts.py` for the scripts' rules.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from .protocol import DeliveryInProgress, SharedStateUnavailable
from .redis_pubsub import RedisPubSub
from .redis_scripts import CONFIRM, DEDUPE, GIVE_BACK

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

logger = logging.getLogger("d360_calling.shared_state")

UNDO_TIMEOUT: Final = 1.0
UNDO_WAITS: Final = (0.1, 0.5, 1.0)
"""Waits between the tries to delete a deferred delivery's dedupe keys (bounded)."""
MAX_KEY_LENGTH: Final = 200
VOID_TTL: Final = 3600.0
"""Seconds a given-back claim's marker stays: longer than a deferred delivery's script can wait
queued in Redis (behind a pause or a failover), so that script then records nothing."""
PENDING_TTL: Final = 30.0
"""Seconds a claimed key stays pending before it lapses: a worker that recorded it and then
neither confirmed nor gave it back (it crashed, Redis failed) blocks the event no longer."""


class RedisDedupe(RedisPubSub):
    """`first_times` and `forget` by claim (on the pub/sub part: a receiver that dedupes also
    starts the listener, so it hears of calls that end on other workers)."""

    prefix: str
    """The keys' prefix, set by `RedisState`."""

    def __init__(
        self, redis: Redis | RedisCluster, *, timeout: float, dedupe_fail_closed: bool
    ) -> None:
        super().__init__(redis, timeout=timeout)
        self.dedupe_fail_closed = dedupe_fail_closed
        self._dedupe = redis.register_script(DEDUPE)
        self._give_back = redis.register_script(GIVE_BACK)
        self._confirm = redis.register_script(CONFIRM)
        self.pending_ttl = PENDING_TTL
        self._undoing: set[asyncio.Task[None]] = set()

    async def first_time(self, key: str, ttl: float) -> bool:
        return (await self.first_times([key], ttl))[0]

    async def first_times(self, keys: Sequence[str], ttl: float, *, claim: str = "") -> list[bool]:
        """Record a delivery's keys with one script call (one round trip, one slot).

        With a `claim` the new keys are pending until `confirm` (or lapse after
        `pending_ttl`); without one they are recorded for `ttl` at once. Raises
        `DeliveryInProgress` when another claim is recording one of the keys right now."""
        self._ensure_listener()  # a receiver hears of calls that end on other workers
        if not keys:
            return []
        short = [_short(key) for key in keys]
        names = [self._dedupe_name(key) for key in short]
        state, lasting = ("p", self.pending_ttl) if claim else ("d", ttl)
        claim = claim or secrets.token_hex(8)
        args = [_millis(lasting), claim, state]
        attempted = not self._cooling_down()
        reply = await self._script(self._dedupe, [*names, self._void_name(claim)], args, _MISSING)
        if reply is _MISSING:
            if self.dedupe_fail_closed:
                if attempted:  # the script may run, or have run, with its answer lost
                    self._spawn_give_back(names, claim)
                raise SharedStateUnavailable("Redis is unavailable and dedupe fails closed")
            return [self.local.first_time_now(key, ttl) for key in short]
        if reply == -1:
            raise DeliveryInProgress("another delivery of these events is being recorded")
        return [bool(fresh) for fresh in reply]

    async def confirm(self, keys: Sequence[str], ttl: float, *, claim: str) -> None:
        """The handlers of these claimed keys started: keep the keys for `ttl` (the dedupe
        window). If Redis does not answer, they lapse after `pending_ttl` instead."""
        if keys:
            names = [self._dedupe_name(_short(key)) for key in keys]
            await self._script(self._confirm, names, [_millis(ttl), claim], None)

    async def forget(self, key: str, *, claim: str = "") -> None:
        """Give back a key this delivery recorded (`claim`): a key another delivery holds now
        stays, so its handled event is not handled again. No claim gives back any holder's."""
        key = _short(key)
        await self.local.forget(key)
        names = [self._dedupe_name(key)]
        args = [claim, _millis(VOID_TTL)]
        if (
            await self._script(self._give_back, [*names, self._void_name(claim)], args, _MISSING)
            is _MISSING
        ):
            # A delivery handed back must be handled when it comes again: keep trying.
            self._spawn_give_back(names, claim)

    def _dedupe_name(self, short_key: str) -> str:
        return f"{self.prefix}:dedupe:{short_key}"

    def _void_name(self, claim: str) -> str:
        """The marker that `claim` was given back (same hash tag: same slot as its keys)."""
        return f"{self.prefix}:dedupe-void:{claim}"

    def _spawn_give_back(self, names: list[str], claim: str) -> None:
        """Give `names` back in the background (a deferred delivery must be handled when it
        comes again), a few bounded tries past the cool-down; not once the state is closed."""
        if self._closed:
            logger.warning("%d dedupe keys left in Redis: the shared state is closed", len(names))
            return
        task = asyncio.get_running_loop().create_task(
            self._give_back_with_retries(names, claim), context=contextvars.Context()
        )
        self._undoing.add(task)
        task.add_done_callback(self._undoing.discard)

    async def _give_back_with_retries(self, names: list[str], claim: str) -> None:
        for wait in UNDO_WAITS:
            try:
                async with asyncio.timeout(max(self.timeout, UNDO_TIMEOUT)):
                    keys = [*names, self._void_name(claim)]
                    await self._give_back(keys=keys, args=[claim, _millis(VOID_TTL)])
                return
            except Exception:
                await asyncio.sleep(wait)
        logger.warning(
            "could not give back %d dedupe keys of a deferred delivery; they lapse in %gs",
            len(names),
            self.pending_ttl,
        )


_MISSING: Final = object()


def _millis(seconds: float) -> int:
    """Seconds as whole milliseconds for `PX`, at least one."""
    return max(1, round(seconds * 1000))


def _short(key: str) -> str:
    """A dedupe key short enough for Redis keys (long ones are hashed)."""
    return key if len(key) <= MAX_KEY_LENGTH else hashlib.sha256(key.encode()).hexdigest()
