"""Ask for call permission, and call back the moment the user accepts.

python examples/permission_then_call.py --sandbox
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from d360_calling import Client, EnsureOutcome, SessionDescription
from d360_calling.webhooks import PermissionReply, PermissionResponse, Receiver, Router


def call_back_on_accept(
    client: Client, offer: SessionDescription, placed: asyncio.Queue[str]
) -> Callable[[PermissionReply], Awaitable[None]]:
    """A permission-reply handler that places the call as soon as the user accepts."""

    async def call_back(reply: PermissionReply) -> None:
        if reply.response is PermissionResponse.ACCEPT and reply.from_:
            result = await client.calls.connect(reply.from_, offer)
            await placed.put(result.call_id)

    return call_back


async def demo_with_sandbox() -> str:
    """Request permission, play the user accepting, return the id of the call placed."""
    from d360_calling.sandbox import OFFER_SDP, Sandbox

    customer = "14155550123"
    secret = "sandbox-webhook-secret"  # noqa: S105 - the sandbox signs with it; yours is in the Hub
    router = Router()
    receiver = Receiver(router, secret=secret)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
    placed: asyncio.Queue[str] = asyncio.Queue()
    try:
        async with (
            Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=secret) as sandbox,
            Client("sandbox-key", base_url=sandbox.base_url) as client,
        ):
            offer = SessionDescription.offer(OFFER_SDP)
            router.on_permission_reply(call_back_on_accept(client, offer, placed))
            asked = await client.permissions.ensure(customer, "May we call you back?")
            assert asked.outcome is EnsureOutcome.REQUESTED
            await sandbox.user_answers_permission(customer, accept=True)
            async with asyncio.timeout(5):
                return await placed.get()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandbox", action="store_true", help="run against the sandbox")
    if not parser.parse_args().sandbox:
        parser.error("register call_back_on_accept on your router, or pass --sandbox")
    print("called back:", asyncio.run(demo_with_sandbox()))


if __name__ == "__main__":
    main()
