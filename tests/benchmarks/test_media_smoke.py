"""The media benchmark still runs end to end (a few seconds; no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

ROOT = Path(__file__).resolve().parents[2]


def test_media_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "media.json"
    command = [sys.executable, "-m", "benchmarks.media", "--quick", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| from the connect webhook's handler to |" in done.stdout
    results = json.loads(out.read_text())
    assert results["errors"] == []

    latency = results["latency"]
    assert latency["errors"] == []
    assert latency["completed"] == latency["calls"] > 0
    keys = {row["key"] for row in latency["rows"]}
    assert {"bot_first_frame_ms", "user_first_frame_ms"} <= keys
    assert all(row["n"] == latency["calls"] for row in latency["rows"])

    rows = results["concurrency"]
    assert rows
    for row in rows:
        assert row["error"] is None, row
        for key in ("bot_cpu_pct_per_call", "rss_per_call_mib", "bot_worst_ratio"):
            assert isinstance(row[key], float), (key, row)
        assert row["user_worst_ratio"] > 0
