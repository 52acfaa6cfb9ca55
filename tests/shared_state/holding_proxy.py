"""A TCP proxy on loopback that can hold a client's commands back, as a slow network or a
paused server would: they reach Redis late, after the client gave up on their answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class HoldingProxy:
    """Forwards 127.0.0.1:`port` to `target_port`; `hold()` buffers what clients send until
    `release()`, on the connections open now and, with `new_connections=True`, on later ones.
    Held bytes are delivered even when their client has hung up meanwhile. With
    `first_reply_delay`, each connection's first answer comes that many seconds late (a new
    connection on a loaded machine or a distant node)."""

    def __init__(self, target_port: int, *, first_reply_delay: float = 0.0) -> None:
        self.target_port = target_port
        self.first_reply_delay = first_reply_delay
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Event] = set()
        self._hold_new = False
        self._held: set[asyncio.Event] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    def hold(self, *, new_connections: bool) -> None:
        """Hold back what clients send from now on, until `release()`."""
        for gate in self._open:
            gate.clear()
            self._held.add(gate)
        self._hold_new = new_connections

    def release(self) -> None:
        """Let every held byte through, in the order it was sent on its connection."""
        self._hold_new = False
        for gate in self._held:
            gate.set()
        self._held.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        gate = asyncio.Event()
        if self._hold_new:
            self._held.add(gate)
        else:
            gate.set()
        self._open.add(gate)
        self.connections += 1
        up = asyncio.ensure_future(self._pipe(reader, upstream_writer, gate))
        down = asyncio.ensure_future(
            self._pipe(upstream_reader, writer, None, delay=self.first_reply_delay)
        )
        self._pipes |= {up, down}
        try:
            await up  # the client's bytes all delivered (held ones included), or cancelled
            async with asyncio.timeout(5):
                await down
        finally:
            self._open.discard(gate)
            for task in (up, down):
                task.cancel()
            for closing in (writer, upstream_writer):
                closing.close()

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        gate: asyncio.Event | None,
        *,
        delay: float = 0.0,
    ) -> None:
        with contextlib.suppress(OSError):
            async for chunk in _chunks(source):
                if gate is not None:
                    await gate.wait()
                if delay:
                    await asyncio.sleep(delay)
                    delay = 0.0
                sink.write(chunk)
                await sink.drain()
            if gate is not None:
                await gate.wait()
            if sink.can_write_eof():
                sink.write_eof()


async def _chunks(source: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await source.read(64 * 1024):
        yield chunk
