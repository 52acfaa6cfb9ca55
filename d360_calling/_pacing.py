"""One 20 ms clock per event loop for every track that sends audio.

Each sending track used to sleep until its next frame: a timer per track per frame, each a push
and a pop on the loop's heap, compared in Python. With tens of calls that is most of the loop's
own overhead. Here one timer per tick wakes every track that waits for it (one shared future),
and a track's frames fall on the ticks: its first frame goes at once, the next ones on the grid.
Shared by the media layer and the sandbox's peer.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Final

PERIOD: Final = 0.02
"""Seconds between ticks: one 20 ms frame."""
_EARLY: Final = 1e-4
"""A tick this close before a due time counts as on time (loop time is a float)."""


class FrameClock:
    """Ticks every `PERIOD` on one grid, only while some track waits for one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._origin = loop.time()
        self._tick: asyncio.Future[None] | None = None

    def grid(self, at: float) -> float:
        """The last tick at or before loop time `at`: where a track's frames start."""
        return self._origin + math.floor((at - self._origin) / PERIOD + _EARLY) * PERIOD

    async def until(self, due: float) -> None:
        """Return at the first tick at or after loop time `due` (at once if it has passed)."""
        while self._loop.time() < due - _EARLY:
            await asyncio.shield(self._next())

    def _next(self) -> asyncio.Future[None]:
        if self._tick is None or self._tick.done():
            self._tick = self._loop.create_future()
            self._loop.call_at(self.grid(self._loop.time()) + PERIOD, _fire, self._tick)
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
