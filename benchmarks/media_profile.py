"""Where a bot process's CPU goes: `python -m benchmarks.media_profile [--calls 20]`.

One level of the media benchmark (`benchmarks.media_levels.run_level`: fresh bot and user
processes, both sides saying a tone, bot pinned to one CPU) with py-spy sampling the bot over the
window, run with `--before REV`'s code and then with the working tree's. It prints, for each, the
functions that take the most of the bot's samples: by their own time (self) and with what they
call (total). Needs py-spy on PATH (`pip install py-spy`; it reads the process, it does not stop
it).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from benchmarks import harness, revision
from benchmarks.harness import table
from benchmarks.media import BEFORE, PACKAGES
from benchmarks.media_levels import run_level
from benchmarks.procs import ROOT

TOP: Final = 25
"""Functions listed per profile."""


def functions(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples, and the samples per function by self time and by total time, from py-spy's raw
    (folded) output; a function is `name (file)`, its line numbers dropped."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    return samples, own, total


def _short(frame: str) -> str:
    """`recv (d360_calling/media/track.py:120)` as `recv (media/track.py)`."""
    frame = re.sub(r":\d+\)$", ")", frame.strip())
    return re.sub(r"\((?:.*/)?(site-packages/|d360_calling/|benchmarks/)", "(", frame)


def top_table(raw: str, n: int = TOP) -> str:
    """The `n` functions with the most self time, and their share of the samples in total."""
    samples, own, total = functions(raw)
    if not samples:
        return "(no samples)"
    rows = [
        [name, f"{100 * count / samples:.1f}", f"{100 * total[name] / samples:.1f}"]
        for name, count in own.most_common(n)
    ]
    return table(["function (file)", "self %", "total %"], rows)


async def profiled(args: argparse.Namespace, tree: Path, into: Path) -> dict[str, Any]:
    """One level with the code of `tree`, py-spy sampling its bot into `into`."""
    row = await run_level(args.calls, args.seconds, True, (), tree, into)
    return {"row": row, "raw": _text(into)}


def _text(path: Path) -> str:
    """What py-spy wrote; nothing if it could not sample."""
    return path.read_text() if path.exists() else ""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="d360-profile-") as folder:
        if args.before != "none":
            label = f"before ({revision.describe(args.before)})"
            with revision.exported(args.before) as tree:
                runs.append({"label": label, **await profiled(args, tree, Path(folder) / "1")})
        runs.append({"label": "after", **await profiled(args, ROOT, Path(folder) / "2")})
    return {"machine": harness.machine(PACKAGES, load=True), "runs": runs}


def report(results: dict[str, Any], calls: int) -> str:
    parts = [f"Machine: {results['machine']}."]
    for one in results["runs"]:
        row = one["row"]
        cpu = row.get("bot_cpu_pct_per_call")
        parts += [
            "",
            f"{one['label']}: {calls} calls, bot CPU {cpu:.2f} % per call, {row['verdict']}"
            if cpu is not None
            else f"{one['label']}: {row['error']}",
            "",
            top_table(one["raw"]),
        ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media_profile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=20, help="concurrent calls (20)")
    parser.add_argument("--seconds", type=float, default=15.0, help="window sampled, s (15)")
    parser.add_argument("--before", default=BEFORE, help=f"revision first ({BEFORE}; 'none')")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy is not on PATH: pip install py-spy", file=sys.stderr)
        return 2
    results = asyncio.run(run(args))
    print(report(results, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
