"""The plumbing under `RedisState`: each Redis call within its timeout, or the local fallback.

When a call fails, the state logs one warning per outage and, for `COOL_DOWN`, goes straight to
its in-process twin, so an unreachable Redis costs one timeout, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .local import LocalState

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
    from redis.commands.core import AsyncScript

logger = logging.getLogger("d360_calling.shared_state")

T = TypeVar("T")

COOL_DOWN: Final = 1.0
"""After a failed Redis call, calls go straight to the local state this long (or until the gate
listener reconnects), so an unreachable Redis costs one timeout, not one per request."""
CONNECT_TIMEOUT: Final = 1.0
"""The bound on a client's first connection (a cluster client's includes its slot map)."""


class RedisLink:
    """The Redis client, the in-process twin (`local`) and whether Redis answers now."""

    def __init__(self, redis: Redis | RedisCluster, *, timeout: float) -> None:
        self._redis = redis
        self.timeout = timeout
        self.local = LocalState()
        self._down = False
        self._retry_at = 0.0
        self._initialized = False
        self._loaded: set[object] = set()
        """Scripts tried here once (Redis loaded them on their first run)."""
        self._in_flight = 0
        self._connections = 0
        """The most round trips tried at once: about the connections the pool has opened."""
        self._closed = False

    @property
    def available(self) -> bool:
        """Whether the last Redis call succeeded."""
        return not self._down

    def _cooling_down(self) -> bool:
        return self._down and time.monotonic() < self._retry_at

    async def _script(
        self, script: AsyncScript, keys: list[str], args: list[Any], fallback: Any
    ) -> Any:
        """Run one of the scripts through `_shared` (its first run has the set-up allowance)."""
        return await self._shared(lambda: script(keys=keys, args=args), fallback, script=script)

    async def _shared(
        self, call: Callable[[], Awaitable[T]], fallback: Any, *, script: object = None
    ) -> Any:
        """One Redis call within the timeout; `fallback` (and one warning) if it fails, and at
        once while cooling down after a failure.

        A round trip that sets something up gets the longer `CONNECT_TIMEOUT` on its first
        try: the client's first (a cluster client fetches its slot map), the first at each new
        height of calls in flight (the pool opens a connection for it), and each script's first
        run (loaded on each primary). A burst in a new worker's first second then does not fall
        open; every later call, during an outage too, has the short `timeout`."""
        if self._cooling_down():
            return fallback
        self._in_flight += 1
        setting_up = self._in_flight > self._connections or (
            script is not None and script not in self._loaded
        )
        self._connections = max(self._connections, self._in_flight)
        if script is not None:
            self._loaded.add(script)
        try:
            if not self._initialized:
                async with asyncio.timeout(max(self.timeout, CONNECT_TIMEOUT)):
                    await self._redis.initialize()
                self._initialized = True
            async with asyncio.timeout(
                max(self.timeout, CONNECT_TIMEOUT) if setting_up else self.timeout
            ):
                result = await call()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._fell_down(error)
            return fallback
        finally:
            self._in_flight -= 1
        self._up()
        return result

    def _fell_down(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + COOL_DOWN
        if not self._down:
            self._down = True
            logger.warning(
                "shared state in Redis unavailable (%s); using in-process state until it is back",
                type(error).__name__,
            )

    def _up(self) -> None:
        if self._down:
            self._down = False
            logger.info("shared state in Redis is back")
