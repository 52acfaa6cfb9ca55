"""The command line as a user runs it: `python -m d360_calling ...` as a subprocess against a
sandbox served in the test on a free loopback port, asserting on what it prints.

Runs that do not depend on each other go out together (each costs an interpreter start)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest

from d360_calling import Client
from d360_calling.models.converter import converter
from d360_calling.models.settings import CallingSettings
from d360_calling.sandbox import Sandbox

KEY = "cli-key-SECRET"
LOCAL_TZ = "CET-1"
"""A POSIX time zone (UTC+1, no daylight saving): local time shows without zoneinfo files."""


class Done(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(api_key=KEY) as running:
        yield running


async def cli(*args: str, key: str | None = KEY) -> Done:
    """Run the CLI with `$D360_API_KEY` set to `key` (or unset) and a fixed local time zone."""
    env = {k: v for k, v in os.environ.items() if k != "D360_API_KEY"}
    env["TZ"] = LOCAL_TZ
    if key is not None:
        env["D360_API_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "d360_calling",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


def line(label: str, text: str) -> str:
    """The value of the `Label:` line in `text`."""
    found = re.search(rf"^{re.escape(label)}:\s+(.*)$", text, re.MULTILINE)
    assert found is not None, f"no {label!r} line in:\n{text}"
    return found.group(1)


async def test_permissions_read_at_a_glance(sandbox: Sandbox) -> None:
    url = sandbox.base_url
    sandbox.set_permission("14155550123", "temporary")
    async with Client(KEY, base_url=url) as client:
        await client.permissions.request("14155550124", "May we call?")
    granted, asked = await asyncio.gather(
        cli("permissions", "+14155550123", "--base-url", url),
        cli("--base-url", url, "permissions", "get", "14155550124"),
    )
    assert granted.code == 0, granted.err
    assert line("User", granted.out) == "14155550123"
    assert line("Can call now", granted.out) == "yes"
    assert re.fullmatch(
        r"temporary, expires in 7 days \(\d{4}-\d\d-\d\d \d\d:\d\d CET / "
        r"(\d{4}-\d\d-\d\d )?\d\d:\d\d UTC\)",
        line("Permission", granted.out),
    ), granted.out
    assert re.search(r"^  start call\s+allowed\s+0 of \d+ used per 24 hours$", granted.out, re.M)

    assert asked.code == 0, asked.err
    assert line("Permission", asked.out) == "none"
    assert line("Can call now", asked.out) == "no (no permission)"
    assert re.fullmatch(
        r"no \(next allowed .* CET / .* UTC\)", line("Can ask for permission", asked.out)
    )
    assert re.search(
        r"^  send call permission request\s+not allowed\s+1 of 1 used per 24 hours, resets ",
        asked.out,
        re.M,
    )


SETTINGS = {
    "status": "ENABLED",
    "callback_permission_status": "ENABLED",
    "call_hours": {
        "status": "ENABLED",
        "timezone_id": "Europe/Berlin",
        "weekly_operating_hours": [
            {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1700"},
            {"day_of_week": "TUESDAY", "open_time": "0900", "close_time": "1230"},
            {"day_of_week": "TUESDAY", "open_time": "1330", "close_time": "1700"},
        ],
    },
    "sip": {"status": "DISABLED", "servers": [{"hostname": "sip.example.com", "port": 5061}]},
}


async def test_settings_grouped_with_a_call_hours_table(sandbox: Sandbox) -> None:
    async with Client(KEY, base_url=sandbox.base_url) as client:
        await client.settings.update(converter.structure(SETTINGS, CallingSettings))
    password = sandbox.settings["sip"]["servers"][0]["sip_user_password"]
    shown = await cli("settings", "get", "--sip-credentials", "--base-url", sandbox.base_url)
    assert shown.code == 0, shown.err
    assert line("Calling", shown.out) == "enabled"
    assert line("Callback permission", shown.out) == "enabled"
    assert line("Call hours", shown.out) == "enabled, time zone Europe/Berlin"
    rows = shown.out.split("\nCall hours (Europe/Berlin):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert rows == [
        "  day      open   close",
        "  Monday   09:00  17:00",
        "  Tuesday  09:00  12:30",
        "           13:30  17:00",
    ]
    assert re.search(r"^  sip\.example\.com\s+5061\s+\*{8} ", shown.out, re.M)
    assert password not in shown.out


async def test_errors_in_json_on_stderr_and_never_the_key(sandbox: Sandbox) -> None:
    url = sandbox.base_url
    async with Client(KEY, base_url=url) as client:
        await client.permissions.request("14155550124", "May we call?")
    limited, wrong_key, flagged = await asyncio.gather(
        cli("permissions", "request", "14155550124", "--json", "--base-url", url),
        cli("settings", "get", "--json", "--base-url", url, key="wrong-key-SECRET"),
        cli("settings", "get", "--json", "--base-url", url, "--api-key", KEY, key=None),
    )
    assert (limited.code, limited.out) == (1, "")
    error = json.loads(limited.err)["error"]
    assert (error["type"], error["code"], error["status"]) == (
        "PermissionRequestLimitError",
        138009,
        400,
    )
    assert error["operation"] == "permissions.request"
    assert wrong_key.code == 1
    assert json.loads(wrong_key.err)["error"]["status"] == 401
    for done in (limited, wrong_key, flagged):
        assert "SECRET" not in done.out + done.err

    assert flagged.code == 0, flagged.err
    assert json.loads(flagged.out)["calling"]["status"] == "ENABLED"


async def test_settings_set_takes_any_case(sandbox: Sandbox) -> None:
    changed = await cli(
        "settings",
        "set",
        "--status",
        "disabled",
        "--callback-permission-status",
        "Enabled",
        "--base-url",
        sandbox.base_url,
    )
    assert (changed.code, changed.out) == (0, "Settings updated\n"), changed.err
    assert sandbox.stats.effects["settings.update"] == 1
    assert sandbox.settings["status"] == "DISABLED"
    assert sandbox.settings["callback_permission_status"] == "ENABLED"
