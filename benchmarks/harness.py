"""What every benchmark shares, so that each benchmark file holds only its scenario.

- **The machine**: `machine()`, the one line saying where a run ran.
- **The process**: `raise_fd_limit()`, and pinning (`split_cpus()`, `pin()`, `pinned()`): with two
  CPUs or more, the process under test gets the first CPU to itself and the rest share the others.
- **Rounds**: `rotated()` gives each interleaved round its order (rotated by one every round);
  `best_of()` / `best_of_sync()` time a piece of work, best of repeats; `percentile()` and
  `nearest_rank()` read latencies (medians over rounds are `statistics.median`).
- **Tables**: `table()` writes a Markdown table (the README's rows), `num()` a cell,
  `targets_table()` the PASS/MISS lines of `Target`s.

Standard library only: the ring storm's bot imports this before it decides whether the SDK may
see orjson.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

T = TypeVar("T")

TIMES: Final = "\u00d7"
DASH: Final = "\u2013"

# -- the machine --------------------------------------------------------------------------------


def machine(packages: Sequence[str], *, load: bool = False) -> str:
    """One line describing where a benchmark ran: CPU, OS, Python, the given packages' versions,
    and with `load` the load average at the start."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    if load:
        with contextlib.suppress(OSError):
            averages = " ".join(f"{x:.2f}" for x in os.getloadavg())
            versions.append(f"load average {averages} at the start")
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


# -- the process --------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def split_cpus() -> tuple[int, set[int]] | None:
    """The first CPU this process may run on and the others; None with fewer than two (or where
    the platform has no CPU affinity)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return cpus[0], set(cpus[1:])


def pin(cpus: Iterable[int]) -> None:
    """This process on these CPUs only (nothing where the platform has no CPU affinity)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cpus))


@contextlib.contextmanager
def pinned() -> Iterator[int | None]:
    """With two CPUs or more: this process (and the children it starts, which inherit it) on
    every CPU but the first, which is left to the process under test; yields that CPU (None when
    there is none to spare) and restores this process's affinity afterwards."""
    split = split_cpus()
    if split is None:
        yield None
        return
    before = os.sched_getaffinity(0)
    first, rest = split
    pin(rest)
    try:
        yield first
    finally:
        pin(before)


# -- rounds -------------------------------------------------------------------------------------


def rotated(items: Sequence[T], round_index: int) -> list[T]:
    """`items` in the order of round `round_index` (from 0): rotated by one every round, so that
    no item always runs first or after the same neighbour."""
    if not items:
        return []
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


async def best_of(work: Callable[[], Awaitable[object]], number: int, repeat: int) -> float:
    """Best-of-`repeat` µs per `await work()`, `number` times in a row (`time.perf_counter`)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            await work()
        best = min(best, time.perf_counter() - started)
    return best / number * 1e6


def best_of_sync(work: Callable[[], object], number: int, repeat: int) -> float:
    """Best-of-`repeat` µs per `work()`, `number` times in a row (`time.perf_counter`)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            work()
        best = min(best, time.perf_counter() - started)
    return best / number * 1e6


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` of the way through sorted values, rounded to the closest index
    (with 20 values p99 is the maximum); NaN when there are none."""
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (the smallest with at least `fraction` of them at
    or below it); NaN when there are none."""
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


# -- tables -------------------------------------------------------------------------------------


def num(value: float | None, spec: str) -> str:
    """A table cell: the value formatted, or a dash for None or NaN."""
    if value is None or value != value:
        return DASH
    return format(value, spec)


def table(header: Sequence[str], lines: Iterable[Sequence[str]]) -> str:
    """A Markdown table, as the README holds them."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


class Target(NamedTuple):
    """One target of an issue: what was measured against the goal."""

    name: str
    measured: str
    goal: str
    passed: bool | None
    """`None`: not measured in this run."""


def targets_table(items: Iterable[Target]) -> str:
    """One line per target, PASS, MISS or a dash when not run."""
    verdict = {True: "PASS", False: "MISS", None: DASH}
    return table(
        ("target", "measured", "goal", "result"),
        ((t.name, t.measured, t.goal, verdict[t.passed]) for t in items),
    )
