"""`FakeSleep`: an injectable sleep for retry policies, so tests assert exact waits fast."""

from __future__ import annotations

import asyncio


class FakeSleep:
    """Records each wait (rounded to ms) and returns at once, yielding to the loop once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        await asyncio.sleep(0)
