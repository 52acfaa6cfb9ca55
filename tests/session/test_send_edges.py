"""Edges of the terminal send found in review: a closed user session is a typed error, and a
refused attempt does not count as sent when a later wait runs out the deadline."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from d360_calling import (
    Client,
    OutcomeUnknownError,
    RequestTimeoutError,
    SessionDescription,
    Timeout,
    TransportError,
)
from d360_calling.sandbox import OFFER_SDP
from d360_calling.session import Handler, Request, Response


async def test_a_closed_user_session_is_a_typed_error() -> None:
    http = aiohttp.ClientSession()
    await http.close()
    async with Client("k", base_url="http://127.0.0.1:9", session=http, retry=None) as client:
        with pytest.raises(TransportError) as caught:
            await client.permissions.get("14155550123")
    assert caught.value.request_sent is False
    assert "closed" in str(caught.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe closes


class StallSecondAttempt:
    """An attempt middleware that waits past the deadline before the second attempt."""

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if request.attempt > 1:
            await asyncio.sleep(5)
        return await call_next(request)


async def test_a_refused_connect_then_a_deadline_is_never_sent() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    async with Client(
        "k",
        base_url=base_url,
        timeout=Timeout(total=1.0),
        attempt_middlewares=[StallSecondAttempt()],
    ) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.calls.connect("14155550123", SessionDescription.offer(OFFER_SDP))
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.request_sent is False
