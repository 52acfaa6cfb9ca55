"""`ScriptedServer`: a real aiohttp.web server on 127.0.0.1 that records requests and answers
from a script (replies or faults), falling back to a route table when the script is empty.

It is deliberately independent of the SDK: it speaks HTTP and JSON, nothing more.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; `body` is `None` when it was never read."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes | None

    @property
    def json(self) -> Any:
        """The body parsed as JSON (`None` when there was no body)."""
        return None if not self.body else json.loads(self.body)


# --- what the server can do with one request -------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """Answer with `status`, `headers` and either `json` or raw `body` bytes."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        return b"" if self.json is None else json.dumps(self.json).encode()


@dataclass(frozen=True)
class ResetBeforeRead:
    """Abort the connection without reading the body."""


@dataclass(frozen=True)
class ResetAfterRead:
    """Read and record the body, then abort the connection without answering."""


@dataclass(frozen=True)
class Delay:
    """Wait `seconds` (cut short when the server stops), then do `then`."""

    seconds: float
    then: Action


@dataclass(frozen=True)
class Truncated:
    """Declare `declared` bytes of Content-Length, write only `sent`, then close."""

    sent: bytes = b'{"messaging_product": "wha'
    declared: int = 1000
    status: int = 200


@dataclass(frozen=True)
class Huge:
    """A JSON body of about `n_bytes`; `chunked` leaves Content-Length out."""

    n_bytes: int
    status: int = 200
    chunked: bool = False


Action = Reply | ResetBeforeRead | ResetAfterRead | Delay | Truncated | Huge
Route = Action | Callable[[Recorded], Action]


def reply(status: int = 200, json: Any = None, **kwargs: Any) -> Reply:
    return Reply(status=status, json=json, **kwargs)


def reset_before_read() -> ResetBeforeRead:
    return ResetBeforeRead()


def reset_after_read() -> ResetAfterRead:
    return ResetAfterRead()


def delay(seconds: float, then: Action | None = None) -> Delay:
    return Delay(seconds, then if then is not None else reply(json={"success": True}))


def truncated(status: int = 200) -> Truncated:
    return Truncated(status=status)


def non_json(status: int = 200, body: bytes = b"<html>oops</html>") -> Reply:
    return Reply(status=status, body=body, content_type="text/html")


def huge(n_bytes: int, status: int = 200, *, chunked: bool = False) -> Huge:
    return Huge(n_bytes, status, chunked)


NOT_FOUND = Reply(404, {"error": "no route"})


class ScriptedServer:
    """`async with ScriptedServer() as server:`; `server.script(...)` queues actions (FIFO)
    used by the next requests; `server.routes[(method, path)]` answers when the queue is
    empty, then `server.default` (a callable of the request), else 404."""

    def __init__(
        self,
        routes: Mapping[tuple[str, str], Route] | None = None,
        default: Callable[[Recorded], Action] | None = None,
    ) -> None:
        self.routes: dict[tuple[str, str], Route] = dict(routes or {})
        self.default = default
        self.requests: list[Recorded] = []
        self._queue: deque[Action] = deque()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *actions: Action) -> None:
        self._queue.extend(actions)

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self, seen: Recorded) -> Action:
        if self._queue:
            return self._queue.popleft()
        route = self.routes.get((seen.method, seen.path))
        if route is None and self.default is not None:
            return self.default(seen)
        if route is None:
            return NOT_FOUND
        return route(seen) if callable(route) else route

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        query = dict(request.query)
        if self._queue and isinstance(self._queue[0], ResetBeforeRead):
            self._queue.popleft()
            self.requests.append(Recorded(request.method, request.path, query, headers, None))
            return _abort(request)
        seen = Recorded(request.method, request.path, query, headers, await request.read())
        self.requests.append(seen)
        return await self._perform(request, self._next(seen))

    async def _perform(self, request: web.Request, action: Action) -> web.StreamResponse:
        match action:
            case Reply():
                return web.Response(
                    status=action.status,
                    body=action.payload(),
                    headers={"Content-Type": action.content_type, **action.headers},
                )
            case ResetBeforeRead() | ResetAfterRead():
                return _abort(request)
            case Delay():
                try:
                    await asyncio.wait_for(self._stopping.wait(), action.seconds)
                    return _abort(request)  # the server is stopping: do not hold it up
                except TimeoutError:
                    return await self._perform(request, action.then)
            case Truncated():
                response = web.StreamResponse(status=action.status)
                response.content_type = "application/json"
                response.content_length = action.declared
                await response.prepare(request)
                await response.write(action.sent)
                return _abort(request, response)
            case Huge():
                response = web.StreamResponse(status=action.status)
                response.content_type = "application/json"
                if not action.chunked:
                    response.content_length = action.n_bytes
                else:
                    response.enable_chunked_encoding()
                await response.prepare(request)
                chunk = b" " * 65536
                left = action.n_bytes
                try:
                    while left > 0:
                        await response.write(chunk[: min(left, len(chunk))])
                        left -= len(chunk)
                    await response.write_eof()
                except (ConnectionError, RuntimeError):
                    pass  # the client stopped reading, as it should
                return response
        raise AssertionError(f"unknown action {action!r}")


def _abort(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Drop the connection without (finishing) an answer."""
    if request.transport is not None:
        request.transport.abort()
    raise _Aborted(response)


class _Aborted(web.HTTPException):
    """Raised to leave the handler once the transport is gone; aiohttp writes nothing."""

    status_code = 599

    def __init__(self, response: web.StreamResponse | None) -> None:
        super().__init__()
        self.response = response
