"""`python -m d360_calling`: the demo, the standalone sandbox, the phone, and commands for a
real account.

Commands against the API take the key from `--api-key` or `$D360_API_KEY` and print labelled
lines for people, or JSON with `--json` (errors too: `{"error": {...}}` on stderr). The global
options work before or after the command. Exit codes: 0 done, 1 failed, 2 misused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import attrs

from . import validation
from .cli_format import call_lines, error_object, message_lines, permissions_lines
from .cli_parser import build_parser, expand_shorthand
from .cli_settings import settings_lines
from .client import API_KEY_ENV, Client
from .errors import D360Error
from .models.calls import SessionDescription
from .models.converter import converter
from .models.settings import CallingSettings

__all__ = ["build_parser", "main"]

NO_KEY = f"no API key: pass --api-key or set {API_KEY_ENV}"

Command = Callable[[Client], Awaitable[Any]]
Show = Callable[[Any], list[str]]


@attrs.frozen
class Job:
    """What a command sends (`run`) and how its answer reads (`show`)."""

    run: Command
    show: Show


class CliFailure(Exception):
    """A failure of the command line itself (a file it cannot read), reported like an SDK error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code says whether it did what it should."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(json_errors=_wants_json(words)).parse_args(expand_shorthand(words))
    if args.command == "demo":
        from .demo import run_demo

        return asyncio.run(run_demo(quiet=args.quiet))
    if args.command == "sandbox":
        return _serve_sandbox(args)
    if args.command == "phone":
        return _serve_phone(args)
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    try:
        job = _job(args)  # usage errors first: they need no key
        if not key:
            raise CliFailure("MissingAPIKey", NO_KEY)
        result = asyncio.run(_with_client(key, args.base_url, job.run))
    except (D360Error, CliFailure) as error:
        return _fail(error, as_json=args.json, secret=key)
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(converter.unstructure(result), indent=2, sort_keys=True))
    else:
        print("\n".join(job.show(result)))
    return 0 if getattr(result, "success", True) is not False else 1


def _wants_json(words: Sequence[str]) -> bool:
    """Whether `--json` is among the options, so that even a usage error answers in JSON."""
    end = words.index("--") if "--" in words else len(words)
    return "--json" in words[:end]


def _fail(error: D360Error | CliFailure, *, as_json: bool, secret: str | None = None) -> int:
    """Report `error` on stderr (one line, or JSON) and give exit code 1; never the key."""
    kind = error.kind if isinstance(error, CliFailure) else None
    text = json.dumps(error_object(error, kind)) if as_json else f"error: {error}"
    if secret and len(secret) >= 6:
        text = text.replace(secret, "***")
    print(text, file=sys.stderr)
    return 1


async def _with_client(key: str, base_url: str, command: Command) -> Any:
    async with Client(key, base_url=base_url) as client:
        return await command(client)


def _job(args: argparse.Namespace) -> Job:
    if args.command == "permissions":
        return _permissions_job(args)
    if args.command == "send-call-button":
        return Job(
            lambda client: client.messages.send_call_button(
                args.wa_id,
                args.body,
                display_text=args.display_text,
                ttl_minutes=args.ttl_minutes,
                payload=args.payload,
            ),
            lambda result: message_lines(result, "Message sent"),
        )
    if args.command == "settings":
        return _settings_job(args)
    return _call_job(args)


def _usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """Refuse the command line as argparse does (usage, message, exit 2), by its sub-parser."""
    parser: argparse.ArgumentParser = args.parser
    parser.error(message)


def _permissions_job(args: argparse.Namespace) -> Job:
    example = "permissions request" if args.action == "request" else "permissions"
    if args.wa_id is None:
        _usage_error(args, f"missing the user's number (WA_ID), e.g. {example} 14155550123")
    if args.action == "request":
        return Job(
            lambda client: client.permissions.request(args.wa_id, args.body),
            lambda result: message_lines(result, "Permission request sent"),
        )
    return Job(
        lambda client: client.permissions.get(args.wa_id),
        lambda result: permissions_lines(
            result, validation.wa_id(args.wa_id), now=datetime.now(UTC)
        ),
    )


_SETTINGS_FLAGS = (
    "--status ENABLED|DISABLED, --call-icon-visibility DEFAULT|DISABLE_ALL, "
    "--callback-permission-status ENABLED|DISABLED or --from-json FILE"
)


def _settings_job(args: argparse.Namespace) -> Job:
    if args.action == "get":
        return Job(
            lambda client: client.settings.get(include_sip_credentials=args.sip_credentials),
            settings_lines,
        )
    settings = _settings_from(args)
    if settings is None:
        _usage_error(args, f"nothing to change: pass at least one of {_SETTINGS_FLAGS}")
    return Job(
        lambda client: client.settings.update(settings),
        lambda result: ["Settings updated" if result.success else "Settings not updated"],
    )


def _settings_from(args: argparse.Namespace) -> CallingSettings | None:
    if args.from_json is not None:
        try:
            raw = json.loads(args.from_json.read_text())
            return converter.structure(raw.get("calling", raw), CallingSettings)
        except OSError as error:
            raise CliFailure(
                "FileError", f"cannot read {args.from_json}: {error.strerror}"
            ) from None
        except D360Error:
            raise
        except Exception as error:  # JSON or shape errors, as cattrs groups them
            raise CliFailure(
                "FileError", f"{args.from_json} is not a `calling` settings object: {error}"
            ) from None
    fields = {
        "status": args.status,
        "call_icon_visibility": args.call_icon_visibility,
        "callback_permission_status": args.callback_permission_status,
    }
    given = {key: value for key, value in fields.items() if value is not None}
    return converter.structure(given, CallingSettings) if given else None


def _call_job(args: argparse.Namespace) -> Job:
    target = args.wa_id if args.action == "connect" else args.call_id

    def show(result: Any) -> list[str]:
        return call_lines(args.action, result, target)

    if args.action == "connect":
        offer = SessionDescription.offer(_read_sdp(args.sdp_file))
        return Job(
            lambda client: client.calls.connect(
                args.wa_id, offer, biz_opaque_callback_data=args.callback_data
            ),
            show,
        )
    if args.action in ("pre-accept", "accept"):
        answer = SessionDescription.answer(_read_sdp(args.sdp_file))
        if args.action == "accept":
            return Job(lambda client: client.calls.accept(args.call_id, answer), show)
        return Job(lambda client: client.calls.pre_accept(args.call_id, answer), show)
    if args.action == "reject":
        return Job(lambda client: client.calls.reject(args.call_id), show)
    return Job(lambda client: client.calls.terminate(args.call_id), show)


def _read_sdp(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise CliFailure("FileError", f"cannot read {path}: {error.strerror}") from None


def _serve_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import run_standalone
    from .sandbox.phone import BROWSER_SWITCHES
    from .sandbox.server import DEFAULT_PHONE_USER

    def ready(sandbox: Any) -> None:
        print(f"sandbox serving the Calling API at {sandbox.base_url}", flush=True)
        print(f"API key: {sandbox.api_key}")
        if sandbox.webhook_url is not None:
            secret = sandbox.webhook_secret or "none (unsigned: an SDK Receiver refuses them)"
            print(f"webhooks to {sandbox.webhook_url}, webhook secret: {secret}", flush=True)
        if args.phone:
            print(f"phone page (you are WhatsApp user {DEFAULT_PHONE_USER}): {sandbox.phone_url}")
            if args.webhook_url is None:
                print("no --webhook-url: calls from the page will reach no bot")
            print(f"the browser must offer 127.0.0.1 to WebRTC: {BROWSER_SWITCHES}", flush=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_standalone(
                    host=args.host,
                    port=args.port,
                    api_key=args.api_key or "sandbox-key",
                    webhook_url=args.webhook_url,
                    webhook_secret=args.webhook_secret,
                    faults_spec=args.faults,
                    on_ready=ready,
                    phone=args.phone,
                )
            )
    except ValueError as error:  # an option the sandbox refuses: --phone off loopback, --faults
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _serve_phone(args: argparse.Namespace) -> int:
    """The sandbox with /phone and a built-in voice bot (`phone_bot.serve_phone`), imported
    only here: it needs the `[media]` extra."""
    serve_phone: Callable[..., Coroutine[Any, Any, int]] = importlib.import_module(
        "d360_calling.phone_bot"
    ).serve_phone
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "open_browser": args.open,
        "out": sys.stdout,
    }
    if args.bot_port and "bot_port" in inspect.signature(serve_phone).parameters:
        options["bot_port"] = args.bot_port
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve_phone(**options))
    return 0
