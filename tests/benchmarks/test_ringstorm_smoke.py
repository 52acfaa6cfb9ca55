"""The ring-storm benchmark still runs end to end (a few seconds; no timing is asserted here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="compares CLOCK_MONOTONIC across processes"
)


def test_ringstorm_smoke(tmp_path: Path) -> None:
    out = tmp_path / "ringstorm.json"
    command = [sys.executable, "-m", "benchmarks.ringstorm", "--quick", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| row | calls | p50 ms | p99 ms |" in done.stdout
    results = json.loads(out.read_text())

    rows = {row["kind"]: row for row in results["rows"]}
    expected = {"floor", "floor-fifo", "sdk-json"}
    if importlib.util.find_spec("orjson") is not None:
        expected.add("sdk-orjson")
    assert set(rows) == expected
    calls = results["config"]["calls"]
    for row in rows.values():
        assert row["errors"] == 0, row["first_errors"]
        assert row["calls"] == calls > 0
        assert row["p99_ms"] > 0
    for storm in results["storms"]:
        assert storm["errors"] == []
        assert storm["sender"]["statuses"] == {"200": calls}
    assert {t["target"] for t in results["targets"]}
