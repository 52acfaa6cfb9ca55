"""One clock per event loop for every track that sends audio.

Each sending track used to sleep until its next frame: a timer per track per frame, each a push
and a pop on the loop's heap, compared in Python. Here one timer per tick (every 5 ms) wakes
every track that waits for it (one shared future), and a track's frames fall on the ticks: its
first frame goes at once, the next ones every 20 ms on the grid. Four ticks a frame spread the
tracks over four phases, so their sending is not bunched (at 40 calls, runs with one phase had a
loop lag p99 of 18-50 ms, with four 16-18 ms). Shared by the media layer and the sandbox's peer.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Final

PERIOD: Final = 0.02
"""Seconds of one frame."""
TICK: Final = PERIOD / 4
"""Seconds between ticks: tracks start on any of four phases of a frame, so their sending is
spread over the frame rather than bunched at one instant (which the loop would feel as lag)."""
_EARLY: Final = 1e-4
"""A tick this close before a due time counts as on time (loop time is a float)."""


class FrameClock:
    """Ticks every `TICK` on one grid, only while some track waits for one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._origin = loop.time()
        self._tick: asyncio.Future[None] | None = None

    def grid(self, at: float) -> float:
        """The last tick at or before loop time `at`: where a track's frames start."""
        return self._origin + math.floor((at - self._origin) / TICK + _EARLY) * TICK

    async def until(self, due: float) -> None:
        """Return at the first tick at or after loop time `due` (at once if it has passed)."""
        while self._loop.time() < due - _EARLY:
            await asyncio.shield(self._next())

    def _next(self) -> asyncio.Future[None]:
        if self._tick is None or self._tick.done():
            self._tick = self._loop.create_future()
            self._loop.call_at(self.grid(self._loop.time()) + TICK, _fire, self._tick)
        return self._tick


def _fire(tick: asyncio.Future[None]) -> None:
    if not tick.done():
        tick.set_result(None)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameClock] = (
    weakref.WeakKeyDictionary()
)


def frame_clock() -> FrameClock:
    """The running loop's clock, made on first use."""
    loop = asyncio.get_running_loop()
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = FrameClock(loop)
    return clock
