"""What the media benchmark's scenarios share (`benchmarks.media`): the constants of a call's
audio, this process's CPU and RSS, the user's heard buffer hooked to stamp its first frame, the
event loop's lag, the guard that every datagram stays on 127.0.0.1, and the bot's receiver
served on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from benchmarks.harness import num, percentile, table
from d360_calling.media import tone
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import Receiver

SECRET: Final = "bench-media-secret"
FRAMES_PER_SECOND: Final = 50
"""20 ms frames: what real time means for one call, each way."""
FRAME_BYTES: Final = 1920
BOT_HZ: Final = 660.0
USER_HZ: Final = 440.0
CONNECT_TIMEOUT: Final = 30.0
"""`CallAudio`'s ICE + DTLS deadline under load (the SDK's default is 15 s)."""
CHILD_LIFETIME: Final = 900.0
"""A bot or user process exits after this many seconds whatever happens."""


def spread_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max of `values` (ms); with 20 values p99 is the maximum; None without any."""
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    return {
        "p50_ms": percentile(ordered, 0.5),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1],
    }


async def tone_cost(frames: int = 500) -> float:
    """CPU µs that `tone()` (pure Python) takes to make one 20 ms frame, best of 3."""
    best = float("inf")
    for _ in range(3):
        source = tone(BOT_HZ)
        start = time.process_time()
        for _ in range(frames):
            await anext(source)
        best = min(best, (time.process_time() - start) / frames * 1e6)
        await source.aclose()
    return best


def spread_table(first: str, count: str, rows: Sequence[dict[str, Any]]) -> str:
    """A README table of `spread_ms` rows: what was measured, how many, p50, p99 and max."""
    lines = [
        [
            row["metric"],
            str(row["n"]),
            num(row["p50_ms"], ".1f"),
            num(row["p99_ms"], ".1f"),
            num(row["max_ms"], ".1f"),
        ]
        for row in rows
    ]
    return table([first, count, "p50 ms", "p99 ms", "max ms"], lines)


def cpu_seconds() -> float:
    """CPU time of this process, every thread (aiortc decodes in threads, encodes in a pool)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    """Resident set size now (`VmRSS`), MiB; peak RSS where /proc is missing."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HeardCounter(bytearray):
    """Stands in for a `UserPeer`'s heard buffer: counts every byte heard and stamps the first.

    The peer appends with `+=` as each decoded frame arrives, so the stamp is exact, with no
    polling; `heard_pcm()` and the peer's 60 s trim work on it unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.first: float | None = None

    def __iadd__(self, other: Any) -> HeardCounter:
        size = len(other)
        if size and self.first is None:
            self.first = time.perf_counter()
        self.total += size
        super().__iadd__(other)
        return self


def hook_heard(peer: UserPeer) -> HeardCounter | None:
    """Put a `HeardCounter` in place of the peer's (still empty) buffer; None if it cannot,
    in which case the caller polls `heard_pcm()` instead."""
    heard = getattr(peer, "_heard", None)
    if type(heard) is not bytearray or heard:
        return None
    counter = HeardCounter()
    peer._heard = counter  # type: ignore[assignment]
    return counter


def heard_bytes(peer: UserPeer, counter: HeardCounter | None) -> int:
    """Bytes the user heard so far (without the hook: the last 60 s only)."""
    return counter.total if counter is not None else len(peer.heard_pcm())


class LagMonitor:
    """Samples the event loop's wake-up delay every 10 ms."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: deque[float] = deque(maxlen=200_000)

    async def run(self, lifetime: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + lifetime
        while loop.time() < end:
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            self.samples.append(max(0.0, loop.time() - due))

    def take(self) -> dict[str, float | None]:
        """p50/p99/max in ms of the samples since the last call, which it forgets."""
        values = [s * 1000 for s in self.samples]
        self.samples.clear()
        return spread_ms(values)


class DatagramGuard:
    """Counts UDP datagrams sent anywhere but 127.0.0.1 (there must be none)."""

    def __init__(self) -> None:
        self.sent = 0
        self.elsewhere: list[str] = []
        self._undo: Callable[[], None] | None = None

    def install(self) -> None:
        from asyncio import selector_events

        transport = selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
        original = transport.sendto
        guard = self

        def sendto(self: Any, data: bytes, addr: Any = None) -> None:
            target = addr or self.get_extra_info("peername")
            guard.sent += 1
            if target is None or target[0] != "127.0.0.1":
                guard.elsewhere.append(repr(target))
                if len(guard.elsewhere) > 20:
                    del guard.elsewhere[0]
            original(self, data, addr)

        transport.sendto = sendto

        def undo() -> None:
            transport.sendto = original

        self._undo = undo

    def uninstall(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None


def wa_id(index: int) -> str:
    return f"1415{index:07d}"


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    """The receiver's app on 127.0.0.1, a free port: (runner, webhook URL)."""
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
