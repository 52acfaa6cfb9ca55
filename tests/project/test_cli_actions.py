"""The CLI's one-line answers and refusals, run in-process: `main()` in a worker thread (it runs
its own event loop) against a sandbox served by the test's loop on a free loopback port.

In-process runs cost no interpreter start; `test_cli.py` runs the real `python -m` path."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from d360_calling.cli import main
from d360_calling.sandbox import ANSWER_SDP, OFFER_SDP, Sandbox

KEY = "cli-key-SECRET"


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    monkeypatch.setenv("D360_API_KEY", KEY)
    async with Sandbox(api_key=KEY) as running:
        yield running


async def run(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, *words: str
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command (exit 2 from argparse included)."""
    try:
        code = await asyncio.to_thread(main, [*words, "--base-url", sandbox.base_url])
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_call_actions_answer_in_a_line(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answer = tmp_path / "answer.sdp"
    answer.write_text(ANSWER_SDP)
    call_id = await sandbox.ring("14155550123")
    for action, done in (("pre-accept", "pre-accepted"), ("accept", "accepted")):
        assert await run(capsys, sandbox, "call", action, call_id, "--sdp-file", str(answer)) == (
            0,
            f"Call {done}: {call_id}\n",
            "",
        )
    assert await run(capsys, sandbox, "call", "terminate", call_id) == (
        0,
        f"Call terminated: {call_id}\n",
        "",
    )
    assert sandbox.stats.effects["calls.terminate"] == 1


async def test_connect_without_permission_fails_typed(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    offer = tmp_path / "offer.sdp"
    offer.write_text(OFFER_SDP)
    code, out, err = await run(
        capsys, sandbox, "call", "connect", "14155550125", "--sdp-file", str(offer)
    )
    assert (code, out) == (1, "")
    assert err.startswith("error: ")
    assert "No approved call permission" in err
    assert KEY not in err
    code, _, err = await run(
        capsys, sandbox, "call", "connect", "14155550125", "--sdp-file", str(tmp_path / "none")
    )
    assert code == 1
    assert err.startswith(f"error: cannot read {tmp_path / 'none'}: ")


async def test_messages_answer_with_their_id(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run(
        capsys, sandbox, "send-call-button", "14155550124", "--body", "Call us", "--payload", "p"
    )
    assert code == 0
    assert re.fullmatch(r"Message sent: id wamid\.\S+ \(to 14155550124\)\n", out)
    code, out, _ = await run(capsys, sandbox, "permissions", "request", "+1 415-555-0126")
    assert code == 0  # the number as typed reaches the library, which sends its digits
    assert re.fullmatch(r"Permission request sent: id wamid\.\S+ \(to 14155550126\)\n", out)


async def test_settings_set_without_flags_sends_nothing(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, sandbox, "settings", "set")
    assert (code, out) == (2, "")
    assert "nothing to change: pass at least one of --status" in err
    assert sandbox.stats.requests["settings.update"] == 0


async def test_settings_from_a_file(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "settings.json"
    good.write_text(json.dumps({"calling": {"call_icon_visibility": "DISABLE_ALL"}}))
    assert await run(capsys, sandbox, "settings", "set", "--from-json", str(good)) == (
        0,
        "Settings updated\n",
        "",
    )
    assert sandbox.settings["call_icon_visibility"] == "DISABLE_ALL"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = await run(capsys, sandbox, "settings", "set", "--from-json", str(bad), "--json")
    assert code == 1
    assert json.loads(err)["error"]["type"] == "FileError"
    assert sandbox.stats.requests["settings.update"] == 1


async def test_invalid_number_is_a_json_error_naming_the_field(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run(capsys, sandbox, "permissions", "../settings", "--json")
    assert (code, out) == (1, "")
    error = json.loads(err)["error"]
    assert (error["type"], error["field"]) == ("ValidationError", "wa_id")
    assert "e.g. 14155550123" in error["message"]
    assert sandbox.stats.requests["permissions.get"] == 0
