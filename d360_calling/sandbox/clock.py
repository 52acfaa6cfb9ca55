"""The sandbox's clock: real time plus an offset, so tests jump ahead instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


class SandboxClock:
    """Wall-clock time shifted by `advance()`; listeners run after each jump (expiry checks)."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        """Seconds added to real time so far."""
        return self._offset

    def now(self) -> float:
        """Unix seconds: real time plus the offset."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward and let listeners react (ringing calls time out, say)."""
        if seconds < 0:
            raise ValueError(f"the sandbox clock only moves forward, got {seconds}")
        self._offset += seconds
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every `advance()`; returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
