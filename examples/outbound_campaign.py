"""An outbound campaign: check each customer's permission and call those who may be called,
at most `concurrency` at a time, under one `asyncio.TaskGroup`.

    python examples/outbound_campaign.py --sandbox
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterable

from d360_calling import Client, D360Error, OutcomeUnknownError, SessionDescription


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandbox", action="store_true", help="run against the sandbox")
    if not parser.parse_args().sandbox:
        parser.error("import run_campaign into your service, or pass --sandbox")
    print(dict(asyncio.run(demo_with_sandbox())))


if __name__ == "__main__":
    main()
