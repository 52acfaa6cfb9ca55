"""The benchmark runner still runs end to end (a few seconds; no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runner_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--no-chart", "--no-pywa"]
    command += ["--no-memory", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| target |" in done.stdout
    rows = json.loads(out.read_text())["rows"]
    names = {row["scenario"] for row in rows}
    assert {"raw aiohttp", "SDK default chain", "SDK middleware off"} <= names
    assert all(row["errors"] == 0 for row in rows)
