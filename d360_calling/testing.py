"""A pytest plugin (entry point `pytest11`): fixtures for a running sandbox and a client on it.

Installed with the package, so a user's test suite gets `d360_sandbox` and `d360_client`
without any import. The fixtures need pytest-asyncio; without it the plugin adds nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from .client import Client
from .sandbox import Sandbox

SANDBOX_API_KEY = "sandbox-key"

if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def d360_sandbox() -> AsyncIterator[Sandbox]:
        """A sandbox of the Calling API on a free loopback port, stopped after the test."""
        async with Sandbox(api_key=SANDBOX_API_KEY) as sandbox:
            yield sandbox

    @pytest_asyncio.fixture
    async def d360_client(d360_sandbox: Sandbox) -> AsyncIterator[Client]:
        """A `Client` bound to `d360_sandbox`, closed after the test."""
        async with Client(SANDBOX_API_KEY, base_url=d360_sandbox.base_url) as client:
            yield client
