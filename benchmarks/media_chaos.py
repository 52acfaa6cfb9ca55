"""Calls through a misbehaving network, on loopback (issue 27):

    python -m benchmarks.media_chaos [--calls 50] [--seconds 10] [--batch 25]
                                     [--loss 0.05] [--jitter-ms 30] [--reorder 0] [--quick]

A bot process (the SDK, `answer_with_audio`, saying 660 Hz) and a user process (the sandbox,
its users saying 440 Hz through `Network(loss, jitter_ms, reorder)`, `media_chaos_children`)
carry `--calls` calls, `--batch` at a time (the media benchmark's ceiling is about 40 calls per
core, so a batch of 25 keeps CPU out of what is measured; `--batch 50` runs them all at once),
each for `--seconds`. It prints the
share of 20 ms frames each side heard (worst and median call), the calls whose dominant pitch was
the other side's within 5 %, the calls still up at the end of their window, and what was left
open in both processes once every call closed: tasks, file descriptors, UDP sockets, calls. It
exits 1 when a call dropped or anything leaked.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

from benchmarks import harness
from benchmarks.harness import DASH, num, table
from benchmarks.media_common import BOT_HZ, FRAMES_PER_SECOND, USER_HZ
from benchmarks.media_levels import Child, wait_for_calls
from benchmarks.procs import ROOT

PITCH_TOLERANCE: Final = 0.05
"""A pitch counts as detected within ±5 % of the one said."""
WARM_UP: Final = 1.0
"""Seconds each batch runs before its window starts (aiortc's jitter buffer fills)."""
SETTLE: Final = 10.0
"""Seconds both processes get to close everything after the last call, before it is a leak."""
LEAKS: Final = ("tasks", "fds", "udp", "calls")
"""What a call may leave behind: tasks, fds (TCP sockets aside), UDP sockets, open calls."""
SIDES: Final = ("bot", "user")


async def start(role: str, extra: Sequence[str] = ()) -> Child:
    """A `media_chaos_children` process in `role`."""
    command = [sys.executable, "-m", "benchmarks.media_chaos_children", "--role", role, *extra]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
        cwd=ROOT,
    )
    return Child(role, process)


def progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def pitch_ok(heard: float | None, said: float) -> bool:
    return heard is not None and abs(heard - said) <= PITCH_TOLERANCE * said


def share(count: float, seconds: float) -> float:
    """`count` frames as a share of real time over `seconds`."""
    return count / (FRAMES_PER_SECOND * seconds)


def per_call(
    bot0: dict[str, Any], bot1: dict[str, Any], user0: dict[str, Any], user1: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each call of a batch over its window: frames heard each way, pitch each way, still up."""
    bot_s, user_s = bot1["t"] - bot0["t"], user1["t"] - user0["t"]
    rows = []
    for cid, heard in user1["heard"].items():
        frames = bot1["frames"].get(cid, 0) - bot0["frames"].get(cid, 0)
        rows.append(
            {
                "bot_heard": share(frames, bot_s),
                "user_heard": share((heard - user0["heard"].get(cid, 0)) / 1920, user_s),
                "bot_pitch": pitch_ok(bot1["pitch"].get(cid), USER_HZ),
                "user_pitch": pitch_ok(user1["pitch"][cid], BOT_HZ),
                "up": bool(bot1["connected"].get(cid)) and bool(user1["connected"][cid]),
            }
        )
    return rows


async def batch(bot: Child, user: Child, n: int, seconds: float) -> list[dict[str, Any]]:
    """`n` calls at once for `seconds`, then hung up; a row per call (calls that never
    connected are rows that were not up and heard nothing)."""
    started = time.perf_counter()
    await user.ask({"cmd": "ring", "n": n}, timeout=60.0 + n)
    try:
        await wait_for_calls(bot, user, n, 30.0 + 0.5 * n)
        progress(f"{n} calls up in {time.perf_counter() - started:.1f} s")
        await asyncio.sleep(WARM_UP)
        bot0, user0 = await asyncio.gather(bot.ask({"cmd": "mark"}), user.ask({"cmd": "mark"}))
        await asyncio.sleep(seconds)
        last = {"cmd": "mark", "pitch": True}
        bot1, user1 = await asyncio.gather(bot.ask(last), user.ask(last))
        rows = per_call(bot0, bot1, user0, user1)
    except (RuntimeError, TimeoutError) as exc:
        progress(f"a batch of {n} failed: {exc}")
        rows = []
    rows += [{"bot_heard": 0.0, "user_heard": 0.0, "up": False} for _ in range(n - len(rows))]
    started = time.perf_counter()
    await user.ask({"cmd": "hangup"}, timeout=60.0)
    for _ in range(100):
        if (await bot.ask({"cmd": "status"}))["open"] == 0:
            break
        await asyncio.sleep(0.1)
    progress(f"hung up in {time.perf_counter() - started:.1f} s")
    return rows


async def probes(bot: Child, user: Child) -> dict[str, dict[str, Any]]:
    found = await asyncio.gather(bot.ask({"cmd": "probe"}), user.ask({"cmd": "probe"}))
    return dict(zip(SIDES, found, strict=True))


async def baseline(bot: Child, user: Child) -> dict[str, dict[str, Any]]:
    """What both processes hold with no call open: once the warm-up call's sockets are gone
    (at most `SETTLE` seconds), as no call means no UDP socket."""
    loop = asyncio.get_running_loop()
    end = loop.time() + SETTLE
    while True:
        found = await probes(bot, user)
        if all(found[side]["udp"] == found[side]["calls"] == 0 for side in SIDES):
            return found
        if loop.time() > end:
            raise RuntimeError(f"the warm-up call is still open: {found}")
        await asyncio.sleep(0.2)


async def leaks(bot: Child, user: Child, before: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What each process holds more than `before`, once it had `SETTLE` seconds to close."""
    loop = asyncio.get_running_loop()
    end = loop.time() + SETTLE
    while True:
        now = await probes(bot, user)
        extra = {
            side: {k: now[side][k] - (0 if k == "calls" else before[side][k]) for k in LEAKS}
            for side in now
        }
        if all(v <= 0 for side in extra.values() for v in side.values()) or loop.time() > end:
            for side, found in extra.items():
                found["tcp"] = now[side]["tcp"] - before[side]["tcp"]
                if any(found[k] > 0 for k in LEAKS):
                    print(f"  {side} tasks before: {before[side]['what']}", file=sys.stderr)
                    print(f"  {side} tasks after: {now[side]['what']}", file=sys.stderr)
            return extra
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole run: both processes, a warm-up call, the batches, the leak check."""
    network = ["--loss", str(args.loss), "--jitter-ms", str(args.jitter_ms)]
    network += ["--reorder", str(args.reorder)]
    if args.seed is not None:
        network += ["--seed", str(args.seed)]
    result: dict[str, Any] = {"calls": [], "errors": [], "leaks": None, "datagrams": None}
    started = time.perf_counter()
    bot, user = await start("bot"), await start("user", network)
    try:
        url = (await bot.read())["url"]
        await user.read()
        base_url = (await user.ask({"cmd": "start", "webhook_url": url}))["base_url"]
        await bot.ask({"cmd": "client", "base_url": base_url})
        # A warm-up call pays the one-time costs (codecs, lazy imports, pools) before the baseline.
        await batch(bot, user, 1, 0.5)
        before = await baseline(bot, user)
        progress(f"warm at {time.perf_counter() - started:.0f} s")
        for first in range(0, args.calls, args.batch):
            size = min(args.batch, args.calls - first)
            result["calls"] += await batch(bot, user, size, args.seconds)
            progress(
                f"{first + size} of {args.calls} calls, at {time.perf_counter() - started:.0f} s"
            )
        result["datagrams"] = (await user.ask({"cmd": "mark"}))["datagrams"]
        result["leaks"] = await leaks(bot, user, before)
        progress(f"leaks checked at {time.perf_counter() - started:.0f} s")
    except Exception as exc:
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        ends = await asyncio.gather(bot.stop(), user.stop())
    for side, end in zip(SIDES, ends, strict=True):
        if end is None:
            result["errors"].append(f"the {side} process did not close cleanly")
        elif end.get("elsewhere"):
            result["errors"].append(f"{side} sent datagrams off loopback: {end['elsewhere']}")
    result["wall_s"] = time.perf_counter() - started
    return result


def percent(values: Sequence[float]) -> str:
    """Worst / median of shares, in %."""
    if not values:
        return DASH
    return f"{min(values) * 100:.1f} % / {statistics.median(values) * 100:.1f} %"


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    calls = result["calls"]
    n = len(calls)
    datagrams = result["datagrams"] or {"media": 0, "dropped": 0, "delayed": 0}
    media = datagrams["media"] or 1
    leaked = result["leaks"] or {}

    def leak_cell(side: str) -> str:
        found = leaked.get(side)
        return DASH if found is None else " / ".join(str(found[k]) for k in LEAKS)

    lines = [
        [f"calls ({args.batch} at a time, {args.seconds:g} s each)", str(n)],
        ["calls up at the end of their window", str(sum(c["up"] for c in calls))],
        ["frames the bot heard, worst / median call", percent([c["bot_heard"] for c in calls])],
        ["frames the user heard, worst / median call", percent([c["user_heard"] for c in calls])],
        [
            f"calls whose bot heard the user's {USER_HZ:g} Hz (±5 %)",
            str(sum(c.get("bot_pitch", False) for c in calls)),
        ],
        [
            f"calls whose user heard the bot's {BOT_HZ:g} Hz (±5 %)",
            str(sum(c.get("user_pitch", False) for c in calls)),
        ],
        [
            "user's media datagrams lost / delayed by the network (both ways)",
            f"{num(datagrams['dropped'] / media * 100, '.1f')} % / "
            f"{num(datagrams['delayed'] / media * 100, '.1f')} % of {datagrams['media']}",
        ],
        ["leaked, bot: tasks / fds / UDP sockets / open calls", leak_cell("bot")],
        ["leaked, user: tasks / fds / UDP sockets / open peers", leak_cell("user")],
        [
            "HTTP connections the pools opened meanwhile, bot / user (kept alive, no leak)",
            " / ".join(f"{leaked[side]['tcp']:+d}" if side in leaked else DASH for side in SIDES),
        ],
    ]
    return table(["measure", "value"], lines)


def failures(result: dict[str, Any], calls: int) -> list[str]:
    """Why the run fails: errors, calls missing or down, anything leaked."""
    found = list(result["errors"])
    up = sum(c["up"] for c in result["calls"])
    if len(result["calls"]) != calls or up != calls:
        found.append(f"{up} of {calls} calls stayed up")
    if result["leaks"] is None:
        found.append("leaks not measured")
    else:
        found += [
            f"{side} leaked {k}: {v}"
            for side, extra in result["leaks"].items()
            for k, v in extra.items()
            if k in LEAKS and v > 0
        ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media_chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="each call's window")
    parser.add_argument("--batch", type=int, default=25, help="calls at a time (25)")
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--jitter-ms", type=float, default=30.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, help="seed the network (call i: seed + i)")
    parser.add_argument("--quick", action="store_true", help="3 calls of 2 s (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.seconds, args.batch = 3, 2.0, 3
    if args.calls < 1 or args.batch < 1 or args.seconds <= 0:
        parser.error("--calls and --batch take at least 1, --seconds more than 0")
    harness.raise_fd_limit()
    print(harness.machine(["aiortc", "aioice", "av"], load=True), flush=True)
    print(
        f"Network(loss={args.loss:g}, jitter_ms={args.jitter_ms:g}, reorder={args.reorder:g})",
        flush=True,
    )
    result = asyncio.run(run(args))
    print(report(result, args))
    print(f"wall {result['wall_s']:.0f} s", flush=True)
    problems = failures(result, args.calls)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
