"""How the HTTP adapters shut a receiver down: a drain, started on SIGTERM while still serving.

uvicorn and `aiohttp.web.run_app` stop listening the moment they hear SIGTERM, and only then run
the app's shutdown (the ASGI lifespan's, aiohttp's `on_shutdown`). A drain started there would
find the door shut: a new call's connect is refused by the kernel rather than answered 503, and
the terminate webhooks of the calls in progress no longer reach the worker. So the adapters hear
SIGTERM first: the drain runs while the server still serves, and the server gets the signal once
the drain is over (a second SIGTERM reaches it at once). The app's shutdown then joins the same
drain, which is how it runs when no SIGTERM came (Ctrl+C, another server, a test).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Protocol

from aiohttp import web

from .endpoint import Endpoint

logger = logging.getLogger("d360_calling.webhooks")

Start = Callable[[], Awaitable[object]]


class DrainingEndpoint(Endpoint, Protocol):
    """An `Endpoint` that drains before it closes (`Receiver` is one)."""

    async def drain(self) -> object:
        """Refuse new calls, let those in progress finish until the deadline, end the rest,
        close; idempotent."""
        ...


def before_server_sigterm(start: Start) -> Callable[[], None]:
    """Run `start()` on SIGTERM before a server that handles it with `signal.signal` (uvicorn,
    gunicorn's workers) does, then call that server's handler; returns the undo.

    Nothing is hooked off the main thread, when SIGTERM keeps its default action (no server
    handles it: the app's shutdown drains) or when asyncio relays it to a loop callback."""
    previous = signal.getsignal(signal.SIGTERM)
    if (
        threading.current_thread() is not threading.main_thread()
        or not callable(previous)
        or getattr(previous, "__module__", None) == "asyncio.unix_events"
    ):
        return _nothing
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[None]] = set()

    async def drain_then_pass_on(signum: int) -> None:
        await _logged(start)
        previous(signum, None)

    def begin(signum: int) -> None:
        task = loop.create_task(drain_then_pass_on(signum))
        running.add(task)
        task.add_done_callback(running.discard)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, previous)
        loop.call_soon_threadsafe(begin, signum)

    signal.signal(signal.SIGTERM, on_sigterm)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return undo


def before_run_app_sigterm(start: Start) -> None:
    """Under `web.run_app` (an `AppRunner` that handles signals), run `start()` on SIGTERM
    before aiohttp's graceful exit, which follows it. Nothing is hooked when the event loop has
    no SIGTERM callback (a runner that leaves signals alone); the runner's cleanup removes it."""
    loop = asyncio.get_running_loop()
    try:
        if not loop.remove_signal_handler(signal.SIGTERM):
            return
    except NotImplementedError:  # Windows
        return
    running: set[asyncio.Task[None]] = set()

    def exit_now(*_: Any) -> None:
        raise web.GracefulExit  # what aiohttp's own SIGTERM callback does

    def on_sigterm() -> None:
        loop.add_signal_handler(signal.SIGTERM, exit_now)
        task = loop.create_task(_logged(start))
        running.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(exit_now)

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)


async def _logged(start: Start) -> None:
    """`start()`; a failure is logged, so the server still gets the signal."""
    try:
        await start()
    except Exception:
        logger.exception("draining on SIGTERM failed")


def _nothing() -> None:
    """Nothing to undo."""
