"""Fixtures: a running sandbox posting to a local receiver, and a plain aiohttp client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from d360_calling.sandbox import Sandbox
from tests.support.sandbox import KEY, Receiver

SECRET = "platform-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.close()


@pytest.fixture
async def sandbox(receiver: Receiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(api_key=KEY, webhook_url=receiver.url, webhook_secret=SECRET) as box:
        yield box


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=sandbox.base_url, headers={"D360-API-KEY": KEY}
    ) as session:
        yield session
