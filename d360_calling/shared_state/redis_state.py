"""`RedisState`: the rate-limit gate, token bucket, retry budget and webhook dedupe shared by
many workers through Redis (the `redis` extra: redis-py's asyncio client).

The hot path never waits on Redis: the gate is mirrored locally and kept current by pub/sub,
and successes only touch Redis while the budget is below full. Every Redis call has a short
timeout; when Redis is slow or down the state falls back to its in-process twin and logs one
warning per outage (fail-open: a live call must never fail or stall because the shared store
did). Dedupe can fail closed instead, so a receiver answers 503 and the platform redelivers.

It runs on one Redis (`redis.asyncio.Redis`) or a Redis Cluster (`redis.asyncio.RedisCluster`,
redis-py 8 or later for its pub/sub): every key carries the prefix's hash tag, so an account's
keys share one slot and each script touches one slot only; the gate's channel is a plain
PUBLISH (which a cluster sends to every node), passed to the script as an argument, not a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import ValidationError
from .local import LocalState
from .protocol import BudgetLimits, SharedStateUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
    from redis.commands.core import AsyncScript

logger = logging.getLogger("d360_calling.shared_state")

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 0.1
UNDO_TIMEOUT: Final = 1.0
UNDO_WAITS: Final = (0.1, 0.5, 1.0)
"""Waits between the tries to delete a deferred delivery's dedupe keys (bounded)."""
LISTEN_POLL: Final = 0.5
"""Seconds the pub/sub listener waits for a message before it checks whether it was closed."""
COOL_DOWN: Final = 1.0
"""After a failed Redis call, calls go straight to the local state this long (or until the gate
listener reconnects), so an unreachable Redis costs one timeout, not one per request."""
CONNECT_TIMEOUT: Final = 1.0
"""The bound on a client's first connection (a cluster client's includes its slot map)."""
BUDGET_TTL_MS: Final = 10 * 60 * 1000
"""A budget left alone this long is forgotten (absent means full), so memory stays bounded."""
MAX_KEY_LENGTH: Final = 200
VOID_TTL: Final = 3600.0
"""Seconds a given-back dedupe key stays void: longer than a deferred delivery's script can
wait queued in Redis (behind a pause or a failover), so that script then records nothing."""

# Every script reads Redis's own clock, so workers on different hosts agree on time.
_GATE_CLOSE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wanted = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if wanted > current then
  redis.call('SET', KEYS[1], tostring(wanted), 'PX', ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
end
return 'ok'
"""
_GATE_READ: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(math.max(0, until_ms - now))
"""
_BUCKET_TAKE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2]) or now
if tokens == nil then tokens = burst end
tokens = math.min(burst, tokens + (now - ts) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
local wait = 0
if tokens < 0 then wait = -tokens / rate end
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate + wait + 1) * 1000))
return tostring(wait)
"""
_BUCKET_RETURN: Final = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
end
return 'ok'
"""
_BUDGET_FAIL: Final = """
local tokens = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
tokens = math.max(0, tokens - 1)
redis.call('SET', KEYS[1], tostring(tokens), 'PX', ARGV[2])
return tostring(tokens)
"""
_BUDGET_EARN: Final = """
local full = tonumber(ARGV[1])
local tokens = math.min(full, tonumber(redis.call('GET', KEYS[1]) or ARGV[1]) + tonumber(ARGV[2]))
if tokens >= full then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tostring(tokens), 'PX', ARGV[3])
end
return tostring(tokens)
"""

# A dedupe key holds the claim (a random token) of the delivery that recorded it. A delivery
# deferred because its answer came late gives its keys back: only those still holding its claim,
# or none yet (its script may still be queued), become `void:<claim>`. Its own late script then
# records nothing, another delivery's keys are never touched, and anyone else may take a void.
_DEDUPE: Final = """
local fresh = {}
local given_back = 'void:' .. ARGV[2]
for i, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held == given_back then
    fresh[i] = 0
  elseif not held or string.sub(held, 1, 5) == 'void:' then
    redis.call('SET', key, ARGV[2], 'PX', ARGV[1])
    fresh[i] = 1
  else
    fresh[i] = 0
  end
end
return fresh
"""

_GIVE_BACK: Final = """
local given_back = 'void:' .. ARGV[1]
local count = 0
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if not held or held == ARGV[1] or ARGV[1] == '' or string.sub(held, 1, 5) == 'void:' then
    redis.call('SET', key, given_back, 'PX', ARGV[2])
    count = count + 1
  end
end
return count
"""


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


class RedisState:
    """Shared state in Redis with an in-process fallback; give every worker's `Client` and
    `Receiver` one (each its own instance, on the same Redis and prefix).

    `redis` is a `redis.asyncio.Redis` or `RedisCluster`. `prefix` namespaces the keys
    (default: a fingerprint of `api_key` or `$D360_API_KEY`) and is wrapped in a hash tag
    unless it has one (`"hooks"` becomes `"{hooks}"`). `timeout` bounds every Redis call;
    `dedupe_fail_closed=True` makes webhook dedupe raise `SharedStateUnavailable` instead of
    falling back while Redis is down.
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
        self._redis = redis
        self._explicit_prefix = prefix is not None or api_key is not None
        self._use_prefix(prefix if prefix is not None else default_prefix(api_key))
        self.timeout = timeout
        self.dedupe_fail_closed = dedupe_fail_closed
        self.local = LocalState()
        self._gate_close = redis.register_script(_GATE_CLOSE)
        self._gate_read = redis.register_script(_GATE_READ)
        self._bucket_take = redis.register_script(_BUCKET_TAKE)
        self._bucket_return = redis.register_script(_BUCKET_RETURN)
        self._budget_fail = redis.register_script(_BUDGET_FAIL)
        self._budget_earn = redis.register_script(_BUDGET_EARN)
        self._dedupe = redis.register_script(_DEDUPE)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._budget_mirror: float | None = None
        self._unearned = 0
        self._earning: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._undoing: set[asyncio.Task[None]] = set()
        self._down = False
        self._retry_at = 0.0
        self._initialized = False
        self._loaded: set[object] = set()
        """Scripts that ran here once (so Redis has them loaded)."""
        self._in_flight = 0
        self._connections = 0
        """The most round trips that succeeded at once: connections the pool holds open."""
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisState(prefix={self.prefix!r}, down={self._down})"

    def _use_prefix(self, prefix: str) -> None:
        self.prefix = prefix = hash_tagged(prefix)
        self._gate_key = f"{prefix}:gate"
        self._gate_channel = f"{prefix}:gate:events"
        self._ended_channel = f"{prefix}:calls:ended"
        self._bucket_key = f"{prefix}:bucket"
        self._budget_key = f"{prefix}:budget"

    def bind_account(self, api_key: str) -> None:
        if not self._explicit_prefix and self._listener is None:
            self._use_prefix(default_prefix(api_key))

    @property
    def available(self) -> bool:
        """Whether the last Redis call succeeded."""
        return not self._down

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

    # -- webhook dedupe ------------------------------------------------------------------------

    async def first_time(self, key: str, ttl: float) -> bool:
        return (await self.first_times([key], ttl))[0]

    async def first_times(self, keys: Sequence[str], ttl: float, *, claim: str = "") -> list[bool]:
        """Record a delivery's keys with one script call (one round trip, one slot); each key
        holds `claim` (a fresh token when none is given), so only this delivery gives it back."""
        self._ensure_listener()  # a receiver hears of calls that end on other workers
        if not keys:
            return []
        claim = claim or secrets.token_hex(8)
        short = [_short(key) for key in keys]
        names = [self._dedupe_name(key) for key in short]
        millis = _millis(ttl)
        attempted = not self._cooling_down()
        reply = await self._script(self._dedupe, names, [millis, claim], _MISSING)
        if reply is _MISSING:
            if self.dedupe_fail_closed:
                if attempted:  # the script may run, or have run, with its answer lost
                    self._spawn_give_back(names, claim)
                raise SharedStateUnavailable("Redis is unavailable and dedupe fails closed")
            return [self.local.first_time_now(key, ttl) for key in short]
        return [bool(fresh) for fresh in reply]

    async def forget(self, key: str, *, claim: str = "") -> None:
        """Give back a key this delivery recorded (`claim`): a key another delivery holds now
        stays, so its handled event is not handled again. No claim gives back any holder's."""
        key = _short(key)
        await self.local.forget(key)
        names = [self._dedupe_name(key)]
        args = [claim, _millis(VOID_TTL)]
        if await self._script(self._give_back, names, args, _MISSING) is _MISSING:
            # A delivery handed back must be handled when it comes again: keep trying.
            self._spawn_give_back(names, claim)

    def _dedupe_name(self, short_key: str) -> str:
        return f"{self.prefix}:dedupe:{short_key}"

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
                    await self._give_back(keys=names, args=[claim, _millis(VOID_TTL)])
                return
            except Exception:
                await asyncio.sleep(wait)
        logger.warning("could not give back %d dedupe keys of a deferred delivery", len(names))

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

    # -- plumbing ------------------------------------------------------------------------------

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

        Round trips that set something up get the longer `CONNECT_TIMEOUT`: the client's first
        (a cluster client fetches its slot map), one that needs a new connection (more calls
        in flight than ever succeeded at once since the last failure), and a `script`'s first
        run (loaded on each primary). A burst in a new worker's first second must not fall open."""
        if self._cooling_down():
            return fallback
        self._in_flight += 1
        concurrent = self._in_flight
        setting_up = concurrent > self._connections or (
            script is not None and script not in self._loaded
        )
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
            self._connections = 0  # the pool's connections may be gone with the failure
            self._fell_down(error)
            return fallback
        finally:
            self._in_flight -= 1
        self._connections = max(self._connections, concurrent)
        if script is not None:
            self._loaded.add(script)
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

    async def aclose(self) -> None:
        """Stop the gate listener and pending budget updates; the Redis client stays open."""
        self._closed = True
        if self._undoing:  # a deferred delivery's keys: let their deletion finish first
            await asyncio.wait(self._undoing, timeout=UNDO_TIMEOUT)
        tasks = [t for t in (self._listener, self._earning) if t is not None and not t.done()]
        tasks += [t for t in self._undoing if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=LISTEN_POLL * 4)


_MISSING: Final = object()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _millis(seconds: float) -> int:
    """Seconds as whole milliseconds for `PX`, at least one."""
    return max(1, round(seconds * 1000))


def _short(key: str) -> str:
    """A dedupe key short enough for Redis keys (long ones are hashed)."""
    return key if len(key) <= MAX_KEY_LENGTH else hashlib.sha256(key.encode()).hexdigest()


async def _quietly(awaitable: Awaitable[Any]) -> None:
    """Await a clean-up step whose failure changes nothing (the connection is gone anyway)."""
    try:
        await awaitable
    except Exception:
        return
