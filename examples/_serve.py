"""What the examples' command lines share: which API to use, where the bot listens, the webhook
secret, and serving a receiver until Ctrl-C.

Every example runs its self-contained demo with `--sandbox` (an embedded sandbox that rings the
bot itself), or serves its bot against a Calling API you name with `--base-url`: a standalone
sandbox (`python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook
--webhook-secret S`, then `--base-url http://127.0.0.1:8360 --secret S`) or the real one
(`--base-url https://waba-v2.360dialog.io`, behind your HTTPS endpoint).

- `--api-key`, else `$D360_API_KEY`, else `sandbox-key` when the API is on this machine.
- `--secret`, else `$D360_WEBHOOK_SECRET`: the secret the deliveries are signed with.
- `--listen HOST:PORT` (default 127.0.0.1:8080): where the webhook receiver listens; its URL,
  printed at start, is what the sandbox's `--webhook-url` (or the Partner Hub) points at.
- `--loopback` / `--no-loopback`: keep call audio on 127.0.0.1 (as the sandbox requires). By
  default it is on exactly when `--base-url` is a loopback address.
  (voice_bot and ivr_bot, which answer with audio.)
- `--offer FILE`: the SDP offer for calls an example places (outbound_campaign,
  permission_then_call); on a local sandbox, its stand-in offer by default.
- `--base-url` defaults to `$D360_BASE_URL`.

The served bot prints `webhook receiver at URL, calling BASE_URL; Ctrl-C stops` once it listens,
and `stopped` after Ctrl-C or SIGTERM, once its handlers have finished and the client closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from d360_calling import Client, SessionDescription
from d360_calling.webhooks import Receiver

BASE_URL_ENV = "D360_BASE_URL"
API_KEY_ENV = "D360_API_KEY"
SECRET_ENV = "D360_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
SANDBOX_API_KEY = "sandbox-key"
DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True)
class Target:
    """Where an example's bot runs: the API it calls and where its receiver listens."""

    base_url: str
    api_key: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    loopback: bool = False


def host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8080` for IPv6) as a pair; argparse's `type=`."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. {DEFAULT_LISTEN}; got {text!r}")
    return host, int(port)


def is_loopback(base_url: str) -> bool:
    """Whether the API at `base_url` is on this machine (a sandbox, as a rule)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(
    parser: argparse.ArgumentParser, *, receiver: bool = True, media: bool = False
) -> None:
    """The shared flags: `receiver=False` for an example that serves no webhooks, `media=True`
    for one that answers with audio (`--loopback`)."""
    parser.add_argument(
        "--sandbox", action="store_true", help="run the self-contained demo on an embedded sandbox"
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV),
        help=f"the Calling API to use, e.g. a standalone sandbox (default: ${BASE_URL_ENV})",
    )
    parser.add_argument(
        "--api-key", help=f"default: ${API_KEY_ENV}, or {SANDBOX_API_KEY} for a local sandbox"
    )
    if receiver:
        parser.add_argument(
            "--listen",
            type=host_port,
            default=host_port(DEFAULT_LISTEN),
            metavar="HOST:PORT",
            help=f"where the webhook receiver listens (default: {DEFAULT_LISTEN})",
        )
        parser.add_argument("--secret", help=f"the webhook secret (default: ${SECRET_ENV})")
    if media:
        parser.add_argument(
            "--loopback",
            action=argparse.BooleanOptionalAction,
            help="keep call audio on 127.0.0.1 (default: when --base-url is a loopback address)",
        )


def target(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Target:
    """The `Target` the flags name; exits with a usage error naming what is missing."""
    if not args.base_url:
        parser.error(
            f"pass --base-url (or set ${BASE_URL_ENV}) to serve against a sandbox or the API,"
            " or --sandbox for the self-contained demo"
        )
    local = is_loopback(args.base_url)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or (SANDBOX_API_KEY if local else None)
    if not api_key:
        parser.error(f"no API key: pass --api-key or set ${API_KEY_ENV}")
    if not hasattr(args, "listen"):
        return Target(args.base_url, api_key, loopback=local)
    secret = args.secret or os.environ.get(SECRET_ENV)
    if not secret:
        parser.error(
            f"no webhook secret: pass --secret or set ${SECRET_ENV}"
            " (the sandbox's --webhook-secret, or your Partner Hub secret)"
        )
    host, port = args.listen
    chosen = getattr(args, "loopback", None)
    loopback = local if chosen is None else bool(chosen)
    return Target(args.base_url, api_key, secret, host, port, loopback)


def add_offer_argument(parser: argparse.ArgumentParser) -> None:
    """`--offer FILE`: the SDP offer for the calls an example places."""
    parser.add_argument(
        "--offer",
        type=Path,
        help="a file with your media stack's SDP offer (default on a local sandbox: its stand-in)",
    )


def offer_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> SessionDescription:
    """The offer `--offer` names; on a local API (a sandbox), its stand-in offer by default."""
    if args.offer is not None:
        return SessionDescription.offer(args.offer.read_text())
    if not is_loopback(args.base_url):
        parser.error("pass --offer FILE: the SDP offer of the media stack that carries the call")
    from d360_calling.sandbox import OFFER_SDP

    return SessionDescription.offer(OFFER_SDP)


def say(line: str) -> None:
    """Print a line at once, even into a pipe."""
    print(line, flush=True)


def ready(url: str, where: Target) -> str:
    """The line a served example prints once it listens."""
    return f"webhook receiver at {url}, calling {where.base_url}; Ctrl-C stops"


def listening_url(host: str, port: int, path: str) -> str:
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


async def serve(
    receiver: Receiver,
    where: Target,
    *,
    then: Callable[[Client], Awaitable[object]] | None = None,
    on_ready: Callable[[str], object] = say,
) -> None:
    """Serve `receiver` at `where`, answering through a client on `where.base_url`, until
    Ctrl-C or SIGTERM; the receiver (running handlers, call media) closes before the client.
    `then(client)` runs once the receiver listens, so webhooks its requests cause reach it."""
    async with Client(where.api_key, base_url=where.base_url) as client:
        receiver.client = client
        runner = web.AppRunner(receiver.app, access_log=None)
        await runner.setup()
        try:
            await listen(web.TCPSite(runner, where.host, where.port), where)
            host, port = runner.addresses[0][:2]
            on_ready(ready(listening_url(host, port, receiver.path), where))
            if then is not None:
                await then(client)
            await until_stopped()
        finally:
            await runner.cleanup()  # closing the app closes the receiver
    on_ready("stopped")


async def listen(site: web.TCPSite, where: Target) -> None:
    """Start listening, or exit naming the address (in use, say) instead of a traceback."""
    try:
        await site.start()
    except OSError as error:
        raise SystemExit(f"cannot listen on {where.host}:{where.port}: {error.strerror}") from None


async def serve_asgi(
    app: Any, where: Target, path: str, *, on_ready: Callable[[str], object] = say
) -> None:
    """Serve an ASGI app (its lifespan makes the client) under uvicorn at `where`, receiving
    webhooks at `path`, until Ctrl-C or SIGTERM."""
    import socket

    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> contextlib.AbstractContextManager[None]:
            return contextlib.nullcontext()  # `until_stopped` has them: a clean exit, not a kill

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                port = self.servers[0].sockets[0].getsockname()[1] if self.servers else where.port
                on_ready(ready(listening_url(where.host, port, path), where))

    config = uvicorn.Config(app, host=where.host, port=where.port, log_level="warning")
    server = Server(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(until_stopped())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving
    on_ready("stopped")


async def until_stopped() -> None:
    """Return on Ctrl-C or SIGTERM (where the loop can catch them; else Ctrl-C cancels)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    caught = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or a thread
            loop.add_signal_handler(signum, stop.set)
            caught.append(signum)
    try:
        await stop.wait()
    finally:
        for signum in caught:
            loop.remove_signal_handler(signum)


def run(main: Coroutine[Any, Any, object]) -> None:
    """`asyncio.run(main)`, with Ctrl-C ending it quietly (the cleanup has run by then)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main)


@contextlib.asynccontextmanager
async def embedded_sandbox(receiver: Receiver, secret: str) -> AsyncIterator[tuple[Any, Client]]:
    """The `--sandbox` demos' set-up: `receiver` served on a free loopback port, an embedded
    sandbox posting webhooks signed with `secret` there, and a client on the sandbox bound to
    the receiver; yields `(sandbox, client)` and tears all of it down in order."""
    from d360_calling.sandbox import Sandbox

    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = listening_url("127.0.0.1", runner.addresses[0][1], receiver.path)
    try:
        async with (
            Sandbox(api_key=SANDBOX_API_KEY, webhook_url=url, webhook_secret=secret) as sandbox,
            Client(SANDBOX_API_KEY, base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            yield sandbox, client
    finally:
        await receiver.aclose()
        await receiver.router.aclose()
        await runner.cleanup()
