"""What the middleware tests share: a scripted API server answering calls, and fake sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..support.backends import calling_default
from ..support.server import ScriptedServer
from ..support.sleep import FakeSleep


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(default=calling_default) as running:
        yield running


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()
