"""Ask for call permission, and call back the moment the user accepts.

    python examples/permission_then_call.py --sandbox

Or serve it against a standalone sandbox and accept the request on its phone page
(http://127.0.0.1:8360/phone, under Messages): the page rings at once (its stand-in offer
carries no audio; pass `--offer FILE` against the real API; flags: examples/_serve.py):

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook \\
        --webhook-secret S
    python examples/permission_then_call.py --base-url http://127.0.0.1:8360 --secret S \\
        --ask 14155550123
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from d360_calling import Client, EnsureOutcome, SessionDescription
from d360_calling.webhooks import PermissionReply, PermissionResponse, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/permission_then_call.py
    import _serve


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


async def ask_and_call_back(
    where: _serve.Target, offer: SessionDescription, customers: list[str]
) -> None:
    """Serve a receiver that calls each customer back when they accept, ask each one, and
    print what happens until Ctrl-C."""
    router = Router()
    receiver = Receiver(router, secret=where.secret)
    placed: asyncio.Queue[str] = asyncio.Queue()

    async def start(client: Client) -> None:
        router.on_permission_reply(call_back_on_accept(client, offer, placed))
        for customer in customers:
            asked = await client.permissions.ensure(customer, "May we call you back?")
            _serve.say(f"{customer}: {asked.outcome.value}")

    async def report() -> None:
        while True:
            _serve.say(f"called back: {await placed.get()}")

    reporting = asyncio.create_task(report())
    try:
        await _serve.serve(receiver, where, then=start)
    finally:
        reporting.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser)
    _serve.add_offer_argument(parser)
    parser.add_argument(
        "--ask", action="append", default=[], metavar="WA_ID", help="a customer to ask (repeat)"
    )
    args = parser.parse_args()
    if args.sandbox:
        print("called back:", asyncio.run(demo_with_sandbox()))
        return
    where = _serve.target(parser, args)
    _serve.run(ask_and_call_back(where, _serve.offer_of(parser, args), args.ask))


if __name__ == "__main__":
    main()
