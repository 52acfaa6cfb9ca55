"""pipecat benchmark: `python -m benchmarks.pipecat [--quick] [--calls N] [--levels 6]
[--ramp 4,6,8,10,12,15]`: what `d360_calling.pipecat` adds to a call, against `CallAudio` alone.

1. Reaction latency, N sequential calls per bot kind (interleaved, one process): the sandbox's
   user, silent until the call is up, starts saying 440 Hz; the clock runs from that moment to
   the first loud PCM the user decodes from the bot, which answers every 20 ms it hears with
   20 ms of 660 Hz (`benchmarks.pipecat_bots`: `plain` CallAudio, `pipecat`, `pipecat-20ms`,
   `pipecat-vad`). Also inside the bot: from the first loud frame out of `audio.frames()` to
   the start of its answer's write (`in the bot`), which a 20 ms output slot does not round.
   The difference of the medians is what the layer adds to "first audio in → first audio out".
2. CPU per call: per kind, a fresh bot process (`benchmarks.pipecat_bots`, pinned to the first
   CPU when there are two) and user process (`benchmarks.media_children --role user`, users
   saying 440 Hz without end), `--levels` concurrent calls, a `--seconds` window, the kinds
   interleaved over `--rounds`; the bot's CPU (`getrusage`, every thread) per call.
3. Calls per core: per kind, the ramp until the worst call gets under 95 % of 50 frames/s
   either way or the bot's loop lags past 20 ms at p99 (the media benchmark's criterion).

Everything stays on 127.0.0.1; every datagram is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import harness
from benchmarks.harness import num, table
from benchmarks.media_common import SECRET, USER_HZ, DatagramGuard, serve, spread_ms, wa_id
from benchmarks.media_levels import Child, pin_cpus, summarise, verdict, wait_for_calls
from benchmarks.pipecat_bots import KINDS, LOUD, Bots
from benchmarks.procs import ROOT
from d360_calling import Client
from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.peer import UserPeer

PACKAGES: Final = ("pipecat-ai", "aiortc", "av", "onnxruntime", "aiohttp")
CALL_BOUND: Final = 20.0


class FirstLoud(bytearray):
    """Stands in for a `UserPeer`'s heard buffer: stamps the first loud piece once armed."""

    armed_at: float | None = None
    first: float | None = None
    stamped: asyncio.Event

    def __iadd__(self, other: Any) -> FirstLoud:
        if self.armed_at is not None and self.first is None and _loud(bytes(other)):
            self.first = time.perf_counter()
            self.stamped.set()
        super().__iadd__(other)
        return self


def _loud(pcm: bytes) -> bool:
    import numpy as np

    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return bool(len(samples)) and float(np.sqrt(np.mean(samples**2))) >= LOUD


def hook(peer: UserPeer) -> FirstLoud:
    heard = FirstLoud()
    heard.stamped = asyncio.Event()
    peer._heard = heard  # type: ignore[assignment]  # the benchmark's privilege, as media's
    return heard


async def reaction(sandbox: Sandbox, bots: Bots, kind: str, index: int) -> tuple[float, float]:
    """One call: ms from the user starting to speak to the bot's first loud answer heard, and
    ms inside the bot from the first loud frame out of `audio.frames()` to its answer's write."""
    bots.kind = kind
    call_id = await sandbox.ring(wa_id(index), media=True, tone_hz=None)
    peer = sandbox.voice(call_id)
    heard = hook(peer)
    try:
        for _ in range(int(CALL_BOUND * 100)):  # the connect webhook reaches the bot
            if call_id in bots.calls:
                break
            await asyncio.sleep(0.01)
        await bots.calls[call_id].audio.wait_connected(timeout=CALL_BOUND)
        await asyncio.sleep(0.5)  # the pipeline and both jitter buffers have settled
        heard.armed_at = time.perf_counter()
        peer.play_tone(USER_HZ)
        await heard.stamped.wait()
        reply = bots.calls[call_id].reply
        if heard.first is None or reply.heard_at is None or reply.said_at is None:
            raise RuntimeError("a stamp is missing")
        return (heard.first - heard.armed_at) * 1000, (reply.said_at - reply.heard_at) * 1000
    finally:
        await sandbox.user_hangs_up(call_id)
        if call_id in bots.calls:
            await asyncio.gather(bots.calls[call_id].task, return_exceptions=True)


async def run_latency(calls: int, kinds: list[str]) -> dict[str, Any]:
    guard = DatagramGuard()
    guard.install()
    bots = Bots(kinds[0])
    runner, url = await serve(bots.receiver)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    inside: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors: list[str] = []
    try:
        async with (
            Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            bots.receiver.client = client
            await reaction(sandbox, bots, "pipecat", 0)  # warm-up: imports, codecs, ONNX
            for round_index in range(calls):
                for kind in harness.rotated(kinds, round_index):
                    try:
                        async with asyncio.timeout(CALL_BOUND):
                            index = 1 + round_index * len(kinds) + len(samples[kind])
                            user_ms, bot_ms = await reaction(sandbox, bots, kind, index)
                        samples[kind].append(user_ms)
                        inside[kind].append(bot_ms)
                    except Exception as exc:
                        errors.append(f"{kind} call {round_index}: {type(exc).__name__}: {exc}")
            await bots.close()
    finally:
        await runner.cleanup()
        guard.uninstall()
    if guard.elsewhere:
        errors.append(f"datagrams sent off loopback: {guard.elsewhere}")
    rows = [{"kind": k, "n": len(v), **spread_ms(v), "samples": v} for k, v in samples.items()]
    bot_rows = [{"kind": k, "n": len(v), **spread_ms(v), "samples": v} for k, v in inside.items()]
    return {"rows": rows, "bot_rows": bot_rows, "errors": errors}


async def start_bot(kind: str, cpus: set[int] | None) -> Child:
    command = [sys.executable, "-m", "benchmarks.pipecat_bots", "--kind", kind]
    if cpus:
        command += ["--cpus", ",".join(str(c) for c in sorted(cpus))]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
        cwd=ROOT,
    )
    return Child("bot", process)


async def run_level(kind: str, n: int, seconds: float, pin: bool) -> dict[str, Any]:
    """`n` calls of one kind in fresh processes; the media benchmark's row, plus the kind."""
    row: dict[str, Any] = {"kind": kind, "calls": n, "error": None}
    bot_cpus, user_cpus = pin_cpus(pin)
    bot, user = await start_bot(kind, bot_cpus), await Child.start("user", user_cpus)
    try:
        url = (await bot.read(60.0))["url"]
        await user.read()
        base_url = (await user.ask({"cmd": "start", "webhook_url": url}))["base_url"]
        await bot.ask({"cmd": "client", "base_url": base_url})
        await user.ask({"cmd": "ring", "n": 1})  # a warm-up call: imports, codecs, ONNX
        await wait_for_calls(bot, user, 1, 60.0)
        await user.ask({"cmd": "hangup"})
        for _ in range(100):
            if (await bot.ask({"cmd": "status"}))["open"] == 0:
                break
            await asyncio.sleep(0.1)
        baseline = await bot.ask({"cmd": "mark"})
        await user.ask({"cmd": "ring", "n": n}, timeout=60.0 + n)
        await wait_for_calls(bot, user, n, 30.0 + 0.5 * n)
        await asyncio.sleep(1.0)
        bot0, user0 = await asyncio.gather(bot.ask({"cmd": "mark"}), user.ask({"cmd": "mark"}))
        await asyncio.sleep(seconds)
        bot1, user1 = await asyncio.gather(bot.ask({"cmd": "mark"}), user.ask({"cmd": "mark"}))
        row.update(summarise(n, baseline, bot0, bot1, user0, user1))
        await user.ask({"cmd": "hangup"}, timeout=60.0)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        ends = await asyncio.gather(bot.stop(), user.stop())
    if any(end is None or end.get("elsewhere") for end in ends):
        row["error"] = row["error"] or f"a process did not close cleanly or left loopback: {ends}"
    row["verdict"] = verdict(row)
    row["ok"] = row["error"] is None and row["verdict"] == "real time"
    print(f"  {kind}, {n} calls: {row['error'] or row['verdict']}", file=sys.stderr, flush=True)
    return row


async def run_cpu(
    kinds: list[str], n: int, seconds: float, rounds: int, pin: bool
) -> list[dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for round_index in range(rounds):
        for kind in harness.rotated(kinds, round_index):
            runs[kind].append(await run_level(kind, n, seconds, pin))
    rows = []
    for kind, levels in runs.items():
        good = [r["bot_cpu_pct_per_call"] for r in levels if r["error"] is None]
        rows.append(
            {
                "kind": kind,
                "calls": n,
                "runs": len(levels),
                "per_call": statistics.median(good) if good else None,
                "per_run": good,
                "rss_per_call_mib": statistics.median(
                    [r["rss_per_call_mib"] for r in levels if r["error"] is None] or [0.0]
                ),
                "verdicts": [r["error"] or r["verdict"] for r in levels],
            }
        )
    return rows


async def run_ceiling(
    kinds: list[str], ramp: list[int], seconds: float, pin: bool
) -> list[dict[str, Any]]:
    out = []
    for kind in kinds:
        kept, failing = None, None
        for n in ramp:
            row = await run_level(kind, n, seconds, pin)
            if not row["ok"]:
                failing = row
                break
            kept = n
        reason = None if failing is None else failing["error"] or failing["verdict"]
        out.append(
            {"kind": kind, "kept": kept, "failing": failing and failing["calls"], "why": reason}
        )
    return out


def tables(results: dict[str, Any]) -> str:
    parts = []
    if "latency" in results:
        for key, what in (("rows", "user speaks → user hears"), ("bot_rows", "in the bot")):
            parts.append(spread_vs_plain(results["latency"][key], what))
    if "cpu" in results:
        rows = results["cpu"]
        base = next((r["per_call"] for r in rows if r["kind"] == "plain"), None)
        lines = [
            [
                r["kind"],
                str(r["calls"]),
                str(r["runs"]),
                num(r["per_call"], ".2f"),
                " / ".join(f"{v:.2f}" for v in r["per_run"]),
                num(
                    None if base is None or r["per_call"] is None else r["per_call"] - base,
                    "+.2f",
                ),
                num(r["rss_per_call_mib"], ".2f"),
                "; ".join(sorted(set(r["verdicts"]))),
            ]
            for r in rows
        ]
        header = ["bot", "calls", "runs", "bot CPU % per call (median)", "per run"]
        header += ["vs plain (points)", "RSS MiB per call", "verdicts"]
        parts.append(table(header, lines))
    if "ceiling" in results:
        lines = [
            [r["kind"], num(r["kept"], ".0f"), num(r["failing"], ".0f"), r["why"] or "-"]
            for r in results["ceiling"]
        ]
        parts.append(table(["bot", "real time kept up to", "first level behind", "why"], lines))
    return "\n\n".join(parts)


def spread_vs_plain(rows: list[dict[str, Any]], what: str) -> str:
    plain = next((r["p50_ms"] for r in rows if r["kind"] == "plain"), None)
    lines = [
        [
            r["kind"],
            str(r["n"]),
            num(r["p50_ms"], ".1f"),
            num(r["p99_ms"], ".1f"),
            num(r["max_ms"], ".1f"),
            num(None if plain is None or r["p50_ms"] is None else r["p50_ms"] - plain, "+.1f"),
        ]
        for r in rows
    ]
    header = [f"bot ({what})", "calls", "p50 ms", "p99 ms", "max ms", "p50 vs plain ms"]
    return table(header, lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipecat", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=20, help="latency calls per kind (20)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="bots compared (all)")
    parser.add_argument("--levels", type=int, default=6, help="concurrent calls for CPU (6)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved CPU rounds (3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="window per level, s (10)")
    parser.add_argument("--ramp", default="", help="ceiling levels, e.g. 4,6,8,10,12,15 (none)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the bot to one CPU")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU levels")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown kinds: {sorted(unknown)}; choose from {KINDS}")
    if args.quick:
        args.calls, args.levels, args.rounds, args.seconds = 3, 3, 1, 3.0
    results: dict[str, Any] = {"machine": harness.machine(PACKAGES, load=True)}
    results["latency"] = await run_latency(args.calls, kinds)
    pin = not args.no_pin
    if not args.no_cpu:
        results["cpu"] = await run_cpu(kinds, args.levels, args.seconds, args.rounds, pin)
    if args.ramp:
        ramp = sorted(int(n) for n in args.ramp.split(","))
        results["ceiling"] = await run_ceiling(kinds, ramp, args.seconds, pin)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from loguru import logger  # pipecat's logger: this benchmark process keeps it quiet

    logger.remove()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    results["seconds"] = time.perf_counter() - started
    print(results["machine"])
    print(tables(results))
    for error in results["latency"]["errors"]:
        print(f"error: {error}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 1 if results["latency"]["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
