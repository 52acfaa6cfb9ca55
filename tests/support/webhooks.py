"""Webhook helpers the tests share: signed-envelope bodies, routers that count, and a receiver
served on loopback by aiohttp or uvicorn."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import uvicorn
from aiohttp import web

from d360_calling.webhooks import CallStatus, IncomingCall, Receiver, Router


def envelope(field: str, value: dict[str, object]) -> bytes:
    """A webhook body with one change of `field` carrying `value`."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": field, "value": value}]}],
    }
    return json.dumps(body).encode()


def connect_body(call_id: str, timestamp: int | None = None) -> bytes:
    """A user-initiated connect for `call_id`, stamped now unless `timestamp` is given."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    call = {
        "id": call_id,
        "from": "14155550123",
        "to": "15550001234",
        "event": "connect",
        "timestamp": stamp,
        "direction": "USER_INITIATED",
        "session": {"sdp_type": "offer", "sdp": "v=0\r\n"},
    }
    return envelope("calls", {"messaging_product": "whatsapp", "calls": [call]})


def terminate_body(call_id: str) -> bytes:
    """A completed terminate for `call_id`, stamped now."""
    call = {
        "id": call_id,
        "from": "14155550123",
        "to": "15550001234",
        "event": "terminate",
        "timestamp": str(int(time.time())),
        "direction": "USER_INITIATED",
        "status": "COMPLETED",
    }
    return envelope("calls", {"messaging_product": "whatsapp", "calls": [call]})


async def serve(receiver: Receiver) -> web.AppRunner:
    """`receiver.app` on a free loopback port (the caller cleans the runner up)."""
    runner = web.AppRunner(receiver.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def status_body(call_id: str, size: int | None = None) -> bytes:
    """A status delivery for `call_id`, padded with spaces to `size` bytes when given."""
    status = {
        "id": call_id,
        "timestamp": str(int(time.time())),
        "type": "call",
        "status": "RINGING",
        "recipient_id": "14155550123",
    }
    body = envelope("calls", {"messaging_product": "whatsapp", "statuses": [status]})
    return body if size is None else body + b" " * (size - len(body))


class Served:
    """A receiver on a loopback port, whichever server carries it; `stop()` shuts the server
    down the way its own shutdown would (which closes the receiver)."""

    def __init__(self, receiver: Receiver, port: int, stop: Callable[[], Awaitable[None]]):
        self.receiver = receiver
        self.url = f"http://127.0.0.1:{port}{receiver.path}"
        self.base = f"http://127.0.0.1:{port}"
        self._stop = stop
        self.stopped = False

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self._stop()


async def serve_aiohttp(receiver: Receiver) -> Served:
    # aiohttp lingers up to 10 s reading the rest of a refused upload; keep that short here.
    runner = web.AppRunner(receiver.app, access_log=None, lingering_time=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return Served(receiver, runner.addresses[0][1], runner.cleanup)


async def serve_uvicorn(app: Any, receiver: Receiver) -> Served:
    """`app` under uvicorn on a free loopback port, started as a task, its lifespan on."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn stopped while starting")
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    async def stop() -> None:
        server.should_exit = True
        async with asyncio.timeout(20):
            await task

    return Served(receiver, port, stop)


def recording_router() -> tuple[Router, Counter[str]]:
    """A router counting status events per call."""
    handled: Counter[str] = Counter()
    router = Router()

    @router.on_status
    async def record(event: CallStatus) -> None:
        handled[event.call_id] += 1

    return router, handled


def counting_router() -> tuple[Router, Counter[str]]:
    """A router whose connect handler counts the calls it handled."""
    handled: Counter[str] = Counter()
    router = Router()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        handled[call.call_id] += 1

    return router, handled


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: Mapping[str, str] | None = None
) -> int:
    """POST `body` to `url` and read the answer whole; its status."""
    async with http.post(url, data=body, headers=dict(headers or {})) as response:
        await response.read()
        return response.status
