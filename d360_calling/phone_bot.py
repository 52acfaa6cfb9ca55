"""`python -m d360_calling phone`: the sandbox's /phone page with a built-in voice bot to call.

It serves a sandbox with the page on HOST:PORT, a signed-webhook receiver on a loopback port
(free, or `--bot-port`) that the sandbox posts to, and a bot bound to the sandbox that answers
each call from the page with audio (`phone_bot_menu`: a greeting, a keypad menu, an echo). It
prints the page's URL, the API key and the webhook secret, tells what happens on each call,
and runs until cancelled (Ctrl-C), then closes everything. Only this command needs the
`[media]` extra, so `import d360_calling` never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import secrets
import sys
import threading
import webbrowser
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Final, TextIO

from aiohttp import web

from .client import Client
from .errors import D360Error
from .sandbox import Sandbox
from .sandbox.phone import BROWSER_SWITCHES
from .sandbox.server import DEFAULT_PHONE_USER
from .webhooks import IncomingCall, Receiver, Router

if TYPE_CHECKING:
    from .phone_bot_menu import Say, Timing

API_KEY: Final = "sandbox-key"
MAX_CALLS: Final = 4
"""Calls the bot serves at once; more are declined."""
STOP_SECONDS: Final = 5.0
"""How long stopping waits for calls to hang up and handlers to finish."""
MEDIA_MISSING: Final = (
    "error: the built-in bot speaks over WebRTC, which needs the media extra: "
    "python -m pip install 'd360-calling[media]' (in a clone: python -m pip install -e '.[media]')"
)


class PhoneBot:
    """The built-in bot: a router whose connect handler serves each call (`serve_call`), at
    most `MAX_CALLS` at once; `stop()` hangs up those still going."""

    def __init__(self, say: Say, timing: Timing | None = None) -> None:
        self.router = Router()
        self._say = say
        self._timing = timing
        self._calls: dict[asyncio.Task[object], str] = {}
        self.router.on_connect(self._answer)

    @property
    def calls(self) -> int:
        """Calls being served now."""
        return len(self._calls)

    async def _answer(self, call: IncomingCall) -> None:
        from .phone_bot_menu import serve_call

        if not call.inbound:  # a call the developer placed to the page with the API key
            return
        label = f"call from +{call.event.from_}"
        if len(self._calls) >= MAX_CALLS:
            self._say(f"{label}: declined, {MAX_CALLS} calls are going on already")
            with contextlib.suppress(D360Error):
                await call.reject()
            return
        task = asyncio.current_task()
        assert task is not None
        self._calls[task] = call.call_id
        started = asyncio.get_running_loop().time()

        def say(text: str) -> None:
            self._say(f"{label}: {text}")

        try:
            ending = await serve_call(call, say, self._timing)
        finally:
            del self._calls[task]
        seconds = asyncio.get_running_loop().time() - started
        say(f"ended, {ending} ({seconds:.0f} s)")

    async def stop(self) -> None:
        """Hang up every call still going (each handler terminates its own), bounded."""
        tasks = list(self._calls)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_SECONDS)


async def serve_phone(
    *, host: str, port: int, open_browser: bool, out: TextIO, bot_port: int = 0
) -> int:
    """Serve the page and the bot until cancelled; 1 when they cannot start (no `[media]`
    extra, a host other than loopback, a port in use), with the reason on stderr.

    Cancelled (Ctrl-C), it hangs up the calls, closes the sandbox, the bot and its sockets,
    and lets the cancellation through, as a coroutine should (`python -m d360_calling phone`
    then exits 0).
    """
    if importlib.util.find_spec("aiortc") is None:
        print(MEDIA_MISSING, file=sys.stderr)
        return 1

    def say(text: str) -> None:
        print(f"{datetime.now():%H:%M:%S} {text}", file=out, flush=True)

    try:
        async with _running(host, port, bot_port, say) as (sandbox, webhook_url, secret):
            _banner(out, sandbox, webhook_url, secret)
            if open_browser:  # a daemon thread: a browser that blocks never holds up the exit
                threading.Thread(
                    target=webbrowser.open, args=(sandbox.phone_url,), daemon=True
                ).start()
            await asyncio.Event().wait()
    except (OSError, ValueError) as error:  # a port in use, a host the page may not use
        print(f"error: {_why(error)}", file=sys.stderr)
        return 1
    return 0


@contextlib.asynccontextmanager
async def _running(
    host: str, port: int, bot_port: int, say: Say
) -> AsyncIterator[tuple[Sandbox, str, str]]:
    """The bot's receiver, the sandbox posting to it and the client bound to it, started in
    that order and closed in reverse: calls hung up, last webhooks delivered, media closed."""
    secret = secrets.token_hex(16)
    bot = PhoneBot(say)
    receiver = Receiver(bot.router, secret=secret, shutdown_timeout=STOP_SECONDS)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    try:
        await _listen(runner, "127.0.0.1", bot_port, "the bot")
        webhook_url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
        sandbox = Sandbox(API_KEY, webhook_url, secret, host=host, port=port, phone=True)
        try:
            await _start(sandbox, host, port)
            async with Client(API_KEY, base_url=sandbox.base_url) as client:
                receiver.client = client
                try:
                    yield sandbox, webhook_url, secret
                finally:
                    await bot.stop()
        finally:
            await sandbox.close()
            await receiver.aclose()
    finally:
        await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int, what: str) -> None:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        message = f"{what} cannot listen on {host}:{port}: {error.strerror}"
        raise OSError(error.errno, message) from None


async def _start(sandbox: Sandbox, host: str, port: int) -> None:
    try:
        await sandbox.start()
    except OSError as error:
        raise OSError(
            error.errno,
            f"the sandbox cannot listen on {host}:{port}: {error.strerror} (pass another --port)",
        ) from None


def _why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _banner(out: TextIO, sandbox: Sandbox, webhook_url: str, secret: str) -> None:
    from .phone_bot_menu import MENU_TEXT, Timing

    minutes = Timing().call_seconds / 60
    lines = [
        "The sandbox phone, with a built-in voice bot to call",
        "",
        f"  phone page    {sandbox.phone_url}",
        f"                (you are WhatsApp user +{DEFAULT_PHONE_USER}; press Call the business)",
        f"  the bot       greets you with a rising chime, then: {MENU_TEXT};",
        f"                calls end after {minutes:g} minutes",
        f"  Calling API   {sandbox.base_url}   API key: {sandbox.api_key}",
        f"  bot webhook   {webhook_url}   webhook secret: {secret}",
        "",
        f"The browser must offer 127.0.0.1 to WebRTC: {BROWSER_SWITCHES}.",
        "Ctrl-C stops.",
    ]
    print("\n".join(lines), file=out, flush=True)
