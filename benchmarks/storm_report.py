"""The ring storm's rows (`benchmarks.ringstorm`): what one storm measured, the rows over every
round, their two tables and the targets.

`Storm` is one storm of one row; `aggregate()` pools the latencies of every call of every round
(nearest rank) and takes the median over rounds of the costs; `rows_table()`, `detail_table()`
and `targets()` are what `python -m benchmarks` and `python -m benchmarks.ringstorm` print.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any, Final

import attrs

from benchmarks.harness import DASH, TIMES, Target, nearest_rank, num, table

LATE_S: Final = 5.0
P99_RATIO_TARGET: Final = 1.2


@attrs.frozen
class Kind:
    key: str
    label: str
    bot: str
    backend: str


FLOOR: Final = Kind("floor", "floor: raw aiohttp.web + aiohttp client", "floor", "json")
FLOOR_FIFO: Final = Kind("floor-fifo", "floor + FIFO cap of 100", "floor-fifo", "json")
SDK_ORJSON: Final = Kind("sdk-orjson", "SDK (speedups: orjson)", "sdk", "orjson")
SDK_JSON: Final = Kind("sdk-json", "SDK (stdlib json)", "sdk", "json")
KINDS: Final = (FLOOR, FLOOR_FIFO, SDK_ORJSON, SDK_JSON)
FLOORS: Final = frozenset({FLOOR.key, FLOOR_FIFO.key})


@attrs.frozen
class Storm:
    """One storm of one row."""

    kind: str
    round: int
    calls: int
    latency_ms: tuple[float, ...]
    """Per call: first bytes read by the bot -> pre_accept read by the API server."""
    from_handler_ms: tuple[float, ...]
    """Per call: aiohttp's middleware chain starting on the delivery -> pre_accept at the API."""
    accept_ms: tuple[float, ...]
    """Per call: first bytes read by the bot -> accept read by the API server."""
    from_sent_ms: tuple[float, ...]
    """Per call: the sender writing the request headers -> pre_accept at the API."""
    bot_cpu_s: float
    bot_gc_s: float
    """Of the bot's CPU, time in the garbage collector (every generation)."""
    bot_gc_collections: tuple[int, ...]
    span_s: float
    """First delivery read by the bot -> last pre_accept at the API."""
    sent_spread_s: float
    """First to last delivery written by the sender."""
    read_spread_s: float
    """First to last delivery read by the bot."""
    accepts_first: int
    """Accepts that reached the API before the storm's last pre_accept (overtaking it)."""
    sender: dict[str, Any]
    errors: tuple[str, ...]


@attrs.frozen
class Row:
    """One row over every round: latencies pool every call, costs are medians over rounds."""

    kind: str
    label: str
    storms: int
    calls: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int
    """Calls whose pre_accept reached the API more than `LATE_S` after the delivery."""
    round_p99_ms: tuple[float, ...]
    handler_p99_ms: float
    sent_p99_ms: float
    accept_p99_ms: float
    accepts_first: float
    cpu_us_per_call: float
    """The bot process's CPU (user + system) over the storm, per call."""
    gc_us_per_call: float
    span_ms: float
    errors: int
    first_errors: tuple[str, ...]


# -- rows, tables, targets ----------------------------------------------------------------------


def aggregate(storms: Sequence[Storm]) -> list[Row]:
    rows = []
    for kind in KINDS:
        mine = [s for s in storms if s.kind == kind.key]
        if not mine:
            continue

        def pooled(field: str, runs: Sequence[Storm] = mine) -> list[float]:
            return sorted(x for s in runs for x in getattr(s, field))

        latency = pooled("latency_ms")
        errors = [e for s in mine for e in s.errors]
        rows.append(
            Row(
                kind=kind.key,
                label=kind.label,
                storms=len(mine),
                calls=sum(s.calls for s in mine),
                p50_ms=nearest_rank(latency, 0.50),
                p99_ms=nearest_rank(latency, 0.99),
                max_ms=latency[-1] if latency else math.nan,
                late=sum(1 for x in latency if x > LATE_S * 1000),
                round_p99_ms=tuple(nearest_rank(sorted(s.latency_ms), 0.99) for s in mine),
                handler_p99_ms=nearest_rank(pooled("from_handler_ms"), 0.99),
                sent_p99_ms=nearest_rank(pooled("from_sent_ms"), 0.99),
                accept_p99_ms=nearest_rank(pooled("accept_ms"), 0.99),
                accepts_first=statistics.median(s.accepts_first for s in mine),
                cpu_us_per_call=statistics.median(s.bot_cpu_s / s.calls * 1e6 for s in mine),
                gc_us_per_call=statistics.median(s.bot_gc_s / s.calls * 1e6 for s in mine),
                span_ms=statistics.median(s.span_s * 1000 for s in mine),
                errors=len(errors),
                first_errors=tuple(errors[:5]),
            )
        )
    return rows


def _ratio(value: float, base: Row | None) -> str:
    if base is None or not base.p99_ms or value != value:
        return DASH
    return f"{value / base.p99_ms:.2f}{TIMES}"


def _find(rows: Sequence[Row], kind: Kind) -> Row | None:
    return next((r for r in rows if r.kind == kind.key), None)


def rows_table(rows: Sequence[Row]) -> str:
    """Delivery read by the bot -> pre_accept read by the API server, per call."""
    floor, fifo = _find(rows, FLOOR), _find(rows, FLOOR_FIFO)
    header = ["row", "calls", "p50 ms", "p99 ms", "max ms", f"> {LATE_S:g} s", "errors"]
    header += ["p99 vs floor", "p99 vs FIFO floor", "p99 per round ms"]
    lines = [
        (
            row.label,
            f"{row.calls:,}",
            num(row.p50_ms, ".0f"),
            num(row.p99_ms, ".0f"),
            num(row.max_ms, ".0f"),
            str(row.late),
            str(row.errors),
            _ratio(row.p99_ms, floor),
            _ratio(row.p99_ms, fifo),
            " / ".join(num(x, ".0f") for x in row.round_p99_ms),
        )
        for row in rows
    ]
    return table(header, lines)


def detail_table(rows: Sequence[Row]) -> str:
    """Where the time goes: other start points, the accepts, the order, the bot's CPU."""
    header = ["row", "p99 from handler ms", "p99 from sender ms", "accept p99 ms"]
    header += ["accepts before the last pre_accept", "bot CPU µs/call", "of which GC"]
    header += ["storm span ms"]
    lines = [
        (
            row.label,
            num(row.handler_p99_ms, ".0f"),
            num(row.sent_p99_ms, ".0f"),
            num(row.accept_p99_ms, ".0f"),
            f"{row.accepts_first:,.0f}",
            num(row.cpu_us_per_call, ",.0f"),
            num(row.gc_us_per_call, ",.0f"),
            num(row.span_ms, ".0f"),
        )
        for row in rows
    ]
    return table(header, lines)


def targets(rows: Sequence[Row]) -> list[Target]:
    """(target, measured, goal, passed) for each SDK row: p99 against both floors (the plain
    one is the issue's target; the FIFO one has the SDK's queueing), and none later than 5 s."""
    items: list[Target] = []
    for row in rows:
        if row.kind in FLOORS:
            continue
        for floor in (_find(rows, FLOOR), _find(rows, FLOOR_FIFO)):
            if floor is None or not floor.p99_ms or row.p99_ms != row.p99_ms:
                continue
            ratio = row.p99_ms / floor.p99_ms
            items.append(
                Target(
                    f"ring storm p99, {row.label} vs {floor.label.split(':')[0]}",
                    f"{ratio:.2f}{TIMES} ({row.p99_ms:.0f} vs {floor.p99_ms:.0f} ms)",
                    f"\u2264 {P99_RATIO_TARGET:.2f}{TIMES}",
                    ratio <= P99_RATIO_TARGET,
                )
            )
        errors = f" ({row.errors} errors)" if row.errors else ""
        items.append(
            Target(
                f"ring storm connects answered after {LATE_S:g} s, {row.label}",
                f"{row.late} of {row.calls:,}{errors}",
                "0, no errors",
                row.late == 0 and row.errors == 0,
            )
        )
    return items
