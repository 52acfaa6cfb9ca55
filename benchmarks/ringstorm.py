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
`run()`, `aggregate()`, `rows_table()`, `detail_table()` and `targets()` are there for
`python -m benchmarks` to call.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import secrets
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final
from urllib.request import urlopen

import attrs

from benchmarks import procs
from benchmarks.procs import ServerProcess
from benchmarks.server import raise_fd_limit

ROOT: Final = Path(__file__).resolve().parent.parent
LATE_S: Final = 5.0
P99_RATIO_TARGET: Final = 1.2
TIMES: Final = "\u00d7"
DASH: Final = "\u2013"
WARMUP: Final = 20
READY_TIMEOUT: Final = 30.0
SENDER_TIMEOUT: Final = 120.0
REPORT_TIMEOUT: Final = 180.0
"""Longer than the bot's own wait for its calls (`storm_bot.REPORT_TIMEOUT`)."""


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


def available_kinds() -> tuple[Kind, ...]:
    """Every row this interpreter can run: the orjson row needs the `speedups` extra."""
    if importlib.util.find_spec("orjson") is None:
        return tuple(kind for kind in KINDS if kind.backend != "orjson")
    return KINDS


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


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (NaN when there are none)."""
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


# -- processes ----------------------------------------------------------------------------------


def read_line(stream: IO[str], timeout: float) -> str:
    """One line from a child's stdout, or `TimeoutError` after `timeout` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no line within {timeout:g} s")
    line = stream.readline()
    if not line:
        raise RuntimeError("the process exited")
    return line


class Bot:
    """A `benchmarks.storm_bot` process, driven over its stdin."""

    def __init__(
        self,
        kind: Kind,
        api: str,
        secret: str,
        profile: Path | None,
        cpu: int | None,
        gc_mode: str = "default",
    ) -> None:
        self.command = [sys.executable, "-m", "benchmarks.storm_bot", "--kind", kind.bot]
        self.command += ["--json-backend", kind.backend, "--api", api, "--secret", secret]
        if profile is not None:
            self.command += ["--profile", str(profile)]
        if cpu is not None:
            self.command += ["--cpu", str(cpu)]
        self.command += ["--gc", gc_mode]
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Bot:
        self._process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            line = self._line(READY_TIMEOUT)
            self.url = next(w for w in line.split() if w.startswith("http://"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _line(self, timeout: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        return read_line(self._process.stdout, timeout)

    def send(self, command: str) -> None:
        assert self._process is not None
        _write(self._process, command)

    def report(self, prefix: str, calls: int) -> dict[str, Any]:
        self.send(f"report {prefix} {calls}")
        result: dict[str, Any] = json.loads(self._line(REPORT_TIMEOUT))
        return result

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            _write(process, "quit")
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _write(process: subprocess.Popen[str], command: str) -> None:
    assert process.stdin is not None
    process.stdin.write(command + "\n")
    process.stdin.flush()


def send_storm(url: str, secret: str, prefix: str, calls: int) -> dict[str, Any]:
    """Run the sender process once; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.storm_sender", "--url", url]
    command += ["--secret", secret, "--prefix", prefix, "--calls", str(calls)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SENDER_TIMEOUT)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"sender failed: {tail[0]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def arrivals(server: ServerProcess, *, reset: bool) -> dict[str, dict[str, float]]:
    """The API server's stamps per call id (`GET /_arrivals`)."""
    query = "?reset=1" if reset else ""
    with urlopen(f"{server.base_url}/_arrivals{query}", timeout=30) as response:  # local only
        document: dict[str, Any] = json.loads(response.read())
    calls: dict[str, dict[str, float]] = document["calls"]
    return calls


@contextlib.contextmanager
def api_server() -> Iterator[ServerProcess]:
    command = [sys.executable, "-m", "benchmarks.server", "--port", "0", "--record"]
    with ServerProcess(command, "serving") as server:
        yield server


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
                p50_ms=percentile(latency, 0.50),
                p99_ms=percentile(latency, 0.99),
                max_ms=latency[-1] if latency else math.nan,
                late=sum(1 for x in latency if x > LATE_S * 1000),
                round_p99_ms=tuple(percentile(sorted(s.latency_ms), 0.99) for s in mine),
                handler_p99_ms=percentile(pooled("from_handler_ms"), 0.99),
                sent_p99_ms=percentile(pooled("from_sent_ms"), 0.99),
                accept_p99_ms=percentile(pooled("accept_ms"), 0.99),
                accepts_first=statistics.median(s.accepts_first for s in mine),
                cpu_us_per_call=statistics.median(s.bot_cpu_s / s.calls * 1e6 for s in mine),
                gc_us_per_call=statistics.median(s.bot_gc_s / s.calls * 1e6 for s in mine),
                span_ms=statistics.median(s.span_s * 1000 for s in mine),
                errors=len(errors),
                first_errors=tuple(errors[:5]),
            )
        )
    return rows


def _num(value: float, spec: str) -> str:
    return DASH if value != value else format(value, spec)


def _ratio(value: float, base: Row | None) -> str:
    if base is None or not base.p99_ms or value != value:
        return DASH
    return f"{value / base.p99_ms:.2f}{TIMES}"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


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
            _num(row.p50_ms, ".0f"),
            _num(row.p99_ms, ".0f"),
            _num(row.max_ms, ".0f"),
            str(row.late),
            str(row.errors),
            _ratio(row.p99_ms, floor),
            _ratio(row.p99_ms, fifo),
            " / ".join(_num(x, ".0f") for x in row.round_p99_ms),
        )
        for row in rows
    ]
    return _table(header, lines)


def detail_table(rows: Sequence[Row]) -> str:
    """Where the time goes: other start points, the accepts, the order, the bot's CPU."""
    header = ["row", "p99 from handler ms", "p99 from sender ms", "accept p99 ms"]
    header += ["accepts before the last pre_accept", "bot CPU µs/call", "of which GC"]
    header += ["storm span ms"]
    lines = [
        (
            row.label,
            _num(row.handler_p99_ms, ".0f"),
            _num(row.sent_p99_ms, ".0f"),
            _num(row.accept_p99_ms, ".0f"),
            f"{row.accepts_first:,.0f}",
            _num(row.cpu_us_per_call, ",.0f"),
            _num(row.gc_us_per_call, ",.0f"),
            _num(row.span_ms, ".0f"),
        )
        for row in rows
    ]
    return _table(header, lines)


Target = tuple[str, str, str, bool | None]


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
                (
                    f"ring storm p99, {row.label} vs {floor.label.split(':')[0]}",
                    f"{ratio:.2f}{TIMES} ({row.p99_ms:.0f} vs {floor.p99_ms:.0f} ms)",
                    f"\u2264 {P99_RATIO_TARGET:.2f}{TIMES}",
                    ratio <= P99_RATIO_TARGET,
                )
            )
        errors = f" ({row.errors} errors)" if row.errors else ""
        items.append(
            (
                f"ring storm connects answered after {LATE_S:g} s, {row.label}",
                f"{row.late} of {row.calls:,}{errors}",
                "0, no errors",
                row.late == 0 and row.errors == 0,
            )
        )
    return items


def targets_table(items: Sequence[Target]) -> str:
    verdict = {True: "PASS", False: "MISS", None: DASH}
    return _table(
        ("target", "measured", "goal", "result"),
        [(name, measured, goal, verdict[ok]) for name, measured, goal, ok in items],
    )


def machine() -> str:
    """One line describing where this ran, with the load average at the start."""
    return procs.machine(("aiohttp", "cattrs", "attrs", "orjson"), load=True)


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


@contextlib.contextmanager
def pinned() -> Iterator[int | None]:
    """With two CPUs or more: this process (and so the API server and the sender, which inherit
    it) on every CPU but the first, which is left to the bot; yields the bot's CPU (None when
    there is no CPU to spare) and restores this process's affinity afterwards."""
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpus = sorted(before)
    if len(cpus) < 2:
        yield None
        return
    os.sched_setaffinity(0, set(cpus[1:]))
    try:
        yield cpus[0]
    finally:
        os.sched_setaffinity(0, before)


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
            shift = (round_number - 1) % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
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
                    f"p50 {_num(percentile(latency, 0.5), '.0f')} ms, "
                    f"p99 {_num(percentile(latency, 0.99), '.0f')} ms, "
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
    raise_fd_limit()
    started = time.perf_counter()
    description = machine()
    print(f"machine: {description}", flush=True)
    with contextlib.ExitStack() as stack:
        bot_cpu = None if args.no_pin else stack.enter_context(pinned())
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
            targets_table(targets(rows)),
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
                {"target": n, "measured": m, "goal": g, "passed": p} for n, m, g, p in targets(rows)
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
