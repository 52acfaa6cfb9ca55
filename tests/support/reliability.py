"""Helpers shared by the reliability suite: secret scanning, leak probes, loopback servers.

Nothing here imports the SDK's internals beyond what a test must look at to prove a leak
(the aiohttp connector of a client), and the servers speak raw TCP or TLS, not the SDK.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import aiohttp

from d360_calling import Client

from .samples import API_KEY, SIP_PASSWORD

SECRETS: Final = (API_KEY, SIP_PASSWORD)
SELF_SIGNED_PEM: Final = Path(__file__).parents[1] / "reliability" / "selfsigned.pem"
"""A test-only self-signed certificate and key for 127.0.0.1; trusted by nothing."""

SUMMARY_LINES: list[str] = []
"""One-line summaries the suite prints at the end of the run (see conftest.py)."""


def chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and everything reachable through `__cause__` and `__context__`, once each."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def texts_of(error: BaseException) -> list[str]:
    """Every text a user could see of `error`: repr, str and args of each linked exception."""
    out: list[str] = []
    for linked in chain(error):
        out += [repr(linked), str(linked), *(repr(arg) for arg in linked.args)]
        out += (
            [repr(value) for value in vars(linked).values()] if hasattr(linked, "__dict__") else []
        )
    return out


def assert_clean(*texts: str, secrets: tuple[str, ...] = SECRETS) -> None:
    """No secret occurs in any of `texts`."""
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret leaked into {text[:200]!r}"


class RecordingHandler(logging.Handler):
    """Keeps every formatted record (message, args and traceback) of the loggers it is on."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))


@asynccontextmanager
async def recorded_logs(*names: str) -> AsyncIterator[RecordingHandler]:
    """Record DEBUG and up of the named loggers (the SDK's by default) for the block."""
    handler = RecordingHandler()
    loggers = [logging.getLogger(name) for name in names or ("d360_calling",)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)


def connector_of(client: Client) -> aiohttp.BaseConnector | None:
    """The connector of the aiohttp session the client made, if it made one yet."""
    http = client._session._http
    return None if http is None else http.connector


def acquired_connections(client: Client) -> int:
    """Connections the client's pool has handed out and not got back (in use or leaked)."""
    connector = connector_of(client)
    return 0 if connector is None else len(connector._acquired)


def other_tasks(baseline: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    """Tasks alive now that were not in `baseline`, the current task excepted."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current} - baseline


async def settle(baseline: set[asyncio.Task[object]], timeout: float = 1.0) -> None:
    """Wait (briefly) for tasks started by a test to end; closing transports take a tick."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while other_tasks(baseline) and loop.time() < end:
        await asyncio.sleep(0.01)


@asynccontextmanager
async def plain_tcp_server() -> AsyncIterator[int]:
    """A loopback server that answers anything with a plain-text HTTP 400 (no TLS): an
    `https://` client meets a handshake failure. Yields the port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1024)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def self_signed_tls_server() -> AsyncIterator[int]:
    """A loopback TLS server with a self-signed certificate that answers 200 `{}` if a client
    ever got through (none should). Yields the port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(SELF_SIGNED_PEM)
    served: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1024)
            served.append(1)
            body = b'{"success": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
    assert served == [], "a client completed a request over an untrusted certificate"


def free_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
