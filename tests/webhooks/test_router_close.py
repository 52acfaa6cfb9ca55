"""A closed router closes media attached after it closed (a handler that outlived the receiver's
shutdown), so no call's audio is left open."""

from __future__ import annotations

import asyncio

from d360_calling.webhooks import Router


class FakeMedia:
    """A `CallMedia` that records whether it was closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def wait_ended(self) -> BaseException | None:
        await self.closed.wait()
        return None

    async def close(self) -> None:
        self.closed.set()


async def test_media_attached_after_close_is_closed() -> None:
    router = Router()
    before, after = FakeMedia(), FakeMedia()
    router.attach_media("wacid.before", before)
    await router.aclose()
    assert before.closed.is_set()
    router.attach_media("wacid.after", after)
    async with asyncio.timeout(5):
        await after.closed.wait()
    assert router.media_of("wacid.after") is None
    await router.aclose()
