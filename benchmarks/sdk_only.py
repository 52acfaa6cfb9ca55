"""The SDK's own cost: the default client with aiohttp stubbed out, against raw aiohttp.

`SDK-only (send stubbed)` is `Client(key, session=StubHttp())` (`benchmarks.stub`): every line
of the SDK runs as shipped, the terminal handler included, and only aiohttp's work (connect,
write, read the socket) is replaced by a canned answer. It runs in the load matrix, interleaved
with the raw aiohttp row, through the same load loop at the same concurrencies (with nothing
to wait for, the first worker takes every request), so its client CPU per request
(`time.process_time`) is the SDK's own cost; it is set against raw aiohttp's whole CPU per
request from the same round. With the `speedups` extra installed it runs twice: on orjson and
on the standard library's json. `harness (no-op operation)` is the load loop around an
operation that does nothing: its cost is inside every row (the SDK-only figure is shown both
with it and without it; the target is judged with it, so it errs high).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from benchmarks import payloads
from benchmarks.harness import DASH, TIMES, Target, table
from benchmarks.report import Row, find
from benchmarks.scenarios import ACCEPT, PERMISSIONS, RAW, Scenario, Sdk
from benchmarks.stub import StubHttp
from d360_calling import Client, jsonutil

SDK_ONLY: Final = "SDK-only (send stubbed)"
SDK_ONLY_STDLIB: Final = "SDK-only (send stubbed), stdlib json"
HARNESS: Final = "harness (no-op operation)"
STUBBED: Final = frozenset({SDK_ONLY, SDK_ONLY_STDLIB, HARNESS})
"""Rows that send nothing: reported in their own table, not set against raw's requests/s."""
TARGET: Final = 0.15
"""The SDK's own CPU per request at most this share of raw aiohttp's (issue 17)."""
REQUESTS_FACTOR: Final = 5


class SdkStubbed(Sdk):
    """The default client with aiohttp stubbed out (see the module's docstring)."""

    requests_factor = REQUESTS_FACTOR

    def __init__(self, base_url: str, name: str, *, json_backend: str | None = None) -> None:
        super().__init__(base_url, name, json_backend=json_backend)
        self.http = StubHttp()

    async def start(self) -> None:
        self._client = Client(payloads.API_KEY, base_url=self.base_url, session=self.http)  # type: ignore[arg-type]
        self.operations = {ACCEPT: self.accept, PERMISSIONS: self.permissions}


class Harness(Scenario):
    """An operation that does nothing: the load loop's own CPU per request."""

    name = HARNESS
    requests_factor = REQUESTS_FACTOR

    async def start(self) -> None:
        async def nothing() -> None:
            return None

        self.operations = {ACCEPT: nothing, PERMISSIONS: nothing}


def make_scenarios(base_url: str) -> list[Scenario]:
    """The SDK-only rows (one per installed JSON backend) and the harness row."""
    scenarios: list[Scenario] = [SdkStubbed(base_url, SDK_ONLY)]
    if jsonutil.BACKEND != "json":
        scenarios.append(SdkStubbed(base_url, SDK_ONLY_STDLIB, json_backend="json"))
    scenarios.append(Harness(base_url))
    return scenarios


def _label(scenario: str) -> str:
    return "stdlib json" if scenario == SDK_ONLY_STDLIB else jsonutil.BACKEND


def _pairs(rows: Sequence[Row]) -> Iterator[tuple[str, Row, Row]]:
    """(scenario, SDK-only row, raw aiohttp's row) per operation, concurrency and backend run."""
    keys = sorted({(r.operation, r.concurrency) for r in rows if r.scenario == RAW})
    for operation, concurrency in keys:
        raw = find(rows, RAW, operation, concurrency)
        for scenario in (SDK_ONLY, SDK_ONLY_STDLIB):
            mine = find(rows, scenario, operation, concurrency)
            if mine is not None and raw is not None:
                yield scenario, mine, raw


def sdk_only_table(rows: Sequence[Row]) -> str:
    """Per operation, concurrency and JSON backend: the SDK's own CPU against raw aiohttp's."""
    lines = []
    for scenario, mine, raw in _pairs(rows):
        harness = find(rows, HARNESS, mine.operation, mine.concurrency)
        loop_us = harness.cpu_us if harness is not None else float("nan")
        net = mine.cpu_us - loop_us
        lines.append(
            (
                mine.operation,
                str(mine.concurrency),
                _label(scenario),
                f"{mine.cpu_us:.1f}",
                f"{loop_us:.1f}",
                f"{net:.1f}",
                f"{raw.cpu_us:.0f}",
                f"{mine.cpu_us / raw.cpu_us:.3f}{TIMES}",
                f"{net / raw.cpu_us:.3f}{TIMES}",
            )
        )
    header = (
        "operation",
        "conc.",
        "SDK JSON",
        "SDK-only CPU µs/req",
        "of which the load loop",
        "SDK alone µs/req",
        "raw aiohttp CPU µs/req",
        "SDK-only ÷ raw",
        "SDK alone ÷ raw",
    )
    return table(header, lines)


def targets(rows: Sequence[Row]) -> list[Target]:
    """SDK-only CPU per request at most 0.15 times raw aiohttp's, per operation, concurrency and
    backend."""
    out = []
    goal = f"≤ {TARGET:.2f}{TIMES}"
    for scenario, mine, raw in _pairs(rows):
        name = (
            f"SDK-only CPU/req vs raw, {mine.operation}, c={mine.concurrency}, {_label(scenario)}"
        )
        if mine.failure or not raw.cpu_us:
            out.append(Target(name, DASH, goal, None))
            continue
        ratio = mine.cpu_us / raw.cpu_us
        measured = f"{ratio:.3f}{TIMES} ({mine.cpu_us:.1f} vs {raw.cpu_us:.0f} µs)"
        out.append(Target(name, measured, goal, ratio <= TARGET))
    return out
