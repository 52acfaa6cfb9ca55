"""What `RedisState` hears by pub/sub: gate closes and calls ended, mirrored locally.

The hot path never waits on Redis: `gate_wait` reads the local mirror, which one listener task
keeps current from every worker's publishes (and which it reconnects with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from .redis_link import CONNECT_TIMEOUT, RedisLink
from .redis_scripts import GATE_CLOSE, GATE_READ

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

LISTEN_POLL: Final = 0.5
"""Seconds the pub/sub listener waits for a message before it checks whether it was closed."""


class RedisPubSub(RedisLink):
    """The rate-limit gate and the calls-ended announcements, shared through pub/sub."""

    _gate_key: str
    _gate_channel: str
    _ended_channel: str
    """The gate's key and the two channels, named after the prefix by `RedisState`."""

    def __init__(self, redis: Redis | RedisCluster, *, timeout: float) -> None:
        super().__init__(redis, timeout=timeout)
        self._gate_close = redis.register_script(GATE_CLOSE)
        self._gate_read = redis.register_script(GATE_READ)
        self._listener: asyncio.Task[None] | None = None

    # -- the gate: local mirror, kept current by pub/sub --------------------------------------

    def gate_wait(self) -> float:
        self._ensure_listener()
        return self.local.gate_wait()

    def _ensure_listener(self) -> None:
        """Start the pub/sub listener if it is not running (in a fresh context, so it keeps
        none of the contextvars, such as a trace, of the request that happened to start it)."""
        if (self._listener is None or self._listener.done()) and not self._closed:
            loop = asyncio.get_running_loop()
            self._listener = loop.create_task(self._listen(), context=contextvars.Context())

    async def close_gate(self, seconds: float) -> None:
        self.local.close_gate_now(seconds)
        millis = str(max(1, round(seconds * 1000)))
        await self._script(self._gate_close, [self._gate_key], [millis, self._gate_channel], None)

    async def _listen(self) -> None:
        """Mirror gate closes from every worker; reconnect with backoff while Redis is down."""
        backoff = 0.1
        while not self._closed:
            pubsub = self._redis.pubsub()
            try:
                async with asyncio.timeout(max(self.timeout * 5, CONNECT_TIMEOUT)):
                    await self._redis.initialize()  # a cluster's pub/sub needs its slot map
                    await pubsub.subscribe(self._gate_channel, self._ended_channel)
                    remaining = await self._gate_read(keys=[self._gate_key])
                self.local.close_gate_now(float(remaining) / 1000)
                self._up()
                backoff = 0.1
                # Polled with a timeout rather than `listen()`: a cluster client's pub/sub can
                # swallow a cancellation while it waits, so the loop also checks `_closed`.
                while not self._closed:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=LISTEN_POLL
                    )
                    if message is None:
                        continue
                    if _text(message["channel"]) == self._ended_channel:
                        self.local.call_ended_now(_text(message["data"]))
                    else:
                        self.local.close_gate_now(float(message["data"]) / 1000)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._fell_down(error)
            finally:
                # Typed as a plain callable: redis types `aclose` in some releases and not others.
                close_pubsub: Callable[[], Awaitable[object]] = pubsub.aclose
                await _quietly(close_pubsub())
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    # -- calls ended anywhere ------------------------------------------------------------------

    async def announce_call_ended(self, call_id: str) -> None:
        """Run the callbacks here at once, and publish to every other worker (here too, which
        is harmless: callbacks may run twice)."""
        self._ensure_listener()
        self.local.call_ended_now(call_id)
        await self._shared(lambda: self._redis.publish(self._ended_channel, call_id), None)

    def on_call_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        with contextlib.suppress(RuntimeError):  # no running loop yet: the next call starts it
            self._ensure_listener()
        return self.local.on_call_ended(callback)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _quietly(awaitable: Awaitable[Any]) -> None:
    """Await a clean-up step whose failure changes nothing (the connection is gone anyway)."""
    try:
        await awaitable
    except Exception:
        return
