"""Puts a `Network` between one aiortc peer and its socket, both ways, and mutes it on demand.

It works on datagrams, below DTLS and SRTP, through two private names: the ICE transport's
`_send` (an instance attribute, what DTLS and SRTP send through) and its aioice connection's
`data_received` (where every datagram that is no STUN arrives). `check_internals()` tells when
aiortc or aioice moved them. Only media (first byte 128..191, RFC 7983) is touched: STUN never
passes here and DTLS passes untouched, so set-up and ICE consent work on any profile.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from d360_calling.sandbox.network import Network

Send = Callable[[bytes], Awaitable[None]]
Deliver = Callable[[bytes, int], None]


@attrs.define
class WayStats:
    """Media datagrams one way: how many came, and what the network did to them."""

    media: int = 0
    dropped: int = 0
    delayed: int = 0
    held: int = 0
    """Held back behind the next datagram (`Network.reorder`)."""


@attrs.define
class NetworkStats:
    """What the network did to a peer's media: `sent` and `received`, and `muted`, the
    datagrams `go_quiet` kept from being sent (not counted in `sent`)."""

    sent: WayStats = attrs.Factory(WayStats)
    received: WayStats = attrs.Factory(WayStats)
    muted: int = 0


def _is_media(data: bytes) -> bool:
    return bool(data) and 127 < data[0] < 192


class NetworkLink:
    """One peer's network: `attach` it to the ICE transport, `close` it with the peer."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.quiet = False
        """Send no media at all (the user went quiet); ICE and DTLS go on."""
        self.stats = NetworkStats()
        self._random = random.Random(network.seed)
        self._held: dict[str, bytes] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, ice_transport: Any) -> None:
        """Route the datagrams of `ice_transport` (aiortc's `RTCIceTransport`) through us;
        RuntimeError when aiortc or aioice moved the names this needs."""
        _check_once()
        send: Send = ice_transport._send
        deliver: Deliver = ice_transport._connection.data_received

        async def sending(data: bytes) -> None:
            if not _is_media(data):
                await send(data)
                return
            if self.quiet:
                self.stats.muted += 1
                return
            for datagram in self._route("sent", data, lambda late: self._send_all(send, late)):
                await send(datagram)

        def receiving(data: bytes, component: int) -> None:
            if not _is_media(data):
                deliver(data, component)
                return
            late = functools.partial(_deliver_all, deliver, component=component)
            for datagram in self._route("received", data, late):
                deliver(datagram, component)

        ice_transport._send = sending
        ice_transport._connection.data_received = receiving

    async def close(self) -> None:
        """Drop what is still on the way; idempotent."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _route(self, way: str, data: bytes, later: Callable[[list[bytes]], None]) -> list[bytes]:
        """What goes on now: `data` (and one held before it) unless lost, held back or delayed,
        in which case `later` gets them after the delay."""
        stats: WayStats = getattr(self.stats, way)
        network, draw = self.network, self._random.random
        stats.media += 1
        if network.loss and draw() < network.loss:
            stats.dropped += 1
            return []
        if network.reorder and way not in self._held and draw() < network.reorder:
            stats.held += 1
            self._held[way] = data
            return []
        datagrams = [data]
        if (held := self._held.pop(way, None)) is not None:
            datagrams.append(held)
        if not network.jitter_ms:
            return datagrams
        stats.delayed += 1
        delay = draw() * network.jitter_ms / 1000
        timer: asyncio.TimerHandle = asyncio.get_running_loop().call_later(
            delay, lambda: self._fire(timer, later, datagrams)
        )
        self._timers.add(timer)
        return []

    def _fire(
        self, timer: asyncio.TimerHandle, forward: Callable[[list[bytes]], None], data: list[bytes]
    ) -> None:
        self._timers.discard(timer)
        forward(data)

    def _send_all(self, send: Send, datagrams: list[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(_sent(send, datagrams))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _sent(send: Send, datagrams: list[bytes]) -> None:
    """Send late datagrams; a connection closed meanwhile loses them, as a network would."""
    try:
        for data in datagrams:
            await send(data)
    except ConnectionError:
        return


def _deliver_all(deliver: Deliver, datagrams: list[bytes], *, component: int) -> None:
    for data in datagrams:
        deliver(data, component)


@functools.cache
def _check_once() -> None:
    check_internals()


def check_internals() -> None:
    """Check the aiortc and aioice names `attach` uses; RuntimeError naming what moved."""
    import aioice
    import aiortc
    from aioice.ice import Connection, StunProtocol
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceTransport

    moved = []
    init = inspect.getsource(RTCIceTransport.__init__)
    for name in ("_send", "_connection"):
        if f"self.{name} =" not in init:
            moved.append(f"RTCIceTransport.{name} (set in __init__)")
    if "self.transport._send(" not in inspect.getsource(RTCDtlsTransport._send_rtp):
        moved.append("RTCDtlsTransport._send_rtp sending through transport._send")
    method = getattr(Connection, "data_received", None)
    if method is None or list(inspect.signature(method).parameters) != [
        "self",
        "data",
        "component",
    ]:
        moved.append("aioice Connection.data_received(self, data, component)")
    if "self.receiver.data_received(" not in inspect.getsource(StunProtocol.datagram_received):
        moved.append("aioice StunProtocol.datagram_received calling receiver.data_received")
    if moved:
        raise RuntimeError(
            f"aiortc {aiortc.__version__} / aioice {aioice.__version__} moved internals the "
            f"sandbox's Network needs: {'; '.join(moved)} (tested with aiortc 1.16, aioice 0.13)"
        )
