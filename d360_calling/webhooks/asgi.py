"""`ReceiverASGI`: a `Receiver` as a pure ASGI app, for uvicorn, Starlette, FastAPI and kin.

It needs no framework: it answers `POST {receiver.path}` (404 elsewhere, 405 for other methods),
reads `http.request` messages only until the body passes the cap (413) or `body_timeout` passes
(408), closing the connection then without reading the rest, and hands the body to
`Receiver.receive`. Served on its own, its lifespan shutdown closes the receiver; mounted in
another app it gets no lifespan events, so that app's lifespan must `await receiver.aclose()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from multidict import CIMultiDict

from .body import UNREAD
from .shutdown import DrainingEndpoint, before_server_sigterm

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before the whole body arrived."""


class ReceiverASGI:
    """The ASGI 3 app of one `Receiver` (get it as `receiver.asgi`), or of any endpoint that
    drains."""

    def __init__(self, receiver: DrainingEndpoint) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"ReceiverASGI({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
        elif _route_path(scope) != self.receiver.path:
            await _answer(send, 404, "not found")
        elif scope["method"] != "POST":
            await _answer(send, 405, "method not allowed", [(b"allow", b"POST")])
        else:
            headers = CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in scope["headers"]
            )
            try:
                status, text = await self.receiver.receive(_chunks(receive), headers)
            except _Disconnected:
                return
            # A refused or stalled upload is not read on: ask the server to drop the connection.
            extra = [(b"connection", b"close")] if status in UNREAD else []
            await _answer(send, status, text, extra)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        unhook = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                unhook = before_server_sigterm(self.receiver.drain)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if unhook is not None:
                    unhook()
                await self.receiver.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as the server hands them over."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def _route_path(scope: Scope) -> str:
    """The path below the mount point: ASGI's `path` includes `root_path` (Starlette's mounts,
    uvicorn's `--root-path`); older servers and mounts strip it themselves."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


async def _answer(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    start_headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})
