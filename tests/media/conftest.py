"""Media tests run two aiortc peers on 127.0.0.1 only; each module skips without aiortc."""

from __future__ import annotations

import asyncio
import os
from asyncio import selector_events
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support.bots import Bot, running_bot

SETTLE = 2.0
"""Seconds a test's tasks and sockets get to go away after close()."""


def udp_sockets() -> set[str]:
    """Inodes of this process's open UDP sockets (Linux /proc); empty elsewhere."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return set()
    ours = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    udp = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as lines:
                udp |= {line.split()[9] for line in list(lines)[1:]}
        except OSError:
            continue
    return ours & udp


@pytest.fixture(autouse=True)
def loopback_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every UDP datagram a test sends must go to 127.0.0.1: no STUN, TURN or mDNS."""
    sent: list[Any] = []
    transport = selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    original = transport.sendto

    def sendto(self: Any, data: bytes, addr: Any = None) -> None:
        sent.append(addr or self.get_extra_info("peername"))
        original(self, data, addr)

    monkeypatch.setattr(transport, "sendto", sendto)
    yield sent
    assert {address[0] for address in sent} <= {"127.0.0.1"}, sent


@pytest.fixture
async def no_leaks() -> AsyncIterator[None]:
    """Fail the test if it leaves an asyncio task or a UDP socket behind."""
    tasks, sockets = set(asyncio.all_tasks()), udp_sockets()
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE
    while True:
        current = asyncio.current_task()
        extra_tasks = [t for t in asyncio.all_tasks() if t not in tasks and t is not current]
        extra_sockets = udp_sockets() - sockets
        if (not extra_tasks and not extra_sockets) or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert not extra_tasks, extra_tasks
    assert not extra_sockets, f"{len(extra_sockets)} UDP sockets left open"


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """A receiver, a sandbox and a client on loopback (`tests/support/bots.py`)."""
    async with running_bot() as running:
        yield running
