"""The benchmark runner still runs end to end (a few seconds; no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runner_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--no-chart", "--no-pywa"]
    command += ["--no-memory", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| target |" in done.stdout
    result = json.loads(out.read_text())
    rows = result["rows"]
    names = {row["scenario"] for row in rows}
    assert {"raw aiohttp", "SDK default chain", "SDK middleware off"} <= names
    # The SDK's own cost, aiohttp stubbed out, and the load loop's, in the same run.
    assert {"SDK-only (send stubbed)", "harness (no-op operation)"} <= names
    assert all(row["errors"] == 0 for row in rows)
    assert "SDK alone ÷ raw" in done.stdout
    targets = {target["name"] for target in result["targets"]}
    assert any(name.startswith("SDK-only CPU/req vs raw, permissions.get") for name in targets)
    assert any(name.startswith("SDK-only CPU/req vs raw, calls.accept") for name in targets)
    # The per-layer table: each layer, per operation and JSON backend.
    layers = {(layer["layer"], layer["operation"]) for layer in result["layers"]}
    for operation in ("calls.accept", "permissions.get"):
        for layer in (
            "build + validate the request",
            "RetryMiddleware (default policy)",
            "RateLimitMiddleware (default policy)",
            "LoggingMiddleware (default policy)",
            "decode the answer (jsonutil.loads)",
            "structure the answer (cattrs)",
            "whole call, aiohttp stubbed (measured)",
        ):
            assert (layer, operation) in layers
    # The ring storm's rows and targets, in the same run.
    storm = {row["kind"] for row in result["storm"]}
    assert {"floor", "floor-fifo", "sdk-json"} <= storm
    assert any(name.startswith("ring storm p99") for name in targets)


async def test_otel_cost_measures_every_row() -> None:
    """The otel-cost script measures its four rows (no timing is asserted)."""
    from benchmarks.otel_cost import measure, table

    rows = await measure(number=20, repeat=1)
    assert rows[0][0] == "default client"
    assert len(rows) == 4
    assert all(us > 0 for _, us in rows)
    assert table(rows).count("\n") == 5


def test_under_load_breakdown_runs_every_variant(tmp_path: Path) -> None:
    """The under-load breakdown measures each variant and puts the swaps back (no timing is
    asserted: the answers of the last variant are the SDK's typed models again)."""
    out = tmp_path / "under_load.json"
    command = [sys.executable, "-m", "benchmarks.under_load", "-n", "200", "--rounds", "1"]
    command += ["--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    from benchmarks.under_load import VARIANTS

    for operation in ("calls.accept", "permissions.get"):
        measured = [row["variant"] for row in results if row["operation"] == operation]
        assert measured == list(VARIANTS)
    assert all(row["cpu_us"] > 0 for row in results)
    assert "building the typed result" in done.stdout


async def test_under_load_swaps_are_put_back() -> None:
    from benchmarks.under_load import BARE_STDLIB, variant
    from d360_calling import jsonutil
    from d360_calling.endpoints import _resource
    from d360_calling.models.permissions import CallPermissions

    loads, hooks = jsonutil.loads, dict(_resource._HOOKS)
    with variant(BARE_STDLIB, "permissions.get"):
        assert jsonutil.loads is jsonutil.BACKENDS["json"][1]
        assert _resource._HOOKS[CallPermissions]({"a": 1}, CallPermissions) == {"a": 1}
    assert jsonutil.loads is loads
    assert hooks == _resource._HOOKS
