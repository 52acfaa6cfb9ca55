"""One clock per loop paces every sending track: one timer per tick (four a frame), never early."""

from __future__ import annotations

import asyncio

import pytest

from d360_calling._pacing import PERIOD, TICK, FrameClock, frame_clock


async def test_many_tracks_share_one_timer_per_tick_and_none_wakes_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    clock = FrameClock(loop)
    timers = 0
    call_at = loop.call_at

    def counted(when: float, callback: object, *args: object) -> asyncio.TimerHandle:
        nonlocal timers
        timers += 1
        return call_at(when, callback, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_at", counted)
    start = clock.grid(loop.time())
    woke: list[float] = []

    async def track() -> None:
        for frame in range(1, 4):
            due = start + frame * PERIOD
            await clock.until(due)
            assert loop.time() >= due - 1e-4, "a frame left before its tick"
            woke.append(loop.time())

    async with asyncio.timeout(5.0):
        await asyncio.gather(*(track() for _ in range(25)))
    assert len(woke) == 75
    ticks = round(3 * PERIOD / TICK)
    assert ticks <= timers <= ticks + 3, f"{timers} timers for 25 tracks and 3 frames: one a tick"


async def test_a_due_time_that_passed_returns_at_once_and_the_clock_is_per_loop() -> None:
    loop = asyncio.get_running_loop()
    clock = frame_clock()
    assert frame_clock() is clock
    async with asyncio.timeout(1.0):
        await clock.until(loop.time() - 1.0)  # a late track catches up without waiting
    grid = clock.grid(loop.time())
    assert grid <= loop.time() < grid + TICK


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    clock = frame_clock()
    loop = asyncio.get_running_loop()
    due = clock.grid(loop.time()) + 2 * PERIOD
    cancelled = asyncio.create_task(clock.until(due))
    kept = asyncio.create_task(clock.until(due))
    await asyncio.sleep(0)
    cancelled.cancel()
    async with asyncio.timeout(2.0):
        await kept
    assert cancelled.cancelled()
