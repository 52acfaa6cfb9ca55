"""The bot of the ring storm, in its own process: a webhook receiver that answers every call.

    python -m benchmarks.storm_bot --kind sdk|floor|floor-fifo --json-backend orjson|json --api URL

`sdk` serves `d360_calling.webhooks.Receiver(router, client=Client(key, base_url=api))`,
whose connect handler runs `call.pre_accept(answer)` then `call.accept(answer)`. `floor` is a
hand-written `aiohttp.web` handler doing the same with no SDK: it checks the HMAC with
`hmac`/`hashlib`, `json.loads` the body, answers 200, and in a task posts the `pre_accept` and
then the `accept` with one raw `aiohttp.ClientSession`, `json.dumps` out, `json.loads` back.
Both use aiohttp's default pool of 100 connections (the SDK's default `connection_limit`).
`floor-fifo` is the floor with one `asyncio.Semaphore(100)` around each post, the queue the
SDK's default in-flight cap (`RateLimitPolicy.max_in_flight=100`) puts in front of aiohttp: a
call's accept then waits behind the pre_accepts already queued, instead of taking the
connection its pre_accept just freed, as it does in aiohttp's pool.
`--json-backend json` makes `orjson` unimportable before the SDK is imported, which is the SDK
without the `speedups` extra (the floor always uses the standard library).

Stamps are `CLOCK_MONOTONIC` (system-wide on Linux), as the API server's: `first_bytes` when
the process reads the first bytes of a delivery's connection (a wrapper around aiohttp's
protocol), `handler` when aiohttp's middleware chain starts on the request. The sender names
the call in an `x-storm-call` header, so stamping never reads the body.

It prints `serving http://127.0.0.1:PORT/webhook`, then obeys lines on stdin: `mark` (start
counting CPU, and profiling with `--profile`), `report PREFIX N` (wait, at most
`REPORT_TIMEOUT` s, for the N calls whose ids start with PREFIX to finish, then print one JSON
line), `quit` (or end of input).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import hashlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import ClientSession, web

from benchmarks.harness import pin, raise_fd_limit

STORM_HEADER: Final = "x-storm-call"
SIGNATURE_HEADER: Final = "x-360dialog-signature"
API_KEY: Final = "bench-key"
"""The canned server's key (`benchmarks.payloads.API_KEY`; not imported: see `main`)."""
REPORT_TIMEOUT: Final = 120.0
GC_MODES: Final = ("default", "freeze", "off")
BACKLOG: Final = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def clock() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Book:
    """What happened to each call: stamps on arrival, and how its handler ended."""

    def __init__(self) -> None:
        self.first_bytes: dict[asyncio.BaseTransport, float] = {}
        self.arrived: dict[str, tuple[float, float]] = {}
        self.done: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.changed = asyncio.Event()

    def finished(self, call_id: str, error: BaseException | None = None) -> None:
        if error is None:
            self.done[call_id] = clock()
        else:
            self.failed[call_id] = f"{type(error).__name__}: {error}"[:300]
        self.changed.set()

    def settled(self, prefix: str) -> int:
        return sum(1 for key in (*self.done, *self.failed) if key.startswith(prefix))

    @web.middleware
    async def stamp(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = clock()
        call_id = request.headers.get(STORM_HEADER)
        if call_id is not None:
            first = self.first_bytes.pop(request.transport, now)  # type: ignore[arg-type]
            self.arrived[call_id] = (first, now)
        return await handler(request)


class Stamping(asyncio.Protocol):
    """Wraps aiohttp's protocol: stamps the first bytes read on the connection, then passes
    every event through unchanged."""

    __slots__ = ("_book", "_inner", "_transport")

    def __init__(self, inner: asyncio.Protocol, book: Book) -> None:
        self._inner = inner
        self._book = book
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None:
            self._book.first_bytes.setdefault(transport, clock())
            self._transport = None  # only the first read of the connection is stamped
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def answer_sdp() -> str:
    from d360_calling.sandbox.sdp import OFFER_SDP

    return OFFER_SDP.replace("a=setup:actpass", "a=setup:active")


def sdk_app(api: str, secret: str, book: Book) -> tuple[web.Application, Any]:
    """The SDK's receiver and client; returns the app and the client to close."""
    from d360_calling import Client, SessionDescription
    from d360_calling.webhooks import IncomingCall, Receiver, Router

    answer = SessionDescription.answer(answer_sdp())
    client = Client(API_KEY, base_url=api)
    router = Router()

    @router.on_connect
    async def answer_call(call: IncomingCall) -> None:
        try:
            await call.pre_accept(answer)
            await call.accept(answer)
        except Exception as error:
            book.finished(call.call_id, error)
            raise
        book.finished(call.call_id)

    receiver = Receiver(router, client=client, secret=secret)
    app = receiver.app
    app.middlewares.append(book.stamp)
    return app, client


class Floor:
    """The floor: a hand-written aiohttp.web webhook handler and raw aiohttp client calls."""

    def __init__(self, api: str, secret: str, book: Book, fifo: bool = False) -> None:
        self.gate = asyncio.Semaphore(100) if fifo else None
        self.url = f"{api}/calling/calls"
        self.secret = secret.encode()
        self.book = book
        self.sdp = answer_sdp()
        self.headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
        self.http: ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.book.stamp])
        app.router.add_post("/webhook", self.webhook)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _: web.Application) -> None:
        self.http = ClientSession()

    async def _close(self, _: web.Application) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        if self.http is not None:
            await self.http.close()

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "").removeprefix("sha256=").lower()
        expected = hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            return web.Response(status=401, text="bad signature")
        try:
            payload = json.loads(raw)
            calls = [
                call
                for entry in payload["entry"]
                for change in entry["changes"]
                if change["field"] == "calls"
                for call in change["value"]["calls"]
                if call["event"] == "connect"
            ]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not a webhook")
        for call in calls:
            task = asyncio.create_task(self.answer(call["id"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return web.Response(text="ok")

    async def answer(self, call_id: str) -> None:
        try:
            for action in ("pre_accept", "accept"):
                await self.post(call_id, action)
        except Exception as error:
            self.book.finished(call_id, error)
            return
        self.book.finished(call_id)

    async def post(self, call_id: str, action: str) -> None:
        assert self.http is not None
        body = {
            "messaging_product": "whatsapp",
            "call_id": call_id,
            "action": action,
            "session": {"sdp_type": "answer", "sdp": self.sdp},
        }
        data = json.dumps(body).encode()
        if self.gate is None:
            async with self.http.post(self.url, data=data, headers=self.headers) as response:
                result = json.loads(await response.read())
        else:
            async with (
                self.gate,
                self.http.post(self.url, data=data, headers=self.headers) as response,
            ):
                result = json.loads(await response.read())
        if response.status != 200 or result.get("success") is not True:
            raise RuntimeError(f"{action}: HTTP {response.status} {result}")


class GcTimer:
    """CPU time (this thread's) spent in the garbage collector, per generation, since `reset`
    (gc.callbacks)."""

    def __init__(self) -> None:
        self._started = 0.0
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        generation = info["generation"]
        self.seconds[generation] += time.thread_time() - self._started
        self.collections[generation] += 1


class Control:
    """Lines from stdin, read by a daemon thread and handed to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self._loop.call_soon_threadsafe(self.lines.put_nowait, line.strip())
        self._loop.call_soon_threadsafe(self.lines.put_nowait, "quit")


async def wait_settled(book: Book, prefix: str, count: int) -> bool:
    deadline = time.monotonic() + REPORT_TIMEOUT
    while book.settled(prefix) < count:  # bounded by REPORT_TIMEOUT
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        book.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(book.changed.wait(), min(remaining, 1.0))
    return True


async def serve(args: argparse.Namespace) -> None:
    book = Book()
    client: Any = None
    if args.kind == "sdk":
        app, client = sdk_app(args.api, args.secret, book)
    else:
        app = Floor(args.api, args.secret, book, fifo=args.kind == "floor-fifo").app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    loop = asyncio.get_running_loop()
    factory = runner.server
    assert factory is not None
    server = await loop.create_server(
        lambda: Stamping(factory(), book), "127.0.0.1", 0, backlog=BACKLOG
    )
    port = server.sockets[0].getsockname()[1]
    control = Control(loop)
    if args.gc == "freeze":
        gc.collect()
        gc.freeze()  # what is alive after start-up is never scanned again
    elif args.gc == "off":
        gc.disable()
    print(f"serving http://127.0.0.1:{port}/webhook", flush=True)
    profile: cProfile.Profile | None = None
    cpu_mark = time.process_time()
    gc_timer = GcTimer()
    try:
        for _ in range(1000):  # bounded: a run sends a handful of commands
            command, *rest = (await control.lines.get()).split() or ["quit"]
            if command == "quit":
                break
            if command == "mark":
                if args.profile:
                    profile = cProfile.Profile()
                    profile.enable()
                cpu_mark = time.process_time()
                gc_timer.reset()
                continue
            if command == "report":
                prefix, count = rest[0], int(rest[1])
                complete = await wait_settled(book, prefix, count)
                cpu = time.process_time() - cpu_mark
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(args.profile)
                    profile = None
                result = report(book, prefix, complete, cpu)
                result["gc_s"], result["gc_collections"] = gc_timer.seconds, gc_timer.collections
                print(json.dumps(result), flush=True)
    finally:
        server.close()
        await runner.cleanup()
        if client is not None:
            await client.aclose()


def report(book: Book, prefix: str, complete: bool, cpu: float) -> dict[str, Any]:
    def mine(mapping: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in mapping.items() if key.startswith(prefix)}

    return {
        "complete": complete,
        "cpu_s": cpu,
        "arrived": mine(book.arrived),
        "done": mine(book.done),
        "failed": mine(book.failed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("sdk", "floor", "floor-fifo"), required=True)
    parser.add_argument("--json-backend", choices=("orjson", "json"), default="orjson")
    parser.add_argument("--api", required=True, help="the canned API server's base URL")
    parser.add_argument("--secret", required=True, help="the webhook signing secret")
    parser.add_argument("--profile", help="write a cProfile of mark..report here")
    parser.add_argument("--cpu", type=int, help="pin this process to this CPU")
    parser.add_argument(
        "--gc",
        choices=GC_MODES,
        default="default",
        help="the collector: as Python sets it, gc.freeze() after start-up, or disabled",
    )
    args = parser.parse_args(argv)
    if args.cpu is not None:
        pin({args.cpu})
    if args.json_backend == "json":
        sys.modules["orjson"] = None  # type: ignore[assignment]  # as if not installed
    from d360_calling import jsonutil

    if args.kind == "sdk" and args.json_backend != jsonutil.BACKEND:
        raise SystemExit(f"wanted the {args.json_backend} backend, the SDK has {jsonutil.BACKEND}")
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
