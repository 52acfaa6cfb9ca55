"""A canned HTTP/1.1 server for the benchmarks, run in its own process.

It answers the 360dialog paths (`D360-API-KEY`) and the Graph paths pywa uses
(`/v{version}/{phone_id}/calls`, `/v{version}/{phone_id}/call_permissions`, Bearer token) with
the canned bodies of `payloads`, straight from an `asyncio.Protocol`: a few µs of server CPU
per request, so on two cores the client, not the server, is what the benchmark measures.
`--delay` holds every answer back (for the in-flight memory test); `GET /_stats` reports
requests served and the most requests held at once (`?reset=1` zeroes them). `--record` (for
the ring storm) stamps when each call action (`pre_accept`, `accept`, ...) reaches the server,
per call id, on `CLOCK_MONOTONIC` (system-wide on Linux, so comparable with other processes'
stamps); `GET /_arrivals` returns them (`?reset=1` forgets them).

    python -m benchmarks.server --port 0 [--delay 3] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any, Final

from benchmarks import payloads
from benchmarks.harness import raise_fd_limit

MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 1024 * 1024
BACKLOG: Final = 4096
ANSWERED_ACTIONS: Final = frozenset({"accept", "pre_accept"})
"""The call actions that must carry an SDP answer (both answer 200 here)."""


def clock() -> float:
    """The stamp for arrivals: `CLOCK_MONOTONIC`, one clock for every process on Linux."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _response(status: int, reason: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


OK_ACTION: Final = _response(200, "OK", payloads.encode(payloads.ACTION_RESULT))
OK_PERMISSIONS: Final = _response(200, "OK", payloads.encode(payloads.PERMISSIONS))
OK_SETTINGS: Final = _response(200, "OK", payloads.encode(payloads.SETTINGS))
UNAUTHORIZED: Final = _response(
    401,
    "Unauthorized",
    payloads.encode({"error": {"message": "Invalid API key", "code": 0, "type": "OAuthException"}}),
)
NOT_FOUND: Final = _response(
    404, "Not Found", payloads.encode({"error": {"message": "Unknown path", "code": 100}})
)
BAD_REQUEST: Final = _response(
    400,
    "Bad Request",
    payloads.encode({"error": {"message": "Not an accept with an SDP answer", "code": 100}}),
)
GRAPH_PREFIX: Final = f"/v{payloads.GRAPH_VERSION}/{payloads.PHONE_ID}/".encode()
D360_KEY: Final = payloads.API_KEY.encode()
BEARER: Final = b"Bearer " + D360_KEY


class Stats:
    """Requests served, and how many were held (delayed) at once at most."""

    def __init__(self) -> None:
        self.requests = 0
        self.pending = 0
        self.max_pending = 0

    def as_json(self) -> bytes:
        return payloads.encode({"requests": self.requests, "max_pending": self.max_pending})


class Arrivals:
    """Per call id, when each call action first reached the server (`--record`)."""

    def __init__(self) -> None:
        self.by_call: dict[str, dict[str, float]] = {}
        self.repeats = 0

    def record(self, body: bytes, stamp: float) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        call_id, action = payload.get("call_id"), payload.get("action")
        if not isinstance(call_id, str) or not isinstance(action, str):
            return
        actions = self.by_call.setdefault(call_id, {})
        if action in actions:
            self.repeats += 1
        else:
            actions[action] = stamp

    def as_json(self) -> bytes:
        document: dict[str, Any] = {"calls": self.by_call, "repeats": self.repeats}
        return payloads.encode(document)


def _is_accept(body: bytes) -> bool:
    """Whether `body` is an accept or a pre_accept carrying an SDP answer."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    session = payload.get("session") if isinstance(payload, dict) else None
    return (
        payload.get("action") in ANSWERED_ACTIONS
        and isinstance(session, dict)
        and session.get("sdp_type") == "answer"
        and bool(session.get("sdp"))
    )


def route(method: bytes, target: bytes, key: bytes, bearer: bytes, body: bytes) -> bytes:
    """The canned answer to one request."""
    path, _, _query = target.partition(b"?")
    if path.startswith(GRAPH_PREFIX):
        if bearer != BEARER:
            return UNAUTHORIZED
        rest = path[len(GRAPH_PREFIX) :]
        if method == b"POST" and rest == b"calls":
            return OK_ACTION if _is_accept(body) else BAD_REQUEST
        if method == b"GET" and rest == b"call_permissions":
            return OK_PERMISSIONS
        return NOT_FOUND
    if key != D360_KEY:
        return UNAUTHORIZED
    if method == b"POST" and path == b"/calling/calls":
        return OK_ACTION if _is_accept(body) else BAD_REQUEST
    if method == b"GET" and path.startswith(b"/calling/permissions/"):
        return OK_PERMISSIONS
    if method == b"GET" and path == b"/calling/settings":
        return OK_SETTINGS
    return NOT_FOUND


class CannedHTTP(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order, never pipelined."""

    def __init__(self, stats: Stats, delay: float, arrivals: Arrivals | None = None) -> None:
        self._stats = stats
        self._delay = delay
        self._arrivals = arrivals
        self._stamp = 0.0
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._arrivals is not None:
            self._stamp = clock()
        self._buffer += data
        for _ in range(64):  # bounded: at most 64 requests handled per read
            if not self._handle_one():
                return

    def _handle_one(self) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._close()
            return False
        lines = buffer[:end].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self._close()
            return False
        method, target = parts[0], parts[1]
        length, key, bearer = 0, b"", b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"d360-api-key":
                key = value.strip()
            elif name == b"authorization":
                bearer = value.strip()
        if length > MAX_BODY:
            self._close()
            return False
        start = end + 4
        if len(buffer) < start + length:
            return False
        body = buffer[start : start + length]
        self._buffer = buffer[start + length :]
        if self._arrivals is not None and method == b"POST":
            self._arrivals.record(body, self._stamp)
        self._answer(route(method, target, key, bearer, body), target)
        return True

    def _answer(self, response: bytes, target: bytes) -> None:
        stats = self._stats
        if target.startswith(b"/_stats"):
            if target.endswith(b"reset=1"):
                stats.requests = stats.max_pending = 0
            self._write(_response(200, "OK", stats.as_json()))
            return
        if target.startswith(b"/_arrivals"):
            arrivals = self._arrivals
            document = arrivals.as_json() if arrivals is not None else b'{"calls":{},"repeats":0}'
            if arrivals is not None and target.endswith(b"reset=1"):
                arrivals.by_call, arrivals.repeats = {}, 0
            self._write(_response(200, "OK", document))
            return
        stats.requests += 1
        if self._delay <= 0:
            self._write(response)
            return
        stats.pending += 1
        stats.max_pending = max(stats.max_pending, stats.pending)
        asyncio.get_running_loop().call_later(self._delay, self._write_delayed, response)

    def _write_delayed(self, response: bytes) -> None:
        self._stats.pending -= 1
        self._write(response)

    def _write(self, response: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(response)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(host: str, port: int, delay: float, record: bool = False) -> None:
    """Serve until cancelled; prints one `serving http://host:port` line when ready."""
    stats = Stats()
    arrivals = Arrivals() if record else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CannedHTTP(stats, delay, arrivals), host, port, backlog=BACKLOG, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"serving http://{host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each answer")
    parser.add_argument(
        "--record", action="store_true", help="stamp each call action's arrival (GET /_arrivals)"
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.delay, args.record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
