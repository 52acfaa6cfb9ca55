"""The developer's bot as the end-to-end tests run it: a receiver on loopback, a sandbox that
posts its webhooks there (with the `/phone` page or without), and a client bound to both."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from d360_calling import Client
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import CallConnect, CallTerminate, PermissionReply, Receiver, Router

if TYPE_CHECKING:
    from d360_calling.media import CallAudio

SECRET = "bot-secret"
"""The webhook secret the bot and its sandbox share."""
USER = "14155550123"
"""The sandbox user who calls the bot and whom it calls."""


class Bot:
    """A router and receiver with queues the tests read: answered audio, connects, ends and
    permission replies; `sandbox` and `client` are set by `running_bot`."""

    def __init__(self) -> None:
        self.router = Router()
        self.receiver = Receiver(self.router, secret=SECRET)
        self.audio: asyncio.Queue[CallAudio] = asyncio.Queue()
        self.connects: asyncio.Queue[CallConnect] = asyncio.Queue()
        self.ended: asyncio.Queue[CallTerminate] = asyncio.Queue()
        self.replies: asyncio.Queue[PermissionReply] = asyncio.Queue()
        self.sandbox: Sandbox
        self.client: Client

        @self.router.on_terminate
        async def ended(event: CallTerminate) -> None:
            await self.ended.put(event)

        @self.router.on_permission_reply
        async def replied(event: PermissionReply) -> None:
            await self.replies.put(event)


@contextlib.asynccontextmanager
async def running_bot(*, phone: bool = False) -> AsyncIterator[Bot]:
    """A `Bot` served on a free loopback port with its sandbox and client, torn down in order."""
    bot = Bot()
    runner = web.AppRunner(bot.receiver.app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{bot.receiver.path}"
        async with (
            Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET, phone=phone) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            bot.sandbox, bot.client = sandbox, client
            bot.receiver.client = client
            yield bot
            await bot.router.aclose()
    finally:
        await runner.cleanup()
