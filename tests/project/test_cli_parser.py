"""The CLI's grammar in-process: global options anywhere, the `permissions` shorthand, choices
in any case, usage errors in words or JSON, and the `phone` command's wiring."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from d360_calling.cli import NO_KEY, main
from d360_calling.cli_parser import build_parser, expand_shorthand
from d360_calling.session import DEFAULT_BASE_URL


def parse(*words: str) -> Any:
    return build_parser().parse_args(expand_shorthand(list(words)))


@pytest.mark.parametrize(
    "words",
    [
        ("--json", "--base-url", "http://127.0.0.1:1", "--api-key", "k", "settings", "get"),
        ("settings", "get", "--json", "--base-url", "http://127.0.0.1:1", "--api-key", "k"),
        ("settings", "--json", "get", "--base-url=http://127.0.0.1:1", "--api-key=k"),
        (
            "permissions",
            "14155550123",
            "--json",
            "--base-url",
            "http://127.0.0.1:1",
            "--api-key",
            "k",
        ),
        (
            "call",
            "reject",
            "wacid.1",
            "--api-key",
            "k",
            "--json",
            "--base-url",
            "http://127.0.0.1:1",
        ),
    ],
)
def test_global_options_before_or_after_the_command(words: tuple[str, ...]) -> None:
    args = parse(*words)
    assert (args.json, args.base_url, args.api_key) == (True, "http://127.0.0.1:1", "k")


def test_global_options_left_out_keep_their_defaults_and_later_wins() -> None:
    args = parse("--base-url", "http://127.0.0.1:1", "settings", "get")
    assert (args.json, args.base_url, args.api_key) == (False, "http://127.0.0.1:1", None)
    args = parse("settings", "get")
    assert args.base_url == DEFAULT_BASE_URL
    later = parse("--api-key", "first", "settings", "get", "--api-key", "second")
    assert later.api_key == "second"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["permissions", "14155550123"], ["permissions", "get", "14155550123"]),
        (
            ["--base-url", "u", "permissions", "--json", "+14155550123"],
            ["--base-url", "u", "permissions", "get", "--json", "+14155550123"],
        ),
        (["permissions", "request", "1"], ["permissions", "request", "1"]),
        (["permissions", "get", "1"], ["permissions", "get", "1"]),
        (["permissions"], ["permissions"]),
        (
            ["--api-key", "permissions", "settings", "get"],
            ["--api-key", "permissions", "settings", "get"],
        ),
        (["send-call-button", "permissions"], ["send-call-button", "permissions"]),
    ],
)
def test_permissions_shorthand(words: list[str], expected: list[str]) -> None:
    assert expand_shorthand(words) == expected


def test_numbers_reach_the_library_as_typed() -> None:
    assert parse("permissions", "+1 415-555-0123").wa_id == "+1 415-555-0123"
    request = parse("permissions", "request", "+14155550123", "--body", "Hi")
    assert (request.action, request.wa_id, request.body) == ("request", "+14155550123", "Hi")
    assert parse("call", "connect", "+14155550123", "--sdp-file", "o.sdp").wa_id == "+14155550123"


@pytest.mark.parametrize(
    ("flag", "typed", "value"),
    [
        ("--status", "enabled", "ENABLED"),
        ("--status", "Disabled", "DISABLED"),
        ("--callback-permission-status", "enabled", "ENABLED"),
        ("--call-icon-visibility", "disable_all", "DISABLE_ALL"),
    ],
)
def test_choices_in_any_case(flag: str, typed: str, value: str) -> None:
    args = parse("settings", "set", flag, typed)
    assert getattr(args, flag.removeprefix("--").replace("-", "_")) == value


def test_unknown_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse("settings", "set", "--status", "maybe")
    assert stopped.value.code == 2
    assert "choose from ENABLED, DISABLED (any case), got 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ["permissions", "request"],
            "missing the user's number (WA_ID), e.g. permissions request 14155550123",
        ),
        (["permissions"], "missing the user's number (WA_ID), e.g. permissions 14155550123"),
        (["settings", "set"], "nothing to change: pass at least one of --status"),
    ],
)
def test_usage_errors_say_what_is_missing(
    words: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("D360_API_KEY", "unused-key")
    with pytest.raises(SystemExit) as stopped:
        main(words)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: python -m d360_calling " + " ".join(words))


def test_settings_set_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["settings", "set"])
    err = capsys.readouterr().err
    for flag in (
        "--status",
        "--call-icon-visibility",
        "--callback-permission-status",
        "--from-json",
    ):
        assert flag in err.splitlines()[-1]


def test_usage_errors_are_json_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["permissions", "request", "--json"])
    assert stopped.value.code == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "UsageError"
    assert "missing the user's number (WA_ID)" in error["message"]


@pytest.mark.parametrize("as_json", [False, True])
def test_missing_key_names_flag_and_variable(
    as_json: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("D360_API_KEY", raising=False)
    code = main(["permissions", "14155550123", *(["--json"] if as_json else [])])
    assert code == 1
    err = capsys.readouterr().err
    if as_json:
        assert json.loads(err) == {"error": {"type": "MissingAPIKey", "message": NO_KEY}}
    else:
        assert err == f"error: {NO_KEY}\n"
    assert NO_KEY == "no API key: pass --api-key or set D360_API_KEY"


def test_sandbox_takes_its_key_before_or_after() -> None:
    assert parse("sandbox").api_key is None  # the sandbox then accepts "sandbox-key"
    assert parse("sandbox", "--api-key", "k").api_key == "k"
    assert parse("--api-key", "k", "sandbox").api_key == "k"


def test_phone_arguments() -> None:
    args = parse("phone", "--open")
    assert (args.command, args.host, args.port, args.open, args.bot_port) == (
        "phone",
        "127.0.0.1",
        8360,
        True,
        0,
    )
    args = parse("phone", "--host", "127.0.0.1", "--port", "0", "--bot-port", "9001")
    assert (args.port, args.open, args.bot_port) == (0, False, 9001)


def test_phone_runs_serve_phone_with_its_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def serve_phone(*, host: str, port: int, open_browser: bool, out: Any) -> int:
        seen.update(host=host, port=port, open_browser=open_browser, out=out)
        return 3

    fake = types.ModuleType("d360_calling.phone_bot")
    fake.serve_phone = serve_phone  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "d360_calling.phone_bot", fake)
    assert main(["phone", "--port", "0", "--open"]) == 3
    assert seen == {"host": "127.0.0.1", "port": 0, "open_browser": True, "out": sys.stdout}
