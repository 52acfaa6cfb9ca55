"""The command line against a standalone sandbox process, as a user would run both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from d360_calling.sandbox import OFFER_SDP

KEY = "cli-key-SECRET"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    command = [sys.executable, "-m", "d360_calling", "sandbox", "--port", "0", "--api-key", KEY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving the Calling API at " in line, line
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def run(url: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "D360_API_KEY"}
    if key is not None:
        env["D360_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "d360_calling", "--base-url", url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_settings_set_then_get(sandbox_url: str) -> None:
    done = run(
        sandbox_url,
        "settings",
        "set",
        "--status",
        "ENABLED",
        "--callback-permission-status",
        "ENABLED",
    )
    assert done.returncode == 0, done.stderr
    assert "success: True" in done.stdout
    shown = run(sandbox_url, "--json", "settings", "get")
    assert shown.returncode == 0, shown.stderr
    calling = json.loads(shown.stdout)["calling"]
    assert calling["status"] == "ENABLED"
    assert calling["callback_permission_status"] == "ENABLED"


def test_permissions_human_and_json(sandbox_url: str) -> None:
    human = run(sandbox_url, "permissions", "14155550123")
    assert human.returncode == 0, human.stderr
    assert "permission.status: no_permission" in human.stdout
    as_json = json.loads(run(sandbox_url, "--json", "permissions", "14155550123").stdout)
    assert as_json["permission"]["status"] == "no_permission"


def test_permission_request_and_call_button(sandbox_url: str) -> None:
    asked = run(sandbox_url, "--json", "permissions", "request", "14155550124", "--body", "Hi")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["messages"][0]["id"].startswith("wamid.")
    again = run(sandbox_url, "permissions", "request", "14155550124")
    assert again.returncode == 1
    assert "138009" in again.stderr
    button = run(
        sandbox_url,
        "send-call-button",
        "14155550124",
        "--body",
        "Call us",
        "--display-text",
        "Call now",
        "--payload",
        "p-1",
    )
    assert button.returncode == 0, button.stderr
    assert "messages.0.id: wamid." in button.stdout


def test_call_connect_without_permission_fails_typed(sandbox_url: str, tmp_path: Path) -> None:
    offer = tmp_path / "offer.sdp"
    offer.write_text(OFFER_SDP)
    done = run(sandbox_url, "call", "connect", "14155550125", "--sdp-file", str(offer))
    assert done.returncode == 1
    assert "No approved call permission" in done.stderr
    assert KEY not in done.stderr


def test_bad_input_and_missing_key(sandbox_url: str) -> None:
    bad = run(sandbox_url, "permissions", "../settings")
    assert bad.returncode == 1
    assert "invalid wa_id" in bad.stderr
    keyless = run(sandbox_url, "permissions", "14155550123", key=None)
    assert keyless.returncode == 1
    assert "D360_API_KEY" in keyless.stderr
