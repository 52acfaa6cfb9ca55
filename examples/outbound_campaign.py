"""An outbound campaign: check each customer's permission and call those who may be called,
at most `concurrency` at a time, under one `asyncio.TaskGroup`.

    python examples/outbound_campaign.py --sandbox

Or against a standalone sandbox (`python -m d360_calling sandbox --phone`), whose phone page
rings for 14155550123 once you have granted permission there (its stand-in offer carries no
audio), or against the real API with `--offer FILE` (flags: examples/_serve.py):

    python examples/outbound_campaign.py --base-url http://127.0.0.1:8360 14155550123
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterable

from d360_calling import Client, D360Error, OutcomeUnknownError, SessionDescription

if __package__:
    from . import _serve
else:  # run as a script: python examples/outbound_campaign.py
    import _serve


async def call_if_allowed(
    client: Client, wa_id: str, offer: SessionDescription, limit: asyncio.Semaphore
) -> str:
    """One customer: `called`, `no_permission`, `limited`, `unknown` or the error's name."""
    async with limit:
        try:
            perms = await client.permissions.get(wa_id)
            if not perms.can_start_call:
                return "limited" if perms.next_call_allowed_at else "no_permission"
            await client.calls.connect(wa_id, offer, biz_opaque_callback_data=f"campaign:{wa_id}")
            return "called"
        except OutcomeUnknownError:
            return "unknown"  # may have rung: reconcile by the status webhook, never call again
        except D360Error as error:
            return type(error).__name__


async def run_campaign(
    client: Client, numbers: Iterable[str], offer: SessionDescription, *, concurrency: int = 10
) -> Counter[str]:
    """Call every number that may be called; count the outcomes."""
    limit = asyncio.Semaphore(concurrency)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(call_if_allowed(client, n, offer, limit)) for n in numbers]
    return Counter(task.result() for task in tasks)


async def demo_with_sandbox() -> Counter[str]:
    """Ten customers, six with permission; returns the outcome counts."""
    from d360_calling.sandbox import OFFER_SDP, Sandbox

    numbers = [f"4915100000{n:03d}" for n in range(10)]
    async with (
        Sandbox(api_key="sandbox-key") as sandbox,
        Client("sandbox-key", base_url=sandbox.base_url) as client,
    ):
        for number in numbers[:6]:
            sandbox.set_permission(number, "temporary")
        return await run_campaign(client, numbers, SessionDescription.offer(OFFER_SDP))


async def campaign(where: _serve.Target, numbers: list[str], offer: SessionDescription) -> None:
    """Run the campaign against `where` and print the outcome counts."""
    async with Client(where.api_key, base_url=where.base_url) as client:
        print(dict(await run_campaign(client, numbers, offer)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser, receiver=False)
    _serve.add_offer_argument(parser)
    parser.add_argument("numbers", nargs="*", metavar="WA_ID", help="the customers to call")
    args = parser.parse_args()
    if args.sandbox:
        print(dict(asyncio.run(demo_with_sandbox())))
        return
    where = _serve.target(parser, args)
    if not args.numbers:
        parser.error("name the customers to call, e.g. 14155550123")
    asyncio.run(campaign(where, args.numbers, _serve.offer_of(parser, args)))


if __name__ == "__main__":
    main()
