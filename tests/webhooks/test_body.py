"""Reading a delivery's body: a body the user's app already read, the cap at its exact edge, and
the `body_timeout` option."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from d360_calling.errors import ValidationError
from d360_calling.webhooks import Receiver, Router, sign

from ..support.webhooks import recording_router, status_body

SECRET = "body-secret"
CAP = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- a body the user's app read before the handler ---------------------------------------------


READERS: dict[str, Callable[[web.Request], Awaitable[Any]]] = {
    "read": web.Request.read,
    "text": web.Request.text,
    "json": web.Request.json,
}


def reading_middleware(read: Callable[[web.Request], Awaitable[Any]]) -> Any:
    """An aiohttp middleware that reads the body (as logging or auth middlewares do)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        await read(request)
        return await handler(request)

    return middleware


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    """`body` sent chunked: no Content-Length, so only the bytes themselves meet the cap."""
    yield body


@pytest.mark.parametrize("reader", sorted(READERS))
async def test_mounted_handler_takes_a_body_the_app_already_read(reader: str) -> None:
    """Behind a middleware that awaited `request.read()`, `.text()` or `.json()`, signed
    deliveries are 200 and handled; the receiver's cap still holds for the read body (413)."""
    router, handled = recording_router()
    receiver = Receiver(router, secret=SECRET, max_body_size=CAP)
    app = web.Application(middlewares=[reading_middleware(READERS[reader])])
    app.router.add_post("/hooks", receiver.handler)
    first, second = status_body("wacid.first"), status_body("wacid.second", CAP)
    over = status_body("wacid.over", CAP + 1)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        statuses = []
        for body, data in ((first, first), (second, chunked(second)), (over, chunked(over))):
            async with http.post(
                server.make_url("/hooks"), data=data, headers=sign(body, SECRET)
            ) as r:
                statuses.append(r.status)
    await receiver.aclose()
    assert statuses == [200, 200, 413], (
        f"{statuses}: the receiver did not use the body aiohttp had cached "
        "(a 401 means it read an empty stream; check aiohttp's Request.read and can_read_body)"
    )
    assert handled == {"wacid.first": 1, "wacid.second": 1}
    assert receiver.stats["too_large"] == 1


# --- the cap at its exact edge -----------------------------------------------------------------


async def chunks_of(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


async def never_read() -> AsyncIterator[bytes]:
    """A body that must not be read: its declared length alone refuses it."""
    raise AssertionError("a body declared past the cap was read")
    yield b""  # an async generator


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "content-length"])
@pytest.mark.parametrize("shape", ["bytes", "chunks"])
async def test_a_body_of_exactly_the_cap_is_taken_one_byte_more_is_413(
    shape: str, declared: bool
) -> None:
    """`receive` answers a body of exactly `max_body_size` bytes normally and one byte more
    with 413, whether it comes as bytes or chunks, with or without a Content-Length (which
    alone refuses chunks past the cap, unread)."""
    router, handled = recording_router()
    receiver = Receiver(router, secret=SECRET, max_body_size=CAP)
    statuses = []
    for call_id, size in (("wacid.at-cap", CAP), ("wacid.past-cap", CAP + 1)):
        body = status_body(call_id, size)
        headers = sign(body, SECRET) | ({"Content-Length": str(size)} if declared else {})
        sent: bytes | AsyncIterator[bytes] = body
        if shape == "chunks":
            sent = never_read() if declared and size > CAP else chunks_of(body)
        statuses.append((await receiver.receive(sent, headers)).status)
    await receiver.aclose()
    assert statuses == [200, 413]
    assert handled == {"wacid.at-cap": 1}


# --- the body_timeout option -------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_body_timeout_must_be_a_positive_finite_number(value: Any) -> None:
    with pytest.raises(ValidationError, match="body_timeout"):
        Receiver(Router(), secret=SECRET, body_timeout=value)


async def test_a_body_that_stops_coming_is_408_in_the_core() -> None:
    """Chunks that stop arriving are answered 408 once `body_timeout` passes."""
    receiver = Receiver(Router(), secret=SECRET, body_timeout=0.05)

    async def stalls() -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.Event().wait()  # the sender stops, the connection stays open
        yield b"}"

    async with asyncio.timeout(5):
        reply = await receiver.receive(stalls(), {})
    await receiver.aclose()
    assert reply.status == 408
    assert receiver.stats["body_timeout"] == 1
