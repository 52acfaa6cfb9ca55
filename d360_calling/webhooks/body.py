"""Reading a delivery's body within the receiver's cap and deadline.

The body is read before its signature can be checked, so these two bounds are all an unsigned
sender can cost: at most one byte past `max_body_size` held, for at most `body_timeout` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping

from aiohttp import StreamReader, web

_READ_CHUNK = 64 * 1024
UNREAD = frozenset({408, 413})
"""Statuses answered before the whole body was read: the connection is closed, not read on."""


class TooLarge(Exception):
    """The body passed the receiver's cap while it was being read."""


class TooSlow(Exception):
    """The body did not arrive whole within the receiver's deadline."""


async def read_capped(
    body: bytes | AsyncIterable[bytes], headers: Mapping[str, str], cap: int, timeout: float
) -> bytes:
    """The body, refused (`TooLarge`) once it passes `cap`: at once when its declared length
    does, else as soon as the chunks read so far do, never reading the rest; `TooSlow` when the
    chunks take longer than `timeout` seconds in all."""
    length = _declared_length(headers)
    if length is not None and length > cap:
        raise TooLarge
    if isinstance(body, bytes):
        if len(body) > cap:
            raise TooLarge
        return body
    try:
        async with asyncio.timeout(timeout):
            return await _join_capped(body, cap)
    except TimeoutError:
        raise TooSlow from None


async def _join_capped(chunks: AsyncIterable[bytes], cap: int) -> bytes:
    """The chunks joined, raising `TooLarge` as soon as they pass `cap` bytes."""
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise TooLarge
        kept.append(chunk)
    return b"".join(kept)


async def request_body(request: web.Request, cap: int) -> bytes | AsyncIterable[bytes]:
    """An aiohttp request's body: the bytes aiohttp cached when the app already read it (a
    middleware's `read()`, `text()` or `json()`), else its stream, `cap + 1` bytes at most.

    A stream at its end is never read again, so `read()` then only returns what it cached
    (or the empty body), without reading anything past the cap."""
    if not request.can_read_body:
        return await request.read()
    return _read_at_most(request.content, cap + 1)


async def _read_at_most(stream: StreamReader, limit: int) -> AsyncIterator[bytes]:
    """The stream's chunks, `limit` bytes in all at most (one past the cap is enough to refuse)."""
    while limit > 0 and (chunk := await stream.read(min(_READ_CHUNK, limit))):
        limit -= len(chunk)
        yield chunk


def _declared_length(headers: Mapping[str, str]) -> int | None:
    """The body length the `Content-Length` header declares, if it is there and a number."""
    for name, value in headers.items():
        if name.lower() == "content-length":
            return int(value) if value.isascii() and value.isdigit() else None
    return None
