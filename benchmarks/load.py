"""Drive one operation N times at a given concurrency and measure wall time, CPU and latency."""

from __future__ import annotations

import asyncio
import gc
import time

import attrs

from benchmarks.scenarios import Operation


@attrs.frozen
class Run:
    """One measured run: N requests of one operation by one scenario at one concurrency."""

    scenario: str
    operation: str
    concurrency: int
    requests: int
    wall: float
    cpu: float
    """`time.process_time()` of this (client) process; the server runs in another."""
    latencies: tuple[float, ...]
    errors: int
    first_error: str | None

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else 0.0


def describe(exc: BaseException) -> str:
    """A one-line description of a failure, for the report."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160]


async def probe(operation: Operation) -> str | None:
    """Run the operation once; `None` if it worked, else what went wrong."""
    try:
        await operation()
    except Exception as exc:
        return describe(exc)
    return None


async def measure(
    scenario: str, name: str, operation: Operation, requests: int, concurrency: int
) -> Run:
    """Send `requests` calls from `concurrency` workers sharing one counter."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    tickets = iter(range(requests))
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal errors, first_error
        for _ in tickets:  # bounded: the shared iterator yields `requests` tickets in all
            started = clock()
            try:
                await operation()
            except Exception as exc:
                errors += 1
                if first_error is None:
                    first_error = describe(exc)
                continue
            latencies.append(clock() - started)

    gc.collect()
    cpu_start, wall_start = time.process_time(), clock()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall, cpu = clock() - wall_start, time.process_time() - cpu_start
    return Run(
        scenario, name, concurrency, requests, wall, cpu, tuple(latencies), errors, first_error
    )
