"""The load matrix's report: runs into rows, rows into its tables, issue 6's targets, the chart.

The table writer and `Target` are the harness's (`benchmarks.harness`)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.harness import DASH, TIMES, Target, num, percentile, table
from benchmarks.load import Run
from benchmarks.micro import STRUCTURE_PERMISSIONS, Micro
from benchmarks.scenarios import (
    ACCEPT,
    PERMISSIONS,
    PYWA,
    PYWA_API,
    RAW,
    SDK_DEFAULT,
    SDK_REDIS,
    SDK_REDIS_CLUSTER,
    SDK_STDLIB,
)


@attrs.frozen
class Row:
    """One scenario, operation and concurrency, over all rounds."""

    scenario: str
    operation: str
    concurrency: int
    rps_median: float
    rps_best: float
    cpu_us: float
    """Median over rounds of client CPU µs per request."""
    p50_ms: float
    p99_ms: float
    """Latency percentiles over every request of every round."""
    errors: int
    failure: str | None = None
    ratio: float | None = None
    """Median requests/s over raw aiohttp's median at the same operation and concurrency."""
    cpu_ratio: float | None = None
    cpu_best: float = float("nan")
    """The least client CPU µs per request of any round (the round least disturbed by the
    rest of a shared machine)."""


def aggregate(runs: Iterable[Run], failures: dict[tuple[str, str], str]) -> list[Row]:
    """Group runs by scenario, operation and concurrency; failed probes become failure rows."""
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.scenario, run.operation, run.concurrency), []).append(run)
    rows: list[Row] = []
    for (scenario, operation, concurrency), group in groups.items():
        latencies = sorted(latency for run in group for latency in run.latencies)
        errors = sum(run.errors for run in group)
        rows.append(
            Row(
                scenario,
                operation,
                concurrency,
                statistics.median(run.rps for run in group),
                max(run.rps for run in group),
                statistics.median(run.cpu_us_per_request for run in group),
                percentile(latencies, 0.50) * 1e3,
                percentile(latencies, 0.99) * 1e3,
                errors,
                next((run.first_error for run in group if run.first_error), None),
                cpu_best=min(run.cpu_us_per_request for run in group),
            )
        )
    concurrencies = sorted({row.concurrency for row in rows})
    for (scenario, operation), reason in failures.items():
        for concurrency in concurrencies:
            nan = float("nan")
            rows.append(Row(scenario, operation, concurrency, 0, 0, nan, nan, nan, 0, reason))
    floor = {(r.operation, r.concurrency): r for r in rows if r.scenario == RAW}
    with_ratios = []
    for row in rows:
        raw = floor.get((row.operation, row.concurrency))
        if raw is not None and row.failure is None and raw.rps_median > 0:
            row = attrs.evolve(
                row, ratio=row.rps_median / raw.rps_median, cpu_ratio=row.cpu_us / raw.cpu_us
            )
        with_ratios.append(row)
    return with_ratios


def find(rows: Sequence[Row], scenario: str, operation: str, concurrency: int) -> Row | None:
    """The row of that scenario, operation and concurrency, if it was run."""
    return next(
        (
            r
            for r in rows
            if (r.scenario, r.operation, r.concurrency) == (scenario, operation, concurrency)
        ),
        None,
    )


def scenario_table(rows: Sequence[Row]) -> str:
    """The main table: one line per operation, concurrency and scenario."""
    order = {name: i for i, name in enumerate(dict.fromkeys(r.scenario for r in rows))}
    ordered = sorted(rows, key=lambda r: (r.operation, r.concurrency, order[r.scenario]))
    lines = []
    for r in ordered:
        note = f"FAILED: {r.failure}" if r.failure and r.rps_median == 0 else ""
        if r.errors and not note:
            note = f"{r.errors} errors, first: {r.failure}"
        lines.append(
            (
                r.operation,
                str(r.concurrency),
                r.scenario,
                num(r.rps_median, ",.0f"),
                num(r.rps_best, ",.0f"),
                num(r.cpu_us, ".0f"),
                num(r.p50_ms, ".2f"),
                num(r.p99_ms, ".2f"),
                num(r.ratio, ".2f") + (TIMES if r.ratio is not None else ""),
                num(r.cpu_ratio, ".2f") + (TIMES if r.cpu_ratio is not None else ""),
                note,
            )
        )
    header = (
        "operation",
        "conc.",
        "scenario",
        "req/s (median)",
        "req/s (best)",
        "client CPU µs/req",
        "p50 ms",
        "p99 ms",
        "req/s vs raw",
        "CPU vs raw",
        "note",
    )
    return table(header, lines)


def micro_table(micros: Sequence[Micro]) -> str:
    return table(
        ("operation", "µs per op (best of 5)"), ((m.name, f"{m.us_per_op:.2f}") for m in micros)
    )


def memory_table(results: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if "error" in r:
            lines.append((r["client"], str(r["calls"]), DASH, DASH, DASH, f"FAILED: {r['error']}"))
            continue
        done = f"{r['completed']}/{r['calls']} completed"
        if r.get("held"):
            done = f"held {r['held']:g} s then cancelled; max on the wire {r['max_pending']}"
        elif r.get("max_pending") is not None:
            done += f", server saw {r['max_pending']} at once"
        if r["failed"]:
            done += f", {r['failed']} failed ({r['first_failure']})"
        lines.append(
            (
                r["client"],
                f"{r['calls']:,}",
                f"{r['baseline_kib'] / 1024:.1f}",
                f"{r['peak_kib'] / 1024:.1f}",
                f"{r['per_call_kib']:.1f}",
                done,
            )
        )
    header = ("client", "calls", "baseline MiB", "peak MiB", "KiB per call", "note")
    return table(header, lines)


def _ratio_target(
    rows: Sequence[Row], name: str, a: str, b: str, op: str, conc: int, goal: float, cpu: bool
) -> Target:
    mine, theirs = find(rows, a, op, conc), find(rows, b, op, conc)
    unit = "CPU/req" if cpu else "req/s"
    text = f"≤ {goal:.2f}{TIMES}" if cpu else f"≥ {goal:.2f}{TIMES}"
    if mine is None or theirs is None or (mine.failure and mine.rps_median == 0):
        return Target(name, "not run", text, None)
    if theirs.rps_median == 0:
        return Target(name, f"{b} failed: {theirs.failure}", text, None)
    # Judged on medians; the ratio of each side's best round is shown beside it, since on a
    # shared machine one disturbed round moves a median of a few by several per cent.
    if cpu:
        value = mine.cpu_us / theirs.cpu_us
        best = mine.cpu_best / theirs.cpu_best
        return Target(
            name,
            f"{value:.2f}{TIMES} ({mine.cpu_us:.0f} vs {theirs.cpu_us:.0f} µs; "
            f"best rounds {best:.2f}{TIMES})",
            text,
            value <= goal,
        )
    value = mine.rps_median / theirs.rps_median
    best = mine.rps_best / theirs.rps_best
    return Target(
        name, f"{value:.2f}{TIMES} {unit} (best rounds {best:.2f}{TIMES})", text, value >= goal
    )


def targets(
    rows: Sequence[Row], micros: Sequence[Micro], memory: Sequence[dict[str, Any]]
) -> list[Target]:
    """Issue 6's targets, each PASS, MISS or not run."""
    out: list[Target] = []
    for scenario, label in ((SDK_DEFAULT, "default chain"), (SDK_STDLIB, "stdlib json chain")):
        if not any(row.scenario == scenario for row in rows):
            continue
        for op in (ACCEPT, PERMISSIONS):
            for conc, goal in ((64, 0.90), (1, 0.85)):
                out.append(
                    _ratio_target(
                        rows,
                        f"{label} vs raw, {op}, c={conc}",
                        scenario,
                        RAW,
                        op,
                        conc,
                        goal,
                        cpu=False,
                    )
                )
        for op in (ACCEPT, PERMISSIONS):
            for conc in (64, 1):
                out.append(
                    _ratio_target(
                        rows,
                        f"CPU/req {label} vs raw, {op}, c={conc}",
                        scenario,
                        RAW,
                        op,
                        conc,
                        1.15,
                        cpu=True,
                    )
                )
    for op in (ACCEPT, PERMISSIONS):
        for state, label in ((SDK_REDIS, "Redis state"), (SDK_REDIS_CLUSTER, "Redis Cluster")):
            out.append(
                _ratio_target(
                    rows,
                    f"CPU/req {label} vs in-memory, {op}, c=64",
                    state,
                    SDK_DEFAULT,
                    op,
                    64,
                    1.3,
                    cpu=True,
                )
            )
    for op in (ACCEPT, PERMISSIONS):
        for conc, goal in ((64, 10.0), (1, 2.0)):
            rival = PYWA
            theirs = find(rows, PYWA, op, conc)
            if theirs is not None and theirs.rps_median == 0 and find(rows, PYWA_API, op, conc):
                rival = PYWA_API
            out.append(
                _ratio_target(
                    rows,
                    f"default chain vs {rival}, {op}, c={conc}",
                    SDK_DEFAULT,
                    rival,
                    op,
                    conc,
                    goal,
                    cpu=False,
                )
            )
    micro = next((m for m in micros if m.name == STRUCTURE_PERMISSIONS), None)
    out.append(
        Target(
            "structure a permissions response",
            "not run" if micro is None else f"{micro.us_per_op:.1f} µs",
            "≤ 15 µs",
            None if micro is None else micro.us_per_op <= 15,
        )
    )
    for client, label in (
        ("sdk-default", "RSS per in-flight call at 10k (default client: 100 on the wire)"),
        ("sdk", "RSS per in-flight call at 10k (each on its own connection)"),
    ):
        row = next(
            (
                m
                for m in memory
                if m["client"] == client and m["calls"] >= 10_000 and "error" not in m
            ),
            None,
        )
        out.append(
            Target(
                label,
                "not run" if row is None else f"{row['per_call_kib']:.1f} KiB",
                "≤ 10 KiB",
                None if row is None else row["per_call_kib"] <= 10,
            )
        )
    return out


def draw_chart(rows: Sequence[Row], path: Path) -> str | None:
    """A grouped bar chart of each scenario's req/s ratio to raw aiohttp; why not, if it can't."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed; chart skipped (pip install '.[bench]')"
    groups = sorted({(r.operation, r.concurrency) for r in rows})
    scenarios = [s for s in dict.fromkeys(r.scenario for r in rows) if s != RAW]
    width = 0.8 / max(1, len(scenarios))
    figure, axes = plt.subplots(figsize=(10, 5), dpi=110)
    for i, scenario in enumerate(scenarios):
        found = [find(rows, scenario, op, conc) for op, conc in groups]
        values = [row.ratio or 0.0 if row is not None else 0.0 for row in found]
        positions = [g + (i - (len(scenarios) - 1) / 2) * width for g in range(len(groups))]
        bars = axes.bar(positions, values, width, label=scenario)
        for bar, value, row in zip(bars, values, found, strict=True):
            if row is None:
                continue  # not an operation this scenario runs
            label = f"{value:.2f}" if value else "failed"
            x = bar.get_x() + bar.get_width() / 2
            axes.annotate(label, (x, value), ha="center", va="bottom", fontsize=7)
    axes.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="raw aiohttp = 1.0")
    axes.axhline(0.9, color="grey", linewidth=0.6, linestyle=":", label=f"target 0.90{TIMES}")
    axes.set_xticks(range(len(groups)), [f"{op}\nconcurrency {conc}" for op, conc in groups])
    axes.set_ylabel("requests/s ÷ raw aiohttp (median of rounds)")
    axes.set_title("d360-calling vs raw aiohttp and pywa_async (higher is better)")
    axes.legend(fontsize=8, loc="upper center", ncol=3)
    axes.set_ylim(0, 1.4)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return None
