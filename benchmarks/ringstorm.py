"""The ring storm (issue 17): 1,000 `connect` webhooks at once, each answered with a pre_accept.

    python -m benchmarks.ringstorm [--calls 1000] [--rounds 3] [--quick] [--json PATH]

Three processes per storm, all on 127.0.0.1: the canned API server (`benchmarks.server
--record`, one for the whole run), a bot (`benchmarks.storm_bot`, fresh for every storm) and a
sender (`benchmarks.storm_sender`). The sender builds N signed connect deliveries and posts
them all at once; the bot's handler pre-accepts and then accepts each call against the API
server. Per call, the latency is from the delivery's first bytes being read by the bot process
to its `pre_accept` being read by the API server, both stamped on `CLOCK_MONOTONIC`, which on
Linux is one clock for every process. Rows: the floor (a hand-written `aiohttp.web` handler,
raw aiohttp client, no SDK), the same floor with a FIFO cap of 100 requests in flight (the
queueing the SDK's default in-flight cap adds), the SDK with the `speedups` extra (orjson) and
without it (stdlib json), in an order rotated every round. Before each storm the fresh bot
answers a warm-up of `WARMUP` calls (imports, first connections), which are not counted. With
two CPUs or more the bot gets the first CPU to itself and the other processes share the rest.
`run()` here, and `aggregate()`, `rows_table()`, `detail_table()` and `targets()` in
`benchmarks.storm_report`, are there for `python -m benchmarks` to call; the processes are
driven by `benchmarks.storm_procs`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Final

import attrs

from benchmarks import harness
from benchmarks.procs import ServerProcess
from benchmarks.storm_procs import Bot, api_server, arrivals, send_storm
from benchmarks.storm_report import (
    KINDS,
    SDK_ORJSON,
    Kind,
    Storm,
    aggregate,
    detail_table,
    rows_table,
    targets,
)

WARMUP: Final = 20
PACKAGES: Final = ("aiohttp", "cattrs", "attrs", "orjson")
"""The packages whose versions the machine line names."""


def available_kinds() -> tuple[Kind, ...]:
    """Every row this interpreter can run: the orjson row needs the `speedups` extra."""
    if importlib.util.find_spec("orjson") is None:
        return tuple(kind for kind in KINDS if kind.backend != "orjson")
    return KINDS


# -- one storm ----------------------------------------------------------------------------------


def run_storm(
    server: ServerProcess,
    kind: Kind,
    round_number: int,
    calls: int,
    secret: str,
    profile: Path | None = None,
    bot_cpu: int | None = None,
    gc_mode: str = "default",
) -> Storm:
    """A fresh bot of `kind`, warmed up, then `calls` connects at once."""
    warm = f"wacid.warm-{round_number}-{kind.key}"
    prefix = f"wacid.storm-{round_number}-{kind.key}"
    with Bot(kind, server.base_url, secret, profile, bot_cpu, gc_mode) as bot:
        send_storm(bot.url, secret, warm, WARMUP)
        bot.report(warm, WARMUP)
        arrivals(server, reset=True)
        bot.send("mark")
        sender = send_storm(bot.url, secret, prefix, calls)
        report = bot.report(prefix, calls)
    at_api = arrivals(server, reset=True)
    return measure(kind, round_number, calls, prefix, sender, report, at_api)


def measure(
    kind: Kind,
    round_number: int,
    calls: int,
    prefix: str,
    sender: dict[str, Any],
    report: dict[str, Any],
    at_api: dict[str, dict[str, float]],
) -> Storm:
    errors: list[str] = []
    bad = {status: n for status, n in sender["statuses"].items() if status != "200"}
    errors += [f"sender: HTTP {status} x{n}" for status, n in bad.items()]
    errors += [f"sender: {error} x{n}" for error, n in sender["errors"].items()]
    errors += [f"{call}: {error}" for call, error in report["failed"].items()]
    if not report["complete"]:
        errors.append("bot: not every call finished in time")
    sent = sender.pop("sent")
    latency, from_handler, accept, from_sent = [], [], [], []
    first_read, last_read, last_pre_accept = math.inf, -math.inf, -math.inf
    for number in range(calls):
        call_id = f"{prefix}-{number}"
        stamps = report["arrived"].get(call_id)
        api = at_api.get(call_id, {})
        if stamps is None:
            errors.append(f"{call_id}: never reached the bot's handler")
            continue
        first_bytes, handler = stamps
        first_read, last_read = min(first_read, first_bytes), max(last_read, first_bytes)
        pre_accept = api.get("pre_accept")
        if pre_accept is None:
            errors.append(f"{call_id}: no pre_accept reached the API")
            continue
        last_pre_accept = max(last_pre_accept, pre_accept)
        latency.append((pre_accept - first_bytes) * 1000)
        from_handler.append((pre_accept - handler) * 1000)
        if call_id in sent:
            from_sent.append((pre_accept - sent[call_id]) * 1000)
        if "accept" in api:
            accept.append((api["accept"] - first_bytes) * 1000)
        else:
            errors.append(f"{call_id}: no accept reached the API")
    span = last_pre_accept - first_read if latency else math.nan
    accepts_first = sum(
        1
        for stamps in at_api.values()
        if stamps.get("accept", math.inf) < last_pre_accept and stamps.get("pre_accept")
    )
    return Storm(
        kind=kind.key,
        round=round_number,
        calls=calls,
        latency_ms=tuple(latency),
        from_handler_ms=tuple(from_handler),
        accept_ms=tuple(accept),
        from_sent_ms=tuple(from_sent),
        bot_cpu_s=report["cpu_s"],
        bot_gc_s=sum(report["gc_s"]),
        bot_gc_collections=tuple(report["gc_collections"]),
        span_s=span,
        sent_spread_s=max(sent.values()) - min(sent.values()) if sent else math.nan,
        read_spread_s=last_read - first_read if latency else math.nan,
        accepts_first=accepts_first,
        sender=sender,
        errors=tuple(errors),
    )


# -- entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ringstorm", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=1000, help="connects per storm (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 calls, 1 round")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--gc",
        choices=("default", "freeze", "off"),
        default="default",
        help="an experiment: every bot calls gc.freeze() once started, or disables the "
        "collector (default: leave it as Python sets it)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave every process on every CPU (no affinity)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of each bot during its storm to PATH-<row>-<round>",
    )
    return parser.parse_args(argv)


def failed_storm(kind: Kind, round_number: int, calls: int, error: BaseException) -> Storm:
    """A storm that could not run (a process failed or timed out): no latencies, one error."""
    return Storm(
        kind=kind.key,
        round=round_number,
        calls=calls,
        latency_ms=(),
        from_handler_ms=(),
        accept_ms=(),
        from_sent_ms=(),
        bot_cpu_s=math.nan,
        bot_gc_s=math.nan,
        bot_gc_collections=(),
        span_s=math.nan,
        sent_spread_s=math.nan,
        read_spread_s=math.nan,
        accepts_first=0,
        sender={},
        errors=(f"storm failed: {type(error).__name__}: {error}"[:300],),
    )


def run(
    calls: int,
    rounds: int,
    profile: Path | None = None,
    log: IO[str] = sys.stdout,
    bot_cpu: int | None = None,
    gc_mode: str = "default",
) -> list[Storm]:
    """Every row once per round, the order rotated each round, against one API server; the
    bot of each storm on `bot_cpu` when given (see `pinned`)."""
    if not sys.platform.startswith("linux"):
        raise SystemExit("the ring storm compares CLOCK_MONOTONIC across processes: Linux only")
    secret = secrets.token_hex(16)
    storms: list[Storm] = []
    kinds = available_kinds()
    if len(kinds) < len(KINDS):
        print(f"  {SDK_ORJSON.label} skipped: orjson is not installed", file=log, flush=True)
    with api_server() as server:
        for round_number in range(1, rounds + 1):
            for kind in harness.rotated(kinds, round_number - 1):
                path = None if profile is None else Path(f"{profile}-{kind.key}-{round_number}")
                try:
                    storm = run_storm(
                        server, kind, round_number, calls, secret, path, bot_cpu, gc_mode
                    )
                except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
                    # a child failed, timed out (TimeoutError is an OSError) or printed no JSON
                    storm = failed_storm(kind, round_number, calls, error)
                storms.append(storm)
                latency = sorted(storm.latency_ms)
                print(
                    f"  round {round_number}/{rounds} {kind.label}: "
                    f"p50 {harness.num(harness.nearest_rank(latency, 0.5), '.0f')} ms, "
                    f"p99 {harness.num(harness.nearest_rank(latency, 0.99), '.0f')} ms, "
                    f"errors {len(storm.errors)}",
                    file=log,
                    flush=True,
                )
    return storms


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    calls, rounds = (50, 1) if args.quick else (args.calls, args.rounds)
    if calls < 1 or rounds < 1:
        raise SystemExit("--calls and --rounds must be at least 1")
    harness.raise_fd_limit()
    started = time.perf_counter()
    description = harness.machine(PACKAGES, load=True)
    print(f"machine: {description}", flush=True)
    with contextlib.ExitStack() as stack:
        bot_cpu = None if args.no_pin else stack.enter_context(harness.pinned())
        where = "unpinned" if bot_cpu is None else f"bot on CPU {bot_cpu}, the rest on the others"
        if args.gc != "default":
            where += (
                "; gc.freeze() in every bot" if args.gc == "freeze" else "; gc off in every bot"
            )
        print(f"ring storm: {calls} connects at once, {rounds} rounds; {where}", flush=True)
        storms = run(calls, rounds, args.profile, bot_cpu=bot_cpu, gc_mode=args.gc)
    rows = aggregate(storms)
    text = "\n\n".join(
        (
            f"Machine: {description}.",
            f"Ring storm: {calls:,} signed connect webhooks at once, {rounds} interleaved "
            f"rounds, a fresh bot per storm ({where}); latency pools every call of every round.",
            rows_table(rows),
            detail_table(rows),
            harness.targets_table(targets(rows)),
        )
    )
    print("\n" + text + "\n", flush=True)
    for row in rows:
        for error in row.first_errors:
            print(f"{row.label}: {error}", flush=True)
    if args.json is not None:
        dump = {
            "machine": description,
            "config": {
                "calls": calls,
                "rounds": rounds,
                "warmup": WARMUP,
                "bot_cpu": bot_cpu,
                "gc": args.gc,
            },
            "rows": [attrs.asdict(row) for row in rows],
            "targets": [
                {"target": t.name, "measured": t.measured, "goal": t.goal, "passed": t.passed}
                for t in targets(rows)
            ],
            "storms": [
                attrs.asdict(s, filter=lambda a, _: not a.name.endswith("_ms")) for s in storms
            ],
        }
        args.json.write_text(json.dumps(dump, indent=2))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
