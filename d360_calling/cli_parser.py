"""The command line's grammar: one sub-command per job, global options before or after it.

The global options (`--json`, `--base-url`, `--api-key`) are declared on the top parser with
their defaults and again on every API sub-command with `SUPPRESS` as default, so given after
the command they win and left out they do not overwrite what came before.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NoReturn

from .cli_format import error_object
from .models.calls import FeatureStatus
from .models.enums import OpenEnum
from .models.settings import CallIconVisibility
from .session import DEFAULT_BASE_URL

PROG: Final = "python -m d360_calling"

DESCRIPTION: Final = """\
Talk to 360dialog's WhatsApp Calling API, or rehearse against the local sandbox.
Output is labelled text for people, or JSON with --json; the API key comes from --api-key
or $D360_API_KEY. Global options may come before or after the command.
"""

_TAKES_VALUE: Final = frozenset({"--base-url", "--api-key", "--body"})
"""Options whose next word is their value, for `expand_shorthand`'s scan."""


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors can answer in JSON (`{"error": ...}`, exit 2)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            failure = error_object(ValueError(f"{self.prog}: {message}"), "UsageError")
            print(json.dumps(failure), file=sys.stderr)
            self.exit(2)
        super().error(message)


class JsonErrorParser(Parser):
    """The parser when `--json` is on the command line: usage errors are JSON too."""

    json_errors = True


def build_parser(*, json_errors: bool = False) -> argparse.ArgumentParser:
    """The command line; one sub-command per job (sub-parsers share the top parser's class)."""
    parser_class = JsonErrorParser if json_errors else Parser
    parser: argparse.ArgumentParser = parser_class(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL", help="API base URL")
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the D360-API-KEY (default: $D360_API_KEY, which other users cannot read in ps)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    common = _global_options()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="walk a whole call story against the sandbox")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    _sandbox(commands)
    _phone(commands)
    _permissions(commands, common)
    _settings(commands, common)
    button = _leaf(commands, "send-call-button", common, help="send a Call on WhatsApp button")
    button.add_argument("wa_id", metavar="WA_ID", help="the user's number, e.g. 14155550123")
    button.add_argument("--body", required=True, metavar="TEXT", help="the message text")
    button.add_argument("--display-text", help="the button's label (at most 20 characters)")
    button.add_argument("--ttl-minutes", type=int, help="1-43200; default 7 days")
    button.add_argument("--payload", help="echoed back as cta_payload on the call")
    _call(commands, common)
    return parser


def expand_shorthand(words: Sequence[str]) -> list[str]:
    """`permissions WA_ID` is `permissions get WA_ID`: insert `get` when the word after
    `permissions` is neither `get` nor `request` (a sub-parser cannot take either a
    sub-command or a positional, so the shorthand is spelled out before parsing)."""
    out = list(words)
    command_at: int | None = None
    skip = False
    for index, word in enumerate(out):
        if skip:
            skip = False
        elif word == "--":
            break
        elif word.startswith("-") and len(word) > 1:
            skip = word in _TAKES_VALUE
        elif command_at is None:
            if word != "permissions":
                break
            command_at = index
        else:
            if word not in ("get", "request"):
                out.insert(command_at + 1, "get")
            break
    return out


def _global_options() -> argparse.ArgumentParser:
    """The global options again, for every API sub-command; out of its usage line and help
    (the epilog names them) so the line shows what is particular to the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--api-key", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    return common


GLOBAL_OPTIONS_NOTE: Final = "--json, --base-url URL and --api-key KEY may also come here."


def _leaf(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    common: argparse.ArgumentParser,
    *,
    help: str,
    usage: str | None = None,
) -> argparse.ArgumentParser:
    """A sub-command taking the global options; it knows itself, to word usage errors."""
    leaf = commands.add_parser(
        name, parents=[common], help=help, usage=usage, epilog=GLOBAL_OPTIONS_NOTE
    )
    leaf.set_defaults(parser=leaf)
    return leaf


def _sandbox(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser("sandbox", help="serve the emulated Calling API")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8360)
    sandbox.add_argument(
        "--api-key", default=argparse.SUPPRESS, help="the key it accepts (default sandbox-key)"
    )
    sandbox.add_argument("--webhook-url")
    sandbox.add_argument("--webhook-secret")
    sandbox.add_argument("--faults", help='e.g. "429:0.05,503:0.05,latency=200ms:0.1"')
    sandbox.add_argument(
        "--phone", action="store_true", help="serve /phone: be the WhatsApp user in a browser"
    )


def _phone(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    phone = commands.add_parser(
        "phone", help="call a built-in voice bot from your browser (needs the [media] extra)"
    )
    phone.add_argument("--host", default="127.0.0.1", help="loopback only (default 127.0.0.1)")
    phone.add_argument("--port", type=int, default=8360, help="the sandbox's port (8360)")
    phone.add_argument("--open", action="store_true", help="open the phone page in a browser")
    phone.add_argument("--bot-port", type=int, default=0, help="the bot's port (0: any free)")


def _permissions(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    permissions = _leaf(
        commands,
        "permissions",
        common,
        help="a user's call permission: `permissions WA_ID`, `permissions request WA_ID`",
        usage=f"{PROG} permissions [get] WA_ID | request WA_ID [--body TEXT]",
    )
    actions = permissions.add_subparsers(
        dest="action", metavar="{get,request}", prog=f"{PROG} permissions"
    )
    get = _leaf(
        actions,
        "get",
        common,
        help="whether you may call the user now (the default)",
        usage=f"{PROG} permissions [get] WA_ID",
    )
    get.add_argument("wa_id", nargs="?", metavar="WA_ID", help="e.g. 14155550123")
    request = _leaf(
        actions,
        "request",
        common,
        help="ask the user for permission to call",
        usage=f"{PROG} permissions request WA_ID [--body TEXT]",
    )
    request.add_argument("wa_id", nargs="?", metavar="WA_ID", help="e.g. 14155550123")
    request.add_argument("--body", metavar="TEXT", help="text of the permission request")
    permissions.set_defaults(action="get", wa_id=None)


def _settings(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    settings = _leaf(commands, "settings", common, help="read or change calling settings")
    actions = settings.add_subparsers(dest="action", required=True, metavar="{get,set}")
    get = _leaf(actions, "get", common, help="show the calling settings")
    get.add_argument("--sip-credentials", action="store_true", help="ask for SIP passwords")
    put = _leaf(actions, "set", common, help="change the calling settings")
    put.add_argument("--status", type=_choice(FeatureStatus), metavar="ENABLED|DISABLED")
    put.add_argument(
        "--call-icon-visibility",
        type=_choice(CallIconVisibility),
        metavar="DEFAULT|DISABLE_ALL",
    )
    put.add_argument(
        "--callback-permission-status", type=_choice(FeatureStatus), metavar="ENABLED|DISABLED"
    )
    put.add_argument(
        "--from-json", type=Path, metavar="FILE", help="a file with the `calling` object"
    )


def _call(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    call = _leaf(commands, "call", common, help="call actions")
    actions = call.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name in ("pre-accept", "accept"):
        answer = _leaf(actions, name, common, help=f"{name} an incoming call")
        answer.add_argument("call_id", metavar="CALL_ID")
        answer.add_argument("--sdp-file", type=Path, required=True, help="the SDP answer")
    for name in ("reject", "terminate"):
        _leaf(actions, name, common, help=f"{name} a call").add_argument(
            "call_id", metavar="CALL_ID"
        )
    connect = _leaf(actions, "connect", common, help="call a user")
    connect.add_argument("wa_id", metavar="WA_ID", help="e.g. 14155550123")
    connect.add_argument("--sdp-file", type=Path, required=True, help="the SDP offer")
    connect.add_argument("--callback-data")


def _choice(kind: type[OpenEnum]) -> Callable[[str], str]:
    """An argparse type taking a known value of `kind` in any case, as the library's enums do."""
    allowed = ", ".join(member.value for member in kind)

    def parse(text: str) -> str:
        value = kind(text)
        if not value.is_known:
            raise argparse.ArgumentTypeError(f"choose from {allowed} (any case), got {text!r}")
        return value.value

    parse.__name__ = kind.__name__
    return parse
