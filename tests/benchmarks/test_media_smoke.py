"""The media benchmark still runs end to end (a few seconds each; no timing is asserted here)."""

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
    command = [sys.executable, "-m", "benchmarks.media", "--quick", "--no-keys", "--json", str(out)]
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


def test_media_keys_benchmark_smoke(tmp_path: Path) -> None:
    """The keypress scenarios alone: every key reaches the bot in order, both CPU rows exist and
    the bot of each really ran with (and without) aiortc's hook."""
    out = tmp_path / "keys.json"
    command = [
        *(sys.executable, "-m", "benchmarks.media", "--quick", "--keys-only"),
        *("--json", str(out)),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| keypress | keys | p50 ms | p99 ms | max ms |" in done.stdout
    assert "CPU per call with ÷ without the hook:" in done.stdout
    results = json.loads(out.read_text())
    assert results["errors"] == []
    assert "latency" not in results
    assert "concurrency" not in results

    keys = results["keys"]
    assert keys["errors"] == []
    assert keys["arrived"] == keys["pressed"] == keys["keys"] > 0
    assert keys["in_order"] is True
    assert [s["digit"] for s in keys["samples"]] == [s["pressed"] for s in keys["samples"]]
    rows = {row["key"]: row for row in keys["rows"]}
    assert set(rows) == {"latency_ms", "slot_ms", "wire_ms"}
    assert rows["latency_ms"]["n"] == keys["keys"]
    assert 0 < rows["latency_ms"]["p50_ms"] <= rows["latency_ms"]["p99_ms"] < 5000
    assert keys["bot_hears_after_keys_ratio"] > 0

    cpu = results["keys_cpu"]
    assert cpu["errors"] == []
    assert [row["variant"] for row in cpu["rows"]] == ["with the hook", "without the hook"]
    for row in cpu["rows"]:
        assert row["runs"] == cpu["rounds"]
        assert isinstance(row["bot_cpu_pct_per_call"], float), row
    assert isinstance(cpu["ratio"], float)
    assert cpu["ratio"] > 0
    hooked = [run["keys_hook"] for run in cpu["runs"]["with the hook"]]
    unhooked = [run["keys_hook"] for run in cpu["runs"]["without the hook"]]
    assert hooked == [True] * cpu["rounds"]
    assert unhooked == [False] * cpu["rounds"]
    assert all(run["keys_negotiated"] == cpu["calls"] for run in cpu["runs"]["with the hook"])
    assert all(run["keys_negotiated"] == 0 for run in cpu["runs"]["without the hook"])
