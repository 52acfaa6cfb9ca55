"""One suite, two adapters: the receiver served by aiohttp.web (`receiver.app`) and as a pure ASGI
app under a real uvicorn (`receiver.asgi`), each on loopback, posted to with aiohttp."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from d360_calling import Client, LocalState
from d360_calling.sandbox import Sandbox, WebhookDelivery
from d360_calling.webhooks import CallStatus, IncomingCall, Receiver, Router, parse, sign
from examples import inbound_bot

from ..support.webhooks import (
    Served,
    post,
    recording_router,
    serve_aiohttp,
    serve_uvicorn,
    status_body,
)

SECRET = "adapter-secret"
MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


Serve = Callable[[Receiver], Awaitable[Served]]


@pytest.fixture(params=["aiohttp", "asgi"])
async def serve(request: pytest.FixtureRequest) -> AsyncIterator[Serve]:
    """Serves a receiver through the adapter under test; stops whatever a test left running."""
    started: list[Served] = []

    async def start(receiver: Receiver) -> Served:
        if request.param == "aiohttp":
            served = await serve_aiohttp(receiver)
        else:
            served = await serve_uvicorn(receiver.asgi, receiver)
        started.append(served)
        return served

    yield start
    for served in started:
        await served.stop()


async def test_200_inbound_calls_rung_at_once_are_each_answered_once(serve: Serve) -> None:
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        answer_sdp = inbound_bot.stand_in_answer(call.event.session)
        await call.pre_accept(answer_sdp)
        await call.accept(answer_sdp)

    served = await serve(Receiver(router, secret=SECRET))
    delivery = WebhookDelivery(shuffle=True, duplicate=True, seed=5)
    async with (
        Sandbox(
            api_key="k", webhook_url=served.url, webhook_secret=SECRET, delivery=delivery
        ) as sb,
        Client("k", base_url=sb.base_url) as client,
    ):
        served.receiver.client = client
        call_ids = await asyncio.gather(*(sb.ring(f"1415555{n:04d}") for n in range(200)))
        async with asyncio.timeout(20):
            while sb.stats.effects["calls.accept"] < 200:
                await asyncio.sleep(0.05)
        await served.stop()
        assert {sb.calls[c].state.value for c in call_ids} == {"accepted"}
        assert sb.stats.requests["calls.pre_accept"] == 200
        assert sb.stats.requests["calls.accept"] == 200
        assert not sb.webhook_failures
    assert served.receiver.stats["duplicates"] >= 200
    assert served.receiver.stats["handler_errors"] == 0


async def test_bad_signatures_are_401_and_run_nothing(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    router, handled = recording_router()
    served = await serve(Receiver(router, secret=SECRET))
    body = status_body("wacid.signed")
    good = sign(body, SECRET)["x-360dialog-signature"]
    for headers in (
        {},
        sign(body, "not-the-secret"),
        {"x-360dialog-signature": good[:-1]},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    ):
        assert await post(http, served.url, body, headers) == 401
    assert await post(http, served.url, body + b" ", {"x-360dialog-signature": good}) == 401
    assert await post(http, served.url, body, sign(body, SECRET, "meta")) == 200
    garbage = b"{not json"
    assert await post(http, served.url, garbage, sign(garbage, SECRET)) == 400
    await served.stop()
    assert handled == {"wacid.signed": 1}
    assert served.receiver.stats["bad_signature"] == 5
    assert served.receiver.stats["malformed"] == 1


async def test_oversized_bodies_are_413_without_being_read_whole(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A 20 MiB chunked body against a 1 MiB cap is refused after about 1 MiB: peak memory
    stays far below 20 MiB. A declared length past the cap is refused before any byte is read;
    a body exactly at the cap is taken."""
    router, handled = recording_router()
    served = await serve(Receiver(router, secret=SECRET, max_body_size=MiB))
    chunk = b" " * (64 * 1024)

    async def twenty_mib() -> AsyncIterator[bytes]:
        for _ in range(20 * 16):
            yield chunk

    tracemalloc.start()
    try:
        try:
            status = await post(http, served.url, twenty_mib())
        except aiohttp.ClientError:
            status = 413  # the server may answer and hang up before the client finishes
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB: the body was read whole"

    at_cap = status_body("wacid.at-cap")
    at_cap += b" " * (MiB - len(at_cap))
    assert await post(http, served.url, io.BytesIO(at_cap), sign(at_cap, SECRET)) == 200
    over = at_cap + b" "  # declared in Content-Length: refused before it is read
    assert await post(http, served.url, io.BytesIO(over), sign(over, SECRET)) == 413
    await served.stop()
    assert served.receiver.stats["too_large"] == 2
    assert handled == {"wacid.at-cap": 1}


async def test_wrong_method_or_path(serve: Serve, http: aiohttp.ClientSession) -> None:
    served = await serve(Receiver(Router(), secret=SECRET))
    async with http.get(served.url) as response:
        assert response.status == 405
    assert await post(http, served.base + "/elsewhere", b"{}") == 404


@pytest.mark.parametrize("first", ["server", "receiver"])
async def test_shutdown_loses_no_event(
    serve: Serve, http: aiohttp.ClientSession, first: str
) -> None:
    """Deliveries keep coming while the server shuts down (or the app closes the receiver
    first, then the server). Every one answered 200 is handled (shutdown waits for the
    handlers); every other one (503, or refused at the door) was not recorded, so the
    platform's redelivery to the next worker is handled: each exactly once."""
    handled: Counter[str] = Counter()
    router = Router()

    @router.on_status
    async def slow(event: CallStatus) -> None:
        await asyncio.sleep(0.1)  # still running when the shutdown begins
        handled[event.call_id] += 1

    state = LocalState()
    served = await serve(Receiver(router, secret=SECRET, shared_state=state))
    outcomes: dict[str, int | None] = {}
    refused = asyncio.Event()
    numbers = iter(range(10_000))

    async def platform() -> None:
        while not refused.is_set():
            call_id = f"wacid.{next(numbers)}"
            body = status_body(call_id)
            try:
                outcomes[call_id] = await post(http, served.url, body, sign(body, SECRET))
            except aiohttp.ClientError:
                outcomes[call_id] = None
            if outcomes[call_id] != 200:
                refused.set()

    async def shut_down_mid_stream() -> None:
        while len(outcomes) < 40:
            await asyncio.sleep(0.005)
        if first == "receiver":
            await served.receiver.aclose()
            await refused.wait()
        await served.stop()

    async with asyncio.timeout(30):
        await asyncio.gather(*(platform() for _ in range(4)), shut_down_mid_stream())
    acked = {call_id for call_id, status in outcomes.items() if status == 200}
    assert len(acked) >= 40
    if first == "receiver":
        assert 503 in outcomes.values()
    assert acked <= set(handled)  # every acknowledged event was handled before shutdown ended

    successor = Receiver(router, secret=SECRET, shared_state=state)
    for call_id in outcomes.keys() - acked:
        await successor.dispatch(parse(status_body(call_id)))
    await successor.aclose()
    assert len(outcomes) > len(acked)
    assert set(handled) == set(outcomes)
    assert set(handled.values()) == {1}


async def stalled_upload(served: Served, sent: int) -> tuple[bytes, bytes]:
    """Declares a 1 MiB body, sends `sent` bytes of it and stops; returns the status line and
    the response headers, read until the server closes the connection."""
    port = URL(served.base).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"POST {served.receiver.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MiB}\r\n\r\n"
        )
        writer.write(head.encode() + b" " * sent)  # buffered: the server's answer is awaited below
        status_line = await reader.readline()
        headers = await reader.readuntil(b"\r\n\r\n")
        while await reader.read(64 * 1024):  # the rest of the answer, then the server hangs up
            pass
        return status_line, headers.lower()
    finally:
        writer.close()


async def test_a_body_that_stops_short_is_408_and_the_connection_closed(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    """An unsigned upload that stops one byte short of its declared 1 MiB is answered 408 once
    `body_timeout` passes, with `Connection: close`; so are many at once; the server still
    takes signed deliveries afterwards."""
    router, handled = recording_router()
    served = await serve(Receiver(router, secret=SECRET, body_timeout=0.2))
    async with asyncio.timeout(10):
        status_line, headers = await stalled_upload(served, MiB - 1)
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert b"connection: close" in headers
    async with asyncio.timeout(20):
        answers = await asyncio.gather(*(stalled_upload(served, MiB // 4) for _ in range(16)))
    assert [line[:12] for line, _ in answers] == [b"HTTP/1.1 408"] * 16
    body = status_body("wacid.after-stalls")
    assert await post(http, served.url, body, sign(body, SECRET)) == 200
    await served.stop()
    assert served.receiver.stats["body_timeout"] == 17
    assert handled == {"wacid.after-stalls": 1}


# --- the core, without a server ----------------------------------------------------------------


async def test_the_core_takes_bytes_or_chunks_and_any_header_mapping() -> None:
    router, handled = recording_router()
    receiver = Receiver(router, secret=SECRET, max_body_size=4096)
    body = status_body("wacid.core")
    signature = sign(body, SECRET)["x-360dialog-signature"]

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("a body declared too large was read")
        yield b""

    assert await receiver.receive(body, {"X-360Dialog-Signature": signature}) == (200, "ok")
    replies = [
        await receiver.receive(chunks(body), {"x-360dialog-signature": signature}),
        await receiver.receive(chunks(body + b" " * 4096), {"x-360dialog-signature": signature}),
        await receiver.receive(never(), {"Content-Length": "5000"}),
        await receiver.receive(body, {}),
    ]
    await receiver.aclose()
    assert [reply.status for reply in replies] == [200, 413, 413, 401]
    assert handled == {"wacid.core": 1}
    assert receiver.stats["duplicates"] == 1


# --- ASGI only ----------------------------------------------------------------------------------


async def test_asgi_lifespan_shutdown_closes_the_receiver() -> None:
    receiver = Receiver(Router(), secret=SECRET)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    for kind in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": kind})
    await receiver.asgi({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    status, _ = await receiver.receive(status_body("wacid.late"), {})
    assert status == 503


async def test_asgi_app_answers_below_a_mount_point() -> None:
    """Mounted at /hooks (Starlette puts the mount in `root_path` and keeps the full `path`)."""
    router, handled = recording_router()
    receiver = Receiver(router, secret=SECRET)
    body = status_body("wacid.mounted")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    headers = [(k.lower().encode(), v.encode()) for k, v in sign(body, SECRET).items()]
    for path, root_path in (("/hooks/webhook", "/hooks"), ("/webhook", "/hooks")):
        scope = {"type": "http", "method": "POST", "path": path, "root_path": root_path}
        await receiver.asgi({**scope, "headers": headers}, receive, send)
    scope = {"type": "http", "method": "POST", "path": "/hooks/webhook2", "root_path": "/hooks"}
    await receiver.asgi({**scope, "headers": headers}, receive, send)
    await receiver.aclose()
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [200, 200, 404]
    assert handled == {"wacid.mounted": 1}
    assert receiver.stats["duplicates"] == 1


def test_the_package_never_imports_fastapi_or_starlette() -> None:
    """Every module but the optional media layer (and `__main__`) is imported in a fresh
    interpreter; neither framework is among what they bring in."""
    script = """
import importlib, json, pkgutil, sys
import d360_calling
for module in pkgutil.walk_packages(d360_calling.__path__, "d360_calling."):
    if not module.name.startswith("d360_calling.media") and "__main__" not in module.name:
        importlib.import_module(module.name)
leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("fastapi", "starlette"))
print(json.dumps(leaked))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
