"""The media-chaos benchmark still runs end to end (`--quick`: 3 calls of 2 s through 5 % loss and
30 ms jitter; no timing or share of audio is asserted here): every call stays up, nothing leaks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

ROOT = Path(__file__).resolve().parents[2]


def rows(stdout: str) -> dict[str, str]:
    """The report's Markdown table: value by measure."""
    found = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 2:
            found[cells[0]] = cells[1]
    return found


def test_media_chaos_smoke() -> None:
    command = [sys.executable, "-m", "benchmarks.media_chaos", "--quick", "--seed", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = rows(done.stdout)
    assert table["calls (3 at a time, 2 s each)"] == "3"
    assert table["calls up at the end of their window"] == "3"
    for way in ("bot", "user"):
        shares = re.fullmatch(
            r"([\d.]+) % / ([\d.]+) %", table[f"frames the {way} heard, worst / median call"]
        )
        assert shares is not None
        worst, median = (float(share) for share in shares.groups())
        assert 0 < worst <= median
    assert 0 <= int(table["calls whose bot heard the user's 440 Hz (±5 %)"]) <= 3
    assert 0 <= int(table["calls whose user heard the bot's 660 Hz (±5 %)"]) <= 3
    datagrams = table["user's media datagrams lost / delayed by the network (both ways)"]
    lost = re.fullmatch(r"([\d.]+) % / ([\d.]+) % of (\d+)", datagrams)
    assert lost is not None
    assert 0 < float(lost[1]) < 20
    assert int(lost[3]) > 0
    assert table["leaked, bot: tasks / fds / UDP sockets / open calls"] == "0 / 0 / 0 / 0"
    assert table["leaked, user: tasks / fds / UDP sockets / open peers"] == "0 / 0 / 0 / 0"


def test_a_dropped_call_or_a_leak_fails_the_run() -> None:
    from benchmarks.media_chaos import failures

    clean = {"bot": dict.fromkeys(("tasks", "fds", "udp", "calls", "tcp"), 0)}
    clean["user"] = {**clean["bot"], "tcp": 2}
    up = {"up": True, "bot_heard": 1.0, "user_heard": 1.0}
    assert failures({"errors": [], "calls": [up, up], "leaks": clean}, 2) == []
    down = {**up, "up": False}
    assert failures({"errors": [], "calls": [up, down], "leaks": clean}, 2) == [
        "1 of 2 calls stayed up"
    ]
    leaky = {**clean, "user": {**clean["user"], "udp": 1}}
    assert failures({"errors": [], "calls": [up, up], "leaks": leaky}, 2) == ["user leaked udp: 1"]
    assert failures({"errors": [], "calls": [up], "leaks": None}, 2) == [
        "1 of 2 calls stayed up",
        "leaks not measured",
    ]
