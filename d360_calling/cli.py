"""`python -m d360_calling`: the demo, the standalone sandbox, and commands for a real account.

Commands against the API read the key from `$D360_API_KEY`; output is human text by default
and JSON with `--json`. Errors print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from .client import Client
from .errors import D360Error
from .models.calls import SessionDescription
from .models.converter import converter
from .models.settings import CallIconVisibility, CallingSettings
from .session import DEFAULT_BASE_URL


def build_parser() -> argparse.ArgumentParser:
    """The command line; one sub-command per job."""
    parser = argparse.ArgumentParser(prog="python -m d360_calling", description=__doc__)
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API base URL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="walk a whole call story against the sandbox")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")

    sandbox = commands.add_parser("sandbox", help="serve the emulated Calling API")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8360)
    sandbox.add_argument("--api-key", default="sandbox-key")
    sandbox.add_argument("--webhook-url")
    sandbox.add_argument("--webhook-secret")
    sandbox.add_argument("--faults", help='e.g. "429:0.05,503:0.05,latency=200ms:0.1"')
    sandbox.add_argument(
        "--phone", action="store_true", help="serve /phone: be the WhatsApp user in a browser"
    )

    settings = commands.add_parser("settings", help="read or change calling settings")
    settings_commands = settings.add_subparsers(dest="action", required=True)
    get = settings_commands.add_parser("get")
    get.add_argument("--sip-credentials", action="store_true")
    put = settings_commands.add_parser("set")
    put.add_argument("--status", choices=["ENABLED", "DISABLED"])
    put.add_argument("--call-icon-visibility", choices=[v.value for v in CallIconVisibility])
    put.add_argument("--callback-permission-status", choices=["ENABLED", "DISABLED"])
    put.add_argument("--from-json", type=Path, help="a file with the `calling` object")

    permissions = commands.add_parser(
        "permissions", help="a user's call permission: `permissions WA_ID` or `request WA_ID`"
    )
    permissions.add_argument("words", nargs="+", metavar="[request] WA_ID")
    permissions.add_argument("--body", help="text of the permission request")

    button = commands.add_parser("send-call-button", help="send a Call on WhatsApp button")
    button.add_argument("wa_id")
    button.add_argument("--body", required=True, help="the message text")
    button.add_argument("--display-text", help="the button's label (at most 20 characters)")
    button.add_argument("--ttl-minutes", type=int, help="1-43200; default 7 days")
    button.add_argument("--payload", help="echoed back as cta_payload on the call")

    call = commands.add_parser("call", help="call actions")
    call_commands = call.add_subparsers(dest="action", required=True)
    for name in ("pre-accept", "accept"):
        answer = call_commands.add_parser(name)
        answer.add_argument("call_id")
        answer.add_argument("--sdp-file", type=Path, required=True, help="the SDP answer")
    for name in ("reject", "terminate"):
        call_commands.add_parser(name).add_argument("call_id")
    connect = call_commands.add_parser("connect")
    connect.add_argument("wa_id")
    connect.add_argument("--sdp-file", type=Path, required=True, help="the SDP offer")
    connect.add_argument("--callback-data")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code says whether it did what it should."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return asyncio.run(run_demo(quiet=args.quiet))
    if args.command == "sandbox":
        return _serve_sandbox(args)
    try:
        result = asyncio.run(_with_client(args.base_url, _api_command(args)))
    except D360Error as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print(converter.unstructure(result), as_json=args.json)
    return 0


def _serve_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import run_standalone
    from .sandbox.phone import BROWSER_SWITCHES
    from .sandbox.server import DEFAULT_PHONE_USER

    def ready(sandbox: Any) -> None:
        print(f"sandbox serving the Calling API at {sandbox.base_url}", flush=True)
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
                    api_key=args.api_key,
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


Command = Callable[[Client], Awaitable[Any]]


async def _with_client(base_url: str, command: Command) -> Any:
    async with Client(base_url=base_url) as client:
        return await command(client)


def _api_command(args: argparse.Namespace) -> Command:
    if args.command == "permissions":
        return _permissions_command(args)
    if args.command == "send-call-button":
        return lambda client: client.messages.send_call_button(
            args.wa_id,
            args.body,
            display_text=args.display_text,
            ttl_minutes=args.ttl_minutes,
            payload=args.payload,
        )
    if args.command == "settings" and args.action == "get":
        return lambda client: client.settings.get(include_sip_credentials=args.sip_credentials)
    if args.command == "settings":
        settings = _settings_from(args)
        return lambda client: client.settings.update(settings)
    return _call_command(args)


def _permissions_command(args: argparse.Namespace) -> Command:
    match args.words:
        case [wa_id]:
            return lambda client: client.permissions.get(wa_id)
        case ["request", wa_id]:
            return lambda client: client.permissions.request(wa_id, args.body)
    raise SystemExit("usage: permissions WA_ID | permissions request WA_ID [--body TEXT]")


def _call_command(args: argparse.Namespace) -> Command:
    if args.action == "connect":
        offer = SessionDescription.offer(_read_sdp(args.sdp_file))
        return lambda client: client.calls.connect(
            args.wa_id, offer, biz_opaque_callback_data=args.callback_data
        )
    if args.action in ("pre-accept", "accept"):
        answer = SessionDescription.answer(_read_sdp(args.sdp_file))
        if args.action == "accept":
            return lambda client: client.calls.accept(args.call_id, answer)
        return lambda client: client.calls.pre_accept(args.call_id, answer)
    if args.action == "reject":
        return lambda client: client.calls.reject(args.call_id)
    return lambda client: client.calls.terminate(args.call_id)


def _read_sdp(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise SystemExit(f"error: cannot read {path}: {error.strerror}") from None


def _settings_from(args: argparse.Namespace) -> CallingSettings:
    if args.from_json is not None:
        raw = json.loads(args.from_json.read_text())
        return converter.structure(raw.get("calling", raw), CallingSettings)
    fields = {
        "status": args.status,
        "call_icon_visibility": args.call_icon_visibility,
        "callback_permission_status": args.callback_permission_status,
    }
    return converter.structure({k: v for k, v in fields.items() if v}, CallingSettings)


def _print(payload: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload, indent=2, sort_keys=True))
        return
    for line in _lines(payload):
        print(line)


def _lines(payload: Any, prefix: str = "") -> list[str]:
    """Flatten nested data into `path: value` lines for people."""
    if isinstance(payload, dict):
        return [line for key, value in payload.items() for line in _lines(value, f"{prefix}{key}.")]
    if isinstance(payload, list):
        return [
            line for index, item in enumerate(payload) for line in _lines(item, f"{prefix}{index}.")
        ]
    return [f"{prefix.rstrip('.')}: {payload}"]
