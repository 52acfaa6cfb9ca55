"""Media benchmark: `python -m benchmarks.media [--quick] [--calls N] [--concurrency 10,20,50]`.

1. Set-up latency, N sequential calls through the whole path, in this process: the sandbox
   rings with a real user peer, the signed connect webhook reaches a `Receiver` on 127.0.0.1,
   the handler runs `call.answer_with_audio(loopback=True)` and plays a tone. Measured from the
   handler's first line to the first 20 ms frame `audio.frames()` yields (the bot hears the
   user) and to the first PCM the user's peer decodes (the user hears the bot).
2. CPU and RSS per concurrent call: a fresh bot process (Receiver + Client + one `CallAudio` per
   call, playing a tone and reading every frame) and a fresh user process (the sandbox and its
   `UserPeer`s, each saying a tone) per level; the bot's own CPU (`getrusage`, every thread) and
   RSS (`VmRSS`) are measured over a window, and each call's frames per second both ways.
3. The ceiling: more calls per level until the worst call gets under 99 % of real time (50 frames
   a second) either way, a call fails to connect, or the bot's event loop lags (p99 over 20 ms).
   The ramp runs twice in one run: with `--before REV`'s code (default: main before issue 27's
   media work), then with the working tree's, so the two ceilings share the machine's state.
4. Keypresses (issue 23): the latency from `sandbox.press` to the key at the bot's `audio.dtmf`
   (p50/p99/max over single-key presses), and the bot's CPU per call with the RFC 4733 hook and
   without it, interleaved (`--keys-only` runs this alone, `--no-keys` skips it).

Everything stays on 127.0.0.1 (loopback ICE, no STUN/TURN); every datagram is checked.
Scenario 1 is `benchmarks.media_latency`; 2 and 3 are `benchmarks.media_levels`, which starts
the bot and user processes of `benchmarks.media_children`; 4 is `benchmarks.media_keys`
(its CPU rows reuse the levels' processes); what they share is in
`benchmarks.media_common`, and the machine line and the tables are the harness's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import harness, revision
from benchmarks.harness import DASH, num, table
from benchmarks.media_common import FRAMES_PER_SECOND, tone_cost
from benchmarks.media_keys import NO_HOOK, run_hook_cpu, run_key_latency, summary_lines
from benchmarks.media_latency import latency_table, run_latency
from benchmarks.media_levels import RAMP, ceiling_line, concurrency_table, run_concurrency

PACKAGES: Final = ("aiortc", "aioice", "av", "aiohttp")
BEFORE: Final = "2135953"
"""Main as issue 27 found it: aiortc's own encoder and decoder threads."""
"""The packages whose versions the machine line names."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=20, help="sequential calls for latency (20)")
    parser.add_argument("--concurrency", default="10,20,50", help="levels always run (10,20,50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="window per level, s (10)")
    parser.add_argument(
        "--ramp", default=",".join(map(str, RAMP)), help="ceiling levels, stops at the first miss"
    )
    parser.add_argument("--no-ceiling", action="store_true", help="only the --concurrency levels")
    parser.add_argument(
        "--before",
        default=BEFORE,
        help=f"revision whose ramp runs first, for before/after ({BEFORE}; 'none' to skip)",
    )
    parser.add_argument(
        "--attempts", type=int, default=2, help="runs of a level that falls behind (2, at most 5)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin bot and user to CPUs")
    parser.add_argument("--keys", type=int, default=40, help="single-key presses timed (40)")
    parser.add_argument("--key-calls", type=int, default=4, help="calls they are spread over (4)")
    parser.add_argument(
        "--hook-calls", type=int, default=10, help="concurrent calls for the hook's CPU (10)"
    )
    parser.add_argument(
        "--hook-rounds", type=int, default=3, help="rounds with and without the hook (3)"
    )
    parser.add_argument("--keys-only", action="store_true", help="only the keypress scenarios")
    parser.add_argument("--no-keys", action="store_true", help="skip the keypress scenarios")
    parser.add_argument(
        "--no-keys-hook",
        action="store_true",
        help="the concurrency levels' bots run without the keypress hook (to compare ceilings)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    return parser.parse_args(argv)


def _ints(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if any(v < 1 for v in values):
        raise SystemExit("levels must be at least 1 call")
    return values


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        calls, levels, ramp, seconds, attempts = 3, [2, 4], [], 1.5, 1
        keys, key_calls, hook_calls, hook_rounds = 6, 2, 2, 1
    else:
        calls, levels, seconds = args.calls, _ints(args.concurrency), args.seconds
        attempts = args.attempts
        ramp = [] if args.no_ceiling else _ints(args.ramp)
        keys, key_calls = args.keys, args.key_calls
        hook_calls, hook_rounds = args.hook_calls, args.hook_rounds
    if calls < 1 or seconds <= 0 or not 1 <= attempts <= 5:
        raise SystemExit("--calls must be >= 1, --seconds > 0, --attempts 1 to 5")
    if not 1 <= key_calls <= keys or hook_calls < 1 or hook_rounds < 1:
        raise SystemExit("--keys >= --key-calls >= 1, --hook-calls and --hook-rounds >= 1")
    if args.keys_only and args.no_keys:
        raise SystemExit("--keys-only and --no-keys exclude each other")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": harness.machine(PACKAGES, load=True),
        "quick": args.quick,
        "errors": [],
        "levels_keys_hook": not args.no_keys_hook,
    }
    errors: list[str] = []
    if not args.keys_only:
        print(f"latency: {calls} sequential calls", file=sys.stderr, flush=True)
        results["tone_us_per_frame"] = await tone_cost()
        results["latency"] = await run_latency(calls)
        print(f"concurrency: levels {levels}, ramp {ramp}, {seconds:g} s each", file=sys.stderr)
        bot_args = NO_HOOK if args.no_keys_hook else ()
        if ramp and args.before != "none":
            results["before"] = await _before(args.before, ramp, seconds, args, attempts)
            errors += [f"before: {e}" for e in results["before"]["errors"]]
        rows, ceiling = await run_concurrency(
            levels, ramp, seconds, not args.no_pin, attempts, bot_args
        )
        results["concurrency"] = rows
        results["ceiling"] = ceiling
        errors += results["latency"]["errors"] + [
            f"{row['calls']} calls: {row['error']}" for row in rows if row["error"]
        ]
    if not args.no_keys:
        print(f"keypresses: {keys} keys over {key_calls} calls", file=sys.stderr, flush=True)
        results["keys"] = await run_key_latency(key_calls, keys)
        print(
            f"keypress hook CPU: {hook_calls} calls, {hook_rounds} rounds, {seconds:g} s each",
            file=sys.stderr,
            flush=True,
        )
        results["keys_cpu"] = await run_hook_cpu(hook_calls, seconds, hook_rounds, not args.no_pin)
        errors += [f"keys: {e}" for e in results["keys"]["errors"]]
        errors += [f"keys CPU: {e}" for e in results["keys_cpu"]["errors"]]
    results["errors"] = errors
    results["seconds"] = time.perf_counter() - started
    results["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return results


async def _before(
    rev: str, ramp: list[int], seconds: float, args: argparse.Namespace, attempts: int
) -> dict[str, Any]:
    """The ramp with `rev`'s code (bot and user processes both), before the working tree's."""
    print(f"before: {revision.describe(rev)}", file=sys.stderr, flush=True)
    with revision.exported(rev) as tree:
        rows, ceiling = await run_concurrency(
            [], ramp, seconds, not args.no_pin, attempts, NO_HOOK if args.no_keys_hook else (), tree
        )
    errors = [f"{row['calls']} calls: {row['error']}" for row in rows if row["error"]]
    return {
        "revision": revision.describe(rev),
        "concurrency": rows,
        "ceiling": ceiling,
        "errors": errors,
    }


def before_after(results: dict[str, Any]) -> list[str]:
    """ "real time: N calls" per core, before and after, and the CPU per call at each level."""
    before, after = results["before"], results
    pinned = all(r["pinned"] for r in after["concurrency"])
    lines = [
        f"Before and after, one run (bot pinned to one CPU{'' if pinned else ': NOT pinned'}); "
        f"before is `{before['revision']}`:",
        "",
    ]
    rows = []
    for label, side in (("before", before), ("after", after)):
        ceiling = side["ceiling"]
        cpu = {r["calls"]: r.get("bot_cpu_pct_per_call") for r in side["concurrency"]}
        rows.append(
            [
                label,
                f"real time: {ceiling['calls'] or 0} calls",
                f"{ceiling['audio_calls'] or 0} calls",
                f"{ceiling['first_failing'] or DASH}: {ceiling['reason'] or 'not reached'}",
                num(cpu.get(10), ".2f"),
                num(cpu.get(20), ".2f"),
            ]
        )
    header = [
        "code",
        "per core",
        "frames alone (lag allowed)",
        "first level behind",
        "bot CPU % per call at 10 calls",
        "at 20 calls",
    ]
    return [*lines, table(header, rows)]


def report(results: dict[str, Any]) -> str:
    parts = [f"Machine: {results['machine']}."]
    if "latency" in results:
        parts += ["", *levels_report(results)]
    if "before" in results:
        parts += ["", *before_after(results)]
    if "keys" in results:
        parts += ["", *summary_lines(results["keys"], results["keys_cpu"])]
    parts += ["", f"Load average at the end: {results['load_end']}."]
    if results["errors"]:
        parts += ["", "Errors:", *(f"- {e}" for e in results["errors"])]
    return "\n".join(parts)


def levels_report(results: dict[str, Any]) -> list[str]:
    latency = results["latency"]
    hook = "" if results["levels_keys_hook"] else " The bots ran without the keypress hook."
    return [
        f"Set-up latency: {latency['completed']}/{latency['calls']} sequential calls through the "
        f"sandbox, the receiver and `answer_with_audio`; the user's side is "
        f"{latency['user_side']}.",
        "",
        latency_table(latency),
        "",
        "Concurrent calls, Opus both ways, both sides playing a tone; bot and user in their own "
        "processes (pinned to one CPU each when there are two); CPU and frames over the window:"
        + hook,
        "",
        concurrency_table(results["concurrency"]),
        "",
        ceiling_line(results["ceiling"], all(r["pinned"] for r in results["concurrency"])),
        "",
        f"Of the bot's CPU, `tone()` (pure Python) takes {results['tone_us_per_frame']:.0f} µs "
        f"per frame: {results['tone_us_per_frame'] * FRAMES_PER_SECOND / 1e4:.2f} % of a core "
        "per call.",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    print(report(results))
    print(f"\n({results['seconds']:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
