"""Where the full chain's CPU goes under load: `python -m benchmarks.under_load`.

`benchmarks.layers` times each layer in a tight loop, where the SDK's code and data stay in the
CPU's caches. Under load (64 calls in flight through aiohttp against the canned server) the same
code costs two to three times as much, so the tight-loop sum understates the gap to raw aiohttp.
This splits that gap where it is measured, by taking one part of the SDK away at a time, each
variant a row of the same interleaved rounds in one process (the order rotated each round):

- **raw aiohttp** and the **SDK default chain**, as in the main matrix;
- **not structured**: the answer model's structure function replaced by one that returns the
  decoded JSON, so the row lacks building (and freeing) the typed result;
- **not structured, middleware off**: the same on `Client(retry=None, rate_limit=None)`;
- **not structured, middleware off, stdlib json**: the same on the standard library's JSON, as
  raw aiohttp decodes.

What is left in the last row against raw aiohttp is the rest of the SDK: checking the input,
building the `Request`, the terminal handler and the decoding wrapper. The variants are
instruments, not configurations the SDK offers. CPU is `time.process_time()` per request
(median over rounds); "vs raw" is the median of the per-round ratios to raw aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
from collections.abc import Iterator
from typing import Any, Final

from benchmarks import harness, load, procs
from benchmarks.harness import TIMES, rotated
from benchmarks.scenarios import (
    ACCEPT,
    OPERATIONS,
    PERMISSIONS,
    RawAiohttp,
    Scenario,
    Sdk,
    json_backend,
)
from d360_calling.endpoints import _resource
from d360_calling.models.calls import CallActionResult
from d360_calling.models.permissions import CallPermissions

RAW: Final = "raw aiohttp"
SDK: Final = "SDK default chain"
NOT_STRUCTURED: Final = "SDK, answer not structured"
BARE: Final = "SDK, not structured, middleware off"
BARE_STDLIB: Final = "SDK, not structured, middleware off, stdlib json"
VARIANTS: Final = (RAW, SDK, NOT_STRUCTURED, BARE, BARE_STDLIB)
STEP: Final = {
    SDK: "",
    NOT_STRUCTURED: "building the typed result",
    BARE: "retry, rate limit and logging",
    BARE_STDLIB: "orjson instead of json (negative: orjson is faster)",
}
"""What the row before each variant has and it lacks."""
MODELS: Final[dict[str, type]] = {ACCEPT: CallActionResult, PERMISSIONS: CallPermissions}
CLIENT_OF: Final = {RAW: RAW, SDK: SDK, NOT_STRUCTURED: SDK, BARE: BARE, BARE_STDLIB: BARE}
"""The client each variant runs on (the swaps of `variant` make the rest)."""


@contextlib.contextmanager
def unstructured(model: type) -> Iterator[None]:
    """The endpoint's answer comes back as decoded JSON instead of `model`."""
    before = _resource._HOOKS.get(model)
    _resource._HOOKS[model] = lambda payload, _: payload
    try:
        yield
    finally:
        if before is None:
            del _resource._HOOKS[model]
        else:
            _resource._HOOKS[model] = before


def variant(name: str, operation: str) -> contextlib.ExitStack:
    """The swaps that make `name` out of the shipped SDK, entered as one context."""
    stack = contextlib.ExitStack()
    if name in (NOT_STRUCTURED, BARE, BARE_STDLIB):
        stack.enter_context(unstructured(MODELS[operation]))
    if name == BARE_STDLIB:
        stack.enter_context(json_backend("json"))
    return stack


async def measure(
    base_url: str, operations: tuple[str, ...], requests: int, rounds: int, concurrency: int
) -> list[dict[str, Any]]:
    """Per operation and variant: the median CPU µs per request and the ratio to raw."""
    clients: dict[str, Scenario] = {
        RAW: RawAiohttp(base_url),
        SDK: Sdk(base_url, SDK),
        BARE: Sdk(base_url, BARE, retry=None, rate_limit=None),
    }
    for client in clients.values():
        await client.start()
    try:
        results = []
        for operation in operations:
            cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for index in range(rounds + 1):  # bounded; round 0 warms up and is dropped
                for name in rotated(VARIANTS, index):
                    client = clients[CLIENT_OF[name]]
                    with variant(name, operation):
                        run = await load.measure(
                            name, operation, client.operations[operation], requests, concurrency
                        )
                    if run.errors:
                        raise RuntimeError(f"{name} {operation}: {run.first_error}")
                    if index:
                        cpu[name].append(run.cpu_us_per_request)
            for name in VARIANTS:
                ratios = [mine / raw for mine, raw in zip(cpu[name], cpu[RAW], strict=True)]
                results.append(
                    {
                        "operation": operation,
                        "variant": name,
                        "cpu_us": statistics.median(cpu[name]),
                        "vs_raw": statistics.median(ratios),
                    }
                )
        return results
    finally:
        for client in clients.values():
            await client.aclose()


def breakdown_table(results: list[dict[str, Any]]) -> str:
    """One row per variant; "step" is what the row above costs more than this one."""
    header = ("operation", "variant", "CPU µs/req", "vs raw", "step: the row above minus this row")
    lines = []
    previous: dict[str, Any] | None = None
    for row in results:
        step = ""
        if previous is not None and previous["operation"] == row["operation"]:
            difference = previous["vs_raw"] - row["vs_raw"]
            if row["variant"] in STEP and STEP[row["variant"]]:
                step = f"{difference:+.3f}{TIMES} raw: {STEP[row['variant']]}"
        cpu, vs_raw = f"{row['cpu_us']:.1f}", f"{row['vs_raw']:.3f}{TIMES}"
        lines.append((row["operation"], row["variant"], cpu, vs_raw, step))
        previous = row
    return harness.table(header, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.under_load", description=__doc__)
    parser.add_argument("--requests", "-n", type=int, default=4000, help="requests per run")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (7)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--operation", choices=OPERATIONS, action="append")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    operations = tuple(args.operation or OPERATIONS)
    with procs.canned_server() as server:
        results = asyncio.run(
            measure(server.base_url, operations, args.requests, args.rounds, args.concurrency)
        )
    print(harness.machine(["aiohttp", "cattrs", "attrs", "orjson"]))
    print()
    print(breakdown_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
