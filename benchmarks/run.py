"""The benchmark runner: `python -m benchmarks [--quick] [--requests N] [--rounds R] ...`.

Starts the canned server in its own process, runs every scenario (raw aiohttp, the SDK's
default chain with and without the `speedups` extra, the SDK with middleware off, the SDK with
aiohttp stubbed out, pywa_async) interleaved and repeated, then the micro-benchmarks, the
per-layer table, the in-flight memory test (a fresh process per size) and the ring storm
(`benchmarks.ringstorm`), and prints the tables, the targets with PASS/MISS, and draws the
ratio chart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from benchmarks import harness, layers, payloads, procs, report, ringstorm, sdk_only, storm_report
from benchmarks.load import Run, measure, probe
from benchmarks.micro import run_micro
from benchmarks.scenarios import OPERATIONS, RAW, Scenario, make_scenarios, pywa_available

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
CHART = HERE / "ratio_to_raw.png"
START, END = "<!-- results:start -->", "<!-- results:end -->"


@attrs.frozen
class Config:
    requests: int
    rounds: int
    concurrency: tuple[int, ...]
    memory_sizes: tuple[int, ...]
    memory_delay: float
    micro_time: float
    layer_number: int = 10_000
    layer_rounds: int = 3
    storm_calls: int = 1000
    storm_rounds: int = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", "-n", type=int, default=4000, help="requests per run (4000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated (1,64)")
    parser.add_argument("--memory-sizes", default="1000,10000", help="in-flight calls (1000,10000)")
    parser.add_argument("--memory-delay", type=float, default=3.0, help="server answer delay, s")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--no-pywa", action="store_true", help="skip the pywa_async scenarios")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-micro", action="store_true")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer table")
    parser.add_argument("--no-storm", action="store_true", help="skip the ring storm")
    parser.add_argument("--storm-calls", type=int, default=1000, help="connects per storm (1000)")
    parser.add_argument("--storm-rounds", type=int, default=3, help="ring-storm rounds (3)")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--chart", type=Path, default=CHART)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--update-readme", action="store_true", help=f"write the tables into {README.name}"
    )
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    if args.quick:
        return Config(200, 1, (1, 64), (200,), 0.3, 0.02, 300, 1, 50, 1)
    if args.requests < 1 or args.rounds < 1 or args.storm_calls < 1 or args.storm_rounds < 1:
        raise SystemExit("--requests, --rounds, --storm-calls and --storm-rounds must be >= 1")
    return Config(
        args.requests,
        args.rounds,
        tuple(int(c) for c in args.concurrency.split(",")),
        tuple(int(n) for n in args.memory_sizes.split(",")) if args.memory_sizes else (),
        args.memory_delay,
        0.2,
        storm_calls=args.storm_calls,
        storm_rounds=args.storm_rounds,
    )


PACKAGES = ("aiohttp", "cattrs", "attrs", "tenacity", "pywa", "httpx")
"""The packages whose versions the machine line names."""


async def run_matrix(
    base_url: str,
    config: Config,
    with_pywa: bool,
    redis_url: str | None,
    cluster_node: tuple[str, int] | None = None,
) -> tuple[list[Run], dict[tuple[str, str], str], dict[str, str]]:
    """Every scenario, operation and concurrency, `rounds` times, the order rotated each round."""
    scenarios = make_scenarios(
        base_url, with_pywa=with_pywa, redis_url=redis_url, cluster_node=cluster_node
    )
    scenarios += sdk_only.make_scenarios(base_url)
    failures: dict[tuple[str, str], str] = {}
    usable: list[Scenario] = []
    runs: list[Run] = []
    try:
        for scenario in scenarios:
            await scenario.start()
            for name, operation in list(scenario.operations.items()):
                with scenario.backend():
                    reason = await probe(operation)
                    if reason is not None:
                        failures[(scenario.name, name)] = reason
                        del scenario.operations[name]
                        continue
                    await measure(scenario.name, name, operation, min(200, config.requests), 64)
            usable.append(scenario)
        for round_number in range(config.rounds):
            for name in OPERATIONS:
                for concurrency in config.concurrency:
                    for scenario in harness.rotated(usable, round_number):
                        work = scenario.operations.get(name)
                        if work is None:
                            continue
                        requests = config.requests * scenario.requests_factor
                        with scenario.backend():
                            runs.append(
                                await measure(scenario.name, name, work, requests, concurrency)
                            )
            print(f"  round {round_number + 1}/{config.rounds} done", flush=True)
    finally:
        for scenario in scenarios:
            await scenario.aclose()
    notes = {s.name: s.note for s in scenarios if s.note}
    return runs, failures, notes


async def sandbox_check(base_url: str) -> str:
    """The SDK against the real emulator, once, and whether the canned body matches its shape."""
    import aiohttp

    from d360_calling import Client

    async with Client("bench-sandbox-key", base_url=base_url) as client:
        permissions = await client.permissions.get(payloads.WA_ID)
    url = f"{base_url}/calling/permissions/{payloads.WA_ID}"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"D360-API-KEY": "bench-sandbox-key"}) as response,
    ):
        body = await response.json()
    same = set(body) == set(payloads.PERMISSIONS)
    return (
        f"sandbox check: SDK permissions.get -> status {permissions.status.value}; "
        f"canned permissions body has the sandbox's top-level keys: {'yes' if same else 'NO'}"
    )


def memory_results(config: Config) -> list[dict[str, Any]]:
    """Each size and client in a fresh process, against a server that holds answers back."""
    results: list[dict[str, Any]] = []
    hold = config.memory_delay * 0.75
    with procs.canned_server(config.memory_delay) as server:
        for calls in config.memory_sizes:
            for client in ("raw", "sdk", "sdk-default"):
                server.stats(reset=True)
                try:
                    result = procs.run_memory(
                        server.base_url, calls, client, hold if client == "sdk-default" else None
                    )
                except (RuntimeError, OSError) as exc:
                    results.append({"client": client, "calls": calls, "error": str(exc)})
                    continue
                result["max_pending"] = server.stats()["max_pending"]
                if client == "sdk-default":
                    result["held"] = hold
                results.append(result)
                print(
                    f"  memory {client} {calls}: {result['per_call_kib']:.1f} KiB/call", flush=True
                )
    return results


def ring_storm(config: Config) -> tuple[list[storm_report.Row], str]:
    """The ring storm (`benchmarks.ringstorm`), its rows interleaved round by round; where the
    processes ran."""
    print(
        f"ring storm: {config.storm_calls} connects at once, {config.storm_rounds} rounds",
        flush=True,
    )
    with harness.pinned() as bot_cpu:
        where = "unpinned" if bot_cpu is None else f"bot on CPU {bot_cpu}, the rest on the others"
        storms = ringstorm.run(config.storm_calls, config.storm_rounds, bot_cpu=bot_cpu)
    return storm_report.aggregate(storms), where


def write_readme(text: str) -> None:
    current = README.read_text() if README.exists() else f"{START}\n{END}\n"
    if START not in current or END not in current:
        current += f"\n{START}\n{END}\n"
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    harness.raise_fd_limit()
    started = time.perf_counter()
    description = harness.machine(PACKAGES)
    print(f"machine: {description}", flush=True)
    why_not = None if not args.no_pywa else "pywa_async skipped (--no-pywa)"
    if why_not is None:
        why_not = pywa_available()
    if why_not is not None:
        print(f"pywa_async rows skipped: {why_not}", flush=True)

    with procs.sandbox_server("bench-sandbox-key") as sandbox:
        check = asyncio.run(sandbox_check(sandbox.base_url))
    print(check, flush=True)

    print(
        f"load: {config.requests} requests per run, {config.rounds} rounds, "
        f"concurrency {config.concurrency}",
        flush=True,
    )
    with (
        procs.canned_server() as server,
        procs.redis_server() as redis_url,
        procs.redis_cluster() as cluster_node,
    ):
        if redis_url is None or cluster_node is None:
            print("Redis rows skipped: redis-server or redis-cli is not installed", flush=True)
        runs, failures, notes = asyncio.run(
            run_matrix(server.base_url, config, why_not is None, redis_url, cluster_node)
        )
    rows = report.aggregate(runs, failures)
    sent = [row for row in rows if row.scenario not in sdk_only.STUBBED]

    micros = [] if args.no_micro else run_micro(min_time=config.micro_time)
    layer_rows = []
    if not args.no_layers:
        print("layers ...", flush=True)
        layer_rows = layers.run_layers(number=config.layer_number, rounds=config.layer_rounds)
    memory = [] if args.no_memory or not config.memory_sizes else memory_results(config)
    storm_rows: list[storm_report.Row] = []
    storm_where = ""
    if not args.no_storm:
        storm_rows, storm_where = ring_storm(config)

    sections = [
        f"Machine: {description}.",
        f"Load: {config.requests} requests per run ({sdk_only.REQUESTS_FACTOR} times that for the "
        f"rows that send nothing), {config.rounds} interleaved rounds; req/s and CPU are "
        "medians over rounds, latency percentiles pool every request.",
        report.scenario_table(sent),
    ]
    sections += [f"`{name}`: {note}." for name, note in notes.items()]
    if why_not is not None:
        sections.append(f"pywa_async rows skipped: {why_not}.")
    sections.append(
        "The SDK's own cost, aiohttp stubbed out (client CPU µs per request, medians over the "
        "same rounds as raw aiohttp's):\n\n" + sdk_only.sdk_only_table(rows)
    )
    if layer_rows:
        raw_cpu = {
            op: row.cpu_us
            for op in OPERATIONS
            if (row := report.find(rows, RAW, op, max(config.concurrency))) is not None
        }
        sections.append(
            "Per layer (µs per request, aiohttp stubbed, best of "
            f"{config.layer_rounds} interleaved rounds; see benchmarks/layers.py):\n\n"
            + layers.layers_table(layer_rows, raw_cpu, max(config.concurrency))
        )
    if micros:
        sections.append(report.micro_table(micros))
    if memory:
        sections.append(
            f"In-flight memory (server answers after {config.memory_delay:g} s; RSS from "
            "/proc/self/status, VmHWM minus VmRSS after warm-up, a fresh process per row):\n\n"
            + report.memory_table(memory)
        )
    if storm_rows:
        sections.append(
            f"Ring storm: {config.storm_calls:,} signed connect webhooks at once, "
            f"{config.storm_rounds} interleaved rounds, a fresh bot per storm ({storm_where}); "
            "latency from the delivery's first bytes read by the bot to its pre_accept read by "
            "the API server, pooling every call of every round:\n\n"
            + storm_report.rows_table(storm_rows)
            + "\n\n"
            + storm_report.detail_table(storm_rows)
        )
    all_targets = report.targets(sent, micros, memory) + sdk_only.targets(rows)
    all_targets += storm_report.targets(storm_rows)
    sections.append(harness.targets_table(all_targets))
    text = "\n\n".join(sections)
    print("\n" + text + "\n", flush=True)

    if not args.no_chart:
        why_no_chart = report.draw_chart(sent, args.chart)
        print(why_no_chart or f"chart: {args.chart}", flush=True)
    if args.json is not None:
        dump = {
            "machine": description,
            "config": attrs.asdict(config),
            "rows": [attrs.asdict(row) for row in rows],
            "micro": [attrs.asdict(m) for m in micros],
            "layers": [attrs.asdict(layer) for layer in layer_rows],
            "memory": memory,
            "storm": [attrs.asdict(row) for row in storm_rows],
            "targets": [target._asdict() for target in all_targets],
        }
        args.json.write_text(json.dumps(dump, indent=2))
    if args.update_readme:
        write_readme(text)
        print(f"tables written into {README}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0
