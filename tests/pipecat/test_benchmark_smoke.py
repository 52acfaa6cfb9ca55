"""`python -m benchmarks.pipecat` still runs end to end: the pipecat bot's latency calls and one
CPU level in its own process (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_pipecat_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "pipecat.json"
    command = [sys.executable, "-m", "benchmarks.pipecat", "--quick", "--kinds", "pipecat"]
    command += ["--rounds", "1", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| bot (in the bot) |" in done.stdout
    results = json.loads(out.read_text())
    assert results["latency"]["errors"] == []
    for key in ("rows", "bot_rows"):
        rows = {row["kind"]: row for row in results["latency"][key]}
        assert set(rows) == {"pipecat"}
        assert all(row["n"] == 3 and row["p50_ms"] > 0 for row in rows.values())
    cpu = {row["kind"]: row for row in results["cpu"]}
    assert all(isinstance(row["per_call"], float) for row in cpu.values()), cpu
